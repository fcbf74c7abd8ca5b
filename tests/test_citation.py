"""CITATION.cff: valid Citation File Format 1.2.0, naming no placeholder repository.

The schema is the format's own JSON schema (schemas/1.2.0/schema.json), taken from the
cffconvert 2.0.0 wheel that scripts/test.sh downloads from the package index into tests/.cff/
(not committed). Without it the test is skipped, except in CI (CI=true), where it fails.
"""

import json
import os
from pathlib import Path

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "tests" / ".cff" / "schema-1.2.0.json"


def _schema():
    if not SCHEMA.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SCHEMA} is absent (scripts/test.sh fetches it)")
        pytest.skip(f"{SCHEMA} is absent (scripts/test.sh fetches it)")
    return json.loads(SCHEMA.read_text())


def _citation():
    return yaml.safe_load((ROOT / "CITATION.cff").read_text())


def test_citation_validates_against_the_cff_1_2_0_schema():
    schema = _schema()
    assert schema["$id"].endswith("/1.2.0/schema.json")
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(_citation()), key=str)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_catches_a_broken_citation():
    broken = dict(_citation())
    del broken["authors"]
    broken["cff-version"] = "1.2"
    errors = list(jsonschema.Draft7Validator(_schema()).iter_errors(broken))
    assert len(errors) >= 2


def test_citation_names_no_placeholder_repository_and_the_tested_paper():
    """The repository is set by whoever publishes the book (IMBACL_REPOSITORY_URL); until then
    neither the citation, the package metadata nor the book's config names one."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    cff = _citation()
    assert "repository-code" not in cff and "url" not in config.get("repository", {})
    assert "github.com/imbacl" not in (ROOT / "pyproject.toml").read_text()
    assert any("Training Dynamics of Contrastive Learning" in r["title"] for r in cff["references"])
    import imbacl  # the version's one source: imbacl/_version.py

    assert cff["version"] == imbacl.__version__

"""The house: one source for the version, a licence, a README for users."""

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import yaml

import imbacl

ROOT = Path(__file__).resolve().parents[1]


def test_one_version_everywhere():
    v = imbacl.__version__
    assert importlib.metadata.version("imbacl") == v
    out = subprocess.run(
        [sys.executable, "-m", "imbacl", "--version"], capture_output=True, text=True, timeout=60
    )
    assert out.stdout.strip() == f"imbacl {v}"
    assert str(yaml.safe_load((ROOT / "CITATION.cff").read_text())["version"]) == v
    assert "version =" not in (ROOT / "pyproject.toml").read_text().split("[tool.setuptools")[0]


def test_licence_and_readme():
    assert (ROOT / "LICENSE").read_text().startswith("MIT License")
    readme = (ROOT / "README.md").read_text().splitlines()
    assert len(readme) <= 150, f"README.md has {len(readme)} lines (at most 150: a page for users)"
    assert sum(line.startswith("```bash") for line in readme) >= 2
    assert not any(line.startswith("| R | how |") for line in readme)  # no benchmark table


def test_api_page_lists_every_module_and_no_member_by_hand():
    """appendix/api.md documents every public module with autodoc's own member list (a list
    kept by hand drifts as functions come and go)."""
    import re

    page = (ROOT / "appendix" / "api.md").read_text()
    documented = set(re.findall(r"^\.\. automodule:: imbacl\.(\w+)$", page, flags=re.M))
    modules = {p.stem for p in (ROOT / "imbacl").glob("*.py") if not p.stem.startswith("_")}
    assert documented == modules, (sorted(modules - documented), sorted(documented - modules))
    members = re.findall(r"^   :members:(.*)$", page, flags=re.M)
    assert len(members) == len(documented) and all(m.strip() == "" for m in members)

"""The committed chapters' verdict tables: computed labels only, a regime on every row, and prose
numbers glued from the code (checked on the stored outputs, which nbval re-checks on
re-execution)."""

import json
import re
from pathlib import Path

import pytest

from imbacl.report import LABELS

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
ROW = re.compile(r"^- .* -> (?P<label>[A-Z ]+) \(regime: (?P<regime>[^;)]+)")
GLUE_ROLE = re.compile(r"\{glue:text\}`([A-Za-z0-9_]+)(:[^`]*)?`")


def cells(path, kind):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == kind]


def verdict_outputs(path):
    """The text of every output of a code cell that builds a verdict table."""
    for c in cells(path, "code"):
        if "verdict_table(" in "".join(c["source"]):
            for o in c.get("outputs", []):
                text = o.get("data", {}).get("text/plain")
                if text:
                    yield "".join(text)


def glued_keys(path):
    keys = set()
    for c in cells(path, "code"):
        for o in c.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                keys.add(name)
    return keys


WITH_VERDICTS = [p for p in CHAPTERS if any(verdict_outputs(p))]


def test_the_theorem_chapters_have_verdict_tables():
    names = {p.stem for p in WITH_VERDICTS}
    assert {"02b_regime", "03_stage1"} <= names, names


@pytest.mark.parametrize("path", WITH_VERDICTS, ids=lambda p: p.stem)
def test_every_row_has_a_computed_label_and_a_regime(path):
    rows = [
        line
        for text in verdict_outputs(path)
        for line in text.splitlines()
        if line.startswith("- ")
    ]
    assert rows, path.name
    for line in rows:
        m = ROW.match(line)
        assert m, f"{path.name}: row without a label and regime: {line[:120]}"
        assert m["label"].lower() in LABELS, f"{path.name}: label {m['label']!r}"
        assert m["regime"].strip(), line


@pytest.mark.parametrize("path", WITH_VERDICTS, ids=lambda p: p.stem)
def test_prose_numbers_are_glued(path):
    roles = {
        m[1] for c in cells(path, "markdown") for m in GLUE_ROLE.finditer("".join(c["source"]))
    }
    assert roles, f"{path.name}: no {{glue:text}} role in the prose"
    missing = roles - glued_keys(path)
    assert not missing, f"{path.name}: glue roles without a glued value: {sorted(missing)}"


VERDICT_FILES = sorted((ROOT / "results" / "verdicts").glob("*.json"))
# the contrast regimes: never the one that decides a theorem's row
CONTRASTS = ("figure1", "boundary", "eps fixed", "eps, d =")


def _rows():
    for path in VERDICT_FILES:
        for k, row in enumerate(json.loads(path.read_text())["rows"]):
            yield f"{path.stem}#{k}", row


@pytest.mark.parametrize(
    "row_id, row", list(_rows()), ids=lambda x: x if isinstance(x, str) else ""
)
def test_the_theorems_regime_decides_and_the_rule_reads_its_data(row_id, row):
    """A row measured in several regimes takes its label from the theorem's own regime (theory,
    or across d the sparse scaling), never from a contrast; and its rule reads its data: with the
    measurement moved to the other side of its threshold, it gives another label (a rule whose
    label ignores the measurement, such as a floor that always says 'not testable', fails
    here). Rows that cannot fail are exempt from the second check: they say so."""
    if "decided_by" in row:
        labels = row["regime_labels"]
        assert row["label"] == labels[row["decided_by"]]
        if row["ref"] != "ours":
            assert not row["decided_by"].startswith(CONTRASTS), (row_id, row["decided_by"])
    if row["label"] != "cannot fail here":
        assert row["label_if_flipped"] != row["label"], (row_id, row["claim"])

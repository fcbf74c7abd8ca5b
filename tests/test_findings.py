"""The findings page's source: results/verdicts/<chapter>.json, written by each chapter's
verdict table as it executes, must say what the committed chapter's verdict table says. A
chapter re-executed with a changed verdict and committed without its file (or the reverse)
fails here."""

import json
import sys
from pathlib import Path

import pytest

from imbacl.report import LABELS, verdict_text

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "_ext"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import findings  # noqa: E402
from test_verdicts import WITH_VERDICTS, verdict_outputs  # noqa: E402

FILES = sorted((ROOT / "results" / "verdicts").glob("*.json"))


def test_every_chapter_with_a_verdict_table_has_its_file_and_no_file_is_orphaned():
    assert {p.stem for p in FILES} == {p.stem for p in WITH_VERDICTS}


@pytest.mark.parametrize("path", WITH_VERDICTS, ids=lambda p: p.stem)
def test_the_file_matches_the_committed_verdict_table(path):
    data = json.loads((ROOT / "results" / "verdicts" / f"{path.stem}.json").read_text())
    assert data["chapter"] == path.stem
    stored = "\n".join(verdict_outputs(path))
    assert verdict_text(data["rows"]) == stored, (
        f"{path.stem}: results/verdicts/{path.stem}.json differs from the chapter's verdict "
        "table; re-execute the chapter (it writes the file) and commit both"
    )


def test_the_findings_extension_reads_every_row_with_a_known_label():
    rows = findings.load_verdicts(ROOT / "results" / "verdicts")
    assert len(rows) == sum(len(json.loads(p.read_text())["rows"]) for p in FILES) > 0
    assert findings.LABELS == LABELS
    for chapter, r in rows:
        assert (ROOT / "chapters" / f"{chapter}.ipynb").exists()
        assert r["label"] in LABELS and r["regime"]


def _headline_spec():
    text = (ROOT / "findings.md").read_text()
    return [
        line for line in text.split("```{findings}")[1].split("```")[0].splitlines() if line.strip()
    ]


def test_the_findings_page_leads_with_the_papers_claims():
    """Every headline line of findings.md names exactly one verdict row (a renamed claim fails
    here and in the build), and covers Stage 1-3, Figure 1, K1-K3, the ratio and pruning."""
    rows = findings.load_verdicts(ROOT / "results" / "verdicts")
    spec = _headline_spec()
    claims = findings.headline(rows, spec)
    assert len(claims) == len(spec) >= 9
    titles = " ".join(t for t, _, _ in claims)
    for needed in (
        "Stage 1",
        "Stage 2",
        "Stage 3",
        "Figure 1",
        "K1",
        "K2",
        "K3",
        "ratio",
        "Pruning",
    ):
        assert needed in titles
    with pytest.raises(ValueError, match="exactly one"):
        findings.headline(rows, ["x | 03_stage1 | no row starts like this"])


def test_the_figure_has_one_cell_per_verdict_and_the_tally_sets_cannot_fail_apart():
    rows = findings.load_verdicts(ROOT / "results" / "verdicts")
    html = findings.figure_html(rows)
    assert html.count('class="verdict-cell ') == len(rows) + len(LABELS)  # cells + legend
    assert html.count('class="findings-line"') == len(FILES)
    n_cannot = sum(r["label"] == "cannot fail here" for _, r in rows)
    assert f"{len(rows) - n_cannot} tests (" in findings.tally(rows)
    assert f"and {n_cannot} rows that cannot fail here" in findings.tally(rows)

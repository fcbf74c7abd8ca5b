"""The book builds cleanly from the committed notebooks: Sphinx reports no warning (-W -n).

The build here does not execute the chapters again: nbval (in the same test run) re-executes
every chapter in a fresh kernel and checks its outputs against the committed ones, so building
from the committed outputs gives the same pages at half the time. The main job
(scripts/book.sh) builds with execution on, as _config.yml says.
"""

from conftest import ROOT, build_committed_book, jupyter_book


def test_book_builds_without_warnings():
    assert jupyter_book(), "jupyter-book is not installed (scripts/setup.sh installs it)"
    p = build_committed_book()
    log = p.stdout + p.stderr
    problems = [
        l for l in log.splitlines() if ("WARNING" in l or "ERROR" in l) and "IPKernelApp" not in l
    ]
    assert p.returncode == 0 and not problems, "\n".join(problems) or log[-3000:]
    for page in [
        "intro",
        "findings",
        "chapters/01_data_model",
        "chapters/02_architecture",
        "appendix/api",
    ]:
        assert (ROOT / "_build" / "html" / f"{page}.html").exists(), page
    # the findings page holds one row per verdict of the chapters' files, and their counts
    import json
    import re

    rows = [
        r
        for p in sorted((ROOT / "results" / "verdicts").glob("*.json"))
        for r in json.loads(p.read_text())["rows"]
    ]
    html = (ROOT / "_build" / "html" / "findings.html").read_text()
    assert len(re.findall(r'<tr class="verdict-[a-z-]+', html)) == len(rows) > 20
    assert f"{len(rows)} verdicts from" in html
    holds = sum(r["label"] == "holds" for r in rows)
    assert f"{holds} holds;" in html

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
    problems = [l for l in log.splitlines() if ("WARNING" in l or "ERROR" in l) and "IPKernelApp" not in l]
    assert p.returncode == 0 and not problems, "\n".join(problems) or log[-3000:]
    for page in ["intro", "chapters/01_data_model", "chapters/02_architecture", "appendix/api"]:
        assert (ROOT / "_build" / "html" / f"{page}.html").exists(), page

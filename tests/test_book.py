"""The book builds cleanly: every chapter executes and Sphinx reports no warning (-W -n)."""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _jupyter_book():
    exe = Path(sys.executable).with_name("jupyter-book")
    return str(exe) if exe.exists() else shutil.which("jupyter-book")


def test_book_builds_without_warnings():
    assert _jupyter_book(), "jupyter-book is not installed (scripts/setup.sh installs it)"
    p = subprocess.run([_jupyter_book(), "build", str(ROOT), "-W", "-n", "--keep-going"],
                       capture_output=True, text=True, timeout=3600)
    log = p.stdout + p.stderr
    problems = [l for l in log.splitlines() if ("WARNING" in l or "ERROR" in l) and "IPKernelApp" not in l]
    assert p.returncode == 0 and not problems, "\n".join(problems) or log[-3000:]
    for page in ["intro", "chapters/01_data_model", "chapters/02_architecture", "appendix/api"]:
        assert (ROOT / "_build" / "html" / f"{page}.html").exists(), page

"""The book builds cleanly from the committed notebooks: Sphinx reports no warning (-W -n).

The build here does not execute the chapters again: nbval (in the same test run) re-executes
every chapter in a fresh kernel and checks its outputs against the committed ones, so building
from the committed outputs gives the same pages at half the time. The main job
(scripts/book.sh) builds with execution on, as _config.yml says.
"""
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _jupyter_book():
    exe = Path(sys.executable).with_name("jupyter-book")
    return str(exe) if exe.exists() else shutil.which("jupyter-book")


def _config_without_execution() -> Path:
    import yaml
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    cfg.setdefault("execute", {})["execute_notebooks"] = "off"
    path = ROOT / ".config_no_execution.yml"        # beside _config.yml: same relative paths
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_book_builds_without_warnings():
    assert _jupyter_book(), "jupyter-book is not installed (scripts/setup.sh installs it)"
    p = subprocess.run([_jupyter_book(), "build", str(ROOT), "-W", "-n", "--keep-going",
                        "--config", str(_config_without_execution())],
                       capture_output=True, text=True, timeout=3600)
    (ROOT / ".config_no_execution.yml").unlink()
    log = p.stdout + p.stderr
    problems = [l for l in log.splitlines() if ("WARNING" in l or "ERROR" in l) and "IPKernelApp" not in l]
    assert p.returncode == 0 and not problems, "\n".join(problems) or log[-3000:]
    for page in ["intro", "chapters/01_data_model", "chapters/02_architecture", "appendix/api"]:
        assert (ROOT / "_build" / "html" / f"{page}.html").exists(), page

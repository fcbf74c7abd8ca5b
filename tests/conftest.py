"""What tests/test_book.py and tests/test_browser.py share: the book built from the committed
notebooks, without executing them (nbval, in the same test run, re-executes every chapter and
compares its outputs with the committed ones)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def imbacl_cli(*args: str, cwd: Path = ROOT, timeout: int = 120, **env: str):
    """``python -m imbacl ARGS`` in ``cwd``, output captured as text; ``env`` entries are added
    to this process's environment (e.g. IMBACL_THREADS="1")."""
    return subprocess.run(
        [sys.executable, "-m", "imbacl", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **env} if env else None,
        timeout=timeout,
    )


def jupyter_book() -> str | None:
    exe = Path(sys.executable).with_name("jupyter-book")
    return str(exe) if exe.exists() else shutil.which("jupyter-book")


def build_committed_book(path_output: Path | None = None) -> subprocess.CompletedProcess:
    """``jupyter-book build -W -n --keep-going`` of the repository with notebook execution off,
    into ``path_output/_build`` (default: the repository's own ``_build``)."""
    cfg = yaml.safe_load((ROOT / "_config.yml").read_text())
    cfg.setdefault("execute", {})["execute_notebooks"] = "off"
    config = ROOT / ".config_no_execution.yml"  # beside _config.yml: same relative paths
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = [] if path_output is None else ["--path-output", str(path_output)]
    try:
        return subprocess.run(
            [
                jupyter_book(),
                "build",
                str(ROOT),
                *out,
                "-W",
                "-n",
                "--keep-going",
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
            timeout=3600,
        )
    finally:
        config.unlink()

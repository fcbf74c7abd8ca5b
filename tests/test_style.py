"""The code style the ecosystem expects: ruff's lint and format checks pass on the package,
tests, scripts and benchmarks (configured in pyproject.toml; the pinned ruff of
requirements.txt), and the pre-commit hooks call that same ruff."""

import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
RUFF = [sys.executable, "-m", "ruff"]


def _ruff(*args):
    return subprocess.run([*RUFF, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_ruff_lint_passes():
    out = _ruff("check", ".")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]


def test_ruff_format_passes():
    out = _ruff("format", "--check", ".")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-1000:]


def test_pre_commit_hooks_are_local_and_call_the_pinned_ruff():
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = [h for repo in config["repos"] for h in repo["hooks"]]
    assert all(repo["repo"] == "local" for repo in config["repos"])
    assert {h["id"] for h in hooks} == {"ruff-check", "ruff-format"}
    assert all(h["entry"].startswith(".venv/bin/ruff ") for h in hooks)
    pins = (ROOT / "requirements.txt").read_text().splitlines()
    assert any(line.startswith("ruff==") for line in pins)

"""The same book on any machine: records with provenance, checks of retrained runs that hold
on any CPU (and fail against another seed), measurement records, committed notebooks whose
checked outputs cannot depend on the machine, and the install and CLI edges."""

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import imbacl
from imbacl import cli, io, preset, sweep

from conftest import imbacl_cli

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))


# -- provenance and versions ---------------------------------------------------------------------
def test_every_file_records_its_provenance(tmp_path):
    pts = sweep.grid(preset("smoke", steps=3), seeds=1, lam=[0.0])
    io.save_final(sweep.run(pts, record_at=[0, 3]), tmp_path / "f.npz", pts)
    prov = io.read_provenance(tmp_path / "f.npz")
    assert set(prov) == set(io.PROVENANCE_FIELDS)
    assert prov == io.provenance() and "unknown" not in (prov["torch_version"], prov["cpu"])
    assert prov["imbacl_version"] == imbacl.__version__ and "MKL_CBWR=" in prov["blas_path"]


def test_no_committed_results_file_is_unversioned():
    """Every cache under results/ has a format version (none of format 0 is left); fields a file
    predates read "unknown", never an invented value."""
    for path in sorted((ROOT / "results").rglob("*.npz")):
        assert io.file_version(path) >= 1, f"{path}: run scripts/migrate_results.py"
        prov = io.read_provenance(path)
        assert all(isinstance(v, str) and v for v in prov.values())


def test_migration_keeps_the_arrays_and_says_unknown(tmp_path):
    pts = sweep.grid(preset("smoke", steps=3), seeds=2, lam=[0.0])
    io.save_final(sweep.run(pts, record_at=[0, 3]), tmp_path / "f.npz", pts)
    with np.load(tmp_path / "f.npz") as z:
        arrays = {
            k: z[k]
            for k in z.files
            if k not in ("format", "format_version", "imbacl_version", "provenance")
        }
    old = tmp_path / "old.npz"
    np.savez(old, **arrays)
    with pytest.raises(imbacl.ResultsFileError, match="old.npz: written before"):
        io.load_final(old)
    out = subprocess.run(
        [sys.executable, "scripts/migrate_results.py", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0 and "1 file(s) migrated" in out.stdout, out.stderr
    back = io.load_final(old)
    assert np.array_equal(np.stack(back.P), np.stack(io.load_final(tmp_path / "f.npz").P))
    assert set(io.read_provenance(old).values()) == {"unknown"}


# -- the check of a retrained run ----------------------------------------------------------------
def test_retrained_run_passes_and_another_seed_fails():
    """A cached run of the ratio chapter retrained here passes the check (any CPU: within the
    tolerance); the same check against another seed's record fails, so the tolerance means
    something."""
    cached = io.load_final(ROOT / "results" / "ratio_theory.npz")
    c = next(c for c in cached.configs if c.seed == 0 and c.eps_min == 0.03)
    other = next(k for k, x in enumerate(cached.configs) if x == c.replace(seed=1))
    again = imbacl.train(c, record_at=[0, c.steps]).P[0, -1]
    text = io.check_retrained(
        again, cached.P[cached.configs.index(c)], "seed 0", ROOT / "results" / "ratio_theory.npz"
    )
    assert f"within {io.REPRO_TOL:g}" in text and "seed 0" in text
    assert io.retrain_distance(again, cached.P[other]) > 4 * io.REPRO_TOL
    with pytest.raises(imbacl.ReproductionError, match="seed 1 as seed 0: .* beyond the tolerance"):
        io.check_retrained(again, cached.P[other], "seed 1 as seed 0")


def test_same_machine_kind_demands_bits():
    here = io.provenance()
    P = np.random.default_rng(0).normal(size=(4, 6))
    nearly = P * (1 + 1e-7)
    assert io.same_machine_kind(here) and "within" in io.check_retrained(nearly, P, "x")
    with pytest.raises(imbacl.ReproductionError, match="not bit for bit"):
        io.check_retrained(nearly, P, "x", here)
    elsewhere = dict(here, cpu="another CPU")
    assert not io.same_machine_kind(elsewhere) and io.check_retrained(nearly, P, "x", elsewhere)
    assert not io.same_machine_kind(dict(here, torch_version="unknown"))


# -- measurement records -------------------------------------------------------------------------
def test_measurements_return_the_record_within_the_tolerance(tmp_path, monkeypatch):
    monkeypatch.delenv("IMBACL_RECORD", raising=False)
    path = tmp_path / "m.npz"
    rec = io.Measurements(path)
    assert rec.write and rec.keep("x", np.array([1.0, 2.0, np.inf])) is not None
    assert rec.keep("n", 7) == 7
    rec = io.Measurements(path)
    assert not rec.write
    got = rec.keep("x", np.array([1.0 + 1e-4, 2.0, np.inf]))
    assert np.array_equal(got, [1.0, 2.0, np.inf])  # the record, not the live value
    assert rec.keep("n", 7) == 7
    with pytest.raises(imbacl.ReproductionError, match="m.npz:x: computed here, lies"):
        rec.keep("x", np.array([2.0, 2.0, np.inf]))
    with pytest.raises(imbacl.ReproductionError, match="not finite in other places"):
        rec.keep("x", np.array([1.0, np.inf, 2.0]))
    # NaN (e.g. a seed with nothing to measure) must sit where the record's does, as NaN
    assert np.isnan(rec.keep("y", np.array([np.nan, 1.0]))[0])
    assert np.isnan(io.Measurements(path).keep("y", np.array([np.nan, 1.0 + 1e-4]))[0])
    with pytest.raises(imbacl.ReproductionError, match="not finite in other places"):
        io.Measurements(path).keep("y", np.array([np.inf, 1.0]))
    with pytest.raises(imbacl.ReproductionError, match="not finite in other places"):
        io.Measurements(path).keep("y", np.array([1.0, np.nan]))
    with pytest.raises(imbacl.ReproductionError, match="shape"):
        rec.keep("x", np.array([1.0, 2.0]))
    assert io.read_provenance(path)["cpu"] == io.provenance()["cpu"]
    monkeypatch.setenv("IMBACL_RECORD", "write")
    assert io.Measurements(path).keep("x", np.array([5.0])).tolist() == [5.0]


def test_thread_count_setting(monkeypatch):
    from imbacl.train import DEFAULT_THREADS, default_threads

    monkeypatch.delenv("IMBACL_THREADS", raising=False)
    assert default_threads() == DEFAULT_THREADS
    monkeypatch.setenv("IMBACL_THREADS", "3")
    assert default_threads() == 3 and io.provenance()["threads"] == "3"
    monkeypatch.setenv("IMBACL_THREADS", "zero")
    with pytest.raises(imbacl.ConfigError, match="IMBACL_THREADS='zero'"):
        default_threads()


# -- committed notebooks -------------------------------------------------------------------------
# Every cell whose output nbval does not compare, with why: pictures, animations, progress only.
IGNORED = {
    ("02_architecture.ipynb", "imbacl.widgets."): "a live widget (its model id is random)",
    ("03_stage1.ipynb", "imbacl.widgets."): "a live widget (its model id is random)",
    ("04_stage2.ipynb", "imbacl.widgets."): "a live widget (its model id is random)",
    ("05_stage3.ipynb", 'name="stages_theory"'): "an animation (JPEG frames)",
    ("05_stage3.ipynb", 'name="stages_figure1"'): "an animation (JPEG frames)",
    ("08_regularisation.ipynb", 'name="decay_above_boundary"'): "an animation of live runs",
}
CHECKED_WORDS = (
    "glue",
    "verdict_table",
    "check_retrained",
    ".keep(",
    "print(",
    "assert",
    "display(",
)


def _code_cells(path):
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def test_ignored_outputs_are_listed_and_hold_no_checked_number():
    found = {}
    for path in CHAPTERS:
        for cell in _code_cells(path):
            tags = cell["metadata"].get("tags", [])
            if "nbval-ignore-output" in tags or "remove-output" in tags:
                src = "".join(cell["source"])
                keys = [k for k in IGNORED if k[0] == path.name and k[1] in src]
                assert len(keys) == 1, f"{path.name}: an unlisted ignored cell:\n{src}"
                found[keys[0]] = src
                assert not any(w in src for w in CHECKED_WORDS), (keys[0], src)
                for out in cell.get("outputs", []):
                    assert "application/papermill.record/text/plain" not in out.get("data", {})
                    assert out.get("output_type") != "stream", (keys[0], out)
    assert set(found) == set(IGNORED), set(IGNORED) - set(found)


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_committed_notebook_is_small_and_has_no_run_metadata(path):
    assert path.stat().st_size < 1_000_000, f"{path.name}: {path.stat().st_size / 1e6:.2f} MB"
    for cell in json.loads(path.read_text())["cells"]:
        assert "execution" not in cell.get("metadata", {}), "run timestamps: strip_metadata.py"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_check_prints_false(path):
    """A check is an assert: no committed output says a comparison came out False."""
    for cell in _code_cells(path):
        for out in cell.get("outputs", []):
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            assert not re.search(r"(=|:)\s*\[?False\b", text), text[:300]


# -- install --------------------------------------------------------------------------------------
def test_install_names_the_cpu_index():
    req = (ROOT / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in req
    assert req.index("--extra-index-url https://download.pytorch.org/whl/cpu") < next(
        k for k, line in enumerate(req) if line.startswith("torch==")
    )
    binder = (ROOT / ".binder" / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in binder
    assert 'requires-python = ">=3.11"' in (ROOT / "pyproject.toml").read_text()


def test_setup_refuses_an_old_python(tmp_path):
    fake = tmp_path / "python3.10"
    fake.write_text('#!/bin/sh\ncase "$*" in *version_info*) exit 1;; *) echo 3.10.13;; esac\n')
    fake.chmod(0o755)
    out = subprocess.run(
        ["bash", "scripts/setup.sh"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"PYTHON": str(fake), "PATH": "/usr/bin:/bin"},
        timeout=60,
    )
    assert out.returncode != 0 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        f"setup.sh: Python 3.11 or newer is needed; {fake} is 3.10.13 "
        "(choose one: PYTHON=python3.11)"
    ]


# -- command line ---------------------------------------------------------------------------------
def _cli(*args, cwd=ROOT):
    return imbacl_cli(*args, cwd=cwd)


def test_cli_version_help_and_json_versions():
    out = _cli("--version")
    assert out.returncode == 0 and out.stdout == f"imbacl {imbacl.__version__}\n"
    help_ = _cli("run", "--help").stdout
    assert all(f" {name}" in help_ for name in ("eps_min", "prune_frac", "resample", "attention"))
    out = _cli("run", "--preset", "smoke", "--set", "steps=2", "--json")
    assert json.loads(out.stdout)["versions"] == cli.versions()


@pytest.mark.parametrize(
    "save,why",
    [
        (".", "is a folder"),
        ("out.txt", "must end in .npz"),
        ("/proc/imbacl.npz", "cannot create a file in /proc"),
        ("no/such/dir/x.npz", "does not exist"),
    ],
)
def test_cli_save_refuses_bad_paths_before_training(save, why, tmp_path):
    out = _cli("sweep", "--preset", "smoke", "--set", "steps=2", "--save", save, cwd=tmp_path)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and why in out.stderr and save in out.stderr
    assert not list(tmp_path.glob("*.npz"))


def test_cli_dry_run_of_a_refused_config_exits_non_zero():
    out = _cli("run", "--set", "m=100000", "--set", "d1=100000", "--dry-run")
    assert out.returncode == 2 and out.stdout == "" and "would be refused" in out.stderr
    assert out.stderr.count("\n") == 1

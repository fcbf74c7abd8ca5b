"""One file format for results: a compressed ``.npz`` whose arrays are the result's, plus the
configs (as ``repr`` of their dicts), the kind of result, the format version and the version of
imbacl that wrote it. A loader refuses a file of another kind or a newer format by name; files
written before the format was versioned (the committed caches in ``results/``) read as version 0.

Every file written since format 2 also records its provenance (:func:`provenance`): the imbacl
and torch versions, the git commit, the CPU model and the BLAS code path that wrote it. Files
of format 1 read with those fields "unknown"; format-0 files (no version at all) are refused by
name until ``python scripts/migrate_results.py`` gives them a version (their arrays unchanged).

A retrained run is compared with its record by :func:`check_retrained`: within a relative
tolerance on any machine (float rounding differs between CPUs and BLAS code paths, and training
amplifies it), and bit for bit where the record says it was written by the same kind of machine.

Three kinds: a ``History`` (every snapshot of one batch), a sweep's final state (one snapshot
per run, compact enough to commit: ``save_final``/``load_final``), and per-run records of any
arrays stacked over the runs (the scaling chapter's caches: ``save_record``/``load_record``).
"""

from __future__ import annotations

import ast
import json
import os
import platform
import subprocess
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike

from ._version import __version__
from .config import Config
from .errors import ReproductionError, ResultsFileError
from .history import History
from .sweep import FinalSweep, SweepResult
from .train import default_threads

FORMAT_VERSION = 2
#: provenance fields every file records (format >= 2); "unknown" where a file predates them
PROVENANCE_FIELDS = ("imbacl_version", "torch_version", "git_commit", "cpu", "blas_path", "threads")
#: [choice] relative Frobenius distance ||P_here - P_record|| / ||P_record|| of a retrained run's
#: final projections (or of a chapter's measurements) that still counts as the same run. Float
#: rounding differs between CPUs and BLAS code paths and training amplifies it: over 3000 steps
#: the largest distance measured across two CPUs and MKL's compatible path was 0.10
#: (benchmarks/README.md, "Reproduction tolerance"), so 0.25 leaves room; another seed's run lies
#: at 1.3 or more (independent weights), so the check cannot pass by accident.
REPRO_TOL = 0.25
# the arrays a file of each kind holds (per batch g for "final"), also in version-0 files
_KEYS = {
    "history": ("steps", "P", "norms", "bias", "loss", "M", "configs"),
    "final": ("index", "configs", "overrides"),
    "record": ("configs",),
}


def save_history(history: History, path: str | os.PathLike) -> None:
    """Write a :class:`imbacl.history.History` (every snapshot) to ``path``."""
    h = history
    _save(
        path,
        "history",
        steps=h.steps,
        P=h.P,
        norms=h.norms,
        bias=h.bias,
        loss=h.loss,
        M=h.M,
        configs=_configs(h.configs),
    )


def load_history(path: str | os.PathLike) -> History:
    """Read a file written by :func:`save_history`."""
    with _open(path, "history") as z, _reading(path):
        return History(
            _read_configs(path, z), z["steps"], z["P"], z["norms"], z["bias"], z["loss"], z["M"]
        )


def save_final(
    result: SweepResult,
    path: str | os.PathLike,
    points: Sequence[tuple[dict, Config]] | None = None,
    dtype: str = "float32",
    step: int = -1,
) -> None:
    """Save one snapshot (default: the last) of every run of a sweep (a
    :class:`imbacl.sweep.SweepResult`): projections in ``dtype`` (one array per trained batch),
    configs and grid overrides. ``points``: the grid the result came from."""
    arrays = {f"P{g}": h.P[:, step].astype(dtype) for g, h in enumerate(result.histories)}
    arrays.update({f"step{g}": np.asarray(h.steps[step]) for g, h in enumerate(result.histories)})
    overrides = [o for o, _ in points] if points is not None else [{} for _ in result.configs]
    _save(
        path,
        "final",
        index=np.asarray(result.index, dtype=np.int64),
        configs=_configs(result.configs),
        overrides=np.array([json.dumps(o) for o in overrides]),
        **arrays,
    )


def load_final(path: str | os.PathLike) -> FinalSweep:
    """Read a file written by :func:`save_final` as a :class:`imbacl.sweep.FinalSweep`
    (projections come back as float64)."""
    with _open(path, "final") as z, _reading(path):
        configs = _read_configs(path, z)
        overrides = [json.loads(s) for s in z["overrides"]]
        P = [z[f"P{g}"][r].astype(np.float64) for g, r in z["index"]]
        steps = [int(z[f"step{g}"]) for g, _ in z["index"]]
    return FinalSweep(configs, overrides, steps, P)


def save_record(
    path: str | os.PathLike,
    configs: Iterable[Config],
    threads: int | None = None,
    **arrays: ArrayLike,
) -> None:
    """Write per-run arrays (each stacked over the runs, or one value for the file) with the
    runs' configs to ``path``. threads: the torch thread count the runs were trained with, for
    the provenance (default: the trainer's)."""
    _save(path, "record", threads=threads, configs=_configs(configs), **arrays)


def load_record(path: str | os.PathLike) -> dict:
    """Read a file written by :func:`save_record`: its arrays, and ``configs`` as Configs."""
    with _open(path, "record") as z, _reading(path):
        out = {
            k: z[k]
            for k in z.files
            if k not in ("configs", "format", "format_version", "imbacl_version", "provenance")
        }
        out["configs"] = _read_configs(path, z)
    return out


@contextmanager
def _reading(path):
    """A member that is truncated, corrupt or inconsistent: one error naming the file."""
    try:
        yield
    except ResultsFileError:
        raise
    except (
        KeyError,
        IndexError,
        ValueError,
        TypeError,
        OSError,
        EOFError,
        zlib.error,
        zipfile.BadZipFile,
    ) as e:
        raise ResultsFileError(f"{path}: damaged or incomplete ({type(e).__name__}: {e})") from None


def provenance(threads: int | None = None) -> dict:
    """Where a result is being computed: imbacl and torch versions, the git commit of the
    working tree (or "unknown"), the CPU model, the BLAS code path (ATen's CPU capability, MKL's
    ``MKL_CBWR`` setting) and the trainer's torch thread count. Written into every file."""
    cbwr = os.environ.get("MKL_CBWR", "default")
    return {
        "imbacl_version": __version__,
        "torch_version": torch.__version__,
        "git_commit": _git_commit(),
        "cpu": _cpu_model(),
        "blas_path": f"{torch.backends.cpu.get_cpu_capability()}, MKL_CBWR={cbwr}",
        "threads": str(default_threads() if threads is None else threads),
    }


def read_provenance(path: str | os.PathLike) -> dict:
    """The provenance a results file records; fields it predates read "unknown"."""
    with np.load(path) as z:
        if "format_version" not in z.files:
            raise ResultsFileError(
                f"{path}: written before results files had a version; "
                "run `python scripts/migrate_results.py` to give it one"
            )
        found = json.loads(str(z["provenance"])) if "provenance" in z.files else {}
        if "imbacl_version" in z.files:
            found.setdefault("imbacl_version", str(z["imbacl_version"]))
    return {k: str(found.get(k, "unknown")) for k in PROVENANCE_FIELDS}


def same_machine_kind(record: dict, here: dict | None = None) -> bool:
    """Whether this machine runs the code path that wrote a record (same torch, CPU model, BLAS
    path and thread count, none of them unknown): only then is a bit-for-bit comparison fair."""
    here = provenance() if here is None else here
    keys = ("torch_version", "cpu", "blas_path", "threads")
    return all(record[k] != "unknown" and record[k] == here[k] for k in keys)


def retrain_distance(fresh: ArrayLike, recorded: ArrayLike) -> float:
    """Relative Frobenius distance ||fresh - recorded|| / ||recorded|| of two arrays."""
    fresh, recorded = np.asarray(fresh, np.float64), np.asarray(recorded, np.float64)
    if fresh.shape != recorded.shape:
        raise ValueError(f"shapes differ: {fresh.shape} retrained, {recorded.shape} recorded")
    return float(np.linalg.norm(fresh - recorded) / np.linalg.norm(recorded))


def check_retrained(
    fresh: ArrayLike,
    recorded: ArrayLike,
    what: str,
    record: str | os.PathLike | dict | None = None,
    tol: float = REPRO_TOL,
) -> str:
    """Assert that a run retrained here reproduces its record, and say so in words that do not
    depend on the machine.

    fresh, recorded: the same quantity (e.g. final projections) from the run retrained here and
    from the cached file. Passes when their relative distance is at most ``tol``
    (:data:`REPRO_TOL`); where ``record`` (a path or a provenance dict) says the file was
    written by the same kind of machine (:func:`same_machine_kind`), the arrays must also be
    equal bit for bit. Raises :class:`imbacl.errors.ReproductionError` otherwise."""
    dist = retrain_distance(fresh, recorded)
    if not dist <= tol:
        raise ReproductionError(
            f"{what}: the run retrained here lies {dist:.3g} (relative) from "
            f"its cached record, beyond the tolerance {tol}"
        )
    if record is not None:
        prov = record if isinstance(record, dict) else read_provenance(record)
        if same_machine_kind(prov) and not np.array_equal(np.asarray(fresh), np.asarray(recorded)):
            raise ReproductionError(
                f"{what}: written by this kind of machine "
                f"({prov['cpu']}, {prov['blas_path']}), yet not bit for bit"
            )
    return (
        f"{what}: retrained here, within {tol:g} (relative) of the cached record "
        "[asserted; bit for bit where the record's machine kind runs it]"
    )


def _git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip() if out.returncode == 0 and out.stdout.strip() else "unknown"


def _cpu_model() -> str:
    """The CPU's model name with its family, model and stepping (a virtual machine may report a
    bare "AMD EPYC" for several generations, whose kernels differ)."""
    try:
        info = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
        if info.get("model name"):
            return (
                f"{info['model name']} (family {info.get('cpu family', '?')}, model "
                f"{info.get('model', '?')}, stepping {info.get('stepping', '?')})"
            )
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def file_version(path: str | os.PathLike) -> int:
    """The format version of a results file (0: written before versions were recorded)."""
    with np.load(path) as z:
        return int(z["format_version"]) if "format_version" in z.files else 0


def _configs(configs):
    return np.array([repr(c.to_dict()) for c in configs])


def _read_configs(path, z):
    try:
        return [Config(**ast.literal_eval(s)) for s in z["configs"]]
    except (ValueError, TypeError, SyntaxError) as e:
        raise ResultsFileError(f"{path}: its configs cannot be read ({e})") from None


def _save(path, kind, threads=None, **arrays):
    prov = provenance(threads)
    try:
        np.savez_compressed(
            path,
            format=np.array(f"imbacl/{kind}"),
            format_version=np.array(FORMAT_VERSION),
            imbacl_version=np.array(prov["imbacl_version"]),
            provenance=np.array(json.dumps(prov, sort_keys=True)),
            **arrays,
        )
    except OSError as e:
        raise ResultsFileError(f"cannot write {path}: {e.strerror or e}") from None


class _open:
    """``np.load`` of a results file of one kind, checked; a context manager."""

    def __init__(self, path, kind):
        try:
            self.z = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise ResultsFileError(f"{path}: no such file") from None
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
            raise ResultsFileError(f"{path}: not a readable .npz file ({e})") from None
        if not isinstance(self.z, np.lib.npyio.NpzFile):
            raise ResultsFileError(f"{path}: a single array, not an imbacl results file")
        try:
            self._check(path, kind)
        except Exception:
            self.z.close()
            raise

    def _check(self, path, kind):
        files = set(self.z.files)
        missing = [k for k in _KEYS[kind] if k not in files]
        if "format_version" not in files and not missing:
            raise ResultsFileError(
                f"{path}: written before results files had a version; run "
                "`python scripts/migrate_results.py` to give it one"
            )
        if "format" in files:
            found = str(self.z["format"])
            version = int(self.z["format_version"])
            if found != f"imbacl/{kind}":
                raise ResultsFileError(f"{path}: holds {found!r}, not 'imbacl/{kind}'")
            if version > FORMAT_VERSION:
                raise ResultsFileError(
                    f"{path}: format version {version} (written by imbacl "
                    f"{self.z['imbacl_version']}) is newer than this imbacl reads "
                    f"({FORMAT_VERSION}); update imbacl"
                )
        if missing:
            raise ResultsFileError(
                f"{path}: not an imbacl {kind} file (missing {', '.join(missing)})"
            )

    def __enter__(self):
        return self.z

    def __exit__(self, *exc):
        self.z.close()


class Measurements:
    """A chapter's measurements of runs it trains live, kept in a committed record so that the
    numbers the book states do not depend on the machine.

    ``value = rec.keep(name, live)``: where the record file holds ``name``, the recorded value is
    returned after asserting that ``live`` (computed here) lies within ``tol`` of it
    (:func:`retrain_distance` over the finite entries, which must sit where the record's do);
    everything computed from it afterwards is then the same on any machine. Where the file or the
    name is missing, or the environment sets ``IMBACL_RECORD=write``, the live value is stored
    (the file rewritten at once, with its provenance) and returned.
    """

    def __init__(self, path: str | os.PathLike, tol: float = REPRO_TOL):
        self.path, self.tol = Path(path), tol
        self.write = os.environ.get("IMBACL_RECORD", "") == "write" or not self.path.exists()
        self.values = {} if self.write else load_record(self.path)
        self.values.pop("configs", None)

    def keep(self, name: str, live: ArrayLike, tol: float | None = None) -> Any:
        live_arr = np.asarray(live)
        if self.write or name not in self.values:
            self.values[name] = live_arr
            save_record(self.path, [], **self.values)
            return live
        rec = self.values[name]
        tol = self.tol if tol is None else tol
        if rec.shape != live_arr.shape or rec.dtype.kind != live_arr.dtype.kind:
            raise ReproductionError(
                f"{self.path.name}:{name}: computed here with shape "
                f"{live_arr.shape} ({live_arr.dtype}), recorded "
                f"{rec.shape} ({rec.dtype}); rewrite the record"
            )
        if rec.dtype.kind in "fc":
            finite = np.isfinite(rec)
            # NaN where the record has NaN (a seed without the measured object), inf where inf
            if not np.array_equal(finite, np.isfinite(live_arr)) or not np.array_equal(
                rec[~finite], live_arr[~finite], equal_nan=True
            ):
                raise ReproductionError(
                    f"{self.path.name}:{name}: not finite in other places here than in the record"
                )
            rec_f, live_f = rec[finite], live_arr[finite]
        else:
            rec_f, live_f = rec, live_arr
        if rec.dtype.kind in "fciub" and rec_f.size:
            norm = np.linalg.norm(rec_f.astype(np.float64))
            dist = (
                np.linalg.norm(live_f.astype(np.float64) - rec_f) / norm
                if norm
                else float(np.abs(live_f).max())
            )
            if not dist <= tol:
                raise ReproductionError(
                    f"{self.path.name}:{name}: computed here, lies {dist:.3g} "
                    f"(relative) from the record, beyond the tolerance {tol}"
                )
        elif not np.array_equal(rec, live_arr):
            raise ReproductionError(f"{self.path.name}:{name}: differs from the record")
        return rec.item() if rec.ndim == 0 and np.ndim(live) == 0 else rec

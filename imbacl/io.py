"""One file format for results: a compressed ``.npz`` whose arrays are the result's, plus the
configs (as ``repr`` of their dicts), the kind of result, the format version and the version of
imbacl that wrote it. A loader refuses a file of another kind or a newer format by name; files
written before the format was versioned (the committed caches in ``results/``) read as version 0.

Three kinds: a ``History`` (every snapshot of one batch), a sweep's final state (one snapshot
per run, compact enough to commit: ``save_final``/``load_final``), and per-run records of any
arrays stacked over the runs (the scaling chapter's caches: ``save_record``/``load_record``).
"""
from __future__ import annotations

import ast
import json
import zipfile
import zlib
from contextlib import contextmanager

import numpy as np

from .config import Config
from .errors import ResultsFileError

FORMAT_VERSION = 1
# the arrays a file of each kind holds (per batch g for "final"), also in version-0 files
_KEYS = {"history": ("steps", "P", "norms", "bias", "loss", "M", "configs"),
         "final": ("index", "configs", "overrides"), "record": ("configs",)}


def save_history(history, path):
    """Write a :class:`imbacl.train.History` (every snapshot) to ``path``."""
    h = history
    _save(path, "history", steps=h.steps, P=h.P, norms=h.norms, bias=h.bias, loss=h.loss, M=h.M,
          configs=_configs(h.configs))


def load_history(path):
    """Read a file written by :func:`save_history`."""
    from .train import History
    with _open(path, "history") as z, _reading(path):
        return History(_read_configs(path, z), z["steps"], z["P"], z["norms"], z["bias"],
                       z["loss"], z["M"])


def save_final(result, path, points=None, dtype: str = "float32", step: int = -1):
    """Save one snapshot (default: the last) of every run of a sweep (a
    :class:`imbacl.sweep.SweepResult`): projections in ``dtype`` (one array per trained batch),
    configs and grid overrides. ``points``: the grid the result came from."""
    arrays = {f"P{g}": h.P[:, step].astype(dtype) for g, h in enumerate(result.histories)}
    arrays.update({f"step{g}": np.asarray(h.steps[step]) for g, h in enumerate(result.histories)})
    overrides = [o for o, _ in points] if points is not None else [{} for _ in result.configs]
    _save(path, "final", index=np.asarray(result.index, dtype=np.int64),
          configs=_configs(result.configs),
          overrides=np.array([json.dumps(o) for o in overrides]), **arrays)


def load_final(path):
    """Read a file written by :func:`save_final` as a :class:`imbacl.sweep.FinalSweep`
    (projections come back as float64)."""
    from .sweep import FinalSweep
    with _open(path, "final") as z, _reading(path):
        configs = _read_configs(path, z)
        overrides = [json.loads(s) for s in z["overrides"]]
        P = [z[f"P{g}"][r].astype(np.float64) for g, r in z["index"]]
        steps = [int(z[f"step{g}"]) for g, _ in z["index"]]
    return FinalSweep(configs, overrides, steps, P)


def save_record(path, configs, **arrays):
    """Write per-run arrays (each stacked over the runs, or one value for the file) with the
    runs' configs to ``path``."""
    _save(path, "record", configs=_configs(configs), **arrays)


def load_record(path) -> dict:
    """Read a file written by :func:`save_record`: its arrays, and ``configs`` as Configs."""
    with _open(path, "record") as z, _reading(path):
        out = {k: z[k] for k in z.files
               if k not in ("configs", "format", "format_version", "imbacl_version")}
        out["configs"] = _read_configs(path, z)
    return out


@contextmanager
def _reading(path):
    """A member that is truncated, corrupt or inconsistent: one error naming the file."""
    try:
        yield
    except ResultsFileError:
        raise
    except (KeyError, IndexError, ValueError, TypeError, OSError, EOFError, zlib.error,
            zipfile.BadZipFile) as e:
        raise ResultsFileError(f"{path}: damaged or incomplete ({type(e).__name__}: {e})") from None


def file_version(path) -> int:
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


def _save(path, kind, **arrays):
    from . import __version__
    try:
        np.savez_compressed(path, format=np.array(f"imbacl/{kind}"),
                            format_version=np.array(FORMAT_VERSION),
                            imbacl_version=np.array(__version__), **arrays)
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
        if "format" in files:
            found = str(self.z["format"])
            version = int(self.z["format_version"])
            if found != f"imbacl/{kind}":
                raise ResultsFileError(f"{path}: holds {found!r}, not 'imbacl/{kind}'")
            if version > FORMAT_VERSION:
                raise ResultsFileError(
                    f"{path}: format version {version} (written by imbacl "
                    f"{self.z['imbacl_version']}) is newer than this imbacl reads "
                    f"({FORMAT_VERSION}); update imbacl")
        missing = [k for k in _KEYS[kind] if k not in files]
        if missing:
            raise ResultsFileError(f"{path}: not an imbacl {kind} file (missing {', '.join(missing)})")

    def __enter__(self):
        return self.z

    def __exit__(self, *exc):
        self.z.close()

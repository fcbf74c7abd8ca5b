"""Command line: ``python -m imbacl run|sweep ...``. Errors exit with status 2 and one line."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from . import io, metrics, resources, sweep
from ._version import __version__
from .config import Config, preset, parse_value
from .errors import ConfigError, ImbaclError

if TYPE_CHECKING:
    from .history import History

# The most runs one command may ask for: a mistyped --seeds or grid must not spend minutes
# building configs before anything can be refused.
MAX_RUNS = 100_000


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not argparse's usage block
        raise _UsageError(message)


class _UsageError(Exception):
    pass


def versions() -> dict:
    """The imbacl and torch versions (the --json output carries them)."""
    return {"imbacl": __version__, "torch": torch.__version__}


def _fields_epilog() -> str:
    names = [f.name for f in dataclasses.fields(Config)]
    lines, line = [], " "
    for n in names:
        if len(line) + len(n) > 76:
            lines.append(line)
            line = " "
        line += f" {n}"
    return "fields --set and --grid accept (imbacl.Config):\n" + "\n".join(lines + [line])


def _parser():
    p = _Parser(
        prog="python -m imbacl",
        description="Train Transformer-MLP encoders with InfoNCE on imbalanced sparse data.",
        epilog=_fields_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"imbacl {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for name, help_ in (
        ("run", "train N seeds of one config as one batch"),
        ("sweep", "train a grid of configs, batched by shape"),
    ):
        s = sub.add_parser(
            name,
            help=help_,
            epilog=_fields_epilog(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        s.add_argument(
            "--preset", default="figure1", help="figure1 (default), theory, smoke or digits"
        )
        s.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="NAME=VALUE",
            help="override a config field (repeatable)",
        )
        s.add_argument("--seeds", type=int, default=1, help="seeds per config (from config seed)")
        s.add_argument("--json", action="store_true", help="print one JSON object")
        s.add_argument("--progress", action="store_true", help="show a progress bar on stderr")
        s.add_argument(
            "--dry-run",
            action="store_true",
            help="print the estimated memory, run-steps and time, and exit",
        )
        s.add_argument(
            "--compile",
            action="store_true",
            help="compile each training step with torch.compile: faster for long runs "
            "once compiled; numbers differ from the default by rounding",
        )
        if name == "sweep":
            s.add_argument(
                "--grid",
                action="append",
                default=[],
                metavar="NAME=V1,V2,...",
                help="a grid axis (repeatable); the sweep is their product",
            )
            s.add_argument(
                "--save",
                metavar="PATH",
                default=None,
                help="also save every run's final projections to PATH (.npz; "
                "imbacl.io.load_final reads it)",
            )
    return p


def summary(history: History, r: int) -> dict:
    """The per-run record the CLI prints: final state of run r of ``history``."""
    c = history.configs[r]
    if c.source == "digits":  # classes are that source's features (imbacl.digits.summary)
        from .digits import summary as digits_summary

        return digits_summary(history, r)
    P = history.P[r, -1]
    tail = max(1, c.steps // 10)
    pure = metrics.pure_counts(P, c.d)
    return {
        "seed": c.seed,
        "loss_final": round(float(history.loss[r, -tail:].mean()), 6),
        "cos2": np.round(metrics.cos2(P, c.d), 6).tolist(),
        "majority": c.majority,
        "minority": c.minority,
        "feature_energy": round(float(metrics.feature_energy(P, c.d).mean()), 6),
        "mean_set_size": round(float(metrics.set_sizes(P, c.d).mean()), 6),
        "pure_per_feature": pure.tolist(),
        "covered": (pure > 0).tolist(),
    }


def _row(rec, extra=""):
    maj, mino = rec["majority"], rec["minority"]
    pure = np.array(rec["pure_per_feature"])

    def mean(idx):
        return f"{pure[idx].mean():.1f}" if idx else "  -"

    cov = np.array(rec["covered"])
    return (
        f"{extra}{rec['seed']:>5} {rec['loss_final']:>8.3f} {rec['feature_energy']:>6.2f} "
        f"{rec['mean_set_size']:>6.2f} {mean(maj):>8} {mean(mino):>8} "
        f"{int(cov[maj].sum())}/{len(maj):<3} {int(cov[mino].sum())}/{len(mino)}"
    )


_HEADER = (
    " seed     loss    phi   |N_i|  pure/maj pure/min  maj    min\n"
    "                                                   covered"
)


def _check_size(seeds, axes):
    if seeds < 1:
        raise ConfigError(f"--seeds={seeds} is invalid: must be >= 1", "seeds", seeds, ">= 1")
    n = seeds
    for values in axes.values():
        n *= len(values)
    if n > MAX_RUNS:
        raise ConfigError(
            f"--seeds and --grid ask for {n} runs: at most {MAX_RUNS} in one command",
            "seeds",
            seeds,
            f"at most {MAX_RUNS} runs",
        )


def _dry_run(points, kwargs) -> int:
    est = resources.estimate(points, **kwargs)
    limit = resources.available_memory()
    if est.bytes > limit:
        print(
            f"error: dry run: {est}; memory limit {resources.fmt_bytes(limit)}: would be refused",
            file=sys.stderr,
        )
        return 2
    print(f"dry run: {est}; memory limit {resources.fmt_bytes(limit)}: fits")
    return 0


def _check_save(save) -> None:
    """--save must name a new or existing .npz file in a folder this process can write."""
    path = Path(save)
    if path.is_dir():
        raise ConfigError(
            f"--save {save}: is a folder; give a file path ending in .npz",
            "save",
            save,
            "a file path ending in .npz",
        )
    if path.suffix != ".npz":
        raise ConfigError(
            f"--save {save}: must end in .npz (numpy would write {path.name}.npz instead)",
            "save",
            save,
            "a path ending in .npz",
        )
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise ConfigError(
            f"--save {save}: folder {parent} does not exist",
            "save",
            save,
            "a path in an existing folder",
        )
    existed = path.exists()
    try:  # try now: a refusal after minutes of training helps nobody
        with open(path, "ab"):
            pass
    except OSError as e:
        raise ConfigError(
            f"--save {save}: cannot create a file in {parent} ({e.strerror}: a "
            "read-only or system folder?)",
            "save",
            save,
            "a path this user can write",
        ) from None
    if not existed:
        path.unlink()


def _base_config(args):
    overrides = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(
                f"--set {item!r} is invalid: write NAME=VALUE", "set", item, "NAME=VALUE"
            )
        overrides[name.strip()] = parse_value(name.strip(), value.strip())
    return preset(args.preset, **overrides)


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status. Errors the package names (ImbaclError) and
    argparse's are one line on stderr and status 2; anything else is a bug and shows its
    traceback."""
    try:
        args = _parser().parse_args(argv)
        base = _base_config(args)
        axes = sweep.parse_grid(args.grid) if args.command == "sweep" else {}
        _check_size(args.seeds, axes)
        points = sweep.grid(base, seeds=args.seeds, **axes)
        save = getattr(args, "save", None)
        if save:
            _check_save(save)
        # With --save, record only steps 0, 1 and the last (the file keeps the last one).
        kwargs = dict(compile=args.compile, **({"n_snapshots": 2} if save else {}))
        if args.dry_run:
            return _dry_run(points, kwargs)
        result = sweep.run(points, progress=args.progress, **kwargs)
        if save:
            io.save_final(result, save, points)
    except (_UsageError, ImbaclError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    runs = []
    for i, (overrides, _) in enumerate(points):
        rec = summary(result[i], 0)
        if args.command == "sweep":
            rec["overrides"] = overrides
        runs.append(rec)
    if args.json:
        print(json.dumps({"versions": versions(), "config": base.to_dict(), "runs": runs}))
        return 0
    print(_HEADER)
    for rec in runs:
        extra = " ".join(f"{k}={v}" for k, v in rec.get("overrides", {}).items())
        print(_row(rec, extra + "  " if extra else ""))
    return 0


def sweep_command(
    base: Config,
    axes: dict,
    seeds: int,
    save: str | os.PathLike | None = None,
    preset_name: str = "figure1",
) -> str:
    """The ``python -m imbacl sweep`` command that trains this grid: ``--set`` for every field
    of ``base`` that differs from the preset, ``--grid`` per axis, ``--seeds``, ``--save``."""
    ref = preset(preset_name)
    parts = ["python -m imbacl sweep", f"--preset {preset_name}"]
    for name, value in base.to_dict().items():
        if name == "seed" or value == ref.to_dict()[name]:
            continue
        if name == "eps":
            value = "none" if value is None else ":".join(f"{v:g}" for v in value)
        parts.append(
            f"--set {name}={value:g}" if isinstance(value, float) else f"--set {name}={value}"
        )
    if base.seed != 0:
        parts.append(f"--set seed={base.seed}")
    for name, values in axes.items():
        parts.append(
            f"--grid {name}="
            + ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)
        )
    parts.append(f"--seeds {seeds}")
    if save:
        parts.append(f"--save {save}")
    return " ".join(parts)

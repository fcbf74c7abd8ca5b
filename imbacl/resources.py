"""What a batch of runs will cost, known before it starts: peak memory and run-steps.

:func:`estimate` counts, from the shapes alone, the arrays ``train`` allocates (the dictionaries,
the weights and their update, the stream's buffers and its block of views, the loss's
pre-activations and logits, the History, the re-sampling pool) and the run-steps; no tensor is
made. :func:`check` refuses, with one :class:`~imbacl.errors.ResourceError` line, a batch whose
estimate exceeds the memory available (:func:`available_memory`: the system's MemAvailable, or
``IMBACL_MAX_MEMORY``). ``RATE`` turns run-steps into an expected time.

A list of configs of several shapes is counted as ``imbacl.sweep.run`` trains it: one batch per
shape group (or per ``max_batch`` chunk of one), one batch after another, so the peak is the
largest batch's and the run-steps are the sum. ``tests/test_resources.py`` compares the estimate
with the measured peak of a process that trains (minus that of one that only imports imbacl).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field as _field
from typing import Any, Iterable

from .config import Config
from .errors import ConfigError, ResourceError
from .history import log_steps
from .stream import CHUNK_STEPS, DataStream, block_steps

F32, I64 = 4, 8
ENV_VAR = "IMBACL_MAX_MEMORY"

# Measured speed of the default path, for the expected time of a dry run. On this project's
# 2-core development machine (torch 2.13 CPU build, threads=2, other jobs running at times): the
# figure1 preset, 8 runs as one batch, 200 steps, took 0.71 to 1.03 s (3.5 to 5.1 ms per step,
# 1570 to 2260 figure1 run-steps/s); the smoke preset, 1 run, 0.75 to
# 0.95 ms per step, nearly all of it the fixed cost of a step (Python and dispatch). So a step
# of R runs is counted as STEP_SECONDS + R * work / (FIGURE1_WORK * RATE), with work =
# m * d1 * batch * seq_len, which a run-step's time scales with roughly; both constants are
# rounded to the slow side (figure1, 8 runs: 5.4 ms per step; smoke: 1.05 ms).
RATE = 1800.0  # figure1 run-steps per second
FIGURE1_WORK = 30 * 36 * 64 * 4  # m * d1 * batch * seq_len of figure1
STEP_SECONDS = 1e-3

# Memory the training itself adds beyond its arrays (torch's thread pools and kernel scratch,
# the allocator's slack), measured as the peak of training the smoke preset minus the peak of
# only importing imbacl: about 20 MB; counted as 24 MiB.
RUNTIME_BYTES = 24 << 20
# torch.compile (train(compile=True)): the compiler's own memory in the process, measured with
# the smoke preset (3 steps, a fresh cache) as 194 MB more than the default path; counted as
# 256 MiB. The compiled step's own arrays (one step of at most 32 runs at a time, no block of
# views) are taken to be no more than the default path's, which the terms below count (not
# measured separately).
COMPILE_BYTES = 256 << 20

_OVERHEADS = ("runtime", "compiler")
_TRAIN_KWARGS = {
    "record_at",
    "n_snapshots",
    "threads",
    "compile",
    "max_batch",
    "progress",
    "device",
    "executor",
}


@dataclass(frozen=True)
class Estimate:
    """Peak memory and work of training some configs.

    bytes: the peak memory (the largest batch's); run_steps: steps summed over runs (a run of
    T steps takes T + 1, step 0 included); seconds: expected time at ``RATE``; field, value:
    the setting that drives the peak (a Config field, or ``runs``, the number of runs in the
    batch, or ``n_snapshots``) and its value; breakdown: bytes by term of the peak batch (they
    sum to ``bytes``)."""

    bytes: int
    run_steps: int
    seconds: float
    field: str
    value: object
    breakdown: dict = _field(default_factory=dict)
    batches: int = 1

    def __str__(self):
        terms = {k: v for k, v in self.breakdown.items() if k not in _OVERHEADS} or self.breakdown
        top = max(terms, key=terms.get)
        return (
            f"about {fmt_bytes(self.bytes)} of memory at the peak (largest term: {top} "
            f"{fmt_bytes(self.breakdown[top])}, driven by {self.field}={self.value}), "
            f"{self.run_steps:,} run-steps in {self.batches} batch"
            f"{'es' if self.batches != 1 else ''}, about {fmt_seconds(self.seconds)}"
        )


def fmt_bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def fmt_seconds(s: float) -> str:
    if s < 60:
        return f"{s:.2g} s"
    for unit, size in (("years", 365.25 * 86400), ("days", 86400), ("h", 3600), ("min", 60)):
        if s >= size:
            return f"{s / size:.3g} {unit}"


def _as_configs(configs) -> list:
    if isinstance(configs, Config):
        return [configs]
    configs = list(configs)
    # the (overrides, Config) points of imbacl.sweep.grid
    configs = [c[1] if isinstance(c, tuple) and len(c) == 2 else c for c in configs]
    for c in configs:
        if not isinstance(c, Config):
            raise TypeError(f"expected Configs, got {type(c).__name__}")
    return configs


def batches(
    configs: Config | Iterable[Config | tuple[dict, Config]], max_batch: int | None = None
) -> list[list[Config]]:
    """The batches ``imbacl.sweep.run`` trains: configs grouped by ``Config.shape_key`` in order
    of first appearance, each group split into chunks of ``max_batch`` runs."""
    # 0 means no chunking, as in sweep.run (`max_batch or len(group)`); a negative value would
    # make sweep.run train nothing
    if max_batch is not None and (
        isinstance(max_batch, bool) or not isinstance(max_batch, int) or max_batch < 0
    ):
        raise ConfigError(
            f"max_batch={max_batch!r} is invalid: must be an integer >= 1 or None",
            field="max_batch",
            value=max_batch,
            allowed="an integer >= 1 or None",
        )
    groups = {}
    for c in _as_configs(configs):
        groups.setdefault(c.shape_key, []).append(c)
    out = []
    for group in groups.values():
        n = max_batch or len(group)
        out.extend(group[k : k + n] for k in range(0, len(group), n))
    return out


def _snapshots(T, record_at, n_snapshots) -> int:
    if record_at is not None:
        return len(set(int(s) for s in record_at))
    return len(log_steps(T, n_snapshots))


# Factors of each term: (field, power); "runs" is the batch size R.
_FACTORS = {
    "dictionaries": (("runs", 1), ("d1", 2)),
    "dictionary build": (("runs", 1), ("d1", 2)),
    "weights": (("runs", 1), ("m", 1), ("d1", 1)),
    "snapshots": (("runs", 1), ("n_snapshots", 1), ("m", 1), ("d1", 1)),
    "loss history": (("runs", 1), ("steps", 1)),
    "data buffers": (("runs", 1), ("batch", 1), ("seq_len", 1), ("d1", 1)),
    "views": (("runs", 1), ("batch", 1), ("seq_len", 1), ("d1", 1)),
    "making views": (("runs", 1), ("batch", 1), ("seq_len", 2), ("d1", 1)),
    "activations": (("runs", 1), ("batch", 2), ("seq_len", 1), ("m", 1)),
    "re-sampling pool": (("resample", 1), ("batch", 1), ("seq_len", 1), ("d1", 1)),
    "runtime": (("runs", 1),),
    "compiler": (("runs", 1),),
}
# What each factor is compared with to find the one that drives a term: the figure1 preset.
_TYPICAL = {
    "runs": 8,
    "d1": 36,
    "m": 30,
    "batch": 64,
    "seq_len": 4,
    "steps": 3000,
    "n_snapshots": 100,
    "resample": 1,
}


def _driver(term, c, R, S):
    values = {
        "runs": R,
        "n_snapshots": S,
        **{f: getattr(c, f) for f in _TYPICAL if f not in ("runs", "n_snapshots")},
    }
    if c.resample > 1:
        values["resample"] = c.resample
    best = max(
        _FACTORS[term], key=lambda fp: fp[1] * math.log(max(values[fp[0]], 1) / _TYPICAL[fp[0]])
    )
    return best[0], values[best[0]]


def _batch(batch, record_at, n_snapshots, threads, compile):
    """(peak bytes, breakdown, driver field, its value) of one batch."""
    c, R = batch[0], len(batch)
    K, L, d, d1, m, T = c.batch, c.seq_len, c.d, c.d1, c.m, c.steps
    n_words = (d1 + 31) // 32
    S = _snapshots(T, record_at, n_snapshots)
    persistent = {  # held from the start of the loop to its end
        "dictionaries": R * d1 * d1 * F32,
        # W, the next W, and the update's temporaries (W^2, the gradient, lam W, their sum)
        "weights": 6 * R * m * d1 * F32,
        "snapshots": R * S * (m * d1 + 2 * m) * F32,  # P, norms, bias
        "loss history": R * (T + 1) * F32,
        "data buffers": R * CHUNK_STEPS * K * L * ((d + d1) * F32 + n_words * I64),
        "runtime": RUNTIME_BYTES,
    }
    if compile:
        persistent["compiler"] = COMPILE_BYTES
    # the block of views: `block` steps of all runs at a time, about BLOCK_ELEMENTS per view
    per_step = R * K * L * d1
    block = block_steps(per_step, DataStream.BLOCK_ELEMENTS)
    E = block * per_step
    persistent["views"] = 2 * E * F32  # the block kept: both views
    attn = block * R * K * L * L * F32 if c.attention == "identity" else 0
    # Transient arrays, counted together (and kept in the breakdown): the allocator keeps what
    # one phase frees for the next, so the measured peak holds about both phases' worth.
    breakdown = dict(persistent)
    # making the next block while the last is still held: mask, tokens, 2X, the two views, the
    # attention scores and their softmax, the z codes (9 views' worth measured at the peak)
    breakdown["making views"] = 9 * E * F32 + 3 * attn + 3 * block * R * K * L * d * F32
    # the loss: pre-activations of both views with BReLU's temporaries, the gradient's mask and
    # products (7 of them measured), logits, softmax
    breakdown["activations"] = 7 * R * K * L * m * F32 + 4 * R * K * K * F32
    resampled = [x for x in batch if x.resample != 1]
    if resampled:
        workers = threads or 1
        at_once = min(workers, len(resampled)) if workers > 1 and R > 1 else 1
        top = sorted((math.ceil(x.resample) for x in resampled), reverse=True)[:at_once]
        n_minority = d - c.n_majority
        per_seq = L * ((d + d1) * F32 + n_words * I64 + 5 * n_minority) + 40
        breakdown["re-sampling pool"] = sum(2 * r * CHUNK_STEPS * K for r in top) * per_seq
    train_bytes = sum(breakdown.values())
    # building the dictionaries: the last run's float64 QR (the Gaussian matrix, Q, R, the
    # sign-corrected Q) beside the R - 1 already built, or all R stacked beside their list
    build = max(R * d1 * d1 * F32 + 4 * d1 * d1 * I64, 2 * R * d1 * d1 * F32) + RUNTIME_BYTES
    if build > train_bytes:
        breakdown = {"dictionary build": build}
    top = max((k for k in breakdown if k not in _OVERHEADS), key=breakdown.get)
    name, value = _driver(top, c, R, S)
    return sum(breakdown.values()), breakdown, name, value


def _check_train_kwargs(kwargs):
    unknown = sorted(set(kwargs) - _TRAIN_KWARGS)
    if unknown:
        raise TypeError(f"unexpected keyword argument {unknown[0]!r}")


def estimate(
    configs: Config | Iterable[Config | tuple[dict, Config]],
    record_at: Iterable[int] | None = None,
    n_snapshots: int = 100,
    threads: int | None = 2,
    compile: bool = False,
    max_batch: int | None = None,
) -> Estimate:
    """Peak memory and run-steps of training ``configs`` (a Config, a list of Configs, or the
    (overrides, Config) points of ``imbacl.sweep.grid``) with ``train``'s arguments of the same
    names, as ``imbacl.sweep.run`` would batch them (one batch if they share a shape). Nothing
    is allocated: sizes are counted in Python integers, so any valid config can be estimated."""
    groups = batches(configs, max_batch)
    if not groups:
        raise ConfigError(
            "configs=[] is invalid: give at least one Config",
            field="configs",
            value=[],
            allowed="at least one Config",
        )
    peak, run_steps, seconds = None, 0, 0.0
    for b in groups:
        c, R = b[0], len(b)
        run_steps += R * (c.steps + 1)
        seconds += (c.steps + 1) * (STEP_SECONDS + R * work(c) / FIGURE1_WORK / RATE)
        got = _batch(b, record_at, n_snapshots, threads, compile)
        if peak is None or got[0] > peak[0]:
            peak = got
    total, breakdown, name, value = peak
    return Estimate(total, run_steps, seconds, name, value, breakdown, len(groups))


def rate(config: Config | None = None, runs: int = 8) -> float:
    """Expected run-steps per second of ``runs`` runs of ``config``'s shape trained as one batch
    (default: the figure1 preset), from ``RATE`` and ``STEP_SECONDS``."""
    c = Config() if config is None else config
    return runs / (STEP_SECONDS + runs * work(c) / FIGURE1_WORK / RATE)


def work(c: Config) -> int:
    """The work of one run-step, m d1 K L: what a run-step's time scales with (roughly)."""
    return c.m * c.d1 * c.batch * c.seq_len


def cost(configs: Iterable[Config]) -> float:
    """The work of training ``configs`` in figure1 run-steps: sum of steps * :func:`work` over
    figure1's (the explorers' budget unit; seconds = cost / RATE)."""
    return sum(c.steps * work(c) for c in configs) / FIGURE1_WORK


# -- the memory available ---------------------------------------------------------------------
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_bytes(text: str | int, name: str = ENV_VAR) -> int:
    """A memory size: bytes as an integer, or with a binary suffix K, M, G or T (``8G``, ``512M``,
    ``1.5T``; a trailing ``B``/``iB`` is allowed). ConfigError names ``name`` if it is not one."""
    allowed = (
        "must be a positive number of bytes, optionally with a suffix K, M, G or T "
        "(powers of 1024), e.g. 8000000000 or 8G"
    )
    s = str(text).strip().upper().replace("_", "")
    for tail in ("IB", "B"):
        if s.endswith(tail) and len(s) > len(tail):
            s = s[: -len(tail)]
            break
    unit = s[-1:] if s[-1:] in _UNITS and s[-1:] else ""
    number = s[:-1] if unit else s
    try:
        value = float(number) if any(ch in number for ch in ".E") else int(number)
    except (ValueError, OverflowError):
        value = None
    if (
        value is None
        or not math.isfinite(value)
        or value * _UNITS[unit] < 1
        or value * _UNITS[unit] > 2**63
    ):
        raise ConfigError(
            f"{name}={text!r} is invalid: {allowed}", field=name, value=text, allowed=allowed
        )
    return int(value * _UNITS[unit])


def system_memory() -> tuple:
    """(bytes, where from): MemAvailable of /proc/meminfo, lowered to what this process's cgroup
    still allows (containers); else the free physical pages (os.sysconf)."""
    avail, source = None, None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail, source = int(line.split()[1]) * 1024, "MemAvailable"
                    break
    except (OSError, ValueError, IndexError):
        pass
    if avail is None:
        try:
            avail = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
            source = "free physical memory"
        except (ValueError, OSError, AttributeError):
            avail, source = None, None
    group = _cgroup_room()
    if group is not None and (avail is None or group < avail):
        avail, source = group, "the cgroup's memory.max"
    return avail, source


def _cgroup_room():
    try:
        with open("/proc/self/cgroup") as f:
            path = next(
                (line.split(":", 2)[2].strip() for line in f if line.startswith("0::")), None
            )
        if path is None:
            return None
        base = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
        with open(os.path.join(base, "memory.max")) as f:
            top = f.read().strip()
        if top == "max":
            return None
        with open(os.path.join(base, "memory.current")) as f:
            used = int(f.read().strip())
        return max(int(top) - used, 0)
    except (OSError, ValueError, IndexError):
        return None


def available_memory() -> int:
    """The memory a batch may use, in bytes: ``IMBACL_MAX_MEMORY`` if set (bytes, or with a
    suffix K, M, G, T; ConfigError if it is not a size), else ``system_memory``."""
    return _limit(None)[0]


def _limit(limit):
    if limit is not None:
        if (
            isinstance(limit, bool)
            or not isinstance(limit, (int, float))
            or not (1 <= limit <= 2**63)
        ):
            raise ConfigError(
                f"limit={limit!r} is invalid: must be a number of bytes in [1, 2**63]",
                field="limit",
                value=limit,
                allowed="a number of bytes in [1, 2**63]",
            )
        return int(limit), "the limit given"
    env = os.environ.get(ENV_VAR)
    if env is not None and env.strip():
        return parse_bytes(env), ENV_VAR
    avail, source = system_memory()
    if avail is None:  # nothing to go by: do not refuse
        return 2**63, "no limit known"
    return avail, f"{source}; set {ENV_VAR} to change it"


def check(
    configs: Config | Iterable[Config | tuple[dict, Config]],
    limit: int | float | None = None,
    **train_kwargs: Any,
) -> Estimate:
    """The :func:`estimate` of ``configs``, or ResourceError (one line: the estimate, the limit,
    the field that drives it and the largest value of that field that would fit) if its peak
    exceeds ``limit`` bytes (default: :func:`available_memory`). ``train_kwargs``: ``train``'s
    or ``sweep.run``'s keyword arguments (record_at, n_snapshots, threads, compile, max_batch
    are used; progress, device, executor ignored)."""
    _check_train_kwargs(train_kwargs)
    kw = {
        k: train_kwargs[k]
        for k in ("record_at", "n_snapshots", "threads", "compile", "max_batch")
        if k in train_kwargs
    }
    est = estimate(configs, **kw)
    allowed, source = _limit(limit)
    if est.bytes > allowed:
        terms = {k: v for k, v in est.breakdown.items() if k not in _OVERHEADS} or est.breakdown
        top = max(terms, key=terms.get)
        raise ResourceError(
            f"training needs about {fmt_bytes(est.bytes)} of memory ({top} "
            f"{fmt_bytes(est.breakdown[top])}), more than the limit of {fmt_bytes(allowed)} "
            f"({source}); driven by {est.field}={est.value}: "
            f"{_what_fits(configs, est.field, est.value, allowed, kw)}",
            field=est.field,
            value=est.bytes,
            limit=allowed,
            field_value=est.value,
            estimate=est,
        )
    return est


def _what_fits(configs, name, value, allowed, kw) -> str:
    """Words for the largest value of ``name`` (all else unchanged) that would fit in
    ``allowed`` bytes, found by bisection on the estimate (nothing is allocated)."""
    configs = _as_configs(configs)
    if name == "runs":

        def fits(n):
            return estimate(configs, **{**kw, "max_batch": n}).bytes <= allowed

        best = _bisect(fits, 1, int(value) - 1)
        return (
            "even one run does not fit: lower the sizes (d1, m, batch, seq_len, steps)"
            if best is None
            else f"at most {best} runs per batch would fit "
            "(sweep.run's max_batch, or fewer configs per train call)"
        )
    if name == "n_snapshots":
        if kw.get("record_at") is not None:
            return "record fewer steps (record_at)"
        best = _bisect(
            lambda n: estimate(configs, **{**kw, "n_snapshots": n}).bytes <= allowed,
            1,
            int(value) - 1,
        )
    else:

        def fits(v):
            try:
                changed = [c.replace(**{name: v}) for c in configs]
            except ConfigError:
                return False
            return estimate(changed, **kw).bytes <= allowed

        low = {"batch": 2, "d1": max(c.d for c in configs)}.get(name, 1)
        best = _bisect(fits, low, math.ceil(value) - 1)
    if best is None:
        return f"lower it; no value of {name} alone fits, lower the other sizes too"
    return f"{name} <= {best} would fit"


def _bisect(fits, lo, hi):
    """The largest integer n in [lo, hi] with fits(n) (fits decreasing in n), or None."""
    if hi < lo or not fits(lo):
        return None
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if fits(mid):
            lo = mid
        else:
            hi = mid - 1
    return lo

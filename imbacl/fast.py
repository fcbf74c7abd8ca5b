"""The compiled path of ``train(compile=True)``: each step (data from the raw draws, attention,
loss, gradient, update) as one ``torch.compile``d function, called on groups of runs, with the
random numbers drawn through a C copy of torch's CPU draws (``draws.c``).

Its numbers differ from the default path's by rounding, which training then carries on: its
kernels round differently, and its normal draws differ from torch's in the last bits (README,
Benchmarks, for the speed and the drift). The book uses the default path.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import math
import os
import platform
import subprocess
import tempfile
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import torch

from .data import pair_views, unpack_bits
from .errors import CompileError
from .stream import DataStream
from .loss import RunParams, objective, update

if TYPE_CHECKING:
    from .config import Config

# Compiled versions kept per process: one per shape, remedy in use and thread count, which a
# long session or a large sweep can run to; torch's default (8) would stop it.
RECOMPILE_LIMIT = 1024

# Runs per call of the compiled step on a CPU: a group's intermediate tensors stay in cache
# (benchmarks/README.md). Every run's weights are the same in any grouping (the recorded loss,
# summed in another order for another number of runs, can differ in its last bits).
COMPILED_GROUP = 32

_COMPILED = None


@contextmanager
def compiled_steps(
    configs: Sequence[Config],
    M: torch.Tensor,
    p: RunParams,
    device: str | torch.device = "cpu",
    workers: int = 1,
) -> Iterator[Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]]:
    """A step function ``step(W, t) -> (loss, new W)`` for the trainer's loop, each call one run of
    the compiled step on the stream's next draws; the stream is closed on exit."""
    from torch._dynamo import config as dynamo_config

    stream = draw_stream(configs, M, device, workers)
    compiled, first = _compiled_step(), [True]

    def step(W, t):
        # the step as a tensor: a Python int would be a constant of the graph (a recompile a step)
        draws = (*stream.next_draws(), p, torch.tensor(t))
        if first[0]:
            first[0] = False
            return _first_call(compiled, W, draws)
        return compiled(W, *draws)

    try:
        with dynamo_config.patch(recompile_limit=RECOMPILE_LIMIT):
            yield step
    finally:
        stream.close()


def draw_stream(
    configs: Sequence[Config], M: torch.Tensor, device: str | torch.device = "cpu", workers: int = 1
) -> DataStream:
    """The runs' raw draws, through the C draws on a CPU where they can be built (else torch's,
    after a warning from :func:`c_draws`)."""
    lib = c_draws() if torch.device(device).type == "cpu" else None
    draw = None if lib is None else functools.partial(draw_like_torch, lib)
    return DataStream(configs, M, device=device, workers=workers, draw=draw)


def fused_step(
    W: torch.Tensor,
    u: torch.Tensor,
    xi: torch.Tensor,
    words: torch.Tensor,
    weights: torch.Tensor | None,
    p: RunParams,
    t: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """One whole step from the raw draws (data, attention, loss, update), for torch.compile."""
    V1, V2 = pair_views(u, xi, unpack_bits(words, W.shape[-1]), p.eps, p.M, p.sigma)
    A1, A2 = attention_fused(V1, p.attention), attention_fused(V2, p.attention)
    loss, grad = objective(W, A1, A2, weights, p, t)
    return loss, update(W, grad, p)


def attention_fused(X: torch.Tensor, mode: str = "identity") -> torch.Tensor:
    """``model.attention`` unrolled over the L tokens, for the trainer's ``compile=True`` path:
    one dot
    product per pair of tokens, then the softmax and the weighted sums as elementwise ops over
    all sequences at once, which torch.compile fuses and vectorises; the tiny L x L matrix
    products of ``model.attention`` (or a softmax along a length-L axis) become slow code there. The
    same numbers up to rounding."""
    if mode == "none":
        return X
    L, d1 = X.shape[-2:]
    x = [X[..., r, :] for r in range(L)]
    score = [[None] * L for _ in range(L)]
    for r in range(L):
        for s in range(r, L):  # <x_r, x_s> is symmetric: one dot product per pair
            score[r][s] = score[s][r] = (x[r] * x[s]).sum(-1) / math.sqrt(d1)
    out = []
    for r in range(L):
        top = functools.reduce(torch.maximum, score[r])
        e = [torch.exp(v - top) for v in score[r]]
        total = functools.reduce(torch.add, e)
        out.append(
            functools.reduce(torch.add, [w.unsqueeze(-1) * v for w, v in zip(e, x)])
            / total.unsqueeze(-1)
        )
    return torch.stack(out, dim=-2)


def _first_call(compiled, W, draws):
    """The call that compiles: quiet about inductor's own deprecation warnings, and a failure
    named as the option's, in one line, not as a traceback from deep in inductor."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module="torch")
            return compiled(W, *draws)
    except Exception as e:
        inner = getattr(e, "inner_exception", e)  # torch wraps the backend's own error
        name = type(inner).__name__
        lines = str(inner).strip().splitlines()
        hint = (
            " It needs a working C++ compiler (g++, or $CXX)."
            if name in ("InvalidCxxCompiler", "CppCompileError")
            else ""
        )
        raise CompileError(
            f"compile=True: torch.compile could not build the training step "
            f"({name}: {lines[0][:300] if lines else ''}).{hint} "
            "Train with compile=False instead."
        ) from e


def _compiled_step():
    """``fused_step`` compiled, made once per process, and called on groups of runs; torch.compile
    compiles it again for each new shape, remedy in use or thread count (see RECOMPILE_LIMIT)."""
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = torch.compile(fused_step, dynamic=False, fullgraph=True)
    return lambda W, *draws: in_groups(_COMPILED, W, *draws)


def in_groups(
    step: Callable[..., tuple[torch.Tensor, torch.Tensor]],
    W: torch.Tensor,
    u: torch.Tensor,
    xi: torch.Tensor,
    words: torch.Tensor,
    weights: torch.Tensor | None,
    p: RunParams,
    t: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``step`` on groups of COMPILED_GROUP runs (the last one smaller), so that every R reuses
    the one compiled group shape, with the results concatenated back. Every tensor in ``p`` has
    the run axis first."""
    R = W.shape[0]
    if R <= COMPILED_GROUP or W.device.type != "cpu":
        return step(W, u, xi, words, weights, p, t)
    out = []
    for g in (slice(s, s + COMPILED_GROUP) for s in range(0, R, COMPILED_GROUP)):
        q = p._replace(**{k: v[g] for k, v in p._asdict().items() if isinstance(v, torch.Tensor)})
        out.append(step(W[g], u[g], xi[g], words[g], None if weights is None else weights[g], q, t))
    return torch.cat([loss for loss, _ in out]), torch.cat([W_g for _, W_g in out])


# -- the C draws: torch's draws, faster -------------------------------------------------------
_C_DRAWS = {}
_C_DRAWS_LOCK = threading.Lock()
# torch's CPU generator state (get_state()): the layout draws.c reads and writes
_STATE_BYTES = 5056


def c_draws() -> ctypes.CDLL | None:
    """The C copy of torch's CPU draws (``imbacl/draws.c``), built once per machine with the C
    compiler ($CC, else cc) into the user's cache ($XDG_CACHE_HOME, else ~/.cache, /imbacl) and
    checked against torch on a few draws; None, with a warning, if it cannot be built or does
    not match this torch."""
    with _C_DRAWS_LOCK:  # threads of a sweep may all ask at once
        if "lib" not in _C_DRAWS:
            try:
                _C_DRAWS["lib"] = _check_c_draws(_build_c_draws())
            except Exception as e:  # the caller falls back to torch's draws
                warnings.warn(f"imbacl/draws.c is not used, drawing with torch (slower): {e}")
                _C_DRAWS["lib"] = None
        return _C_DRAWS["lib"]


def _build_c_draws():
    src = Path(__file__).with_name("draws.c")
    cc = os.environ.get("CC", "cc")
    # for this machine (FMA contracted where it has it): compile=True is machine-specific anyway
    flags = ["-O3", "-march=native", "-fno-math-errno", "-shared", "-fPIC"]
    info = Path("/proc/cpuinfo")
    cpu = info.read_text().split("\n\n")[0] if info.exists() else ""  # the first core's entry
    machine = " ".join([cc, *flags, platform.node(), platform.machine(), cpu])
    key = hashlib.sha256(src.read_bytes() + machine.encode()).hexdigest()[:16]
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "imbacl"
    cache.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = cache.stat()
    if st.st_uid != os.getuid() or st.st_mode & 0o022:  # we load code from it: ours alone
        raise RuntimeError(f"{cache} is not a directory only this user can write")
    lib = cache / f"draws-{key}.so"
    if not lib.exists():
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=".tmp")
        os.close(fd)
        try:
            out = subprocess.run(
                [cc, *flags, str(src), "-o", tmp, "-lm"],
                capture_output=True,
                text=True,
                timeout=120,
            )
            if out.returncode:
                raise RuntimeError(f"{cc} failed: {out.stderr.strip()[:300]}")
            os.replace(tmp, lib)  # atomic: processes may build at once
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    c = ctypes.CDLL(str(lib))
    c.imbacl_draw.argtypes = [ctypes.c_void_p] + [ctypes.c_void_p, ctypes.c_int64] * 3
    return c


def _check_c_draws(c):
    # torch's generator state layout and kernels are torch's internals: check, do not assume
    a, b = torch.Generator().manual_seed(2**40 + 7), torch.Generator().manual_seed(2**40 + 7)
    want = (
        torch.rand(1000, generator=a),
        torch.randn(1296, generator=a),
        torch.randint(0, 2**32, (700,), generator=a),
    )
    got = (torch.empty(1000), torch.empty(1296), torch.empty(700, dtype=torch.int64))
    draw_like_torch(c, b, *got)
    if not (
        torch.equal(want[0], got[0])
        and torch.equal(want[2], got[2])
        and torch.equal(a.get_state(), b.get_state())
        and torch.allclose(want[1], got[1], rtol=0, atol=1e-5)
    ):
        raise RuntimeError(f"its draws differ from torch {torch.__version__}'s")
    return c


def draw_like_torch(
    c: ctypes.CDLL, gen: torch.Generator, u: torch.Tensor, xi: torch.Tensor, words: torch.Tensor
) -> None:
    """``torch.rand``, ``torch.randn`` and ``torch.randint(0, 2**32)`` into the contiguous CPU
    tensors u (float32), xi (float32, a multiple of 16 numbers) and words (int64), in that order,
    from ``gen``, which ends where torch would leave it. u and words are torch's bit for bit; xi
    differs from torch's in the last bits (see draws.c). ``c``: from :func:`c_draws`."""
    wanted = {"u": (u, torch.float32), "xi": (xi, torch.float32), "words": (words, torch.int64)}
    for name, (t, dtype) in wanted.items():
        if t.dtype != dtype or t.device.type != "cpu" or not t.is_contiguous():
            layout = "" if t.is_contiguous() else "non-contiguous "
            raise ValueError(
                f"{name} is a {layout}{t.dtype} tensor on {t.device}: must be a "
                f"contiguous {dtype} on the CPU"
            )
    if gen.device.type != "cpu":
        raise ValueError(f"gen is a generator on {gen.device}: must be a CPU generator")
    state = gen.get_state()
    if state.dtype != torch.uint8 or state.numel() != _STATE_BYTES:  # before C writes to it
        raise RuntimeError(
            f"torch {torch.__version__}'s generator state has {state.numel()} "
            f"{state.dtype} entries, not the {_STATE_BYTES} bytes draws.c knows"
        )
    if c.imbacl_draw(
        state.data_ptr(),
        u.data_ptr(),
        u.numel(),
        xi.data_ptr(),
        xi.numel(),
        words.data_ptr(),
        words.numel(),
    ):
        raise ValueError(f"xi has {xi.numel()} numbers: must be a multiple of 16")
    gen.set_state(state)

"""The sparse-coding data model and the feature-decoupling augmentation.

A token is x = M z + xi: z in {-1, 0, +1}^d with P(z_j != 0) = eps_j, xi ~ N(0, sigma^2 I).
A positive pair masks the d1 coordinates of every token with one Bernoulli(1/2) mask D:
X+ = 2 D X and X++ = 2 (I - D) X (Wen & Li's feature decoupling).

Every run owns its random streams, derived from its seed alone, so a run gives the same
numbers whether it is trained alone or in a batch with others.
"""
from __future__ import annotations

import ctypes
import hashlib
import math
import os
import platform
import subprocess
import tempfile
import threading
import warnings
from pathlib import Path

import numpy as np
import torch

# Steps of data drawn per run at a time. A constant of the data model (not of the batch size),
# because chunking changes the order in which a generator's numbers are used.
CHUNK_STEPS = 16

_STREAMS = {"dictionary": 0, "init": 1, "data": 2}


def generator(seed: int, stream: str, device="cpu") -> torch.Generator:
    """An independent generator for one purpose of one run (dictionary, init or data)."""
    child = np.random.SeedSequence(seed).spawn(len(_STREAMS))[_STREAMS[stream]]
    return torch.Generator(device=device).manual_seed(int(child.generate_state(1, np.uint64)[0] >> 1))


def dictionary(d1: int, gen: torch.Generator, device="cpu") -> torch.Tensor:
    """A random orthogonal d1 x d1 matrix whose columns are M_1..M_d1 (Haar, via QR)."""
    g = torch.randn(d1, d1, generator=gen, device=device, dtype=torch.float64)
    q, r = torch.linalg.qr(g)
    return (q * torch.sign(torch.diagonal(r))).float()


def sample_sparse(eps: torch.Tensor, shape: tuple, gen: torch.Generator) -> torch.Tensor:
    """z with P(z_j = +1) = P(z_j = -1) = eps_j / 2, else 0; eps broadcasts over ``shape``."""
    u = torch.rand(*shape, eps.shape[-1], generator=gen, device=eps.device)
    return (u < eps / 2).float() - ((u >= eps / 2) & (u < eps)).float()


def random_mask(shape: tuple, gen: torch.Generator, device="cpu") -> torch.Tensor:
    """Bernoulli(1/2) mask, 32 coordinates per random draw (fewer draws than one each)."""
    n = shape[-1]
    words = torch.randint(0, 2 ** 32, (*shape[:-1], (n + 31) // 32), generator=gen,
                          device=device, dtype=torch.int64)
    return unpack_bits(words, n)


def unpack_bits(words: torch.Tensor, n: int) -> torch.Tensor:
    """Coordinate 32 w + k of the mask is bit k of word w (little-endian); the first n, as floats."""
    bits = (words.unsqueeze(-1) >> torch.arange(32, device=words.device)) & 1
    return bits.flatten(-2)[..., :n].float()


def sample_sequences(M, eps, sigma, shape, gen):
    """Sequences ``x = M z + xi`` of shape ``(*shape, d1)`` for one run; also returns z."""
    d1, d = M.shape[0], eps.shape[-1]
    z = sample_sparse(eps, shape, gen)
    xi = torch.randn(*shape, d1, generator=gen, device=M.device)
    return z @ M[:, :d].T + sigma * xi, z


# -- torch's draws, faster, for train(compile=True) -----------------------------------------
_C_DRAWS = {}
_C_DRAWS_LOCK = threading.Lock()
# torch's CPU generator state (get_state()): the layout draws.c reads and writes
_STATE_BYTES = 5056


def c_draws():
    """The C copy of torch's CPU draws (``imbacl/draws.c``), built once per machine with the C
    compiler ($CC, else cc) into the user's cache ($XDG_CACHE_HOME, else ~/.cache, /imbacl) and
    checked against torch on a few draws; None, with a warning, if it cannot be built or does
    not match this torch."""
    with _C_DRAWS_LOCK:                                  # threads of a sweep may all ask at once
        if "lib" not in _C_DRAWS:
            try:
                _C_DRAWS["lib"] = _check_c_draws(_build_c_draws())
            except Exception as e:                      # the caller falls back to torch's draws
                warnings.warn(f"imbacl/draws.c is not used, drawing with torch (slower): {e}")
                _C_DRAWS["lib"] = None
        return _C_DRAWS["lib"]


def _build_c_draws():
    src = Path(__file__).with_name("draws.c")
    cc = os.environ.get("CC", "cc")
    # for this machine (FMA contracted where it has it): compile=True is machine-specific anyway
    flags = ["-O3", "-march=native", "-fno-math-errno", "-shared", "-fPIC"]
    info = Path("/proc/cpuinfo")
    cpu = info.read_text().split("\n\n")[0] if info.exists() else ""    # the first core's entry
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
            out = subprocess.run([cc, *flags, str(src), "-o", tmp, "-lm"], capture_output=True,
                                 text=True, timeout=120)
            if out.returncode:
                raise RuntimeError(f"{cc} failed: {out.stderr.strip()[:300]}")
            os.replace(tmp, lib)                        # atomic: processes may build at once
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    c = ctypes.CDLL(str(lib))
    c.imbacl_draw.argtypes = [ctypes.c_void_p] + [ctypes.c_void_p, ctypes.c_int64] * 3
    return c


def _check_c_draws(c):
    # torch's generator state layout and kernels are torch's internals: check, do not assume
    a, b = torch.Generator().manual_seed(2 ** 40 + 7), torch.Generator().manual_seed(2 ** 40 + 7)
    want = (torch.rand(1000, generator=a), torch.randn(1296, generator=a),
            torch.randint(0, 2 ** 32, (700,), generator=a))
    got = (torch.empty(1000), torch.empty(1296), torch.empty(700, dtype=torch.int64))
    draw_like_torch(c, b, *got)
    if not (torch.equal(want[0], got[0]) and torch.equal(want[2], got[2])
            and torch.equal(a.get_state(), b.get_state())
            and torch.allclose(want[1], got[1], rtol=0, atol=1e-5)):
        raise RuntimeError(f"its draws differ from torch {torch.__version__}'s")
    return c


def draw_like_torch(c, gen, u, xi, words):
    """``torch.rand``, ``torch.randn`` and ``torch.randint(0, 2**32)`` into the contiguous CPU
    tensors u (float32), xi (float32, a multiple of 16 numbers) and words (int64), in that order,
    from ``gen``, which ends where torch would leave it. u and words are torch's bit for bit; xi
    differs from torch's in the last bits (see draws.c). ``c``: from :func:`c_draws`."""
    wanted = {"u": (u, torch.float32), "xi": (xi, torch.float32), "words": (words, torch.int64)}
    for name, (t, dtype) in wanted.items():
        if t.dtype != dtype or t.device.type != "cpu" or not t.is_contiguous():
            layout = "" if t.is_contiguous() else "non-contiguous "
            raise ValueError(f"{name} is a {layout}{t.dtype} tensor on {t.device}: must be a "
                             f"contiguous {dtype} on the CPU")
    if gen.device.type != "cpu":
        raise ValueError(f"gen is a generator on {gen.device}: must be a CPU generator")
    state = gen.get_state()
    if state.dtype != torch.uint8 or state.numel() != _STATE_BYTES:     # before C writes to it
        raise RuntimeError(f"torch {torch.__version__}'s generator state has {state.numel()} "
                           f"{state.dtype} entries, not the {_STATE_BYTES} bytes draws.c knows")
    if c.imbacl_draw(state.data_ptr(), u.data_ptr(), u.numel(), xi.data_ptr(), xi.numel(),
                     words.data_ptr(), words.numel()):
        raise ValueError(f"xi has {xi.numel()} numbers: must be a multiple of 16")
    gen.set_state(state)


def pair_views(u, xi, keep, eps, M, sigma):
    """The two views of R runs' sequences from their raw draws, all with a leading run axis:
    uniforms u (R, ..., d) for z, normals xi (R, ..., d1), mask D ``keep`` (R, ..., d1);
    eps (R, d), dictionaries M (R, d1, d1), sigma (R,). The same numbers as sample_sequences,
    random_mask and views give from the same draws."""
    R, d = u.shape[0], u.shape[-1]
    e = eps.reshape(R, *[1] * (u.dim() - 2), d)
    # z = +1 if u < eps/2, -1 if eps/2 <= u < eps, else 0
    z = 2 * (u < e / 2).float() - (u < e).float()
    X = (z.reshape(R, -1, d) @ M[:, :, :d].transpose(1, 2)).reshape(xi.shape)
    X = X + sigma.reshape(R, *[1] * (xi.dim() - 1)) * xi
    # D X and X - D X give the same numbers as torch.where would, several times faster.
    X2 = 2 * X
    V1 = X2 * keep
    return V1, X2 - V1


def views(X: torch.Tensor, mask: torch.Tensor):
    """The two augmented views 2 D X and 2 (I - D) X; they average back to X."""
    return 2 * mask * X, 2 * (1 - mask) * X


class DataStream:
    """Positive pairs for R runs, one step at a time, each run from its own generator.

    ``next()`` returns the two views, each of shape (R, K, L, d1), after ``transform`` (the
    fixed attention layer, which has no parameters), and the per-pair weights eps_max / eps_j
    of the rarest feature present (R, K) for runs with ``reweight="known"`` (None when no run
    uses them).

    Speed: random numbers are drawn CHUNK_STEPS steps at a time per run into buffers kept from
    chunk to chunk, the runs spread over ``workers`` threads (each generator stays in one
    thread, so the numbers do not depend on the thread count); the arithmetic is done a block
    of steps at a time, a block small enough to stay in cache. Neither choice changes a single
    bit of the data. With ``fast_draws`` (the compiled trainer's), runs without re-sampling on
    a CPU draw through :func:`draw_like_torch`, 5 times as fast: the same u and mask, normals xi
    that differ from torch's in their last bits.
    """

    # Elements of one view that a block of steps may hold (about 4 MB of float32).
    BLOCK_ELEMENTS = 1 << 20

    def __init__(self, configs, dictionaries: torch.Tensor, transform=None, device="cpu",
                 workers: int = 1, fast_draws: bool = False):
        c0 = configs[0]
        self.K, self.L, self.d1 = c0.batch, c0.seq_len, c0.d1
        self.M = dictionaries
        R, d = len(configs), len(c0.freqs)
        self.eps = torch.tensor([c.freqs for c in configs], device=device)
        self.sigma = torch.tensor([c.sigma for c in configs], device=device)
        self.gens = [generator(c.seed, "data", device) for c in configs]
        self.resample = [c.resample for c in configs]
        self.minority = [c.minority for c in configs]
        self.known = torch.tensor([c.reweight == "known" for c in configs], device=device)
        self.device = device
        self.transform = transform or (lambda X: X)
        shape, n_words = (R, CHUNK_STEPS, self.K, self.L), (self.d1 + 31) // 32
        self.u = torch.empty(*shape, d, device=device)
        self.xi = torch.empty(*shape, self.d1, device=device)
        self.words = torch.empty(*shape, n_words, dtype=torch.int64, device=device)
        per_step = R * self.K * self.L * self.d1
        self.block = max(1, min(CHUNK_STEPS, self.BLOCK_ELEMENTS // per_step))
        while CHUNK_STEPS % self.block:
            self.block -= 1
        self._pool = None
        if workers > 1 and R > 1 and device == "cpu":
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(max_workers=workers)
        self._pos, self._block = CHUNK_STEPS, None
        self._c = c_draws() if fast_draws and torch.device(device).type == "cpu" else None

    def close(self):
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _draw_run(self, r):
        # Per run, the same draws in the same order as sample_sequences and random_mask make:
        # uniforms for z, normals for xi, mask words.
        gen, shape = self.gens[r], (CHUNK_STEPS, self.K, self.L)
        if self.resample[r] != 1:
            self.u[r], self.xi[r], self.words[r] = self._resampled(r, gen, shape, self.words.shape[-1])
            return
        if self._c is not None:
            draw_like_torch(self._c, gen, self.u[r], self.xi[r], self.words[r])
            return
        torch.rand(*shape, self.u.shape[-1], generator=gen, out=self.u[r])
        torch.randn(*shape, self.d1, generator=gen, out=self.xi[r])
        torch.randint(0, 2 ** 32, (*shape, self.words.shape[-1]), generator=gen, out=self.words[r])

    def _draw_chunk(self):
        runs = range(len(self.gens))
        if self._pool is None:
            for r in runs:
                self._draw_run(r)
        else:
            list(self._pool.map(self._draw_run, runs))

    def _make_block(self, t0):
        """Views and weights of steps t0 .. t0 + block - 1 of the current chunk, as one program
        over all runs."""
        steps = slice(t0, t0 + self.block)
        u, xi, words = self.u[:, steps], self.xi[:, steps], self.words[:, steps]
        V1, V2 = pair_views(u, xi, self._unpack(words), self.eps, self.M, self.sigma)
        return self.transform(V1), self.transform(V2), self._weights(u)

    def _weights(self, u):
        """Per-pair weights (None if no run uses them) of uniforms u (R, steps, K, L, d)."""
        if not bool(self.known.any()):
            return None
        return self._known_weights(u < self.eps.reshape(u.shape[0], 1, 1, 1, -1))

    def _unpack(self, words):
        if words.device.type != "cpu":          # stay on the device: the same bits, by shifts
            return unpack_bits(words, self.d1)
        w32 = words.numpy().astype(np.uint32).view(np.uint8)
        bits = np.unpackbits(w32.reshape(*words.shape[:-1], -1), axis=-1, bitorder="little")
        return torch.from_numpy(bits[..., :self.d1]).to(torch.float32)

    def _resampled(self, r, gen, shape, n_words):
        """Re-sampling: sequences holding a minority feature are always kept, the others with
        probability 1 / resample, from a pool large enough that the batch almost surely fills
        (if it does not, rejected sequences fill it in order)."""
        n, L, d = shape[0] * shape[1], shape[2], self.eps.shape[-1]
        pool = 2 * math.ceil(self.resample[r]) * n
        u = torch.rand(pool, L, d, generator=gen, device=self.device)
        xi = torch.randn(pool, L, self.d1, generator=gen, device=self.device)
        words = torch.randint(0, 2 ** 32, (pool, L, n_words), generator=gen,
                              device=self.device, dtype=torch.int64)
        accept = torch.rand(pool, generator=gen, device=self.device) < 1 / self.resample[r]
        mino = self.minority[r]
        has = (u[:, :, mino] < self.eps[r, mino]).flatten(1).any(-1)   # z_j != 0 iff u < eps_j
        keep = has | accept
        idx = torch.cat([keep.nonzero()[:, 0], (~keep).nonzero()[:, 0]])[:n]
        return (u[idx].reshape(*shape, d), xi[idx].reshape(*shape, self.d1),
                words[idx].reshape(*shape, n_words))

    def _known_weights(self, active):
        """Per pair, eps_max / eps_j of the rarest feature present in the sequence (1 if none);
        1 for runs that do not use known re-weighting. active: (R, C, K, L, d) bool."""
        present = active.any(dim=3)                                   # (R, C, K, d)
        ratio = (self.eps.max(-1, keepdim=True).values / self.eps)[:, None, None, :]
        w = torch.where(present, ratio, torch.ones_like(ratio)).amax(-1)
        return torch.where(self.known.reshape(-1, 1, 1), w, torch.ones_like(w))

    def _advance(self) -> int:
        """Position of the next step in the current chunk, drawing a new chunk when needed."""
        if self._pos == CHUNK_STEPS:
            self._draw_chunk()
            self._pos = 0
        self._pos += 1
        return self._pos - 1

    def next(self):
        t = self._advance()
        if t % self.block == 0:
            self._block = self._make_block(t)
        A1, A2, w = self._block
        i = t % self.block
        return A1[:, i], A2[:, i], (None if w is None else w[:, i])

    def next_draws(self):
        """The next step's raw draws instead of its views, for a caller that makes the views
        itself (the trainer's compiled step): uniforms u (R, K, L, d), normals xi (R, K, L, d1),
        mask words (R, K, L, n_words), and the per-pair weights as ``next`` gives them."""
        t = self._advance()
        w = self._weights(self.u[:, t:t + 1])
        return self.u[:, t], self.xi[:, t], self.words[:, t], (None if w is None else w[:, 0])


def sample_config(config, n_sequences: int, seed_offset: int = 0):
    """Draw ``n_sequences`` sequences of one config, for looking at the data.

    Returns dict(M (d1, d1), z (n, L, d), X (n, L, d1), view1, view2) as tensors.
    """
    M = dictionary(config.d1, generator(config.seed, "dictionary"))
    gen = generator(config.seed + seed_offset, "data")
    eps = torch.tensor(config.freqs)
    X, z = sample_sequences(M, eps, config.sigma, (n_sequences, config.seq_len), gen)
    v1, v2 = views(X, random_mask(tuple(X.shape), gen))
    return {"M": M, "z": z, "X": X, "view1": v1, "view2": v2}


def minority_share(config) -> tuple:
    """Share of sequences holding at least one minority feature: (nominal q, after re-sampling
    q / (q + (1 - q) / resample))."""
    eps = np.asarray(config.freqs)[config.minority]
    q = 1 - float(np.prod((1 - eps) ** config.seq_len))
    return q, q / (q + (1 - q) / config.resample)

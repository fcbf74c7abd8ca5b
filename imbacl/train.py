"""The trainer: R independent runs as one tensor program with a leading run axis.

Plain gradient descent on the regularised InfoNCE, W <- (1 - eta lam) W - eta grad L_hat, with a
fresh batch every step. A History records the projections P_ij = <w_i, M_j> onto all d1
directions at chosen steps, enough to draw every chapter without retraining.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from .config import Config
from .data import DataStream, dictionary, generator, pair_views, unpack_bits
from .loss import loss_and_grad
from .model import attention, attention_fused, bias, init_weights, prune_mask

DEFAULT_THREADS = 2


class NonFiniteError(FloatingPointError):
    """A run's loss or weights stopped being finite."""


def log_steps(steps: int, n: int = 100) -> np.ndarray:
    """About n log-spaced steps in [0, steps], always including 0 and the last step."""
    inner = np.geomspace(1, max(steps, 1), num=max(n - 1, 1)).round().astype(int)
    return np.unique(np.concatenate([[0], inner, [steps]]))


@dataclass
class History:
    """What training recorded, for R runs at S snapshot steps.

    P[r, s, i, j] = <w_i, M_j> at step steps[s] (j over all d1 directions; j < d are features);
    norms[r, s, i] = ||w_i||; bias[r, s, i] = b_i; loss[r, t] at every step t = 0..T.
    """
    configs: list
    steps: np.ndarray            # (S,)
    P: np.ndarray                # (R, S, m, d1)
    norms: np.ndarray            # (R, S, m)
    bias: np.ndarray             # (R, S, m)
    loss: np.ndarray             # (R, T + 1)
    M: np.ndarray                # (R, d1, d1) dictionaries, columns are atoms
    meta: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.configs)

    @property
    def W(self) -> np.ndarray:
        """Final weights (R, m, d1), recovered as P M^T (M is orthogonal)."""
        return self.P[:, -1] @ np.swapaxes(self.M, 1, 2)

    def run(self, r: int) -> "History":
        """The history of run r alone (R = 1)."""
        return History([self.configs[r]], self.steps, self.P[r:r + 1], self.norms[r:r + 1],
                       self.bias[r:r + 1], self.loss[r:r + 1], self.M[r:r + 1], dict(self.meta))

    def at(self, step: int) -> int:
        """Index of the snapshot nearest to ``step``."""
        return int(np.abs(self.steps - step).argmin())

    def save(self, path):
        np.savez_compressed(path, steps=self.steps, P=self.P, norms=self.norms, bias=self.bias,
                            loss=self.loss, M=self.M,
                            configs=np.array([repr(c.to_dict()) for c in self.configs]))

    @classmethod
    def load(cls, path) -> "History":
        import ast
        z = np.load(path)
        configs = [Config(**ast.literal_eval(s)) for s in z["configs"]]
        return cls(configs, z["steps"], z["P"], z["norms"], z["bias"], z["loss"], z["M"])


def _stack(configs, name, device):
    return torch.tensor([getattr(c, name) for c in configs], dtype=torch.float32, device=device)


def train(configs, record_at=None, n_snapshots: int = 100, progress: bool = False,
          device: str = "cpu", threads: int | None = DEFAULT_THREADS,
          compile: bool = False) -> History:
    """Train R runs as one batch and return their History.

    configs: a Config or a list of Configs that share ``Config.shape_key`` (seed, frequencies,
    lam, tau, lr, sigma, init_std and bias_scale may differ). record_at: steps to snapshot
    (default: about ``n_snapshots`` log-spaced steps). threads: torch CPU threads during
    training (fixed so that numbers do not depend on the machine's core count).

    compile: make each step (data, attention, loss, gradient, update) one ``torch.compile``d
    function, called on groups of COMPILED_GROUP runs on a CPU, 2.4 to 3.0 times as fast on 2
    CPU cores once compiled (R = 8 to 256, less at R = 1; README, Benchmarks); tested on CPUs
    only. It needs a C++ compiler, compiles for several seconds per new shape and process (a
    failure raises CompileError), and its numbers differ from the default path's by rounding,
    which training then carries on (checked in ``tests/test_scale.py``): its kernels round
    differently, and its normal draws (``data.draw_like_torch``, the same generators) differ
    from torch's in the last bits. The book uses the default. A process pool started after
    compiling should use the "spawn" start method: a process forked from one that has compiled
    can hang.
    """
    configs = [configs] if isinstance(configs, Config) else list(configs)
    if not configs:
        raise ValueError("configs is empty: give at least one Config")
    keys = {c.shape_key for c in configs}
    if len(keys) > 1:
        raise ValueError(f"configs differ in shape fields or remedies in use {keys}; "
                         "group them with imbacl.sweep")
    c0 = configs[0]
    T = c0.steps
    record = log_steps(T, n_snapshots) if record_at is None else np.unique(np.asarray(record_at))
    if record.min() < 0 or record.max() > T:
        raise ValueError(f"record_at={record.tolist()} is invalid: steps must lie in [0, {T}]")
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            return _train(configs, record, progress, device, threads or 1, compile)
    finally:
        torch.set_num_threads(old_threads)


def _train(configs, record, progress, device, workers=1, compile=False):
    c0 = configs[0]
    R, T = len(configs), c0.steps
    M = torch.stack([dictionary(c.d1, generator(c.seed, "dictionary", device), device)
                     for c in configs])
    W = torch.stack([init_weights(c.m, c.d1, c.init_std, generator(c.seed, "init", device), device)
                     for c in configs])
    # the compiled step makes the views and attention itself, from the raw draws
    transform = None if compile else (lambda X: attention(X, c0.attention))
    stream = DataStream(configs, M, transform=transform, device=device, workers=workers,
                        fast_draws=compile)
    try:
        if not compile:
            return _loop(configs, record, progress, device, M, W, stream)
        from torch._dynamo import config as dynamo_config
        with dynamo_config.patch(recompile_limit=RECOMPILE_LIMIT):
            return _loop(configs, record, progress, device, M, W, stream, compile)
    finally:
        stream.close()


def _loop(configs, record, progress, device, M, W, stream, compile=False):
    c0 = configs[0]
    R, T = len(configs), c0.steps
    # One dict of per-run tensors and fixed settings: the compiled step's argument, so that a
    # new batch of the same shape reuses the compiled code (captured tensors would not).
    p = dict(lr=_stack(configs, "lr", device), lam=_stack(configs, "lam", device),
             tau=_stack(configs, "tau", device), sigma=_stack(configs, "sigma", device),
             c_b=_stack(configs, "bias_scale", device), d=c0.d, attention=c0.attention,
             prune=_stack(configs, "prune_frac", device) if c0.prune_frac > 0 else None,
             gamma=(torch.tensor([c.reweight_gamma if c.reweight == "focal" else 0.0
                                  for c in configs], device=device)
                    if c0.reweight == "focal" else None),
             eps=stream.eps, M=M)
    compiled = _compiled_step() if compile else None
    S = len(record)
    P = torch.empty(R, S, c0.m, c0.d1)
    norms, biases = torch.empty(R, S, c0.m), torch.empty(R, S, c0.m)
    losses = torch.empty(R, T + 1)
    snap = 0
    bar = _progress(T + 1, progress)
    for t in range(T + 1):
        if compiled is None:
            A1, A2, weights = stream.next()
            loss, grad = _objective(W, A1, A2, weights, p)
            new_W = _update(W, grad, p)
        elif t == 0:
            loss, new_W = _first_compiled_call(compiled, W, stream.next_draws(), p)
        else:
            loss, new_W = compiled(W, *stream.next_draws(), p)
        if not torch.isfinite(loss).all():
            r = int((~torch.isfinite(loss)).nonzero()[0])
            raise NonFiniteError(f"run {r} (seed {configs[r].seed}) has a non-finite loss at step "
                                 f"{t}; lower lr (now {configs[r].lr}) or tau, or check the config")
        losses[:, t] = loss.cpu()
        if snap < S and record[snap] == t:
            P[:, snap] = (W @ M).cpu()
            norms[:, snap], biases[:, snap] = W.norm(dim=-1).cpu(), _bias(W, p).cpu()
            snap += 1
        W = new_W
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return History(configs, record, P.numpy(), norms.numpy(), biases.numpy(), losses.numpy(),
                   M.cpu().numpy(), {"device": str(device)})


def _bias(W, p):
    return bias(W, p["sigma"], p["d"], p["c_b"])


def _objective(W, A1, A2, weights, p):
    """Loss (R,) and gradient at W of the views A1, A2: the bias rule, pruning, InfoNCE."""
    keep = None if p["prune"] is None else prune_mask(W, p["prune"])
    return loss_and_grad(W, A1, A2, _bias(W, p), p["tau"], p["lam"], keep, weights, p["gamma"])


def _update(W, grad, p):
    # grad includes lam W: W <- (1 - eta lam) W - eta grad L_hat
    return W - p["lr"].reshape(-1, 1, 1) * grad


def _fused_step(W, u, xi, words, weights, p):
    """One whole step from the raw draws (data, attention, loss, update), for torch.compile."""
    V1, V2 = pair_views(u, xi, unpack_bits(words, W.shape[-1]), p["eps"], p["M"], p["sigma"])
    A1, A2 = attention_fused(V1, p["attention"]), attention_fused(V2, p["attention"])
    loss, grad = _objective(W, A1, A2, weights, p)
    return loss, _update(W, grad, p)


class CompileError(RuntimeError):
    """``compile=True`` could not build the training step."""


def _first_compiled_call(compiled, W, draws, p):
    """The call that compiles: quiet about inductor's own deprecation warnings, and a failure
    named as the option's, in one line, not as a traceback from deep in inductor."""
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module="torch")
            return compiled(W, *draws, p)
    except Exception as e:
        inner = getattr(e, "inner_exception", e)        # torch wraps the backend's own error
        name = type(inner).__name__
        lines = str(inner).strip().splitlines()
        hint = (" It needs a working C++ compiler (g++, or $CXX)."
                if name in ("InvalidCxxCompiler", "CppCompileError") else "")
        raise CompileError(f"compile=True: torch.compile could not build the training step "
                           f"({name}: {lines[0][:300] if lines else ''}).{hint} "
                           "Train with compile=False instead.") from e


# Compiled versions kept per process: one per shape, remedy in use and thread count, which a
# long session or a large sweep can run to; torch's default (8) would stop it.
RECOMPILE_LIMIT = 1024
_COMPILED = None


def _compiled_step():
    """``_fused_step`` compiled, made once per process, and called on groups of runs; torch.compile
    compiles it again for each new shape, remedy in use or thread count (see RECOMPILE_LIMIT)."""
    global _COMPILED
    if _COMPILED is None:
        _COMPILED = torch.compile(_fused_step, dynamic=False, fullgraph=True)
    return lambda W, *draws: _in_groups(_COMPILED, W, *draws)


# Runs per call of the compiled step on a CPU: a group's intermediate tensors stay in cache,
# which made R = 128 and 256 about 6% faster (README, Benchmarks). Every run's weights are the
# same (the recorded loss, summed in another order for another number of runs, can differ in
# its last bits).
COMPILED_GROUP = 32


def _in_groups(step, W, u, xi, words, weights, p):
    """``step`` on groups of COMPILED_GROUP runs (the last one smaller), so that every R reuses
    the one compiled group shape, with the results concatenated back. Every tensor in ``p`` has
    the run axis first."""
    R = W.shape[0]
    if R <= COMPILED_GROUP or W.device.type != "cpu":
        return step(W, u, xi, words, weights, p)
    out = []
    for g in (slice(s, s + COMPILED_GROUP) for s in range(0, R, COMPILED_GROUP)):
        q = {k: v[g] if isinstance(v, torch.Tensor) else v for k, v in p.items()}
        out.append(step(W[g], u[g], xi[g], words[g], None if weights is None else weights[g], q))
    return torch.cat([loss for loss, _ in out]), torch.cat([W_g for _, W_g in out])


def _progress(total, progress):
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="training", unit="step")

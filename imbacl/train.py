"""The trainer: R independent runs as one tensor program with a leading run axis.

Plain gradient descent on the regularised InfoNCE, W <- (1 - eta lam) W - eta grad L_hat, with a
fresh batch every step. A History records the projections P_ij = <w_i, M_j> onto all d1
directions at chosen steps, enough to draw every chapter without retraining.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from .config import Config
from .data import DataStream, dictionary, generator
from .loss import loss_and_grad
from .model import attention, bias, init_weights, prune_mask

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
          device: str = "cpu", threads: int | None = DEFAULT_THREADS) -> History:
    """Train R runs as one batch and return their History.

    configs: a Config or a list of Configs that share ``Config.shape_key`` (seed, frequencies,
    lam, tau, lr, sigma, init_std and bias_scale may differ). record_at: steps to snapshot
    (default: about ``n_snapshots`` log-spaced steps). threads: torch CPU threads during
    training (fixed so that numbers do not depend on the machine's core count).
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
            return _train(configs, record, progress, device, threads or 1)
    finally:
        torch.set_num_threads(old_threads)


def _train(configs, record, progress, device, workers=1):
    c0 = configs[0]
    R, T = len(configs), c0.steps
    M = torch.stack([dictionary(c.d1, generator(c.seed, "dictionary", device), device)
                     for c in configs])
    W = torch.stack([init_weights(c.m, c.d1, c.init_std, generator(c.seed, "init", device), device)
                     for c in configs])
    stream = DataStream(configs, M, transform=lambda X: attention(X, c0.attention), device=device,
                        workers=workers)
    try:
        return _loop(configs, record, progress, device, M, W, stream)
    finally:
        stream.close()


def _loop(configs, record, progress, device, M, W, stream):
    c0 = configs[0]
    R, T = len(configs), c0.steps
    lr, lam, tau = (_stack(configs, n, device) for n in ("lr", "lam", "tau"))
    sigma, c_b = _stack(configs, "sigma", device), _stack(configs, "bias_scale", device)
    prune = _stack(configs, "prune_frac", device) if c0.prune_frac > 0 else None
    gamma = (torch.tensor([c.reweight_gamma if c.reweight == "focal" else 0.0 for c in configs],
                          device=device) if c0.reweight == "focal" else None)

    S = len(record)
    P = torch.empty(R, S, c0.m, c0.d1)
    norms, biases = torch.empty(R, S, c0.m), torch.empty(R, S, c0.m)
    losses = torch.empty(R, T + 1)
    step = lr.reshape(-1, 1, 1)
    snap = 0
    bar = _progress(T + 1, progress)
    for t in range(T + 1):
        A1, A2, weights = stream.next()
        b = bias(W, sigma, c0.d, c_b)
        keep = None if prune is None else prune_mask(W, prune)
        loss, grad = loss_and_grad(W, A1, A2, b, tau, lam, keep, weights, gamma)
        if not torch.isfinite(loss).all():
            r = int((~torch.isfinite(loss)).nonzero()[0])
            raise NonFiniteError(f"run {r} (seed {configs[r].seed}) has a non-finite loss at step "
                                 f"{t}; lower lr (now {configs[r].lr}) or tau, or check the config")
        losses[:, t] = loss.cpu()
        if snap < S and record[snap] == t:
            P[:, snap] = (W @ M).cpu()
            norms[:, snap], biases[:, snap] = W.norm(dim=-1).cpu(), b.cpu()
            snap += 1
        if t < T:
            W = W - step * grad          # grad includes lam W: W <- (1 - eta lam) W - eta grad L_hat
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return History(configs, record, P.numpy(), norms.numpy(), biases.numpy(), losses.numpy(),
                   M.cpu().numpy(), {"device": str(device)})


def _progress(total, progress):
    if not progress:
        return None
    from tqdm.auto import tqdm
    return tqdm(total=total, desc="training", unit="step")

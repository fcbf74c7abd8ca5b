"""The trainer: R independent runs as one tensor program with a leading run axis.

Plain gradient descent on the regularised InfoNCE, W <- (1 - eta lam) W - eta grad L_hat, with a
fresh batch every step. A History records the projections P_ij = <w_i, M_j> onto all d1
directions at chosen steps, enough to draw every chapter without retraining.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
import torch
from numpy.typing import ArrayLike

from .config import Config
from .data import dictionary, generator
from .errors import ConfigError, NonFiniteError
from .fast import compiled_steps
from .history import History, log_steps
from .loss import RunParams, objective, run_bias, update
from .model import attention, init_weights
from .resources import check
from .sources import DigitsStream
from .stream import DataStream

#: the trainer's torch CPU thread count unless ``IMBACL_THREADS`` says otherwise
DEFAULT_THREADS = 2


def default_threads() -> int:
    """The torch CPU thread count the trainer uses: ``IMBACL_THREADS`` if set (the tests' second
    pass sets 1 or 3 to perturb the numerics), else :data:`DEFAULT_THREADS`. Fixed, so that
    numbers do not depend on the machine's core count."""
    value = os.environ.get("IMBACL_THREADS", "").strip()
    if not value:
        return DEFAULT_THREADS
    if not value.isdigit() or int(value) < 1:
        raise ConfigError(f"IMBACL_THREADS={value!r}: a positive whole number of threads")
    return int(value)


def train(
    configs: Config | Iterable[Config],
    record_at: ArrayLike | None = None,
    n_snapshots: int = 100,
    progress: bool = False,
    device: str = "cpu",
    threads: int | None | str = "default",
    compile: bool = False,
    track_every: int = 0,
    track_until: int = 0,
) -> History:
    """Train R runs as one batch and return their History.

    configs: a Config or a list of Configs that share ``Config.shape_key`` (seed, frequencies,
    lam, tau, lr, sigma, init_std and bias_scale may differ). record_at: steps to snapshot
    (default: about ``n_snapshots`` log-spaced steps). threads: torch CPU threads during
    training: "default" is :func:`default_threads` (2, fixed so that numbers do not depend on
    the machine's core count), None leaves torch's setting alone.

    track_every, track_until: besides the snapshots, every ``track_every`` steps up to
    ``track_until`` record the feature columns' norms ``||W M_j||`` (j < d) and every neuron's
    feature energy phi_i in ``History.track`` (cheap: a product with the d feature atoms only;
    dense early points where full snapshots would be too large). 0: none.

    compile: each step as one ``torch.compile``d function (``imbacl/fast.py``): faster once
    compiled (README, Benchmarks), tested on CPUs only; it needs a C++ compiler (a failure
    raises CompileError) and its numbers differ from the default path's by rounding. The book
    uses the default. A process pool started after compiling should use the "spawn" start
    method: a process forked from one that has compiled can hang.

    Before anything is allocated, a batch whose estimated peak memory exceeds what is available
    is refused with one ResourceError line (``imbacl.resources.check``; on a CPU only).
    """
    configs = [configs] if isinstance(configs, Config) else list(configs)
    threads = default_threads() if threads == "default" else threads
    if not configs:
        raise ConfigError("configs is empty: give at least one Config", "configs", [])
    keys = {c.shape_key for c in configs}
    if len(keys) > 1:
        raise ConfigError(
            f"configs differ in shape fields or remedies in use {keys}; "
            "group them with imbacl.sweep",
            "configs",
            keys,
        )
    T = configs[0].steps
    record = log_steps(T, n_snapshots) if record_at is None else np.unique(np.asarray(record_at))
    if record.size == 0 or record.min() < 0 or record.max() > T:
        raise ConfigError(
            f"record_at={record.tolist()} is invalid: steps must lie in [0, {T}]",
            "record_at",
            record.tolist(),
            f"steps in [0, {T}]",
        )
    if torch.device(device).type == "cpu":
        check(
            configs, record_at=record_at, n_snapshots=n_snapshots, threads=threads, compile=compile
        )
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        with torch.no_grad():
            track = np.arange(0, min(track_until, T) + 1, track_every) if track_every else None
            return _train(configs, record, progress, device, threads or 1, compile, track)
    finally:
        torch.set_num_threads(old_threads)


def initial_projections(config: Config) -> np.ndarray:
    """P = W M at step 0 of ``config``'s run (m, d1), as :func:`train` records it, without
    training: the initialisation and the dictionary come from the run's own seed."""
    M = dictionary(config.d1, generator(config.seed, "dictionary"))
    W = init_weights(config.m, config.d1, config.init_std, generator(config.seed, "init"))
    return (W @ M).numpy()


def _train(configs, record, progress, device, workers, compile, track=None):
    M = torch.stack(
        [dictionary(c.d1, generator(c.seed, "dictionary", device), device) for c in configs]
    )
    W = torch.stack(
        [
            init_weights(c.m, c.d1, c.init_std, generator(c.seed, "init", device), device)
            for c in configs
        ]
    )
    p = run_params(configs, M, device)
    if compile and configs[0].source != "synthetic":
        raise ConfigError(
            f"compile=True is invalid with source={configs[0].source}: the compiled step draws "
            "synthetic tokens; train without --compile",
            "compile",
            True,
        )
    if compile:
        steps = compiled_steps(configs, M, p, device, workers)
    else:
        steps = plain_steps(configs, M, p, device, workers)
    with steps as step:
        return _loop(configs, record, progress, M, W, p, step, device, track)


@contextmanager
def plain_steps(
    configs: Sequence[Config],
    M: torch.Tensor,
    p: RunParams,
    device: str | torch.device = "cpu",
    workers: int = 1,
) -> Iterator[Callable[[torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]]:
    """The default step function ``step(W, t) -> (loss, new W)`` on the stream's next views."""
    mode = configs[0].attention

    def transform(X):
        return attention(X, mode)

    if configs[0].source == "digits":  # real data (chapter 12): the same step on its batches
        stream = DigitsStream(configs, transform=transform, device=device, workers=workers)
    else:
        stream = DataStream(configs, M, transform=transform, device=device, workers=workers)

    def step(W, t):
        A1, A2, weights = stream.next()
        loss, grad = objective(W, A1, A2, weights, p, t)
        return loss, update(W, grad, p)

    try:
        yield step
    finally:
        stream.close()


def run_params(configs: Sequence[Config], M: torch.Tensor, device: str | torch.device) -> RunParams:
    """The batch's :class:`imbacl.loss.RunParams`: each run's settings stacked on the run axis.
    The remedy fields that a batch shares (``batch_key``) decide which parts are None."""
    c0 = configs[0]
    return RunParams(
        lr=_stack(configs, "lr", device),
        lam=_stack(configs, "lam", device),
        tau=_stack(configs, "tau", device),
        sigma=_stack(configs, "sigma", device),
        c_b=_stack(configs, "bias_scale", device),
        eps=torch.tensor([c.freqs for c in configs], device=device),
        M=M,
        d=c0.d,
        attention=c0.attention,
        prune_frac=_stack(configs, "prune_frac", device) if c0.prune_frac > 0 else None,
        prune_start=_stack(configs, "prune_start", device),
        prune_grad=c0.prune_grad,
        gamma=(
            torch.tensor(
                [c.reweight_gamma if c.reweight == "focal" else 0.0 for c in configs], device=device
            )
            if c0.reweight == "focal"
            else None
        ),
    )


def _stack(configs, name, device):
    return torch.tensor([getattr(c, name) for c in configs], dtype=torch.float32, device=device)


def _loop(configs, record, progress, M, W, p, step, device, track=None):
    c0 = configs[0]
    R, T, S = len(configs), c0.steps, len(record)
    P = torch.empty(R, S, c0.m, c0.d1)
    norms, biases = torch.empty(R, S, c0.m), torch.empty(R, S, c0.m)
    losses = torch.empty(R, T + 1)
    snap = 0
    tracked = {} if track is None else {"steps": track, "colnorm": [], "energy": []}
    atoms = M[..., : c0.d]  # (R, d1, d): the feature atoms
    bar = _progress(T + 1, progress)
    for t in range(T + 1):
        loss, new_W = step(W, t)
        if not torch.isfinite(loss).all():
            r = int((~torch.isfinite(loss)).nonzero()[0])
            c = configs[r]
            raise NonFiniteError(
                f"run {r} (seed {c.seed}) has a non-finite loss at step {t}; "
                f"lower lr (now {c.lr}) or raise tau (now {c.tau}), or check "
                "the config",
                run=r,
                step=t,
            )
        losses[:, t] = loss.cpu()
        if snap < S and record[snap] == t:
            P[:, snap] = (W @ M).cpu()
            norms[:, snap], biases[:, snap] = W.norm(dim=-1).cpu(), run_bias(W, p).cpu()
            snap += 1
        if tracked and len(tracked["colnorm"]) < len(track) and track[len(tracked["colnorm"])] == t:
            F = W @ atoms  # (R, m, d): the projections on the features only
            tracked["colnorm"].append(F.norm(dim=1).cpu())
            tracked["energy"].append(((F**2).sum(-1) / (W**2).sum(-1).clamp_min(1e-30)).cpu())
        W = new_W
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return History(
        configs,
        record,
        P.numpy(),
        norms.numpy(),
        biases.numpy(),
        losses.numpy(),
        M.cpu().numpy(),
        {"device": str(device)},
        {
            "steps": track,
            "colnorm": torch.stack(tracked["colnorm"], 1).numpy(),  # (R, S', d)
            "energy": torch.stack(tracked["energy"], 1).numpy(),  # (R, S', m)
        }
        if tracked
        else {},
    )


def _progress(total, progress):
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="training", unit="step")

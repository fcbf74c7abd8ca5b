"""What training records: a :class:`History` of R runs at chosen steps, and the default
snapshot steps. It imports nothing of the package, so every module may use it
(``imbacl.io.save_history`` / ``load_history`` write and read it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


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
    steps: np.ndarray  # (S,)
    P: np.ndarray  # (R, S, m, d1)
    norms: np.ndarray  # (R, S, m)
    bias: np.ndarray  # (R, S, m)
    loss: np.ndarray  # (R, T + 1)
    M: np.ndarray  # (R, d1, d1) dictionaries, columns are atoms
    meta: dict = field(default_factory=dict)
    # dense early points, if training tracked them (``train(track_every=...)``): steps (S',),
    # colnorm (R, S', d) feature-column norms, energy (R, S', m) per-neuron feature energy
    track: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.configs)

    @property
    def W(self) -> np.ndarray:
        """Final weights (R, m, d1), recovered as P M^T (M is orthogonal)."""
        return self.P[:, -1] @ np.swapaxes(self.M, 1, 2)

    def run(self, r: int) -> "History":
        """The history of run r alone (R = 1)."""
        return History(
            [self.configs[r]],
            self.steps,
            self.P[r : r + 1],
            self.norms[r : r + 1],
            self.bias[r : r + 1],
            self.loss[r : r + 1],
            self.M[r : r + 1],
            dict(self.meta),
            {k: v if k == "steps" else v[r : r + 1] for k, v in self.track.items()},
        )

    def at(self, step: int) -> int:
        """Index of the snapshot nearest to ``step``."""
        return int(np.abs(self.steps - step).argmin())

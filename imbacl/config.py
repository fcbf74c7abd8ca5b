"""One frozen, validated configuration holding every parameter of the vocabulary.

Field names are the vocabulary of ``shared/notes/model.md``; the same names are used by the
CLI (``--set name=value``), the widgets and the book text.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields

ATTENTION_MODES = ("identity", "none")
REWEIGHT_MODES = ("none", "known", "focal")

# Fields that set tensor shapes: runs can share one batch only if these agree.
SHAPE_FIELDS = ("d", "d1", "seq_len", "m", "batch", "steps", "attention")


@dataclass(frozen=True)
class Config:
    d: int = 9                 # ground-truth features M_1..M_d
    d1: int = 36               # token dimension; M_{d+1..d1} are non-feature directions
    seq_len: int = 4           # L, tokens per sequence
    m: int = 30                # neurons
    n_majority: int = 5        # the first n_majority features are majority features
    eps_max: float = 0.1       # frequency of a majority feature
    eps_min: float = 0.03      # frequency of a minority feature
    eps: tuple | None = None   # optional full frequency vector (overrides the two above)
    sigma: float = 0.1         # noise std per coordinate
    batch: int = 64            # K, pairs per step
    tau: float = 5.0           # temperature
    lr: float = 0.5            # eta
    lam: float = 0.01          # lambda, l2 regularisation
    steps: int = 3000          # T, gradient steps
    init_std: float = 0.01     # sigma_0
    bias_scale: float = 0.5    # c_b in b_i = c_b * sigma * sqrt(log d) * ||w_i||
    attention: str = "identity"
    seed: int = 0
    # remedies (chapter 9); the defaults are the paper's plain training
    prune_frac: float = 0.0    # alpha: share of smallest-norm neurons silenced in the forward pass
    reweight: str = "none"     # per-pair InfoNCE weights: none, known (eps_max/eps_j), focal
    reweight_gamma: float = 2.0  # focal exponent: weight (1 - p_kk)^gamma
    resample: float = 1.0      # oversampling factor of sequences holding a minority feature

    def __post_init__(self):
        _validate(self)

    # -- derived quantities ---------------------------------------------------------------
    @property
    def freqs(self) -> tuple:
        """The frequency vector (epsilon_1, ..., epsilon_d)."""
        if self.eps is not None:
            return tuple(self.eps)
        return (self.eps_max,) * self.n_majority + (self.eps_min,) * (self.d - self.n_majority)

    @property
    def rho(self) -> float:
        """rho = eps_min / eps_max of the frequencies actually used."""
        f = self.freqs
        return min(f) / max(f)

    @property
    def majority(self) -> list:
        return list(range(self.n_majority))

    @property
    def minority(self) -> list:
        return list(range(self.n_majority, self.d))

    @property
    def shape_key(self) -> tuple:
        """The key runs must share to be trained in one batch.

        It holds the tensor shapes and which remedy code paths are on, so that a run takes the
        same arithmetic alone or in any batch."""
        return tuple(getattr(self, f) for f in SHAPE_FIELDS) + (self.prune_frac > 0, self.reweight)

    def replace(self, **overrides) -> "Config":
        """A copy with some fields changed; the copy is validated again."""
        unknown = sorted(set(overrides) - set(FIELD_NAMES))
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}; allowed: {', '.join(FIELD_NAMES)}")
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["eps"] = None if self.eps is None else list(self.eps)
        return out


FIELD_NAMES = tuple(f.name for f in fields(Config))

_INT_FIELDS = {"d", "d1", "seq_len", "m", "n_majority", "batch", "steps", "seed"}
_STR_FIELDS = {"attention", "reweight"}


def _fail(name, value, allowed):
    raise ValueError(f"{name}={value!r} is invalid: {allowed}")


def _check_int(name, value, lo):
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            _fail(name, value, f"must be an integer (write {int(value)}, not {value})")
        _fail(name, value, "must be an integer")
    if value < lo:
        _fail(name, value, f"must be an integer >= {lo}")


def _check_real(name, value, lo=None, hi=None, lo_open=True, hi_open=False):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(name, value, "must be a real number")
    if not math.isfinite(value):
        _fail(name, value, "must be finite (not NaN or inf)")
    lo_bad = lo is not None and (value <= lo if lo_open else value < lo)
    hi_bad = hi is not None and (value >= hi if hi_open else value > hi)
    if lo_bad or hi_bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        _fail(name, value, f"must lie in {left}{lo if lo is not None else '-inf'}, "
                           f"{hi if hi is not None else 'inf'}{right}")


def _validate(c: Config):
    for name in ("d", "d1", "seq_len", "m", "batch", "steps"):
        _check_int(name, getattr(c, name), 1)
    _check_int("n_majority", c.n_majority, 0)
    _check_int("seed", c.seed, 0)
    if c.batch < 2:
        _fail("batch", c.batch, "must be >= 2 (the other K-1 second views are the negatives)")
    if c.d > c.d1:
        _fail("d", c.d, f"must be <= d1={c.d1} (features are directions in R^d1)")
    if c.n_majority > c.d:
        _fail("n_majority", c.n_majority, f"must be between 0 and d={c.d}")
    _check_real("eps_max", c.eps_max, 0, 1)
    _check_real("eps_min", c.eps_min, 0, 1)
    if c.eps_min > c.eps_max:
        _fail("eps_min", c.eps_min, f"must be <= eps_max={c.eps_max} (rho = eps_min/eps_max <= 1)")
    if c.eps is not None:
        if not isinstance(c.eps, (tuple, list)) or len(c.eps) != c.d:
            _fail("eps", c.eps, f"must be a sequence of d={c.d} frequencies in (0, 1], or None")
        for j, e in enumerate(c.eps):
            _check_real(f"eps[{j}]", e, 0, 1)
        object.__setattr__(c, "eps", tuple(float(e) for e in c.eps))
    _check_real("sigma", c.sigma, 0, None, lo_open=False)
    _check_real("tau", c.tau, 0)
    _check_real("lr", c.lr, 0)
    _check_real("lam", c.lam, 0, None, lo_open=False)
    _check_real("init_std", c.init_std, 0)
    _check_real("bias_scale", c.bias_scale, 0, None, lo_open=False)
    if c.attention not in ATTENTION_MODES:
        _fail("attention", c.attention, f"must be one of {', '.join(ATTENTION_MODES)}")
    _check_real("prune_frac", c.prune_frac, 0, 1, lo_open=False, hi_open=True)
    if c.reweight not in REWEIGHT_MODES:
        _fail("reweight", c.reweight, f"must be one of {', '.join(REWEIGHT_MODES)}")
    _check_real("reweight_gamma", c.reweight_gamma, 0, None, lo_open=False)
    _check_real("resample", c.resample, 1, None, lo_open=False)


# -- presets --------------------------------------------------------------------------------
PRESETS = {
    # The paper's Figure 1 setting: m = 30 neurons, d = 9 atoms, 5 majority + 4 minority.
    "figure1": dict(),
    # Small and fast, for tests: a few hundred steps of a small model.
    "smoke": dict(d=6, d1=16, m=12, n_majority=3, batch=32, steps=300),
}


def preset(name: str, **overrides) -> Config:
    """A named preset, optionally with fields overridden (validated)."""
    if name not in PRESETS:
        raise ValueError(f"preset={name!r} is invalid: must be one of {', '.join(PRESETS)}")
    return Config(**PRESETS[name]).replace(**overrides)


def parse_value(name: str, text: str):
    """Parse a CLI string into the type of field ``name`` (ValueError names the field)."""
    if name not in FIELD_NAMES:
        raise ValueError(f"unknown field {name!r}; allowed: {', '.join(FIELD_NAMES)}")
    try:
        if name in _INT_FIELDS:
            v = float(text)
            return int(v) if v.is_integer() and "." not in text and "e" not in text.lower() else v
        if name in _STR_FIELDS:
            return text
        if name == "eps":
            return None if text.lower() == "none" else tuple(float(x) for x in text.split(":"))
        return float(text)
    except ValueError:
        raise ValueError(f"{name}={text!r} is invalid: not a number") from None

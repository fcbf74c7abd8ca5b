"""One frozen, validated configuration holding every parameter of the vocabulary.

Field names are the vocabulary the book fixes in chapters 1 and 2; the same names are used by the
CLI (``--set name=value``), the widgets and the book text.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from dataclasses import dataclass, fields
from typing import Any

from .errors import ConfigError

ATTENTION_MODES = ("identity", "none")
REWEIGHT_MODES = ("none", "known", "focal")
# What a pruned neuron's weights receive (chapter 9): the loss gradient it would get if present
# (the mask's backward is the identity), or none (only the weight-decay step).
PRUNE_GRADS = ("straight_through", "blocked")
# Where the trainer's sequences come from: the paper's synthetic sparse-coding tokens, or
# scikit-learn's bundled 8x8 digits as four 4x4-patch tokens (chapter 12, ``imbacl/digits.py``).
SOURCES = ("synthetic", "digits")
# The digits source's fixed shapes: 10 classes (its "features" d), tokens of 4x4 patches.
DIGITS_SHAPE = {"d": 10, "d1": 16, "seq_len": 4}
# [choice] images per class in a full-size (majority) class of the pretraining pool; the probe
# set takes 70 others per class (imbacl.digits), and the smallest class has 174 images.
DIGITS_POOL = 100

# Fields that set tensor shapes: runs can share one batch only if these agree.
SHAPE_FIELDS = ("d", "d1", "seq_len", "m", "batch", "steps", "attention", "source")

# -- bounds ---------------------------------------------------------------------------------
# Where a value stops making sense to the code, not to this machine: whether a valid config fits
# in memory is imbacl.resources.check's question (it refuses in one line what it cannot hold).
#
# Integer sizes. Far above anything trainable, low enough that no array size the trainer forms
# (a product of a few of them, times the number of runs) can overflow int64.
MAX_SIZE = {"d1": 2**20, "m": 2**20, "batch": 2**20, "seq_len": 2**16, "steps": 2**40}
# numpy's SeedSequence takes any size, but seeds are stored in int64 arrays (results files).
MAX_SEED = 2**63 - 1
# Real parameters. The trainer holds them as float32 (largest 3.4e38, smallest normal 1.2e-38).
# Scales (sigma, bias_scale, tau and 1/tau, lr, init_std, lam, resample) are at most 1e6, so
# a product of two is at most 1e12: the bias c_b * sigma * sqrt(log d) * ||w_i|| then stays
# finite whenever the loss is (a finite loss bounds ||w_i|| by 1.8e19), and a non-finite step
# is always caught as NonFiniteError instead of leaving inf in the History.
MAX_SCALE = 1e6
# tau divides the similarities: below 1e-6 the softmax is a hard max and its gradient, times
# 1/tau, overflows float32 within a few steps (tau=1e-30 gave a non-finite loss at step 1).
MIN_TAU = 1e-6
# lr and init_std are held as float32: below its normal range they would be 0 (no training,
# weights that never leave 0).
FLOAT32_TINY = 1e-30
# Frequencies are drawn by comparing float32 uniforms, which come in steps of 2**-24 = 6e-8,
# with eps_j / 2: a frequency below 1e-6 would not be drawn at the frequency asked for.
MIN_EPS = 1e-6
# focal weights (1 - p_kk)^gamma: at gamma <= 100 even the uniform softmax of the smallest
# batch (p_kk = 1/2) gives 0.5^100 = 8e-31, a normal float32; far above it every weight
# underflows to 0 and the weighted loss is 0/0.
MAX_GAMMA = 100.0


@dataclass(frozen=True)
class Config:
    d: int = 9  # ground-truth features M_1..M_d
    d1: int = 36  # token dimension; M_{d+1..d1} are non-feature directions
    seq_len: int = 4  # L, tokens per sequence
    m: int = 30  # neurons
    n_majority: int = 5  # the first n_majority features are majority features
    eps_max: float = 0.1  # frequency of a majority feature
    eps_min: float = 0.03  # frequency of a minority feature
    eps: tuple | None = None  # optional full frequency vector (overrides the two above)
    # Token density: when set, the frequencies above are scaled together (rho kept) so that
    # sum_j eps_j = eps_sum, the expected number of active features per token position. The
    # ratio chapter's "density matched" arm: eps_sum = d eps_max, its value at rho = 1.
    eps_sum: float | None = None
    sigma: float = 0.1  # noise std per coordinate
    batch: int = 64  # K, pairs per step
    tau: float = 5.0  # temperature
    lr: float = 0.5  # eta
    lam: float = 0.01  # lambda, l2 regularisation
    steps: int = 3000  # T, gradient steps
    init_std: float = 0.01  # sigma_0
    bias_scale: float = 0.5  # c_b in b_i = c_b * sigma * sqrt(log d) * ||w_i||
    attention: str = "identity"
    seed: int = 0
    # remedies (chapter 9); the defaults are the paper's plain training
    prune_frac: float = 0.0  # alpha: share of smallest-norm neurons silenced in the forward pass
    prune_grad: str = "straight_through"  # a pruned neuron's gradient: straight_through or blocked
    prune_start: int = 0  # first step at which the pruning mask applies
    reweight: str = "none"  # per-pair InfoNCE weights: none, known (eps_max/eps_j), focal
    reweight_gamma: float = 2.0  # focal exponent: weight (1 - p_kk)^gamma
    resample: float = 1.0  # oversampling factor of sequences holding a minority feature
    # real data (chapter 12): the source of the sequences, and for source="digits" the size of
    # a minority class in the pretraining pool as a fraction f of a majority class (rho_data = f)
    source: str = "synthetic"
    minority_frac: float = 1.0

    def __post_init__(self):
        _validate(self)

    # -- derived quantities ---------------------------------------------------------------
    @property
    def freqs(self) -> tuple:
        """The frequency vector (epsilon_1, ..., epsilon_d). For ``source="digits"``: each
        class's size in the pretraining pool relative to a majority class (1 or f), in the order
        of :func:`imbacl.sources.class_order` (majority classes first)."""
        if self.source == "digits":
            f = (self.minority_frac,) * (self.d - self.n_majority)
            return (1.0,) * self.n_majority + f
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
        return tuple(getattr(self, f) for f in SHAPE_FIELDS) + (
            self.prune_frac > 0,
            self.prune_grad,
            self.reweight,
        )

    def replace(self, **overrides: Any) -> "Config":
        """A copy with some fields changed; the copy is validated again."""
        unknown = sorted(set(overrides) - set(FIELD_NAMES))
        if unknown:
            raise _unknown_field(unknown[0], overrides[unknown[0]])
        return dataclasses.replace(self, **overrides)

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["eps"] = None if self.eps is None else list(self.eps)
        return out


FIELD_NAMES = tuple(f.name for f in fields(Config))

_INT_FIELDS = {"d", "d1", "seq_len", "m", "n_majority", "batch", "steps", "seed", "prune_start"}
_STR_FIELDS = {"attention", "reweight", "prune_grad", "source"}


def _error(name, value, allowed) -> ConfigError:
    return ConfigError(
        f"{name}={_repr(value)} is invalid: {allowed}", field=name, value=value, allowed=allowed
    )


def _fail(name, value, allowed):
    raise _error(name, value, allowed)


def _repr(value, width=200) -> str:
    """repr(value), kept to one readable line: a very long one is cut in the middle, and an
    integer too long for Python to print (over 4300 digits) is described."""
    try:
        text = repr(value)
    except ValueError:  # only ints: Python refuses to print over 4300 digits
        return f"<an integer of about {int(value.bit_length() * 0.30103)} digits>"
    return text if len(text) <= width else f"{text[: width // 2]}...{text[-width // 4 :]}"


def _unknown_field(name, value=None):
    allowed = f"allowed: {', '.join(FIELD_NAMES)}"
    return ConfigError(
        f"unknown field {name!r}; {allowed}", field=name, value=value, allowed=allowed
    )


def _as_python(value):
    """numpy's scalars (np.int64 from np.arange, np.float32, ...) and other numbers.Real as the
    Python int or float they stand for; anything else (bools included) unchanged, for the checks
    to judge."""
    if (
        isinstance(value, (bool, int, float))
        or not isinstance(value, numbers.Real)
        or type(value).__name__ == "bool_"
    ):
        return value
    return int(value) if isinstance(value, numbers.Integral) else float(value)


_NUMERIC_FIELDS = (
    "d",
    "d1",
    "seq_len",
    "m",
    "batch",
    "steps",
    "n_majority",
    "seed",
    "eps_max",
    "eps_min",
    "sigma",
    "tau",
    "lr",
    "lam",
    "init_std",
    "bias_scale",
    "prune_frac",
    "prune_start",
    "reweight_gamma",
    "resample",
    "minority_frac",
)


def _check_int(name, value, lo, hi=None, why=""):
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer() and abs(value) <= 2**63:
            _fail(name, value, f"must be an integer (write {int(value)}, not {value})")
        _fail(name, value, "must be an integer")
    if value < lo:
        _fail(name, value, f"must be an integer >= {lo}")
    if hi is not None and value > hi:
        _fail(name, value, f"must be an integer <= {hi}{why}")


def _check_real(name, value, lo=None, hi=None, lo_open=True, hi_open=False, tiny=None, why=""):
    """lo/hi: the range (open or closed ends); tiny: the smallest positive value allowed, when
    values just above an open lo = 0 would degenerate (said by ``why``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        _fail(name, value, "must be a real number")
    if isinstance(value, float) and not math.isfinite(value):
        _fail(name, value, "must be finite (not NaN or inf)")
    lo_bad = lo is not None and (value <= lo if lo_open else value < lo)
    hi_bad = hi is not None and (value >= hi if hi_open else value > hi)
    if lo_bad or hi_bad:
        left = "(" if lo_open else "["
        right = ")" if hi_open else "]"
        _fail(
            name,
            value,
            f"must lie in {left}{lo if lo is not None else '-inf'}, "
            f"{hi if hi is not None else 'inf'}{right}{why if hi_bad else ''}",
        )
    if tiny is not None and value < tiny:
        _fail(name, value, f"must be >= {tiny}{why}")


_SCALE_WHY = " (the trainer's float32 must hold its products with the other scales)"


def _match_density(c: Config, eps_why: str):
    """Scale the frequencies so that they sum to ``eps_sum`` (rho kept). Rounded to 12 decimals,
    so that scaling again (every ``replace``) gives the same numbers."""
    value = _as_python(c.eps_sum)
    object.__setattr__(c, "eps_sum", value)
    _check_real("eps_sum", value, 0, c.d, why=f" (d={c.d} features, each at most 1)")
    k = value / sum(c.freqs)
    scaled = [round(e * k, 12) for e in (c.freqs if c.eps is not None else (c.eps_max, c.eps_min))]
    if max(scaled) > 1 or min(scaled) < MIN_EPS:
        _fail(
            "eps_sum",
            value,
            f"puts the frequencies at {min(scaled):.3g}..{max(scaled):.3g}: they must lie in "
            f"[{MIN_EPS}, 1]" + (eps_why if min(scaled) < MIN_EPS else ""),
        )
    if c.eps is not None:
        object.__setattr__(c, "eps", tuple(scaled))
    else:
        object.__setattr__(c, "eps_max", scaled[0])
        object.__setattr__(c, "eps_min", scaled[1])


def _validate(c: Config):
    for name in _NUMERIC_FIELDS:
        value = getattr(c, name)
        if _as_python(value) is not value:
            object.__setattr__(c, name, _as_python(value))
    size_why = " (sizes beyond it are far past what trains; products of them must fit in int64)"
    _check_int("d1", c.d1, 1, MAX_SIZE["d1"], size_why)
    _check_int("d", c.d, 1)
    for name in ("seq_len", "m", "batch", "steps"):
        _check_int(name, getattr(c, name), 1, MAX_SIZE[name], size_why)
    _check_int("n_majority", c.n_majority, 0)
    _check_int("seed", c.seed, 0, MAX_SEED, " (seeds are stored as int64)")
    if c.batch < 2:
        _fail("batch", c.batch, "must be >= 2 (the other K-1 second views are the negatives)")
    if c.d > c.d1:
        _fail("d", c.d, f"must be <= d1={c.d1} (features are directions in R^d1)")
    if c.n_majority > c.d:
        _fail("n_majority", c.n_majority, f"must be between 0 and d={c.d}")
    eps_why = (
        " (float32 uniforms come in steps of 2**-24: a rarer feature would not be drawn "
        "at its frequency)"
    )
    _check_real("eps_max", c.eps_max, 0, 1, tiny=MIN_EPS, why=eps_why)
    _check_real("eps_min", c.eps_min, 0, 1, tiny=MIN_EPS, why=eps_why)
    if c.eps_min > c.eps_max:
        _fail("eps_min", c.eps_min, f"must be <= eps_max={c.eps_max} (rho = eps_min/eps_max <= 1)")
    if c.eps is not None:
        eps = c.eps
        if _is_ndarray(eps):
            eps = eps.tolist() if eps.ndim == 1 else eps
        if not isinstance(eps, (tuple, list)) or len(eps) != c.d:
            _fail("eps", c.eps, f"must be a sequence of d={c.d} frequencies in (0, 1], or None")
        eps = [_as_python(e) for e in eps]
        for j, e in enumerate(eps):
            _check_real(f"eps[{j}]", e, 0, 1, tiny=MIN_EPS, why=eps_why)
        object.__setattr__(c, "eps", tuple(float(e) for e in eps))
    if c.eps_sum is not None:
        _match_density(c, eps_why)
    _check_real("sigma", c.sigma, 0, MAX_SCALE, lo_open=False, why=_SCALE_WHY)
    _check_real(
        "tau",
        c.tau,
        0,
        MAX_SCALE,
        tiny=MIN_TAU,
        why=" (similarities / tau: a smaller tau overflows float32, a larger one learns nothing)",
    )
    _check_real(
        "lr",
        c.lr,
        0,
        MAX_SCALE,
        tiny=FLOAT32_TINY,
        why=" (the trainer's float32 holds it; larger steps only overflow)",
    )
    _check_real("lam", c.lam, 0, MAX_SCALE, lo_open=False, why=_SCALE_WHY)
    _check_real(
        "init_std",
        c.init_std,
        0,
        MAX_SCALE,
        tiny=FLOAT32_TINY,
        why=" (the trainer's float32 holds the initial weights)",
    )
    _check_real("bias_scale", c.bias_scale, 0, MAX_SCALE, lo_open=False, why=_SCALE_WHY)
    if not isinstance(c.attention, str) or c.attention not in ATTENTION_MODES:
        _fail("attention", c.attention, f"must be one of {', '.join(ATTENTION_MODES)}")
    _check_real("prune_frac", c.prune_frac, 0, 1, lo_open=False, hi_open=True)
    if not isinstance(c.prune_grad, str) or c.prune_grad not in PRUNE_GRADS:
        _fail("prune_grad", c.prune_grad, f"must be one of {', '.join(PRUNE_GRADS)}")
    _check_int(
        "prune_start", c.prune_start, 0, c.steps, f" (steps={c.steps}: a later start never prunes)"
    )
    if not isinstance(c.reweight, str) or c.reweight not in REWEIGHT_MODES:
        _fail("reweight", c.reweight, f"must be one of {', '.join(REWEIGHT_MODES)}")
    _check_real(
        "reweight_gamma",
        c.reweight_gamma,
        0,
        MAX_GAMMA,
        lo_open=False,
        why=" ((1 - p_kk)^gamma would underflow float32 to 0 for every pair)",
    )
    _check_real(
        "resample",
        c.resample,
        1,
        MAX_SCALE,
        lo_open=False,
        why=" (each chunk draws a pool of 2*ceil(resample)*16*batch sequences)",
    )
    _validate_source(c)


def _pairs(fields: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in fields.items())


def digits_class_size(frac: float) -> int:
    """Pool images of a digits class at fraction ``frac`` of a full class: ``frac *
    DIGITS_POOL`` rounded half up (0.03 -> 3)."""
    return int(math.floor(frac * DIGITS_POOL + 0.5))


def _validate_source(c: Config):
    """The data source and the fields only it reads (chapter 12)."""
    if not isinstance(c.source, str) or c.source not in SOURCES:
        _fail("source", c.source, f"must be one of {', '.join(SOURCES)}")
    _check_real("minority_frac", c.minority_frac, 0, 1)
    if c.source != "digits":
        if c.minority_frac != 1:
            _fail(
                "minority_frac",
                c.minority_frac,
                "must be 1 unless source=digits (the synthetic source's ratio is eps_min/eps_max)",
            )
        return
    if c.n_majority != 5:
        _fail(
            "n_majority",
            c.n_majority,
            "must be 5 with source=digits (the rare digits rotate over seeds as two halves)",
        )
    shape = {k: getattr(c, k) for k in DIGITS_SHAPE}
    if shape != DIGITS_SHAPE:
        _fail(
            "source",
            c.source,
            f"needs {_pairs(DIGITS_SHAPE)} (10 classes, an 8x8 image as four 4x4-patch "
            f"tokens), not {_pairs(shape)}; start from the digits preset (--preset digits)",
        )
    if digits_class_size(c.minority_frac) < 1:
        _fail(
            "minority_frac",
            c.minority_frac,
            f"must be >= {0.5 / DIGITS_POOL:g} with source=digits (a minority class keeps "
            f"f * {DIGITS_POOL} images, rounded, of its {DIGITS_POOL}: at least 1)",
        )
    if c.resample != 1:
        _fail(
            "resample", c.resample, "must be 1 with source=digits (re-sampling is synthetic-only)"
        )
    for name in ("eps", "eps_sum"):
        if getattr(c, name) is not None:
            _fail(name, getattr(c, name), "must be None with source=digits (class sizes set it)")


def _is_ndarray(x):
    return type(x).__module__ == "numpy" and type(x).__name__ == "ndarray"


# -- presets --------------------------------------------------------------------------------
PRESETS = {
    # The paper's Figure 1 setting: m = 30 neurons, d = 9 atoms, 5 majority + 4 minority.
    # [choice] the Config defaults: the paper's Figure-1 sizes; lam = 0.01 and d1 = 4d were the
    # book's earlier choice (there the minority features shrink in Stage 1, see "theory").
    "figure1": dict(),
    # Small and fast, for tests: a few hundred steps of a small model.
    # [choice] d = 6, d1 = 16, m = 12, 3 majority, K = 32, 300 steps: seconds per batch of runs.
    "smoke": dict(d=6, d1=16, m=12, n_majority=3, batch=32, steps=300),
    # Figure 1's sizes in the theory's own regime: every feature grows in Stage 1. Measured over
    # seeds 0-31: per feature the median over neurons of |P_ij(t)| / |P_ij(0)| at steps 50 and
    # 100, worst seed and feature quoted (tests/test_regime.py checks seeds 0-7).
    # [choice] d1 = 72 = 8d halves the mask offset sum(eps)/d1 (0.017 -> 0.009); the zero-growth
    # frequency (step-50 rates, linear in eps) falls from 0.044 at figure1 to 0.013 (eps_min 0.03).
    # d1 = 144 grew less by step 100 (worst minority 1.13 vs 1.15, K2 margin 0.55 vs 1.33), at
    # twice the cost.
    # [choice] lam = 0.001 keeps a regulariser yet lets the rarest feature grow in every seed:
    # worst minority median 1.045 at step 50, 1.15 at step 100 (lam = 0: 1.07, 1.21;
    # lam = 0.002: 1.020, 1.10, failing 4 of 32 seeds).
    "theory": dict(d1=72, lam=0.001),
    # Real data (chapter 12): the long-tailed digits, four 4x4-patch tokens per image.
    # [choice] m = 64 neurons for ten classes; 2000 steps; lr = 1; bias_scale = 1.25 (the bias
    # rule's threshold); lam = 0.001 as in "theory"; n_majority = 5: half the digits rare, the
    # split that the seeds rotate (imbacl.sources.rare_classes).
    "digits": dict(
        source="digits",
        d=10,
        n_majority=5,
        d1=16,
        seq_len=4,
        m=64,
        steps=2000,
        lr=1.0,
        bias_scale=1.25,
        lam=0.001,
    ),
}


#: The two ways of lowering rho = eps_min / eps_max (the ratio chapter). Cutting eps_min at a
#: fixed eps_max also cuts the features per token; matching the density rescales both
#: frequencies so that their sum stays at its rho = 1 value, d eps_max.
RHO_ARMS = ("eps_max fixed", "density matched")


def at_ratio(
    base: Config, rho: float, arm: str = "eps_max fixed", digits: int | None = 4
) -> Config:
    """``base`` at the ratio ``rho`` along one of :data:`RHO_ARMS`: eps_min = rho eps_max (to
    ``digits`` decimals, the chapters' grids; None: exact) with base's eps_max; ``"density
    matched"`` also sets eps_sum = d eps_max, which rescales both (:class:`Config`), so every
    rho has the density of rho = 1. Nothing else changes (lam and steps included): the two
    arms differ in the frequencies alone."""
    if arm not in RHO_ARMS:
        _fail("arm", arm, f"must be one of {', '.join(map(repr, RHO_ARMS))}")
    eps_min = rho * base.eps_max
    cfg = base.replace(
        eps=None, eps_sum=None, eps_min=eps_min if digits is None else round(eps_min, digits)
    )
    return density_matched(cfg) if arm == "density matched" else cfg


def density_matched(cfg: Config) -> Config:
    """``cfg`` with its frequencies rescaled to the density of rho = 1 at its eps_max:
    eps_sum = d eps_max (rho kept). The one rule of the "density matched" arm, at d = 9
    (:func:`at_ratio`) and across d (:func:`imbacl.scaling.config`)."""
    return cfg.replace(eps_sum=round(cfg.d * cfg.eps_max, 12))


def preset(name: str, **overrides: Any) -> Config:
    """A named preset, optionally with fields overridden (validated)."""
    if not isinstance(name, str) or name not in PRESETS:
        _fail("preset", name, f"must be one of {', '.join(PRESETS)}")
    return Config(**PRESETS[name]).replace(**overrides)


def parse_value(name: str, text: str) -> int | float | str | tuple | None:
    """Parse a CLI string into the type of field ``name`` (ConfigError, a ValueError, names the
    field). The value is checked only by Config: ``parse_value("m", "0")`` returns 0."""
    if not isinstance(name, str) or name not in FIELD_NAMES:
        raise _unknown_field(name, text)
    if not isinstance(text, str):
        _fail(name, text, "must be given as text")
    try:
        if name in _INT_FIELDS:
            try:
                return int(text)  # exact, however long (float() would round it)
            except ValueError:
                return float(text)  # 30.0, 1e3: Config says to write an integer
        if name in _STR_FIELDS:
            return text
        if name in ("eps", "eps_sum") and text.strip().lower() == "none":
            return None
        if name == "eps":
            return tuple(float(x) for x in text.split(":"))
        return float(text)
    except (ValueError, OverflowError):
        raise _error(name, text, "not a number") from None

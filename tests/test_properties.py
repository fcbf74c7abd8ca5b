"""Property-based tests (hypothesis): whatever a user types, the package answers with a result or
one of its own errors (ConfigError, ResourceError, NonFiniteError), never another exception.

Deterministic in CI: derandomize=True (examples from a fixed seed), no example database, no
deadline. Sizes are kept tiny so the file runs in well under a minute.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import imbacl
from imbacl import Config, resources
from imbacl.config import (
    FIELD_NAMES,
    FLOAT32_TINY,
    MAX_GAMMA,
    MAX_SCALE,
    MAX_SEED,
    MAX_SIZE,
    MIN_EPS,
    MIN_TAU,
    parse_value,
)
from imbacl.errors import ConfigError, NonFiniteError, ResourceError

EXAMPLES = 200
PROPERTY = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


# -- (a) any value of any field through Config -------------------------------------------------
_floats = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from(
    [0.0, -0.0, 1e-300, 1e-30, 1e-7, 1e-6, 0.5, 1.0, 1e3, 1e6, 1e7, 1e30, 1e300, -1.0, 2.0**63]
)
_ints = st.integers() | st.sampled_from(
    [0, 1, 2, -1, 2**16, 2**20, 2**20 + 1, 2**31, 2**40, 2**40 + 1, 2**63 - 1, 2**63, 10**400]
)
_huge = st.sampled_from([10**400, -(10**400), 10**5000, 2**64, -(2**63), 2.0**1000])
_values = (
    _ints
    | _huge
    | _floats
    | st.booleans()
    | st.none()
    | st.text(max_size=12)
    | st.sampled_from(
        ["identity", "none", "known", "focal", "9", "0.5", "NaN", "１２", "∞", "\x00", "ideNtity "]
    )
    | st.lists(_floats | _ints, max_size=10).map(tuple)
    | st.builds(np.int64, st.integers(-(2**63), 2**63 - 1))
    | st.builds(np.float32, st.floats(width=32))
)


@PROPERTY
@given(st.dictionaries(st.sampled_from(FIELD_NAMES), _values, min_size=1, max_size=4))
def test_config_accepts_or_raises_config_error(kw):
    try:
        c = Config(**kw)
    except ConfigError as e:
        assert e.field is not None and e.allowed
        name = e.field.split("[")[0]
        assert name in FIELD_NAMES
        assert str(e).startswith(f"{e.field}=") and " is invalid: " in str(e)
        assert "\n" not in str(e) and len(str(e)) < 500
        if name in kw and "[" not in e.field:
            assert e.value is kw[name] or e.value == kw[name] or e.value != e.value
        return
    assert Config(**c.to_dict()) == c  # a valid config round-trips
    assert c.shape_key == Config(**c.to_dict()).shape_key


# -- (b) any text through parse_value (the CLI's --set NAME=VALUE) -----------------------------
_texts = (
    st.text(max_size=30)
    | st.from_regex(r"\A[+-]?(\d{0,25}(\.\d*)?([eE][+-]?\d{1,4})?|inf|nan|none|0x1F|1_000)\Z")
    | st.sampled_from(
        [
            "1e30",
            "99999999999",
            "100000000",
            "1000000000000",
            "1e-30",
            " 7 ",
            "0.1:0.2",
            "none",
            "0.1:x",
            ":",
            "",
            "٣",
            "9" * 5000,
        ]
    )
)


@PROPERTY
@given(st.sampled_from(FIELD_NAMES) | st.text(max_size=8), _texts)
def test_parse_value_then_config_gives_a_value_or_config_error(name, text):
    try:
        value = parse_value(name, text)
    except ConfigError as e:
        assert e.field == name and e.value == text
        return
    try:
        Config().replace(**{name: value})  # the CLI's next step
    except ConfigError as e:
        # the field itself, or the field it is checked against (d=1 with n_majority=5)
        assert e.field.split("[")[0] == name or f"{name}=" in str(e)


# -- (c) small valid configs through train ------------------------------------------------------
def _extreme(lo, hi, zero=False):
    """floats in [lo, hi], log-uniform-ish, with both ends and (if allowed) 0."""
    ends = [lo, hi] + ([0.0] if zero else [])
    logs = st.floats(math.log10(lo), math.log10(hi)).map(lambda x: min(max(10**x, lo), hi))
    return st.sampled_from(ends) | logs


# Each real field: a typical range, and its whole valid range (both ends included). A config
# takes typical values except for up to two fields drawn from their whole range, so that one
# extreme value is tried alone, not hidden behind another that fails first.
def _scales():
    return {
        "sigma": (st.floats(0, 1), _extreme(1e-6, MAX_SCALE, zero=True)),
        "tau": (st.floats(0.1, 10), _extreme(MIN_TAU, MAX_SCALE)),
        "lr": (st.floats(1e-3, 1), _extreme(FLOAT32_TINY, MAX_SCALE)),
        "lam": (st.floats(0, 0.1), _extreme(1e-12, MAX_SCALE, zero=True)),
        "init_std": (st.floats(1e-3, 1), _extreme(FLOAT32_TINY, MAX_SCALE)),
        "bias_scale": (st.floats(0, 2), _extreme(1e-6, MAX_SCALE, zero=True)),
        "reweight_gamma": (st.floats(0, 5), _extreme(1e-3, MAX_GAMMA, zero=True)),
        "resample": (st.sampled_from([1.0, 1.0, 1.5, 7.0]), _extreme(1.0, MAX_SCALE)),
    }


@st.composite
def small_configs(draw):
    d1 = draw(st.integers(1, 16))
    d = draw(st.integers(1, min(6, d1)))
    scales = _scales()
    wide = set(draw(st.lists(st.sampled_from(sorted(scales)), max_size=2, unique=True)))
    kw = {name: draw(pair[1] if name in wide else pair[0]) for name, pair in scales.items()}
    eps_max = draw(st.floats(0.05, 1) | _extreme(MIN_EPS, 1.0))
    kw.update(
        d=d,
        d1=d1,
        m=draw(st.integers(1, 8)),
        n_majority=draw(st.integers(0, d)),
        batch=draw(st.integers(2, 8)),
        seq_len=draw(st.integers(1, 3)),
        steps=draw(st.integers(1, 3)),
        eps_max=eps_max,
        eps_min=draw(st.floats(MIN_EPS, eps_max) | _extreme(MIN_EPS, eps_max)),
        attention=draw(st.sampled_from(["identity", "none"])),
        seed=draw(st.integers(0, MAX_SEED)),
        prune_frac=draw(st.sampled_from([0.0, 0.0, 0.3, 0.99])),
        reweight=draw(st.sampled_from(["none", "known", "focal"])),
    )
    if draw(st.booleans()):
        kw["eps"] = tuple(draw(_extreme(MIN_EPS, 1.0)) for _ in range(d))
    return Config(**kw)


def _finite(h):
    return all(np.isfinite(a).all() for a in (h.P, h.norms, h.bias, h.loss, h.M))


# NonFiniteError lives in imbacl.errors; while the trainer still defines its own, accept both.
_NON_FINITE = tuple({NonFiniteError, getattr(imbacl, "NonFiniteError", NonFiniteError)})


@PROPERTY
@given(small_configs(), st.integers(1, 3))
def test_train_gives_a_finite_history_or_its_own_error(config, runs):
    configs = [config.replace(seed=(config.seed + r) % (MAX_SEED + 1)) for r in range(runs)]
    try:
        # what train and sweep.run will do first (wired there later): refuse what cannot fit
        resources.check(configs, limit=256 << 20, threads=1)
        h = imbacl.train(configs, threads=1)
    except (ConfigError, ResourceError) + _NON_FINITE as e:
        assert "\n" not in str(e)
        if isinstance(e, ResourceError):
            assert e.field and e.value > e.limit
        return
    assert _finite(h), f"non-finite History without an error for {config}"
    assert h.loss.shape == (runs, config.steps + 1) and h.P.shape[1:] == (
        len(h.steps),
        config.m,
        config.d1,
    )


# -- (d) resources.check on valid configs of any size -------------------------------------------
@st.composite
def any_size_configs(draw):
    def size(name, lo=1):
        return draw(st.sampled_from([lo, MAX_SIZE[name]]) | st.integers(lo, MAX_SIZE[name]))

    d1 = size("d1")
    d = draw(st.integers(1, min(d1, 64)) | st.just(d1))
    kw = dict(
        d1=d1,
        d=d,
        n_majority=draw(st.integers(0, d)),
        m=size("m"),
        batch=size("batch", 2),
        seq_len=size("seq_len"),
        steps=size("steps"),
        attention=draw(st.sampled_from(["identity", "none"])),
        reweight=draw(st.sampled_from(["none", "known", "focal"])),
        prune_frac=draw(st.sampled_from([0.0, 0.5])),
        resample=draw(st.sampled_from([1.0, 2.5]) | _extreme(1.0, MAX_SCALE)),
    )
    return Config(**kw)


@PROPERTY
@given(
    any_size_configs(),
    st.integers(1, 64),
    st.integers(1, 1000),
    st.sampled_from([None, 1, 2, 16]),
    st.sampled_from([None, 1 << 20, 8 << 30, 2**63]),
)
def test_check_estimates_or_refuses_any_valid_config(config, runs, n_snapshots, threads, limit):
    configs = [config.replace(seed=s) for s in range(runs)]
    try:
        est = resources.check(configs, limit=limit, n_snapshots=n_snapshots, threads=threads)
    except ResourceError as e:
        msg = str(e)
        assert "\n" not in msg and f"driven by {e.field}=" in msg and e.value > e.limit
        assert e.field in set(FIELD_NAMES) | {"runs", "n_snapshots"}
        return
    assert 0 < est.bytes <= (limit or resources.available_memory())
    assert est.run_steps == runs * (config.steps + 1) and est.seconds > 0
    assert "\n" not in str(est)


# -- (e) any command line through cli.main ------------------------------------------------------
_words = st.sampled_from(
    [
        "run",
        "sweep",
        "--preset",
        "smoke",
        "figure1",
        "nope",
        "--set",
        "--grid",
        "--seeds",
        "--json",
        "--dry-run",
        "--save",
        "--compile",
        "-x",
        "=",
        "",
    ]
)
_assignments = st.builds(
    lambda name, value: f"{name}={value}",
    st.sampled_from(list(FIELD_NAMES) + ["nope", "", "steps "]),
    st.sampled_from(
        [
            "1",
            "0",
            "-1",
            "2",
            "1e30",
            "nan",
            "inf",
            "0.5",
            "x",
            "",
            "1,2",
            "3.0",
            "0.01:0.02",
            "1e400",
            "٣",
            "none",
            "99999999999",
            "identity",
            "known",
        ]
    ),
)


@PROPERTY
@given(argv=st.lists(_words | _assignments, max_size=7))
def test_cli_answers_any_argument_list_with_a_result_or_one_error_line(argv, tmp_path_factory):
    """Every argument list ends in status 0 (with output) or 2 (one 'error:' line), never an
    exception. Training is kept tiny: every list trains the smoke preset for at most 2 steps
    (a --set steps=... the list makes comes first and is overridden)."""
    import contextlib
    import io as text_io
    from imbacl import cli

    if "--compile" in argv:  # compiling takes seconds: not here
        argv = [a for a in argv if a != "--compile"]
    save_to = str(tmp_path_factory.mktemp("cli") / "out")
    argv = [a if a != "--save" else f"--save={save_to}" for a in argv]
    if argv and argv[0] in ("run", "sweep"):
        argv = argv + ["--preset", "smoke", "--set", "steps=2", "--set", "d1=8", "--set", "m=4"]
        argv = [
            a
            for k, a in enumerate(argv)
            if not (
                a == "--seeds"
                and k + 1 < len(argv)
                and argv[k + 1].isdigit()
                and int(argv[k + 1]) > 3
            )
        ]
    out, err = text_io.StringIO(), text_io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = cli.main(argv)
    err = err.getvalue()
    assert status in (0, 2), (argv, err)
    if status == 2:
        assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "setting, field",
    [
        ("m=99999999999", "m"),
        ("seq_len=100000000", "seq_len"),
        ("steps=1000000000000", "steps"),
        ("resample=1e30", "resample"),
    ],
)
def test_the_reported_crashes_are_one_line_each(setting, field):
    """The four inputs that once crashed with a C++ traceback: one 'error:' line naming the
    field, the value and the limit, exit status 2, in a fresh process within a timeout."""
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "imbacl", "run", "--set", setting],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error: ") and out.stderr.count("\n") == 1
    value = setting.split("=")[1]
    assert field in out.stderr and ("<=" in out.stderr or "[1, " in out.stderr)
    assert value in out.stderr or f"{float(value):g}" in out.stderr


def test_dry_run_prints_the_estimate_and_trains_nothing(capsys, monkeypatch):
    from imbacl import cli

    run = imbacl.sweep.run
    monkeypatch.setattr(imbacl.sweep, "run", lambda *a, **k: pytest.fail("trained"))
    assert (
        cli.main(
            ["sweep", "--preset", "smoke", "--grid", "lam=0,0.01", "--seeds", "3", "--dry-run"]
        )
        == 0
    )
    out = capsys.readouterr().out
    est = resources.estimate(imbacl.sweep.grid(imbacl.preset("smoke"), seeds=3, lam=[0.0, 0.01]))
    assert out.startswith("dry run: ") and f"{est.run_steps:,} run-steps" in out and "fits" in out
    monkeypatch.setenv("IMBACL_MAX_MEMORY", "1M")
    assert cli.main(["run", "--preset", "smoke", "--dry-run"]) == 2  # refused: non-zero
    err = capsys.readouterr().err
    assert err.startswith("error: dry run: ") and "would be refused" in err and err.count("\n") == 1
    monkeypatch.setattr(imbacl.sweep, "run", run)  # refused before training
    assert cli.main(["run", "--preset", "smoke"]) == 2
    assert "more than the limit of 1.0" in capsys.readouterr().err

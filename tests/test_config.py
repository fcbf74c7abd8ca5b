import math

import pytest

import imbacl
from imbacl import Config, preset
from imbacl.config import FIELD_NAMES, parse_value


def test_defaults_and_presets_are_valid():
    c = preset("figure1")
    assert (c.m, c.d, c.n_majority, c.d - c.n_majority) == (30, 9, 5, 4)
    assert c.freqs == (0.1,) * 5 + (0.03,) * 4
    assert math.isclose(c.rho, 0.3)
    assert preset("smoke").steps < c.steps


@pytest.mark.parametrize(
    "field,value,needle",
    [
        ("eps_max", 0.0, "(0, 1]"),
        ("eps_max", 1.5, "(0, 1]"),
        ("eps_min", -0.1, "(0, 1]"),
        ("eps_min", 0.2, "eps_max"),
        ("d", 40, "d1"),
        ("n_majority", 10, "between 0 and d"),
        ("tau", 0.0, "(0"),
        ("tau", -1.0, "(0"),
        ("lam", -0.01, "[0"),
        ("m", 0, ">= 1"),
        ("batch", 1, ">= 2"),
        ("steps", -5, ">= 1"),
        ("d", 9.5, "integer"),
        ("m", 30.0, "integer"),
        ("lr", float("nan"), "finite"),
        ("sigma", float("inf"), "finite"),
        ("attention", "softmax", "identity, none"),
        ("eps", (0.1, 0.2), "d=9"),
        ("eps", (0.1,) * 8 + (0.0,), "(0, 1]"),
        ("seed", -1, ">= 0"),
        ("d", True, "integer"),
    ],
)
def test_validation_names_field_value_and_rule(field, value, needle):
    with pytest.raises(ValueError) as err:
        Config().replace(**{field: value})
    msg = str(err.value)
    assert field.split("[")[0] in msg and needle in msg
    assert repr(value) in msg or field == "eps"


def test_unknown_field_and_preset():
    with pytest.raises(ValueError, match="unknown field 'foo'"):
        Config().replace(foo=1)
    with pytest.raises(ValueError, match="preset='nope'.*figure1"):
        preset("nope")


def test_replace_revalidates_and_is_frozen():
    c = Config()
    with pytest.raises(ValueError):
        c.replace(d1=4)
    with pytest.raises(Exception):
        c.d = 3


def test_eps_vector_overrides_and_parse():
    c = Config(eps=[0.2] * 5 + [0.05] * 4)
    assert c.freqs[0] == 0.2 and c.freqs[-1] == 0.05 and math.isclose(c.rho, 0.25)
    assert parse_value("eps", "0.1:0.2") == (0.1, 0.2)
    assert parse_value("d", "9") == 9 and parse_value("tau", "2") == 2.0
    with pytest.raises(ValueError, match="'x'"):
        parse_value("lam", "x")
    assert set(Config().to_dict()) == set(FIELD_NAMES)


# -- ConfigError, bounds (the issue's ~275 bad inputs: one line each, never a crash) -----------
import pickle

import numpy as np

from imbacl.config import MAX_SCALE, MAX_SEED, MAX_SIZE
from imbacl.errors import ConfigError


@pytest.mark.parametrize(
    "field,value",
    [
        ("m", 0),
        ("tau", 0.0),
        ("d", 9.5),
        ("attention", "softmax"),
        ("eps_min", 0.2),
        ("seed", -1),
        ("lr", float("nan")),
    ],
)
def test_errors_are_config_errors_with_field_value_and_rule(field, value):
    with pytest.raises(ConfigError) as err:
        Config().replace(**{field: value})
    e = err.value
    assert isinstance(e, ValueError)  # old `except ValueError` still catches it
    assert e.field == field and (e.value == value or value != value) and e.allowed
    assert str(e) == f"{field}={value!r} is invalid: {e.allowed}"
    again = pickle.loads(pickle.dumps(e))  # crosses process pools intact
    assert (again.field, again.allowed, str(again)) == (e.field, e.allowed, str(e))


@pytest.mark.parametrize(
    "field,value,needle",
    [
        # the inputs
        ("m", 99999999999, f"<= {MAX_SIZE['m']}"),
        ("seq_len", 100000000, f"<= {MAX_SIZE['seq_len']}"),
        ("resample", 1e30, "[1, 1000000.0]"),
        # every size, seed and scale has an upper bound, stated
        ("d1", 2**20 + 1, "<= 1048576"),
        ("batch", 2**40, "<= 1048576"),
        ("steps", 2**40 + 1, f"<= {2**40}"),
        ("seed", 2**63, f"<= {MAX_SEED}"),
        ("seed", 2**200, "int64"),
        ("tau", 1e-30, ">= 1e-06"),
        ("tau", 1e7, "(0, 1000000.0]"),
        ("lr", 1e300, "(0, 1000000.0]"),
        ("lr", 1e-300, ">= 1e-30"),
        ("init_std", 1e300, "1000000.0]"),
        ("init_std", 1e-40, ">= 1e-30"),
        ("sigma", 1e7, "[0, 1000000.0]"),
        ("bias_scale", 1e300, "[0, 1000000.0]"),
        ("lam", 1e7, "[0, 1000000.0]"),
        ("reweight_gamma", 1e3, "[0, 100.0]"),
        ("eps_min", 1e-9, ">= 1e-06"),
        ("eps", (0.1,) * 8 + (1e-300,), ">= 1e-06"),
    ],
)
def test_upper_and_lower_bounds_are_stated(field, value, needle):
    with pytest.raises(ConfigError) as err:
        Config().replace(**{field: value})
    assert err.value.field.split("[")[0] == field and needle in str(err.value)
    assert "\n" not in str(err.value) and len(str(err.value)) < 400


@pytest.mark.parametrize(
    "overrides",
    [
        dict(d=64, m=600, d1=256, steps=30),
        dict(d=128, m=2000, d1=512),
        dict(steps=10**12),  # valid; resources.check refuses it on memory
        dict(lr=1e-3),
        dict(lr=1e3),
        dict(tau=1e-3),
        dict(tau=1e3),
        dict(lam=1e3),
        dict(lam=0.0),
        dict(init_std=1e-3),
        dict(init_std=1e3),
        dict(sigma=0.0),
        dict(sigma=1e3),
        dict(bias_scale=0.0),
        dict(resample=1e3),
        dict(reweight="focal", reweight_gamma=100.0),
        dict(seed=MAX_SEED),
        dict(eps_min=1e-6),
        dict(tau=MAX_SCALE),
        dict(tau=2),
        dict(lr=1),
        dict(
            d1=MAX_SIZE["d1"],
            m=MAX_SIZE["m"],
            batch=MAX_SIZE["batch"],
            seq_len=MAX_SIZE["seq_len"],
            steps=MAX_SIZE["steps"],
        ),
    ],
)
def test_valid_values_stay_accepted(overrides):
    c = Config().replace(**overrides)
    assert all(getattr(c, k) == v for k, v in overrides.items())


def test_numpy_scalars_are_accepted_as_python_numbers():
    c = Config(
        m=np.int64(30),
        d1=np.int32(36),
        lr=np.float32(0.5),
        tau=np.float64(5.0),
        eps=np.array([0.1] * 5 + [0.03] * 4),
    )
    assert type(c.m) is int and type(c.d1) is int and type(c.lr) is float and c.lr == 0.5
    assert c.eps == (0.1,) * 5 + (0.03,) * 4 and c == Config(eps=c.eps)
    with pytest.raises(ConfigError, match="integer"):
        Config(m=np.float64(30.5))


@pytest.mark.parametrize(
    "field,value",
    [
        ("lr", 10**400),
        ("m", 10**5000),
        ("tau", -(10**400)),
        ("d", 1e300),
        ("m", float("inf")),
        ("attention", None),
        ("reweight", ["none"]),
        ("eps", "0.1"),
        ("eps", [object()] * 9),
        ("sigma", "0.1"),
        ("steps", None),
    ],
    ids=lambda v: v if isinstance(v, str) else type(v).__name__,
)
def test_strange_values_give_one_config_error(field, value):
    with pytest.raises(ConfigError) as err:
        Config().replace(**{field: value})
    assert err.value.field.split("[")[0] == field and len(str(err.value)) < 400


def test_unknown_field_parse_value_and_preset_errors_carry_the_field():
    with pytest.raises(ConfigError) as err:
        Config().replace(foo=1)
    assert err.value.field == "foo" and err.value.value == 1 and "allowed: d, d1" in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_value("lam", "x")
    assert (err.value.field, err.value.value) == ("lam", "x")
    assert str(err.value) == "lam='x' is invalid: not a number"
    with pytest.raises(ConfigError) as err:
        parse_value("nope", "1")
    assert err.value.field == "nope"
    with pytest.raises(ConfigError) as err:
        preset("nope")
    assert err.value.field == "preset"
    with pytest.raises(ConfigError, match="text"):
        parse_value("d", None)


def test_parse_value_keeps_integers_exact():
    assert parse_value("seed", str(MAX_SEED)) == MAX_SEED  # float() would round it
    assert parse_value("m", "99999999999") == 99999999999
    assert parse_value("m", "30.0") == 30.0 and parse_value("steps", "1e3") == 1000.0
    with pytest.raises(ConfigError, match=r"write 1000, not 1000\.0"):
        Config(steps=parse_value("steps", "1e3"))
    assert parse_value("eps", " None ") is None and parse_value("tau", "inf") == float("inf")
    with pytest.raises(ConfigError, match="finite"):
        Config(tau=parse_value("tau", "inf"))


def test_density_matched_arm_keeps_rho_and_the_sum():
    base = imbacl.preset("theory")
    for rho in (0.2, 0.3, 0.5, 1.0):
        fixed = imbacl.at_ratio(base, rho)
        dm = imbacl.at_ratio(base, rho, "density matched")
        assert fixed.eps_max == base.eps_max and fixed.rho == pytest.approx(rho)
        assert dm.rho == pytest.approx(rho) and sum(dm.freqs) == pytest.approx(
            base.d * base.eps_max
        )
        assert dm.lam == fixed.lam and dm.steps == fixed.steps  # the frequencies alone differ
        assert dm.replace(seed=5).freqs == dm.freqs  # rescaling again changes nothing
    # rho = 1 is the same run in both arms
    assert imbacl.at_ratio(base, 1.0, "density matched").freqs == imbacl.at_ratio(base, 1.0).freqs
    assert imbacl.at_ratio(base, 0.2, "density matched").eps_max > base.eps_max
    with pytest.raises(ConfigError, match="arm="):
        imbacl.at_ratio(base, 0.2, "matched")


def test_eps_sum_validated_and_parsed():
    assert parse_value("eps_sum", "0.9") == 0.9 and parse_value("eps_sum", "none") is None
    with pytest.raises(ConfigError, match=r"eps_sum=20 is invalid: must lie in \(0, 9\]"):
        imbacl.preset("theory").replace(eps_sum=20)
    with pytest.raises(ConfigError, match="eps_sum=8.9 is invalid: puts the frequencies"):
        imbacl.preset("theory").replace(eps_min=0.001, eps_sum=8.9)
    c = imbacl.preset("theory").replace(eps=(0.1,) * 4 + (0.05,) * 5, eps_sum=0.65)
    assert sum(c.eps) == pytest.approx(0.65) and c.rho == pytest.approx(0.5)

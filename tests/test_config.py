import math

import pytest

from imbacl import Config, preset
from imbacl.config import FIELD_NAMES, parse_value


def test_defaults_and_presets_are_valid():
    c = preset("figure1")
    assert (c.m, c.d, c.n_majority, c.d - c.n_majority) == (30, 9, 5, 4)
    assert c.freqs == (0.1,) * 5 + (0.03,) * 4
    assert math.isclose(c.rho, 0.3)
    assert preset("smoke").steps < c.steps


@pytest.mark.parametrize("field,value,needle", [
    ("eps_max", 0.0, "(0, 1]"), ("eps_max", 1.5, "(0, 1]"), ("eps_min", -0.1, "(0, 1]"),
    ("eps_min", 0.2, "eps_max"), ("d", 40, "d1"), ("n_majority", 10, "between 0 and d"),
    ("tau", 0.0, "(0"), ("tau", -1.0, "(0"), ("lam", -0.01, "[0"), ("m", 0, ">= 1"),
    ("batch", 1, ">= 2"), ("steps", -5, ">= 1"), ("d", 9.5, "integer"), ("m", 30.0, "integer"),
    ("lr", float("nan"), "finite"), ("sigma", float("inf"), "finite"),
    ("attention", "softmax", "identity, none"), ("eps", (0.1, 0.2), "d=9"),
    ("eps", (0.1,) * 8 + (0.0,), "(0, 1]"), ("seed", -1, ">= 0"), ("d", True, "integer"),
])
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

import math

import pytest
from hypothesis import given, strategies as st

from aistack_cli import units
from aistack_cli.errors import InputError


@pytest.mark.parametrize("text, dimension, expected", [
    ("128k", "count", 128_000),
    ("15.6T", "count", 15.6e12),
    ("70B", "count", 70e9),
    ("1Ki", "count", 1024),
    ("80GB", "bytes", 80e9),
    ("80GiB", "bytes", 80 * 2**30),
    ("640Gb", "bytes", 80e9),
    ("400Gb/s", "bytes_per_s", 50e9),
    ("50GB/s", "bytes_per_s", 50e9),
    ("3.35 TB/s", "bytes_per_s", 3.35e12),
    ("700W", "watts", 700),
    ("1.2MW", "watts", 1.2e6),
    ("2.5ms", "seconds", 2.5e-3),
    ("54days", "seconds", 54 * 86400),
    ("989.5 TFLOP/s", "flop_per_s", 989.5e12),
    ("1979 TOP/s", "flop_per_s", 1979e12),
    ("40%", "fraction", 0.4),
    ("$5M", "usd", 5e6),
    ("814mm2", "mm2", 814),
    ("1.0e+9", "count", 1e9),
    ("1e9", "count", 1e9),
])
def test_parse_accepts_human_quantities(text, dimension, expected):
    assert math.isclose(units.parse(text, dimension), expected, rel_tol=1e-12)


@pytest.mark.parametrize("text, dimension", [
    ("80XB", "bytes"), ("abc", "count"), ("", "count"), ("nan", "count"), ("inf", "bytes"),
    ("1e400", "count"), ("5 parsecs", "seconds"), ("80GB", "watts"), ("1kmm", "mm"),
])
def test_parse_rejects_with_what_was_expected(text, dimension):
    with pytest.raises(InputError) as info:
        units.parse(text, dimension, "--opt")
    assert str(info.value).startswith("--opt:")


def test_integer_and_fraction_bounds():
    assert units.integer("16k", "--gpus") == 16000
    with pytest.raises(InputError):
        units.integer("0", "--gpus")
    with pytest.raises(InputError):
        units.integer("1.5", "--gpus")
    with pytest.raises(InputError):
        units.fraction("1.2", "--mfu")
    assert units.fraction("0", "--x", allow_zero=True) == 0


@given(st.floats(min_value=1e-6, max_value=1e30, allow_nan=False))
def test_bytes_round_trip_through_plain_numbers(value):
    assert math.isclose(units.parse(repr(value), "bytes"), value, rel_tol=1e-12)


def test_formatting_uses_human_units():
    assert units.format_bytes(40 * 2**30) == "40.0 GiB"
    assert units.format_duration(3.2 * 86400) == "3.2 days"
    assert units.format_usd(1.23e6) == "$1.23M"
    assert units.format_si(1.2e6, "W") == "1.2 MW"

"""Parsing and formatting of human quantities.

Internally everything is base SI (bytes, seconds, watts, FLOP, USD). The command line and the
spec sheets accept human text: ``128k``, ``15.6T``, ``80GB``, ``80GiB``, ``400Gb/s``,
``700W``, ``1.2MW``, ``2.5ms``, ``$60/MWh``. Decimal prefixes are powers of 1000, binary
(``Ki``, ``Mi``, ``Gi``) powers of 1024; ``b`` is bits and ``B`` bytes. Message sizes follow
nccl-tests (dimension ``nccl_bytes``): a bare ``128M`` or ``8G`` is binary, as ``-b``/``-e`` read it.

Standard library only: this module is on every command's start-up path.
"""

from __future__ import annotations

import math
import re

from aistack_cli.errors import InputError

DECIMAL = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
BINARY = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40, "Pi": 2.0**50, "Ei": 2.0**60}
SMALL = {"m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9}
# Counts (tokens, parameters, GPUs, dollars) use B for billion, as model cards do.
COUNT_SUFFIX = {**DECIMAL, **BINARY, "B": 1e9, "b": 1e9}
DAY = 86400.0
TIME_UNITS = {
    "ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "sec": 1.0,
    "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hours": 3600.0, "hour": 3600.0,
    "d": DAY, "day": DAY, "days": DAY, "w": 7 * DAY, "wk": 7 * DAY, "week": 7 * DAY, "weeks": 7 * DAY,
    "mo": 30.436875 * DAY, "month": 30.436875 * DAY, "months": 30.436875 * DAY,
    "y": 365.25 * DAY, "yr": 365.25 * DAY, "year": 365.25 * DAY, "years": 365.25 * DAY,
}
# Energy prices per kWh: $0.08/kWh, 8c/kWh, $80/MWh.
ENERGY_PRICE_UNITS = {"/kWh": 1.0, "/MWh": 1e-3, "/GWh": 1e-6, "/Wh": 1e3, "": 1.0}

# What each dimension accepts after the prefix: unit text -> multiplier to the base unit.
DIMENSIONS: dict[str, dict[str, float]] = {
    "bytes": {"B": 1.0, "b": 0.125, "": 1.0},
    "bytes_per_s": {"B/s": 1.0, "b/s": 0.125, "bps": 0.125, "Bps": 1.0, "": 1.0},
    "watts": {"W": 1.0, "": 1.0},
    "wh": {"Wh": 1.0, "": 1.0},
    "flop": {"FLOP": 1.0, "": 1.0},
    "flop_per_s": {"FLOP/s": 1.0, "FLOPS": 1.0, "OP/s": 1.0, "OPS": 1.0, "": 1.0},
    "mm": {"mm": 1.0, "": 1.0, "cm": 10.0},
    "mm2": {"mm2": 1.0, "mm²": 1.0, "": 1.0, "cm2": 100.0, "cm²": 100.0},
    "per_cm2": {"/cm2": 1.0, "/cm²": 1.0, "": 1.0},
    "g_per_kwh": {"g/kWh": 1.0, "": 1.0},
    "l_per_kwh": {"L/kWh": 1.0, "l/kWh": 1.0, "": 1.0},
    "usd_per_hour": {"/h": 1.0, "/hr": 1.0, "/hour": 1.0, "": 1.0},
    "usd_per_kw_month": {"/kW/month": 1.0, "/kW-month": 1.0, "/kW/mo": 1.0, "": 1.0},
    "usd_per_gb": {"/GB": 1.0, "": 1.0},
    "usd_per_w": {"/W": 1.0, "/kW": 1e-3, "/MW": 1e-6, "": 1.0},
    "ratio": {"": 1.0, "x": 1.0},
}

EXAMPLES = {
    "count": "128k, 15.6T, 70B or 16384",
    "int": "8, 1k or 16384",
    "bytes": "80GB, 80GiB, 640Gb or 1.5TB",
    "nccl_bytes": "8, 128M or 8G (binary, as nccl-tests reads them), 1GiB or 1GB",
    "bytes_per_s": "50GB/s, 400Gb/s or 3.35TB/s",
    "watts": "700W, 10.2kW or 1.2MW",
    "wh": "500kWh or 1.2GWh",
    "flop": "3.14e23 or 3.8e25FLOP",
    "flop_per_s": "989.5TFLOP/s or 2.5PFLOP/s",
    "seconds": "2.5ms, 30s, 10min, 4h, 54d, 8w or 3mo",
    "days": "60 (days), 8w, 1440h or 3mo",
    "mm": "26mm or 2.6cm",
    "mm2": "814mm2 or 8.14cm2",
    "per_cm2": "0.1/cm2",
    "fraction": "0.4 or 40%",
    "ratio": "1.2",
    "usd": "2.49, $2.49, $5M or 1.2B",
    "g_per_kwh": "366 or 366g/kWh",
    "l_per_kwh": "1.8 or 1.8L/kWh",
    "usd_per_kwh": "0.08, $0.08/kWh, 8c/kWh or $80/MWh",
    "usd_per_hour": "2.49 or $2.49/h",
    "usd_per_kw_month": "150 or $150/kW/month",
    "usd_per_gb": "10 or $10/GB",
    "usd_per_w": "11.7 or $11.7/W",
}

LARGEST = 1e40  # larger inputs are typos, and would overflow products of several inputs
SMALLEST = 1e-30  # smaller non-zero inputs are typos (or subnormal floats that break the arithmetic)

_NUMBER = re.compile(r"^\s*([-+]?(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")
_NONZERO_DIGIT = re.compile(r"[1-9]")


def show(text: object, limit: int = 40) -> str:
    """``text`` quoted for an error message, shortened and with control characters escaped,
    so that an error stays one short line whatever the input was."""
    shown = repr(text) if isinstance(text, str) else repr(str(text))
    return shown if len(shown) <= limit else shown[: limit - 4] + "…" + shown[-3:]


def split_number(text: str) -> tuple[float, str]:
    """Split ``'3.35 TB/s'`` into ``(3.35, 'TB/s')``; raise ValueError if no number leads."""
    match = _NUMBER.match(text)
    if not match:
        raise ValueError(text)
    digits = match.group(1).replace("_", "")
    value = float(digits)
    mantissa = digits.lower().split("e")[0]
    if value == 0.0 and _NONZERO_DIGIT.search(mantissa):
        raise OverflowError(text)  # 1e-400: a non-zero number that underflows to 0
    return value, match.group(2)


UNPREFIXED = {"mm", "mm2", "per_cm2", "g_per_kwh", "l_per_kwh", "usd_per_hour", "usd_per_kw_month", "usd_per_gb",
              "usd_per_w", "ratio"}


def _prefixed(unit_text: str, units: dict[str, float], allow_small: bool, allow_prefix: bool = True) -> float | None:
    """Multiplier for ``unit_text`` read as [prefix][unit], or None if it does not read."""
    prefixes = {**DECIMAL, **BINARY, **(SMALL if allow_small else {})} if allow_prefix else {"": 1.0}
    for unit, unit_factor in sorted(units.items(), key=lambda kv: -len(kv[0])):
        if not unit_text.endswith(unit):
            continue
        prefix = unit_text[: len(unit_text) - len(unit)] if unit else unit_text
        if prefix in prefixes and (unit or prefix in DECIMAL or prefix in BINARY):
            return prefixes[prefix] * unit_factor
    return None


def _nccl_bytes(unit_text: str) -> float | None:
    """nccl-tests sizes: a bare K/M/G/T is binary (``128M`` = 128 MiB); ``MB`` decimal, ``MiB`` binary."""
    bare = {"": 1.0, "K": 2.0**10, "k": 2.0**10, "M": 2.0**20, "G": 2.0**30, "T": 2.0**40}
    if unit_text in bare:
        return bare[unit_text]
    return _prefixed(unit_text, {"B": 1.0}, allow_small=False)


def _energy_price(unit_text: str) -> float | None:
    """``/kWh`` (the base), ``/MWh``; a leading ``c`` or ``¢`` means cents (``8c/kWh``)."""
    cents = unit_text[:1] in ("c", "¢")
    rest = unit_text[1:] if cents else unit_text
    factor = ENERGY_PRICE_UNITS.get(rest.strip())
    if factor is None:
        return None
    return factor * (0.01 if cents else 1.0)


def _multiplier(unit_text: str, dimension: str) -> float | None:
    if dimension in ("count", "int", "usd"):
        return COUNT_SUFFIX.get(unit_text)
    if dimension == "fraction":
        return {"": 1.0, "%": 0.01}.get(unit_text)
    if dimension in ("seconds", "days"):
        if unit_text == "":
            return DAY if dimension == "days" else 1.0
        return TIME_UNITS.get(unit_text)
    if dimension == "nccl_bytes":
        return _nccl_bytes(unit_text)
    if dimension == "usd_per_kwh":
        return _energy_price(unit_text)
    if dimension == "wh":
        return _prefixed(unit_text, DIMENSIONS["wh"], allow_small=False)
    return _prefixed(unit_text, DIMENSIONS[dimension], allow_small=dimension == "watts",
                     allow_prefix=dimension not in UNPREFIXED)


def parse(text: str | float | int, dimension: str, what: str = "value") -> float:
    """Parse a human quantity into base SI units for ``dimension``.

    ``what`` names the option or field in the error message. Non-finite values, values beyond
    1e40 and non-zero values below 1e-30 are rejected: nothing a planner measures is that large or
    that small, and such values only overflow or underflow the arithmetic.
    """
    if isinstance(text, bool):
        raise InputError(f"{what}: expected a quantity such as {EXAMPLES[dimension]}, got {text!r}")
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        raw = text.strip()
        if dimension == "usd" or dimension.startswith("usd_"):
            raw = raw.replace("$", "", 1).replace("USD", "").strip()
        try:
            number, unit_text = split_number(raw)
        except OverflowError:
            raise InputError(f"{what}: {show(text)} is too small to be a quantity (it underflows to 0)") from None
        except ValueError:
            raise InputError(f"{what}: cannot read {show(text)} as a quantity; expected {EXAMPLES[dimension]}") from None
        multiplier = _multiplier(unit_text, dimension)
        if multiplier is None:
            raise InputError(f"{what}: unknown unit {show(unit_text, 20)} in {show(text)}; "
                             f"expected {EXAMPLES[dimension]}")
        value = number * multiplier
    if not math.isfinite(value) or abs(value) > LARGEST:
        raise InputError(f"{what}: {show(text)} is not a finite quantity of sensible size")
    if value != 0 and abs(value) < SMALLEST:
        raise InputError(f"{what}: {show(text)} is too small to be a quantity")
    return value


def positive(text: str | float, dimension: str, what: str) -> float:
    """Parse and require > 0."""
    value = parse(text, dimension, what)
    if value <= 0:
        raise InputError(f"{what}: must be greater than zero, got {show(text)}")
    return value


def non_negative(text: str | float, dimension: str, what: str) -> float:
    """Parse and require >= 0."""
    value = parse(text, dimension, what)
    if value < 0:
        raise InputError(f"{what}: must not be negative, got {show(text)}")
    return value


def fraction(text: str | float, what: str, *, allow_zero: bool = False) -> float:
    """Parse a fraction in (0, 1] (or [0, 1] with ``allow_zero``); ``40%`` is 0.4."""
    value = parse(text, "fraction", what)
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value <= 1):
        bound = "[0, 1]" if allow_zero else "(0, 1]"
        raise InputError(f"{what}: must be a fraction in {bound} such as 0.4 or 40%, got {show(text)}")
    return value


def integer(text: str | int, what: str, *, minimum: int = 1) -> int:
    """Parse a whole count (``16384``, ``16k``, ``1Ki``) of at least ``minimum``."""
    value = parse(text, "int", what)
    if value != int(value):
        raise InputError(f"{what}: must be a whole number, got {show(text)}")
    if value < minimum:
        raise InputError(f"{what}: must be at least {minimum}, got {show(text)}")
    return int(value)


# ---- formatting for tables (machine formats always carry base units) --------------------

def format_bytes(value: float) -> str:
    """Binary units, as memory is sized: ``40.0 GiB``."""
    for factor, suffix in [(2**50, "PiB"), (2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")]:
        if abs(value) >= factor:
            return f"{value / factor:,.1f} {suffix}"
    return f"{value:,.0f} B"


def format_duration(seconds: float) -> str:
    """``3.2 days``, ``4.1 h``, ``12.5 ms``."""
    steps = [(365.25 * DAY, "years"), (DAY, "days"), (3600.0, "h"), (60.0, "min"), (1.0, "s"),
             (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")]
    for factor, suffix in steps:
        if abs(seconds) >= factor:
            return f"{seconds / factor:,.3g} {suffix}"
    return f"{seconds:.3g} s"


def format_usd(value: float) -> str:
    """``$1.23M``, ``$16,988``, ``$4.56``, ``$0.0123``."""
    for factor, suffix in [(1e12, "T"), (1e9, "B"), (1e6, "M")]:
        if abs(value) >= factor:
            return f"${value / factor:,.4g}{suffix}"
    if abs(value) >= 1e3:
        return f"${value:,.0f}"
    return f"${value:,.4g}" if abs(value) < 1 else f"${value:,.2f}"


def format_si(value: float, unit: str, digits: int = 4) -> str:
    """Decimal SI prefixes: ``1.2 MW``, ``450 GB/s``, ``989.5 TFLOP/s``."""
    steps = [(1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, "")]
    for factor, prefix in steps:
        if abs(value) >= factor:
            return f"{value / factor:.{digits}g} {prefix}{unit}"
    return f"{value:.{digits}g} {unit}"


def format_count(value: float) -> str:
    """Counts as model cards write them: ``16,384``, ``405.9B``, ``15.6T``; ``3.1e+18`` beyond."""
    for factor, suffix in [(1e12, "T"), (1e9, "B")]:
        if 1e15 > abs(value) >= factor:
            return f"{value / factor:.4g}{suffix}"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1e6:
        return f"{value:.4g}"
    return f"{value:,.4g}"

"""What every calculator shares: element sizes, the working shown by ``--explain``, results."""

from __future__ import annotations

import math
from dataclasses import fields
from typing import NamedTuple

# Bytes per element of each number format (fp6 and the 4-bit formats pack several per byte).
BYTES_PER_ELEMENT = {
    "fp64": 8.0, "fp32": 4.0, "tf32": 4.0, "bf16": 2.0, "fp16": 2.0,
    "fp8": 1.0, "int8": 1.0, "fp6": 0.75, "fp4": 0.5, "int4": 0.5,
}


class Step(NamedTuple):
    """One line of working: a formula, the numbers put into it, the value out, and its source."""

    quantity: str
    formula: str
    substituted: str
    value: float
    unit: str
    source: str


RESULT_META = ("assumptions", "warnings", "steps")


def result_values(result) -> dict:
    """The numeric and boolean fields of a result dataclass, minus its notes and working."""
    return {f.name: getattr(result, f.name) for f in fields(result) if f.name not in RESULT_META}


def host_overhead_w(system_max_w: float, accelerators: int, tdp_w: float) -> float:
    """Power of a system besides its accelerators: its rated maximum minus the accelerators at
    TDP (DGX H100: 10.2 kW − 8 × 700 W = 4.6 kW, NVIDIA DGX H100 datasheet). Negative when a
    sheet rates the system below its accelerators; callers decide what that means."""
    return system_max_w - accelerators * tdp_w


def ceil_to(value: float, multiple: int) -> float:
    """Round ``value`` up to a whole number of ``multiple`` (no rounding when multiple <= 1)."""
    if multiple <= 1:
        return float(math.ceil(value))
    return float(math.ceil(value / multiple) * multiple)


def fmt(value: float) -> str:
    """Compact number for substituted formulas: 327680, 1.342e+11, 0.9."""
    if float(value).is_integer() and abs(value) < 1e12:
        return f"{int(value)}"
    return f"{value:.4g}"

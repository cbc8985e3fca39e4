"""Option parsing that several commands share: precisions, model and accelerator look-ups."""

from __future__ import annotations

from aistack_cli import units
from aistack_cli.calc.common import BYTES_PER_ELEMENT
from aistack_cli.errors import InputError

PRECISION_HELP = "one of " + ", ".join(BYTES_PER_ELEMENT)

# Site defaults for an unknown site, shared by train-cost and cluster-power, with their evidence
# (each command lists the one it used under its output).
LOAD_FRACTION = 0.76
LOAD_EVIDENCE = ("an 8-GPU H100 node training transformers drew 76% of its 10.2 kW rating, Newkirk et al. "
                 "2025, arXiv 2506.14551; its highest reading was ~8.4 kW = 82%, Latif et al. 2024, arXiv 2412.08602")
PUE = 1.58
PUE_EVIDENCE = "industry average, Uptime Institute 2023; hyperscale fleets ~1.10, Google 2021; pass --pue for your site"
CARBON_G_PER_KWH = 481.0
CARBON_EVIDENCE = "world average 2023, Ember, lifecycle; US 366 g/kWh, EIA 2023, combustion only"


def precision(text: str, what: str, allowed: tuple[str, ...] | None = None) -> str:
    """A precision name (``bf16``), checked against ``allowed`` when given."""
    name = text.strip().lower()
    choices = allowed or tuple(BYTES_PER_ELEMENT)
    if name not in choices:
        raise InputError(f"{what}: unknown precision {text!r}; expected one of {', '.join(choices)}")
    return name


def accelerator_precision(gpu, name: str, what: str) -> float:
    """Dense peak FLOP/s of ``gpu`` at precision ``name``; usage error if the sheet lacks it."""
    peak = gpu.dense_flop_per_s.get(name)
    if peak is None:
        have = ", ".join(gpu.dense_flop_per_s) or "none"
        raise InputError(f"{what}: {gpu.id} has no {name} peak in its sheet; it lists {have}")
    return peak


def optional_int(text: str | None, what: str, minimum: int = 1) -> int | None:
    return None if text is None else units.integer(text, what, minimum=minimum)


def tensor_parallel(tp_text: str | None, gpus: int, what: str = "--tp") -> int:
    """Tensor-parallel size: all GPUs by default; must divide the GPU count."""
    tp = gpus if tp_text is None else units.integer(tp_text, what)
    if tp > gpus:
        raise InputError(f"{what}: {tp} tensor-parallel shards but only {gpus} GPUs")
    if gpus % tp:
        raise InputError(f"{what}: {gpus} GPUs do not split into groups of {tp}")
    return tp

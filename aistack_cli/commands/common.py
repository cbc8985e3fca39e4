"""Options and look-ups that several commands share: model shape, precisions, accelerators."""

from __future__ import annotations

from typing import Any

from aistack_cli.calc.common import BYTES_PER_ELEMENT
from aistack_cli.errors import InputError
from aistack_cli.runner.options import Opt

WEIGHT_DTYPES = ("fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4")
WEIGHT_DTYPE = Opt("weights_dtype", "word", "Weight element type.", default="bf16", choices=WEIGHT_DTYPES)

# A model given by its shape, or figures overriding a catalog model's (what-ifs, and saved
# outputs read back through --config, which carry the sheet's figures).
LAYERS = Opt("layers", "int", "Transformer layers (a model by shape, or overriding the sheet's).", lo=1, hi=1e4)
KV_HEADS = Opt("kv_heads", "int", "Key/value heads (1 for MQA).", lo=1, hi=1e5)
HEAD_DIM = Opt("head_dim", "int", "Dimension of one attention head.", lo=1, hi=1e5)
HIDDEN_SIZE = Opt("hidden_size", "int", "Model width.", lo=1, hi=1e6)
HEADS = Opt("heads", "int", "Attention (query) heads.", lo=1, hi=1e5)
PARAMS = Opt("params", "count", "Total parameters, e.g. 70B.", field="params_total", lo=1, hi=1e16)
ACTIVE_PARAMS = Opt("active_params", "count", "Parameters active per token (MoE), e.g. 37B.", field="params_active",
                    lo=1, hi=1e16)
ARCHITECTURE_OPTIONS = (LAYERS, KV_HEADS, HEAD_DIM, PARAMS)


def model_overrides(o, sheet: dict[str, Any], model_id: str) -> tuple[dict[str, Any], list[str]]:
    """The sheet's figures, each replaced by its option when the user gave one; a note per change."""
    shape = dict(sheet)
    notes = []
    for name, value in sheet.items():
        if o.given(name) and getattr(o, name) is not None and getattr(o, name) != value:
            shape[name] = getattr(o, name)
            notes.append(f"{name} {shape[name]:,} given, replacing the {model_id} sheet's {value:,}"
                         if isinstance(value, (int, float)) else f"{name} {shape[name]} given, replacing the "
                                                                  f"{model_id} sheet's {value}")
    return shape, notes


def accelerator_precision(gpu, name: str, what: str) -> float:
    """Dense peak FLOP/s of ``gpu`` at precision ``name``; usage error if the sheet lacks it."""
    peak = gpu.dense_flop_per_s.get(name)
    if peak is None:
        have = ", ".join(gpu.dense_flop_per_s) or "none"
        raise InputError(f"{what}: {gpu.id} has no {name} peak in its sheet; it lists {have}")
    return peak


def tensor_parallel(tp: int | None, gpus: int, what: str = "--tp") -> int:
    """Tensor-parallel size: all GPUs by default; must divide the GPU count."""
    tp = gpus if tp is None else tp
    if tp > gpus:
        raise InputError(f"{what}: {tp} tensor-parallel shards but only {gpus} GPUs")
    if gpus % tp:
        raise InputError(f"{what}: {gpus} GPUs do not split into groups of {tp}")
    return tp


def bytes_per_element(dtype: str) -> float:
    return BYTES_PER_ELEMENT[dtype]


class LazySteps(list):
    """The working of ``--explain``, computed only when something reads it.

    A calculator's working costs more to write than its numbers; the runner drops it unless
    ``--explain`` was given, so a command can hand over ``LazySteps(lambda: ...)`` that redoes the
    calculation with its working only when the working is shown.
    """

    def __init__(self, make):
        super().__init__()
        self._make = make

    def _fill(self) -> None:
        if self._make is not None:
            make, self._make = self._make, None
            self.extend(make())

    def __iter__(self):
        self._fill()
        return super().__iter__()

    def __len__(self) -> int:
        self._fill()
        return super().__len__()

    def __getitem__(self, index):
        self._fill()
        return super().__getitem__(index)

    def __bool__(self) -> bool:
        return len(self) > 0

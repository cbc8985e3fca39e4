"""``aistack train-cost``: FLOP, time, money, energy, memory fit and failures of a training run."""

from __future__ import annotations

from dataclasses import replace

from aistack_cli.calc.common import result_values
from aistack_cli.calc.training import (Cluster, Device, Failures, Memory, Power, Shape, default_layout,
                                       human_count, train_cost as compute)
from aistack_cli.commands.common import ACTIVE_PARAMS, HEADS, HIDDEN_SIZE, LAYERS, PARAMS, accelerator_precision
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt

TRAIN_PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8", "fp4")
SEQ_LEN = 8192  # Llama 3's main pretraining length; capped at the model's context (GPT-3 2,048, Llama 2 4,096).
CHINCHILLA_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022 (arXiv 2203.15556): D ≈ 20·N.

OPTIONS = [
    Opt("model", "id", "Model id from the catalog, e.g. llama-3.1-405b.", ids="model"),
    PARAMS, ACTIVE_PARAMS, LAYERS, HIDDEN_SIZE, HEADS,
    Opt("tokens", "count", "Training tokens, e.g. 15.6T (default: the model sheet's).", lo=1, hi=1e18),
    Opt("tokens_per_param", "text", "Tokens per active parameter instead: a number, or 'chinchilla' (20)."),
    Opt("seq_len", "int", "Sequence length (default: 8k, capped at the model's context).", lo=1, hi=1e8),
    Opt("gpu", "id", "Accelerator id, e.g. h100-sxm (without it: FLOP only).", ids="accelerator"),
    Opt("gpus", "int", "Accelerators in the run.", lo=1, hi=1e7),
    Opt("target_days", "days", "Solve for the GPU count that finishes in this time, e.g. 60 (days), 8w or 3mo.",
        field="target_wall_clock_s", lo=3600, hi=3.2e8),
    Opt("precision", "word", "Training precision whose DENSE peak is used.", default="bf16", choices=TRAIN_PRECISIONS),
    Opt("mfu", "fraction", "Model FLOP utilisation.", lo=0, lo_open=True, hi=1, default_id="mfu-training"),
    Opt("price_per_gpu_hour", "usd_per_hour", "USD per GPU-hour (default: the sheet's dated price).",
        field="price_usd_per_gpu_hour", lo=0, lo_open=True, hi=1e4),
    Opt("pue", "ratio", "Power usage effectiveness: facility / IT power.", lo=1, hi=3, default_id="pue"),
    Opt("carbon_intensity", "g_per_kwh", "Grid g CO2 per kWh.", field="carbon_intensity_g_per_kwh", lo=0, hi=2000,
        default_id="carbon-intensity"),
    Opt("load", "fraction", "Average draw as a fraction of rated power.", field="load_fraction", lo=0, lo_open=True,
        hi=1, flags=("--gpu-power-fraction",), default_id="load-fraction"),
    Opt("system", "id", "System sheet for host power, e.g. dgx-h100.", ids="system"),
    Opt("tp", "int", "Tensor-parallel size (default: the smallest tp×pp that fits; 1 if --pp or --dp is given).",
        lo=1, hi=1e5),
    Opt("pp", "int", "Pipeline-parallel stages (default: the smallest tp×pp that fits; 1 if --tp or --dp is given).",
        lo=1, hi=1e5),
    Opt("dp", "int", "Data-parallel size (default: gpus / (tp·pp)).", lo=1, hi=1e7),
    Opt("zero", "int", "ZeRO stage: 0, 1 (optimizer sharded), 2 or 3.", default=1, lo=0, hi=3),
    Opt("micro_batch", "int", "Sequences per micro-batch.", default=1, lo=1, hi=1e5),
    Opt("recompute", "word", "Activation recomputation.", default="selective", choices=("none", "selective", "full")),
    Opt("mtbf_gpu_hours", "count", "Mean GPU-hours between interruptions per accelerator (used with "
        "--checkpoint-time).", lo=1, hi=1e9, default_id="mtbf-gpu-hours"),
    Opt("checkpoint_time", "seconds", "Time to write a checkpoint, e.g. 60s: turns on the failure model.",
        field="checkpoint_time_s", lo=0, lo_open=True, hi=1e6),
    Opt("restart_time", "seconds", "Time to restart after a failure, e.g. 10min (default 0).",
        field="restart_time_s", lo=0, hi=1e6),
    Opt("goodput", "fraction", "Share of wall-clock that makes progress, given directly, e.g. 0.9.", lo=0,
        lo_open=True, hi=1),
]
EXAMPLES = (
    "aistack train-cost --model llama-3.1-405b --tokens 15.6T --gpu h100-sxm --gpus 16384",
    "aistack train-cost --model llama-3.1-70b --tokens 15T --gpu h100-sxm --target-days 30",
    "aistack train-cost --model gpt-3-175b --tokens 300B --gpu a100-80gb --gpus 1024:8192:x2 -f csv",
)
NEEDS_GPU = ("gpus", "target_days", "mfu", "price_per_gpu_hour", "pue", "carbon_intensity", "load", "system", "tp",
             "pp", "dp", "zero", "micro_batch", "recompute", "mtbf_gpu_hours", "checkpoint_time", "restart_time",
             "goodput")
ARCH = ("layers", "hidden_size", "heads")


class _Notes:
    def __init__(self) -> None:
        self.assumptions: list[str] = []
        self.warnings: list[str] = []


@calculator("train-cost", help="FLOP, GPU-hours, days, cost, energy, memory fit and failures of a training run.",
            options=OPTIONS, examples=EXAMPLES,
            columns=["total_flop", "gpus_solved", "wall_clock_s", "gpu_hours", "cost_usd", "energy_wh",
                     "memory_used_bytes_per_gpu", "fits"])
def train_cost(catalog, o) -> Point:
    notes = _Notes()
    shape, inputs, model_sheet = _shape(catalog, o, notes)
    tokens = _tokens(o, shape, model_sheet, notes)
    seq = _seq_len(o, model_sheet, notes)
    inputs.update({"tokens": tokens, "seq_len": seq})
    if o.gpu is None:
        given = [n for n in NEEDS_GPU if o.given(n)]
        if given:
            raise InputError(f"--{given[0].replace('_', '-')}: give --gpu too; without it only the FLOP are computed")
        notes.assumptions.append("FLOP only: give --gpu and --gpus for time, cost, energy and memory")
        return _point(inputs, compute(shape, tokens, seq), notes)
    device, cluster, memory, power, failures = _run(catalog, o, shape, inputs, notes)
    return _point(inputs, compute(shape, tokens, seq, device, cluster, memory, power, failures), notes)


def _point(inputs: dict, result, notes: _Notes) -> Point:
    return Point(inputs, result_values(result), notes.assumptions + list(result.assumptions),
                 notes.warnings + list(result.warnings), list(result.steps))


# ---- model and data ------------------------------------------------------------------------

def _shape(catalog, o, notes: _Notes):
    if o.model:
        m = catalog.get("model", o.model)
        for name in ("params", "active_params", *ARCH):
            if o.given(name):
                raise InputError(f"--{name.replace('_', '-')}: give either --model or --params and the "
                                 "architecture, not both")
        shape = Shape(m.params_total, m.params_active, m.layers, m.hidden_size, m.heads, m.head_dim)
        inputs = {"model": m.id, "params_total": m.params_total, "params_active": m.params_active,
                  "layers": m.layers, "hidden_size": m.hidden_size, "heads": m.heads, "head_dim": m.head_dim}
        return shape, inputs, m
    if o.params is None:
        raise InputError("--model: give a model id (e.g. llama-3.1-405b) or --params for a model not in the catalog")
    return (*_custom_shape(o), None)


def _custom_shape(o):
    total = o.params
    active = o.active_params or total
    if active > total:
        raise InputError("--active-params: more active parameters than --params in total")
    given = [n for n in ARCH if getattr(o, n) is not None]
    if given and len(given) < len(ARCH):
        missing = next(n for n in ARCH if getattr(o, n) is None)
        raise InputError(f"--{missing.replace('_', '-')}: the architecture needs --layers, --hidden-size and "
                         "--heads together")
    head_dim = None
    if given:
        if o.hidden_size % o.heads:
            raise InputError(f"--heads: {o.heads} heads do not divide --hidden-size {o.hidden_size}")
        head_dim = o.hidden_size // o.heads
    shape = Shape(total, active, o.layers, o.hidden_size, o.heads, head_dim)
    inputs = {"model": None, "params_total": total, "params_active": active, "layers": shape.layers,
              "hidden_size": shape.hidden_size, "heads": shape.heads, "head_dim": head_dim}
    return shape, inputs


def _tokens(o, shape: Shape, sheet, notes: _Notes) -> float:
    if o.tokens is not None and o.tokens_per_param is not None:
        raise InputError("--tokens-per-param: give either --tokens or --tokens-per-param, not both")
    if o.tokens is not None:
        return o.tokens
    if o.tokens_per_param is not None:
        from aistack_cli import units

        text = o.tokens_per_param.strip().lower()
        chinchilla = text == "chinchilla"
        ratio = CHINCHILLA_TOKENS_PER_PARAM if chinchilla else units.positive(text, "count", "--tokens-per-param")
        notes.assumptions.append(f"tokens = {ratio:g} per active parameter"
                                 + (" (Chinchilla, Hoffmann et al. 2022)" if chinchilla else ""))
        return ratio * shape.params_active
    if sheet is not None and sheet.training_tokens:
        notes.assumptions.append(f"tokens {human_count(sheet.training_tokens)} from the {sheet.id} sheet "
                                 "(its published training run)")
        return sheet.training_tokens
    raise InputError("--tokens: give the training tokens, e.g. --tokens 15.6T, or --tokens-per-param chinchilla")


def _seq_len(o, sheet, notes: _Notes) -> int:
    context = sheet.max_context if sheet is not None else None
    if o.seq_len is not None:
        if context and o.seq_len > context:
            notes.warnings.append(f"sequence length {o.seq_len:,} exceeds the model's context of {context:,}")
        return o.seq_len
    seq = min(SEQ_LEN, context) if context else SEQ_LEN
    notes.assumptions.append(f"sequence length {seq:,} (default: Llama 3's 8,192 pretraining length, "
                             "capped at the model's context)")
    return seq


# ---- hardware, parallelism, energy, failures -----------------------------------------------

def _run(catalog, o, shape: Shape, inputs: dict, notes: _Notes):
    accelerator = catalog.get("accelerator", o.gpu)
    peak = accelerator_precision(accelerator, o.precision, "--precision")
    mfu = _mfu(catalog, o, notes)
    price = _price(o, accelerator, notes)
    device = Device(accelerator.id, peak, accelerator.memory_bytes, accelerator.tdp_w, price,
                    accelerator.scale_up_domain)
    memory = Memory(o.precision, o.zero, o.recompute, o.micro_batch)
    cluster = _layout(o, shape, inputs, device, _cluster(o, shape, mfu), memory, notes)
    power, power_inputs = _power(catalog, o, accelerator, notes)
    failures, failure_inputs = _failures(catalog, o, notes)
    inputs.update({"gpu": accelerator.id, "precision": o.precision, "peak_flop_per_s": peak,
                   "gpu_memory_bytes": accelerator.memory_bytes, "gpu_tdp_w": accelerator.tdp_w,
                   "gpus": cluster.gpus, "target_wall_clock_s": cluster.target_s, "tp": o.tp, "pp": o.pp, "dp": o.dp,
                   "mfu": mfu, "price_usd_per_gpu_hour": price, **power_inputs, "zero": memory.zero,
                   "recompute": memory.recompute, "micro_batch": memory.micro_batch, **failure_inputs})
    return device, cluster, memory, power, failures


def _mfu(catalog, o, notes: _Notes) -> float:
    if o.mfu is not None:
        notes.assumptions.append(f"MFU {o.mfu:.0%} of the dense {o.precision} peak (given)")
        return o.mfu
    default = catalog.get("default", "mfu-training")
    notes.assumptions.append(default.note(f"MFU {default.value:.0%} of the dense {o.precision} peak"))
    if o.precision in ("fp8", "fp4"):
        notes.warnings.append(f"the default MFU comes from BF16 runs; {o.precision} runs report lower MFU against "
                              f"the {o.precision} peak: give --mfu")
    return default.value


def _price(o, accelerator, notes: _Notes) -> float | None:
    if o.price_per_gpu_hour is not None:
        return o.price_per_gpu_hour
    if accelerator.price_usd_per_hour is not None:
        notes.assumptions.append(f"price ${accelerator.price_usd_per_hour:,.2f} per GPU-hour: the {accelerator.id} "
                                 f"sheet's typical on-demand price as of {accelerator.price_as_of} (prices move; "
                                 "give --price-per-gpu-hour)")
    return accelerator.price_usd_per_hour


def _cluster(o, shape: Shape, mfu: float) -> Cluster:
    tp, pp = o.tp or 1, o.pp or 1
    if shape.layers is not None and pp > shape.layers:
        raise InputError(f"--pp: {pp} pipeline stages but the model has {shape.layers} layers")
    if o.target_days is not None:
        for name in ("gpus", "dp"):
            if getattr(o, name) is not None:
                raise InputError(f"--{name}: give either --target-days (to solve for the GPU count) or --{name}")
        return Cluster(mfu, None, o.target_days, tp, pp)
    return Cluster(mfu, _gpu_count(o.gpus, tp, pp, o.dp), None, tp, pp)


def _layout(o, shape: Shape, inputs: dict, device: Device, cluster: Cluster, memory: Memory,
            notes: _Notes) -> Cluster:
    """Without --tp, --pp and --dp: the smallest tp×pp that fits in memory (else tp 1 · pp 1 and a warning)."""
    if any(getattr(o, n) is not None for n in ("tp", "pp", "dp")):
        return cluster
    layout = default_layout(shape, inputs["tokens"], inputs["seq_len"], device, cluster, memory)
    if layout is None:
        return cluster
    tp, pp = layout
    notes.assumptions.append(f"tp {tp} · pp {pp}: the smallest tensor×pipeline layout that fits (powers of two, "
                             f"tp ≤ {min(8, device.scale_up_domain)}; give --tp/--pp to set your own)")
    return replace(cluster, tp=tp, pp=pp)


def _gpu_count(gpus: int | None, tp: int, pp: int, dp: int | None) -> int:
    if gpus is None:
        if dp is None:
            raise InputError("--gpus: give the accelerator count, or --target-days to solve for it")
        return tp * pp * dp
    if tp * pp > gpus:
        raise InputError(f"--tp/--pp: tp·pp = {tp * pp} ranks but only {gpus} GPUs")
    if gpus % (tp * pp):
        raise InputError(f"--gpus: {gpus} GPUs do not split into tp·pp groups of {tp * pp}")
    if dp is not None and tp * pp * dp != gpus:
        raise InputError(f"--dp: tp·pp·dp = {tp * pp * dp}, not the {gpus} GPUs given")
    return gpus


def _power(catalog, o, accelerator, notes: _Notes) -> tuple[Power, dict]:
    fraction, pue, carbon = o.default("load"), o.default("pue"), o.default("carbon_intensity")  # cited, noted
    inputs = {"load_fraction": fraction, "pue": pue, "carbon_intensity_g_per_kwh": carbon}
    if o.system is None:
        return Power(fraction, pue, carbon), inputs
    sheet = catalog.get("system", o.system)
    if sheet.accelerator != accelerator.id:
        raise InputError(f"--system: {sheet.id} holds {sheet.accelerator}, not {accelerator.id}")
    inputs.update({"system": sheet.id, "system_max_power_w": sheet.max_power_w})
    notes.assumptions.append(f"host power from {sheet.id}'s rated maximum, scaled by the same draw fraction")
    return Power(fraction, pue, carbon, sheet.max_power_w, sheet.accelerators), inputs


def _failures(catalog, o, notes: _Notes) -> tuple[Failures, dict]:
    model_flags = [n for n in ("mtbf_gpu_hours", "checkpoint_time", "restart_time") if getattr(o, n) is not None]
    if o.goodput is not None:
        if model_flags:
            raise InputError(f"--{model_flags[0].replace('_', '-')}: give either --goodput or the failure model, "
                             "not both")
        notes.assumptions.append(f"goodput {o.goodput:.0%} given: wall-clock with failures = in-run time / goodput")
        return Failures(goodput=o.goodput), {"goodput": o.goodput}
    if not model_flags:
        return Failures(), {}
    if o.checkpoint_time is None:
        raise InputError("--checkpoint-time: the failure model needs the time to write a checkpoint, e.g. 60s")
    restart = o.restart_time or 0.0
    mtbf = o.mtbf_gpu_hours
    if mtbf is None:
        default = catalog.get("default", "mtbf-gpu-hours")
        mtbf = default.value
        notes.assumptions.append(default.note(f"MTBF {mtbf:,.0f} GPU-hours per accelerator"))
    if o.restart_time is None:
        notes.assumptions.append("restart time 0 (default): give --restart-time for relaunch and checkpoint load")
    return Failures(mtbf, o.checkpoint_time, restart), {"mtbf_gpu_hours": mtbf, "checkpoint_time_s": o.checkpoint_time,
                                                        "restart_time_s": restart}

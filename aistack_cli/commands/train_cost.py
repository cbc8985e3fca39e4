"""``aistack train-cost``: FLOP, time, money, energy, memory fit and failures of a training run."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Optional

import typer

from aistack_cli import units
from aistack_cli.calc.common import result_values
from aistack_cli.calc.training import (RECOMPUTE, Cluster, Device, Failures, Memory, Power, Shape,
                                       default_layout, human_count, train_cost as compute)
from aistack_cli.commands.common import accelerator_precision, optional_int
from aistack_cli.commands.common import precision as parse_precision
from aistack_cli.commands import common as site_defaults
from aistack_cli.errors import InputError
from aistack_cli.render import Point
from aistack_cli.runner import calculator

Text = Optional[str]
TRAIN_PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8", "fp4")

# Defaults, each with the evidence behind it (listed under every result as an assumption).
MFU = 0.40  # Llama 3 405B on 16K H100 BF16: 38-43 % (arXiv 2407.21783 Table 4); PaLM 46.2 % on TPU v4.
MFU_NOTE = "published: Llama 3 405B 38-43% on H100 BF16, PaLM 46.2% on TPU v4; typical 30-55%"
POWER_FRACTION, POWER_NOTE = site_defaults.LOAD_FRACTION, site_defaults.LOAD_EVIDENCE  # shared with cluster-power
PUE, PUE_NOTE = site_defaults.PUE, site_defaults.PUE_EVIDENCE
CARBON_G_PER_KWH, CARBON_NOTE = site_defaults.CARBON_G_PER_KWH, site_defaults.CARBON_EVIDENCE
# Llama 3 (arXiv 2407.21783, §3.3.4): 419 unexpected interruptions in 54 days on 16,384 H100.
LLAMA3_MTBF_GPU_HOURS = 16_384 * 54 * 24 / 419
SEQ_LEN = 8192  # Llama 3's main pretraining length; capped at the model's context (GPT-3 2,048, Llama 2 4,096).
CHINCHILLA_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022 (arXiv 2203.15556): D ≈ 20·N.

NEEDS_GPU = ("gpus", "target_days", "precision", "mfu", "price_per_gpu_hour", "pue", "carbon_intensity",
             "gpu_power_fraction", "system", "tp", "pp", "dp", "zero", "micro_batch", "recompute",
             "mtbf_gpu_hours", "checkpoint_time", "restart_time", "goodput")
ARCH = ("layers", "hidden_size", "heads")


@calculator("train-cost", help="FLOP, GPU-hours, days, cost, energy, memory fit and failures of a training run.",
            columns=["total_flop", "gpus_solved", "wall_clock_s", "gpu_hours", "cost_usd", "energy_wh",
                     "memory_per_gpu_bytes", "fits"])
def train_cost(
    catalog,
    model: Annotated[Text, typer.Option(help="Model id from the catalog, e.g. llama-3.1-405b.")] = None,
    params: Annotated[Text, typer.Option(help="Total parameters of a model not in the catalog, e.g. 70B.")] = None,
    active_params: Annotated[Text, typer.Option(help="... parameters active per token (MoE), e.g. 37B.")] = None,
    layers: Annotated[Text, typer.Option(help="... layers (for attention FLOP and activations).")] = None,
    hidden_size: Annotated[Text, typer.Option(help="... model width.")] = None,
    heads: Annotated[Text, typer.Option(help="... attention heads.")] = None,
    tokens: Annotated[Text, typer.Option(help="Training tokens, e.g. 15.6T (default: the model sheet's).")] = None,
    tokens_per_param: Annotated[Text, typer.Option(help="Tokens per active parameter instead: a number, or 'chinchilla' (20).")] = None,
    seq_len: Annotated[Text, typer.Option(help="Sequence length (default: 8k, capped at the model's context).")] = None,
    gpu: Annotated[Text, typer.Option(help="Accelerator id, e.g. h100-sxm (without it: FLOP only).")] = None,
    gpus: Annotated[Text, typer.Option(help="Accelerators in the run.")] = None,
    target_days: Annotated[Text, typer.Option(help="Solve for the GPU count that finishes in this time, e.g. 60 or 8w.")] = None,
    precision: Annotated[Text, typer.Option(help="Training precision whose DENSE peak is used: " + ", ".join(TRAIN_PRECISIONS) + " (default bf16).")] = None,
    mfu: Annotated[Text, typer.Option(help="Model FLOP utilisation (default 0.40).")] = None,
    price_per_gpu_hour: Annotated[Text, typer.Option(help="USD per GPU-hour (default: the sheet's dated price).")] = None,
    pue: Annotated[Text, typer.Option(help="Power usage effectiveness (default 1.58, industry average).")] = None,
    carbon_intensity: Annotated[Text, typer.Option(help="Grid g CO2 per kWh (default 481, world 2023).")] = None,
    gpu_power_fraction: Annotated[Text, typer.Option(help="Average draw / rated power (default 0.76).")] = None,
    system: Annotated[Text, typer.Option(help="System sheet for host power, e.g. dgx-h100.")] = None,
    tp: Annotated[Text, typer.Option(help="Tensor-parallel size (default: the smallest tp×pp that fits; 1 if --pp or --dp is given).")] = None,
    pp: Annotated[Text, typer.Option(help="Pipeline-parallel stages (default: the smallest tp×pp that fits; 1 if --tp or --dp is given).")] = None,
    dp: Annotated[Text, typer.Option(help="Data-parallel size (default: gpus / (tp·pp)).")] = None,
    zero: Annotated[Text, typer.Option(help="ZeRO stage 0-3 (default 1: optimizer sharded).")] = None,
    micro_batch: Annotated[Text, typer.Option(help="Sequences per micro-batch (default 1).")] = None,
    recompute: Annotated[Text, typer.Option(help="Activation recomputation: none, selective or full (default selective).")] = None,
    mtbf_gpu_hours: Annotated[Text, typer.Option(help="Mean GPU-hours between interruptions per accelerator (default with --checkpoint-time: Llama 3's 50,678).")] = None,
    checkpoint_time: Annotated[Text, typer.Option(help="Time to write a checkpoint, e.g. 60s: turns on the failure model.")] = None,
    restart_time: Annotated[Text, typer.Option(help="Time to restart after a failure, e.g. 10min (default 0).")] = None,
    goodput: Annotated[Text, typer.Option(help="Share of wall-clock that makes progress, given directly, e.g. 0.9.")] = None,
) -> Point:
    opts = dict(locals())
    shape, inputs, notes, model_sheet = _shape(catalog, opts)
    tokens_n = _tokens(opts, shape, model_sheet, notes)
    seq = _seq_len(opts["seq_len"], model_sheet, notes)
    inputs.update({"tokens": tokens_n, "seq_len": seq})
    if opts["gpu"] is None:
        given = [n for n in NEEDS_GPU if opts[n] is not None]
        if given:
            raise InputError(f"--{_flag(given[0])}: give --gpu too; without it only the FLOP are computed")
        notes.assumptions.append("FLOP only: give --gpu and --gpus for time, cost, energy and memory")
        result = compute(shape, tokens_n, seq)
        return _point(inputs, result, notes)
    device, cluster, memory, power, failures = _run(catalog, opts, shape, inputs, notes)
    result = compute(shape, tokens_n, seq, device, cluster, memory, power, failures)
    return _point(inputs, result, notes)


class _Notes:
    def __init__(self):
        self.assumptions: list[str] = []
        self.warnings: list[str] = []


def _point(inputs: dict, result, notes: _Notes) -> Point:
    return Point(inputs, result_values(result), notes.assumptions + list(result.assumptions),
                 notes.warnings + list(result.warnings), list(result.steps))


def _flag(name: str) -> str:
    return name.replace("_", "-")


# ---- model and data ------------------------------------------------------------------------

def _shape(catalog, opts: dict):
    notes = _Notes()
    custom = [n for n in ("params", "active_params", *ARCH) if opts[n] is not None]
    if opts["model"]:
        if custom:
            raise InputError(f"--{_flag(custom[0])}: give either --model or --params and the architecture, not both")
        m = catalog.get("model", opts["model"])
        shape = Shape(m.params_total, m.params_active, m.layers, m.hidden_size, m.heads, m.head_dim)
        inputs = {"model": m.id, "params_total": m.params_total, "params_active": m.params_active,
                  "layers": m.layers, "hidden_size": m.hidden_size, "heads": m.heads, "head_dim": m.head_dim}
        return shape, inputs, notes, m
    if opts["params"] is None:
        raise InputError("--model: give a model id (e.g. llama-3.1-405b) or --params for a model not in the catalog")
    return _custom_shape(opts) + (notes, None)


def _custom_shape(opts: dict):
    total = units.positive(opts["params"], "count", "--params")
    active = units.positive(opts["active_params"], "count", "--active-params") if opts["active_params"] else total
    if active > total:
        raise InputError("--active-params: more active parameters than --params in total")
    given = [n for n in ARCH if opts[n] is not None]
    if given and len(given) < len(ARCH):
        missing = next(n for n in ARCH if opts[n] is None)
        raise InputError(f"--{_flag(missing)}: the architecture needs --layers, --hidden-size and --heads together")
    arch = {n: units.integer(opts[n], f"--{_flag(n)}") for n in given}
    head_dim = None
    if arch:
        if arch["hidden_size"] % arch["heads"]:
            raise InputError(f"--heads: {arch['heads']} heads do not divide --hidden-size {arch['hidden_size']}")
        head_dim = arch["hidden_size"] // arch["heads"]
    shape = Shape(total, active, arch.get("layers"), arch.get("hidden_size"), arch.get("heads"), head_dim)
    inputs = {"model": None, "params_total": total, "params_active": active, "layers": shape.layers,
              "hidden_size": shape.hidden_size, "heads": shape.heads, "head_dim": head_dim}
    return shape, inputs


def _tokens(opts: dict, shape: Shape, sheet, notes: _Notes) -> float:
    if opts["tokens"] is not None and opts["tokens_per_param"] is not None:
        raise InputError("--tokens-per-param: give either --tokens or --tokens-per-param, not both")
    if opts["tokens"] is not None:
        return units.positive(opts["tokens"], "count", "--tokens")
    if opts["tokens_per_param"] is not None:
        text = opts["tokens_per_param"].strip().lower()
        ratio = CHINCHILLA_TOKENS_PER_PARAM if text == "chinchilla" else \
            units.positive(text, "count", "--tokens-per-param")
        notes.assumptions.append(f"tokens = {ratio:g} per active parameter"
                                 + (" (Chinchilla, Hoffmann et al. 2022)" if text == "chinchilla" else ""))
        return ratio * shape.params_active
    if sheet is not None and sheet.training_tokens:
        notes.assumptions.append(f"tokens {human_count(sheet.training_tokens)} from the {sheet.id} sheet "
                                 "(its published training run)")
        return sheet.training_tokens
    raise InputError("--tokens: give the training tokens, e.g. --tokens 15.6T, or --tokens-per-param chinchilla")


def _seq_len(text: str | None, sheet, notes: _Notes) -> int:
    context = sheet.max_context if sheet is not None else None
    if text is not None:
        seq = units.integer(text, "--seq-len")
        if context and seq > context:
            notes.warnings.append(f"sequence length {seq:,} exceeds the model's context of {context:,}")
        return seq
    seq = min(SEQ_LEN, context) if context else SEQ_LEN
    notes.assumptions.append(f"sequence length {seq:,} (default: Llama 3's 8,192 pretraining length, "
                             "capped at the model's context)")
    return seq


# ---- hardware, parallelism, energy, failures -----------------------------------------------

def _run(catalog, opts: dict, shape: Shape, inputs: dict, notes: _Notes):
    accelerator = catalog.get("accelerator", opts["gpu"])
    prec = parse_precision(opts["precision"] or "bf16", "--precision", TRAIN_PRECISIONS)
    peak = accelerator_precision(accelerator, prec, "--precision")
    mfu = _default(opts["mfu"], MFU, lambda t: units.fraction(t, "--mfu"))
    notes.assumptions.append(f"MFU {mfu:.0%} of the dense {prec} peak" + (" (default)" if opts["mfu"] is None else "")
                             + f"; {MFU_NOTE}")
    if prec in ("fp8", "fp4") and opts["mfu"] is None:
        notes.warnings.append(f"the default MFU comes from BF16 runs; {prec} runs report lower MFU against "
                              f"the {prec} peak: give --mfu")
    price = _price(opts["price_per_gpu_hour"], accelerator, notes)
    device = Device(accelerator.id, peak, accelerator.memory_bytes, accelerator.tdp_w, price,
                    accelerator.scale_up_domain)
    memory = _memory(opts, prec)
    cluster = _layout(opts, shape, inputs, device, _cluster(opts, shape, mfu), memory, notes)
    power, power_inputs = _power(catalog, opts, accelerator, notes)
    failures, failure_inputs = _failures(opts, notes)
    inputs.update({"gpu": accelerator.id, "precision": prec, "peak_flop_per_s": peak,
                   "memory_bytes_per_gpu": accelerator.memory_bytes, "tdp_w": accelerator.tdp_w,
                   **_parallel_inputs(cluster), "mfu": mfu, "price_usd_per_hour": price, **power_inputs,
                   "zero": memory.zero, "recompute": memory.recompute, "micro_batch": memory.micro_batch,
                   **failure_inputs})
    return device, cluster, memory, power, failures


def _default(text: str | None, default, parse):
    return default if text is None else parse(text)


def _price(text: str | None, accelerator, notes: _Notes) -> float | None:
    if text is not None:
        return units.positive(text, "usd_per_hour", "--price-per-gpu-hour")
    if accelerator.price_usd_per_hour is not None:
        notes.assumptions.append(f"price ${accelerator.price_usd_per_hour:,.2f} per GPU-hour: the {accelerator.id} "
                                 f"sheet's typical on-demand price as of {accelerator.price_as_of} (prices move; "
                                 "give --price-per-gpu-hour)")
    return accelerator.price_usd_per_hour


def _cluster(opts: dict, shape: Shape, mfu: float) -> Cluster:
    tp = optional_int(opts["tp"], "--tp") or 1
    pp = optional_int(opts["pp"], "--pp") or 1
    dp = optional_int(opts["dp"], "--dp")
    if shape.layers is not None and pp > shape.layers:
        raise InputError(f"--pp: {pp} pipeline stages but the model has {shape.layers} layers")
    if opts["target_days"] is not None:
        for name in ("gpus", "dp"):
            if opts[name] is not None:
                raise InputError(f"--{name}: give either --target-days (to solve for the GPU count) or --{name}")
        target = units.positive(_days(opts["target_days"]), "seconds", "--target-days")
        return Cluster(mfu, None, target, tp, pp)
    return Cluster(mfu, _gpu_count(opts["gpus"], tp, pp, dp), None, tp, pp)


def _layout(opts: dict, shape: Shape, inputs: dict, device: Device, cluster: Cluster, memory: Memory,
            notes: _Notes) -> Cluster:
    """Without --tp, --pp and --dp: the smallest tp×pp that fits in memory (else tp 1 · pp 1 and a warning)."""
    if any(opts[n] is not None for n in ("tp", "pp", "dp")):
        return cluster
    layout = default_layout(shape, inputs["tokens"], inputs["seq_len"], device, cluster, memory)
    if layout is None:
        return cluster
    tp, pp = layout
    notes.assumptions.append(f"tp {tp} · pp {pp}: the smallest tensor×pipeline layout that fits (powers of two, "
                             f"tp ≤ {min(8, device.scale_up_domain)}; give --tp/--pp to set your own)")
    return replace(cluster, tp=tp, pp=pp)


def _parallel_inputs(cluster: Cluster) -> dict:
    if cluster.gpus is None:
        return {"gpus": None, "target_wall_clock_s": cluster.target_s, "tp": cluster.tp, "pp": cluster.pp,
                "dp": None}
    return {"gpus": cluster.gpus, "tp": cluster.tp, "pp": cluster.pp, "dp": cluster.gpus // (cluster.tp * cluster.pp)}


def _days(text: str) -> str:
    """A bare number of --target-days is days; a unit (8w, 1440h) is read as given."""
    try:
        number, unit = units.split_number(text)
    except ValueError:
        return text
    return f"{number!r}d" if unit == "" else text


def _gpu_count(text: str | None, tp: int, pp: int, dp: int | None) -> int:
    if text is None:
        if dp is None:
            raise InputError("--gpus: give the accelerator count, or --target-days to solve for it")
        return tp * pp * dp
    gpus = units.integer(text, "--gpus")
    if tp * pp > gpus:
        raise InputError(f"--tp/--pp: tp·pp = {tp * pp} ranks but only {gpus} GPUs")
    if gpus % (tp * pp):
        raise InputError(f"--gpus: {gpus} GPUs do not split into tp·pp groups of {tp * pp}")
    if dp is not None and tp * pp * dp != gpus:
        raise InputError(f"--dp: tp·pp·dp = {tp * pp * dp}, not the {gpus} GPUs given")
    return gpus


def _memory(opts: dict, prec: str) -> Memory:
    zero = _default(opts["zero"], 1, lambda t: units.integer(t, "--zero", minimum=0))
    if zero > 3:
        raise InputError(f"--zero: stages are 0, 1, 2 or 3, got {opts['zero']!r}")
    recompute = (opts["recompute"] or "selective").strip().lower()
    if recompute not in RECOMPUTE:
        raise InputError(f"--recompute: expected one of {', '.join(RECOMPUTE)}, got {opts['recompute']!r}")
    micro_batch = optional_int(opts["micro_batch"], "--micro-batch") or 1
    return Memory(prec, zero, recompute, micro_batch)


def _power(catalog, opts: dict, accelerator, notes: _Notes) -> tuple[Power, dict]:
    fraction = _default(opts["gpu_power_fraction"], POWER_FRACTION, lambda t: units.fraction(t, "--gpu-power-fraction"))
    pue = _default(opts["pue"], PUE, lambda t: units.positive(t, "count", "--pue"))
    if pue < 1:
        raise InputError(f"--pue: facility power cannot be below IT power; PUE is at least 1, got {opts['pue']!r}")
    carbon = _default(opts["carbon_intensity"], CARBON_G_PER_KWH,
                      lambda t: units.non_negative(t, "g_per_kwh", "--carbon-intensity"))
    notes.assumptions.append(f"average draw {fraction:.0%} of rated power"
                             + (f" (default; {POWER_NOTE})" if opts["gpu_power_fraction"] is None else ""))
    notes.assumptions.append(f"PUE {pue:g}" + (f" (default; {PUE_NOTE})" if opts["pue"] is None else ""))
    notes.assumptions.append(f"grid {carbon:g} g CO2/kWh"
                             + (f" (default; {CARBON_NOTE})" if opts["carbon_intensity"] is None else ""))
    inputs = {"gpu_power_fraction": fraction, "pue": pue, "carbon_intensity_g_per_kwh": carbon}
    if opts["system"] is None:
        return Power(fraction, pue, carbon), inputs
    sheet = catalog.get("system", opts["system"])
    if sheet.accelerator != accelerator.id:
        raise InputError(f"--system: {sheet.id} holds {sheet.accelerator}, not {accelerator.id}")
    inputs.update({"system": sheet.id, "system_max_w": sheet.max_power_w})
    notes.assumptions.append(f"host power from {sheet.id}'s rated maximum, scaled by the same draw fraction")
    return Power(fraction, pue, carbon, sheet.max_power_w, sheet.accelerators), inputs


def _failures(opts: dict, notes: _Notes) -> tuple[Failures, dict]:
    model_flags = [n for n in ("mtbf_gpu_hours", "checkpoint_time", "restart_time") if opts[n] is not None]
    if opts["goodput"] is not None:
        if model_flags:
            raise InputError(f"--{_flag(model_flags[0])}: give either --goodput or the failure model, not both")
        goodput = units.fraction(opts["goodput"], "--goodput")
        notes.assumptions.append(f"goodput {goodput:.0%} given: wall-clock with failures = in-run time / goodput")
        return Failures(goodput=goodput), {"goodput": goodput}
    if not model_flags:
        return Failures(), {}
    if opts["checkpoint_time"] is None:
        raise InputError("--checkpoint-time: the failure model needs the time to write a checkpoint, e.g. 60s")
    checkpoint = units.positive(opts["checkpoint_time"], "seconds", "--checkpoint-time")
    restart = units.non_negative(opts["restart_time"] or "0", "seconds", "--restart-time")
    mtbf = _default(opts["mtbf_gpu_hours"], LLAMA3_MTBF_GPU_HOURS,
                    lambda t: units.positive(t, "count", "--mtbf-gpu-hours"))
    if opts["mtbf_gpu_hours"] is None:
        notes.assumptions.append(f"MTBF {mtbf:,.0f} GPU-hours per accelerator (default: Llama 3, 419 unexpected "
                                 "interruptions in 54 days on 16,384 H100)")
    if opts["restart_time"] is None:
        notes.assumptions.append("restart time 0 (default): give --restart-time for relaunch and checkpoint load")
    return Failures(mtbf, checkpoint, restart), {"mtbf_gpu_hours": mtbf, "checkpoint_time_s": checkpoint,
                                                 "restart_time_s": restart}

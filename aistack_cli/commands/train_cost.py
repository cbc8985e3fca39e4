"""``aistack train-cost``: FLOP, time, money, energy, memory fit and failures of a training run."""

from __future__ import annotations

from dataclasses import replace

from aistack_cli.calc.common import result_values
from aistack_cli.calc.power import rack_power_peak_w
from aistack_cli.calc.training import (Cluster, Device, Failures, Memory, Power, Shape, default_layout,
                                       human_count, train_cost as compute)
from aistack_cli.commands import site
from aistack_cli.commands.common import ACTIVE_PARAMS, HEADS, HIDDEN_SIZE, LAYERS, PARAMS, accelerator_precision
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt

TRAIN_PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8", "fp4")
SEQ_LEN = 8192  # Llama 3's main pretraining length; capped at the model's context (GPT-3 2,048, Llama 2 4,096).
CHINCHILLA_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022 (arXiv 2203.15556): D ≈ 20·N.

# Energy and CO2: the same options, defaults and formula as cluster-power (commands/site.py, calc/power.py).
POWER_OPTIONS = [
    site.ACCOUNTING, site.SITE, site.COOLING, site.PUE, site.GRID, site.CARBON, site.CARBON_MARKET,
    site.LOAD._replace(help="Average draw as a fraction of rated power (default 0.76, measured in training).",
                       flags=("--gpu-power-fraction",)),
    Opt("system", "id", "System sheet for host and network power, e.g. dgx-h100 (default: the accelerator's only "
        "system sheet).", ids="system"),
    site.NETWORK,
]
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
    Opt("mfu", "fraction", "Model FLOP utilisation (default: the mfu-training default, 0.40).", lo=0, lo_open=True,
        hi=1),
    Opt("price_per_gpu_hour", "usd_per_hour", "USD per GPU-hour (default: the sheet's dated price).",
        field="price_usd_per_gpu_hour", lo=0, lo_open=True, hi=1e4),
    *POWER_OPTIONS,
    Opt("tp", "int", "Tensor-parallel size (default: the smallest tp×pp that fits; 1 if --pp or --dp is given).",
        lo=1, hi=1e5),
    Opt("pp", "int", "Pipeline-parallel stages (default: the smallest tp×pp that fits; 1 if --tp or --dp is given).",
        lo=1, hi=1e5),
    Opt("dp", "int", "Data-parallel size (default: gpus / (tp·pp)).", lo=1, hi=1e7),
    Opt("zero", "int", "ZeRO stage: 0, 1 (optimizer sharded), 2 or 3.", default=1, lo=0, hi=3),
    Opt("micro_batch", "int", "Sequences per micro-batch.", default=1, lo=1, hi=1e5),
    Opt("recompute", "word", "Activation recomputation.", default="selective", choices=("none", "selective", "full")),
    Opt("mtbf_gpu_hours", "count", "Mean GPU-hours between interruptions per accelerator (default with "
        "--checkpoint-time: Llama 3's 50,677).", lo=1, hi=1e9),
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
NEEDS_GPU = ("gpus", "target_days", "mfu", "price_per_gpu_hour", *(opt.name for opt in POWER_OPTIONS), "tp",
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
    notes.assumptions.append(accelerator.price_note())  # the price basis, or the prices the sheet has on others
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


_POWER_SETUPS: dict[tuple, tuple] = {}  # resolved once per distinct power options (sweeps)


def _power(catalog, o, accelerator, notes: _Notes) -> tuple[Power, dict]:
    """Energy inputs resolved exactly as cluster-power resolves them (commands/site.py), once per
    distinct set of power options."""
    key = (id(catalog), accelerator.id, *(getattr(o, opt.name) for opt in POWER_OPTIONS))
    hit = _POWER_SETUPS.get(key)
    if hit is None:
        if len(_POWER_SETUPS) > 1024:
            _POWER_SETUPS.clear()
        hit = _POWER_SETUPS[key] = (catalog, _resolve_power(catalog, o, accelerator))  # keeps the id unique
    power, inputs, assumptions, warnings = hit[1]
    notes.assumptions += assumptions
    notes.warnings += warnings
    return power, dict(inputs)


def _resolve_power(catalog, o, accelerator) -> tuple:
    spec, system_inputs, system_notes, warnings = site.system(catalog, accelerator.id, o.system, required=False)
    fabric, net_inputs, net_notes, net_warnings = site.fabric(catalog, o.network, None, system_inputs, required=False)
    power_notes: list[str] = []
    if o.accounting == "tdp" and o.load is not None:
        raise InputError("--load: tdp accounting counts accelerators at their rated power all the time; "
                         "use --accounting metered to set a load")
    load = None if o.accounting == "tdp" else site.load_fraction(catalog, o.load, "training", accelerator.id,
                                                                 power_notes)
    if spec is None:  # no power figure for the accelerator: calc.training warns that energy is not computed
        chosen = o.cooling or "air"
    else:
        limit = None if spec.systems_per_rack is not None else catalog.get("default", "rack-power-limit").value
        chosen = site.cooling(catalog, o.cooling, rack_power_peak_w(spec, limit), power_notes)
    region = site.grid_region(catalog, o.grid)
    figures = site.site_figures(catalog, o, o.site, chosen, region, power_notes)
    if o.accounting == "metered":
        power_notes += system_notes + net_notes
    power = Power(load if load is not None else 1.0, figures["pue"], figures["carbon_intensity_g_per_kwh"],
                  accounting=o.accounting, carbon_market_g_per_kwh=figures["carbon_market_g_per_kwh"], system=spec,
                  fabric=fabric)
    inputs = {"accounting": o.accounting, "load_fraction": load, "site": o.site, "cooling": chosen, "grid": region,
              **figures, "system": system_inputs["system"], "system_max_power_w": system_inputs["system_max_power_w"],
              "network": net_inputs["network"]}
    return power, inputs, tuple(power_notes), (*warnings, *net_warnings)


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

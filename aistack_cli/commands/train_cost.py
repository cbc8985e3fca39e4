"""``aistack train-cost``: FLOP, step time from the layout, time, money, energy, memory and failures."""

from __future__ import annotations

import sys
import time
import weakref
from dataclasses import replace

from aistack_cli.calc.collectives import Efficiency, Fabric, Tier
from aistack_cli.calc.common import result_values
from aistack_cli.calc.hardware import Chip
from aistack_cli.calc.layout import RECOMPUTE, Layout, Space, transformer
from aistack_cli.calc.power import rack_power_peak_w
from aistack_cli.calc.step import RANK_KEYS, Network, search
from aistack_cli.calc.training import (Cluster, Device, Failures, Power, Shape, global_batch, human_count,
                                       step_model, total_flop, train_cost as compute)
from aistack_cli.commands import site
from aistack_cli.commands import tco as chain
from aistack_cli.commands.common import (ACTIVE_PARAMS, HEAD_DIM, HEADS, HIDDEN_SIZE, KV_HEADS, LAYERS, PARAMS,
                                         accelerator_precision)
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt

TRAIN_PRECISIONS = ("fp32", "tf32", "bf16", "fp16", "fp8", "fp4")
SEQ_LEN = 8192  # Llama 3's main pretraining length; capped at the model's context (GPT-3 2,048, Llama 2 4,096).
CHINCHILLA_TOKENS_PER_PARAM = 20.0  # Hoffmann et al. 2022 (arXiv 2203.15556): D ≈ 20·N.
TOP = 10  # layouts --search shows
# Accelerator family by the generation of its scale-up link: the efficiency data is keyed by family.
FAMILIES = (("nvlink-3", "ampere"), ("nvlink-4", "hopper"), ("nvlink-5", "blackwell"), ("ici-", "tpu"),
            ("infinity-fabric", "cdna"), ("gaudi", "gaudi"), ("neuronlink", "trainium"))
MESH_FAMILIES = ("infinity-fabric", "gaudi-roce")  # switchless meshes: a subgroup reaches only its own links
SEARCH_COLUMNS = ["layout", "step_time_s", "mfu", "memory_used_bytes_per_gpu", "limiting_term"]

# Energy and CO2: the same options, defaults and formula as cluster-power (commands/site.py, calc/power.py).
POWER_OPTIONS = [
    site.ACCOUNTING, site.SITE, site.COOLING, site.PUE, site.GRID, site.CARBON, site.CARBON_MARKET,
    site.LOAD._replace(help="Average draw as a fraction of rated power (default: measured in training).",
                       flags=("--gpu-power-fraction",)),
    site.NETWORK._replace(help="Scale-out fabric counted in the energy (--network none leaves it out)."),
]
OPTIONS = [
    Opt("model", "id", "Model id from the catalog, e.g. llama-3.1-405b.", ids="model"),
    PARAMS, ACTIVE_PARAMS, LAYERS, HIDDEN_SIZE, HEADS, KV_HEADS, HEAD_DIM,
    Opt("ffn_size", "int", "MLP width (dense layers).", lo=1, hi=1e7),
    Opt("vocab_size", "int", "Vocabulary size.", lo=1, hi=1e8),
    Opt("experts", "int", "Routed experts per MoE layer.", lo=1, hi=1e5),
    Opt("experts_active", "int", "Routed experts chosen per token.", lo=1, hi=1e5),
    Opt("shared_experts", "int", "Shared experts every token uses.", lo=0, hi=1e3),
    Opt("expert_ffn_size", "int", "Width of one expert's MLP.", lo=1, hi=1e7),
    Opt("moe_layers", "int", "Layers with experts (default: every layer when --experts is given).", lo=0, hi=1e4),
    Opt("tokens", "count", "Training tokens, e.g. 15.6T (default: the model sheet's).", lo=1, hi=1e18),
    Opt("tokens_per_param", "text", "Tokens per active parameter instead: a number, or 'chinchilla' (20)."),
    Opt("seq_len", "int", "Sequence length (default: 8k, capped at the model's context).", lo=1, hi=1e8),
    Opt("gpu", "id", "Accelerator id, e.g. h100-sxm (without it: FLOP only).", ids="accelerator"),
    Opt("gpus", "int", "Accelerators in the run.", lo=1, hi=1e7),
    Opt("target_days", "days", "Solve for the GPU count that finishes in this time, e.g. 60 (days), 8w or 3mo.",
        field="target_wall_clock_s", lo=3600, hi=3.2e8),
    Opt("precision", "word", "Training precision: the GEMMs run at its dense peak (attention stays 16-bit).",
        default="bf16", choices=TRAIN_PRECISIONS),
    Opt("global_batch", "count", "Sequences per optimizer step (default: the batch rule, see README).", lo=1,
        hi=1e9),
    Opt("global_batch_tokens", "count", "Tokens per optimizer step instead, e.g. 16M (a whole number of sequences).",
        lo=1, hi=1e13),
    Opt("tp", "int", "Tensor-parallel size (any layout flag fixes the layout, the others default to 1; none: search).",
        lo=1, hi=1e5),
    Opt("pp", "int", "Pipeline-parallel stages.", lo=1, hi=1e5),
    Opt("dp", "int", "Data-parallel size (default: gpus / (tp·pp·cp)).", lo=1, hi=1e7),
    Opt("cp", "int", "Context-parallel size (the sequence split over ranks).", lo=1, hi=1e5),
    Opt("ep", "int", "Expert-parallel size (MoE: experts spread over ranks of tp·cp·dp).", lo=1, hi=1e5),
    Opt("vpp", "int", "Virtual pipeline stages per rank (interleaved 1F1B).", lo=1, hi=1e3),
    Opt("micro_batch", "int", "Sequences per micro-batch (default: 1 with a layout, searched without).", lo=1,
        hi=1e5),
    Opt("zero", "int", "ZeRO stage: 0, 1 (optimizer sharded), 2 or 3 (default: 1 with a layout, searched without).",
        lo=0, hi=3),
    Opt("recompute", "word", "Activation recomputation (default: the least that fits with a layout, searched "
        "without).",
        choices=RECOMPUTE),
    Opt("capacity_factor", "ratio", "MoE expert capacity factor: routed tokens are padded or imbalanced by it.",
        default=1.0, lo=1, hi=8),
    Opt("tp_overlap", "flag", "Tensor-parallel collectives overlapped with the GEMMs they feed (Megatron "
        "--tp-comm-overlap, TorchTitan AsyncTP)."),
    Opt("search", "flag", "Rank the layouts that fit and show the best 10 with their limiting terms."),
    Opt("rank_by", "word", "What --search ranks by.", default="time", choices=RANK_KEYS),
    Opt("mfu", "fraction", "Model FLOP utilisation given: the step is not modelled, time = C / (n · peak · MFU).",
        field="mfu_given",
        lo=0, lo_open=True, hi=1),
    Opt("price_per_gpu_hour", "usd_per_hour", "USD per GPU-hour (default: the sheet's dated price).",
        field="price_usd_per_gpu_hour", lo=0, lo_open=True, hi=1e4),
    *POWER_OPTIONS,
    Opt("system", "id", "System sheet for host power and the network, e.g. dgx-h100 (default: the accelerator's "
        "system sheet).", ids="system"),
    Opt("inter", "id", "Scale-out interconnect of the step model's network, e.g. ib-hdr or roce-400g (default: the "
        "system's).", ids="interconnect"),
    Opt("nics_per_node", "int", "Scale-out NICs per scale-up domain (default: the system's, else one per GPU).",
        flags=("--nics-per-domain",), field="nics_per_domain", lo=1, hi=1e5),
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
    "aistack train-cost --model llama-3.1-405b --tokens 15.6T --gpu h100-sxm --gpus 16384 --search",
    "aistack train-cost --model gpt-3-175b --tokens 300B --gpu a100-80gb --gpus 1024 --tp 8 --pp 8 --global-batch 1536",
    "aistack train-cost --model llama-3.1-70b --tokens 15T --gpu h100-sxm --target-days 30",
)
OPTIONS += chain.chain_options(OPTIONS)  # --cost-basis own and the tco options (issue 18)
NEEDS_GPU = ("gpus", "target_days", "mfu", "price_per_gpu_hour", *(opt.name for opt in POWER_OPTIONS), "system",
             "tp", "pp", "dp", "cp", "ep", "vpp", "zero", "micro_batch", "recompute", "mtbf_gpu_hours", "checkpoint_time",
             "restart_time", "goodput", "global_batch", "global_batch_tokens", "search", "capacity_factor")
ARCH = ("layers", "hidden_size", "heads")
MORE_ARCH = ("kv_heads", "head_dim", "ffn_size", "vocab_size", "experts", "experts_active", "shared_experts",
             "expert_ffn_size", "moe_layers")
LAYOUT = ("tp", "pp", "dp", "cp", "ep", "vpp")


_SHEETS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


def _sheet(catalog, kind: str, wanted: str):
    """``catalog.get`` remembered for the run (a sweep asks for the same sheets at every point)."""
    memo = _SHEETS.setdefault(catalog, {})
    key = (kind, wanted)
    if key not in memo:
        memo[key] = catalog.get(kind, wanted)
    return memo[key]


class _Notes:
    def __init__(self) -> None:
        self.assumptions: list[str] = []
        self.warnings: list[str] = []


@calculator("train-cost", help="FLOP, step time from the layout, GPU-hours, days, cost, energy, memory fit and "
                               "failures of a training run; --search ranks the layouts.",
            options=OPTIONS, examples=EXAMPLES,
            columns=["total_flop", "gpus_solved", "step_time_s", "mfu", "wall_clock_s", "gpu_hours", "cost_usd",
                     "energy_wh", "memory_used_bytes_per_gpu", "fits"],
            alt_columns={"search": SEARCH_COLUMNS},
            pin={"tensor_parallel": "tp", "pipeline_parallel": "pp", "data_parallel": "dp", "context_parallel": "cp",
                 "expert_parallel": "ep", "virtual_stages": "vpp", "micro_batch_size": "micro_batch",
                 "zero_stage": "zero", "recompute_policy": "recompute", "step_sequences": "global_batch"})
def train_cost(catalog, o):
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
    device, cluster, power, failures = _run(catalog, o, shape, inputs, seq, tokens, notes)
    if o.search:
        return _search_rows(o, shape, tokens, seq, device, cluster, power, failures, inputs, notes)
    return _point(inputs, compute(shape, tokens, seq, device, cluster, power, failures), notes)


def _point(inputs: dict, result, notes: _Notes, extra: dict | None = None) -> Point:
    values = result_values(result)
    if extra:
        values.update(extra)
    return chain.with_chain(Point(dict(inputs), values, notes.assumptions + list(result.assumptions),
                                  notes.warnings + list(result.warnings), list(result.steps)),
                            getattr(notes, "owned", None), "run")


# ---- model and data ------------------------------------------------------------------------

def _shape(catalog, o, notes: _Notes):
    if o.model:
        return _sheet_shape(catalog, o, notes)
    if o.params is None:
        raise InputError("--model: give a model id (e.g. llama-3.1-405b) or --params for a model not in the catalog")
    return (*_custom_shape(o, notes), None)


def _given(o, name, default):
    value = getattr(o, name)
    return default if value is None else value


def _sheet_shape(catalog, o, notes: _Notes):
    """The sheet's model; architecture options given beside --model replace its figures (what-ifs,
    and saved outputs read back through --config)."""
    m = _sheet(catalog, "model", o.model)
    sheet = {"params": m.params_total, "active_params": m.params_active, "layers": m.layers,
             "hidden_size": m.hidden_size, "heads": m.heads, "kv_heads": m.kv_heads, "head_dim": m.head_dim,
             "ffn_size": m.ffn_size, "vocab_size": m.vocab_size, "experts": m.experts_routed or None,
             "experts_active": m.experts_active or None, "shared_experts": m.experts_shared,
             "expert_ffn_size": m.expert_ffn_size or None, "moe_layers": m.moe_layers or None}
    values = {}
    for name, value in sheet.items():
        given = getattr(o, name)
        if given is not None and given != value and o.given(name):
            notes.assumptions.append(f"{name.replace('_', ' ')} {given:,} given, replacing the {m.id} sheet's "
                                     f"{value if value is None else format(value, ',')}")
            value = given
        values[name] = value
    rope = m.qk_rope_head_dim if m.attention == "mla" else None
    return (*_build_shape(values, m.id, notes, rope), m)


def _custom_shape(o, notes: _Notes):
    values = {name: getattr(o, name) for name in ("params", "active_params", *ARCH, *MORE_ARCH)}
    values["active_params"] = values["active_params"] or values["params"]
    if values["active_params"] > values["params"]:
        raise InputError("--active-params: more active parameters than --params in total")
    given = [n for n in ARCH if values[n] is not None]
    if given and len(given) < len(ARCH):
        missing = next(n for n in ARCH if values[n] is None)
        raise InputError(f"--{missing.replace('_', '-')}: the architecture needs --layers, --hidden-size and "
                         "--heads together")
    if not given:
        extra = [n for n in MORE_ARCH if values[n] is not None]
        if extra:
            raise InputError(f"--{extra[0].replace('_', '-')}: give --layers, --hidden-size and --heads too")
        shape = Shape(values["params"], values["active_params"])
        return shape, _shape_inputs(None, shape, values)
    if values["head_dim"] is None:
        if values["hidden_size"] % values["heads"]:
            raise InputError(f"--heads: {values['heads']} heads do not divide --hidden-size {values['hidden_size']}; "
                             "give --head-dim")
        values["head_dim"] = values["hidden_size"] // values["heads"]
    return _build_shape(values, None, notes, None)


def _build_shape(values: dict, model_id, notes: _Notes, rope):
    layers, heads = values["layers"], values["heads"]
    kv = values["kv_heads"] or heads
    if heads % kv:
        raise InputError(f"--kv-heads: {kv} key/value heads do not divide {heads} heads")
    experts = values["experts"] or 0
    if experts:
        if not values["expert_ffn_size"] or not values["experts_active"]:
            raise InputError("--experts: a mixture of experts needs --experts-active and --expert-ffn-size too")
        if values["experts_active"] > experts:
            raise InputError(f"--experts-active: {values['experts_active']} chosen of only {experts} experts")
    moe_layers = (values["moe_layers"] if values["moe_layers"] is not None else layers) if experts else 0
    if moe_layers > layers:
        raise InputError(f"--moe-layers: {moe_layers} MoE layers of only {layers}")
    arch, arch_notes = transformer(
        layers, values["hidden_size"], heads, kv, values["head_dim"], values["ffn_size"], values["vocab_size"],
        values["params"], values["active_params"], experts=experts, experts_active=values["experts_active"] or 0,
        experts_shared=values["shared_experts"] or 0, moe_layers=moe_layers,
        expert_ffn=values["expert_ffn_size"] or 0, mla_rope_dim=rope)
    notes.assumptions += arch_notes
    shape = Shape(values["params"], values["active_params"], layers, values["hidden_size"], heads,
                  values["head_dim"], arch)
    return shape, _shape_inputs(model_id, shape, values)


def _shape_inputs(model_id, shape: Shape, values: dict) -> dict:
    arch = shape.arch
    return {"model": model_id, "params_total": shape.params_total, "params_active": shape.params_active,
            "layers": shape.layers, "hidden_size": shape.hidden_size, "heads": shape.heads,
            "head_dim": shape.head_dim, "kv_heads": arch.kv_heads if arch else None,
            "ffn_size": arch.ffn if arch else None, "vocab_size": arch.vocab if arch else None,
            "experts": arch.experts or None if arch else None,
            "experts_active": arch.experts_active or None if arch else None,
            "shared_experts": arch.experts_shared if arch and arch.experts else None,
            "expert_ffn_size": arch.expert_ffn or None if arch else None,
            "moe_layers": arch.moe_layers or None if arch else None}


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


# ---- hardware, layout, network -------------------------------------------------------------

def _run(catalog, o, shape: Shape, inputs: dict, seq: int, tokens: float, notes: _Notes):
    accelerator = _sheet(catalog, "accelerator", o.gpu)
    peak = accelerator_precision(accelerator, o.precision, "--precision")
    price = _cost_basis(catalog, o, accelerator, notes)
    chip, reserve, efficiency_inputs = _chip(catalog, accelerator, o.precision, notes)
    device = Device(accelerator.id, peak, accelerator.memory_bytes, accelerator.tdp_w, price,
                    accelerator.scale_up_domain, chip, reserve)
    gpus = _gpu_count(o, shape)
    network, network_inputs = _network(catalog, accelerator, o.system, gpus or accelerator.scale_up_domain, notes,
                                       o.inter, o.nics_per_node)
    fallback = _sheet(catalog, "default", "mfu-training")
    batch = _batch(o, seq)
    layout, space = _layout(o, shape, device, gpus)
    fraction = _sheet(catalog, "default", "global-batch-fraction")
    cluster = Cluster(gpus, o.target_days, o.mfu, fallback.value, layout, space, batch, fraction.value,
                      (fraction.p10, fraction.p90), o.precision, network, o.capacity_factor,
                      tp_overlap=bool(o.tp_overlap))
    if shape.arch is None and o.mfu is None:
        notes.assumptions.append(fallback.note(f"MFU {fallback.value:.0%} of the dense {o.precision} peak"))
    if shape.arch is not None and shape.arch.experts:
        notes.assumptions.append(f"MoE: capacity factor {o.capacity_factor:g} on routed tokens, expert tensor "
                                 "parallelism 1, all-to-all dispatch and combine not overlapped")
    power, power_inputs = _power(catalog, o, accelerator, notes)
    failures, failure_inputs = _failures(catalog, o, notes)
    inputs.update({"gpu": accelerator.id, "precision": o.precision, "peak_flop_per_s": peak,
                   "gpu_memory_bytes": accelerator.memory_bytes, "gpu_tdp_w": accelerator.tdp_w, **efficiency_inputs,
                   **network_inputs, "gpus": gpus, "target_wall_clock_s": o.target_days,
                   "global_batch": None if o.global_batch is None else int(o.global_batch),
                   "global_batch_tokens": o.global_batch_tokens, **{n: getattr(o, n) for n in LAYOUT},
                   "micro_batch": o.micro_batch, "zero": o.zero, "recompute": o.recompute,
                   "capacity_factor": o.capacity_factor if shape.arch is not None and shape.arch.experts else None,
                   "tp_overlap": bool(o.tp_overlap), "search": bool(o.search),
                   "rank_by": o.rank_by if o.search else None, "mfu_given": o.mfu,
                   "price_usd_per_gpu_hour": price, **power_inputs, **failure_inputs})
    return device, cluster, power, failures


def family(accelerator) -> str:
    """The accelerator family its efficiency data is keyed by (by its scale-up link's generation)."""
    link = accelerator.scale_up_interconnect or ""
    return next((name for prefix, name in FAMILIES if link.startswith(prefix)), "generic")


def _efficiency(catalog, accelerator, precision: str):
    """The GEMM-efficiency sheet for an accelerator and precision class (fp8/fp4 → fp8; else bf16):
    the accelerator's own, else its family's, else the family's 16-bit one (a chip whose FP8 runs at
    the 16-bit rate), else generic."""
    wanted = "fp8" if precision in ("fp8", "fp4") else "bf16"
    name = family(accelerator)
    for sheet_id in (f"gemm-efficiency-{accelerator.id}-{wanted}", f"gemm-efficiency-{name}-{wanted}",
                     f"gemm-efficiency-{name}-bf16", f"gemm-efficiency-generic-{wanted}"):
        if sheet_id in catalog.sheets.get("default", {}):
            return _sheet(catalog, "default", sheet_id)
    return _sheet(catalog, "default", "gemm-efficiency-generic-bf16")


def _chip(catalog, accelerator, precision: str, notes: _Notes):
    """What the accelerator achieves: GEMMs at the precision's fraction, the output layer and
    attention at 16 bits, memory-bound kernels at the achieved bandwidth; the memory kept back."""
    gemm = _efficiency(catalog, accelerator, precision)
    wide_eff = _efficiency(catalog, accelerator, "bf16")
    wide_peak = accelerator.dense_flop_per_s.get("bf16") or accelerator.dense_flop_per_s[precision]
    attention = _sheet(catalog, "default", "attention-efficiency-ratio")
    hbm = _sheet(catalog, "default", "hbm-efficiency")
    reserve = _sheet(catalog, "default", "training-memory-reserve")
    peak = accelerator.dense_flop_per_s[precision]
    element = {"fp8": 1.0, "fp4": 0.5, "fp32": 4.0, "tf32": 4.0}.get(precision, 2.0)
    chip = Chip(peak * gemm.value, wide_peak * wide_eff.value, wide_peak * wide_eff.value * attention.value,
                accelerator.memory_bandwidth_bytes_per_s * hbm.value, element)
    notes.assumptions += [
        gemm.note(f"GEMMs at {gemm.value:.0%} of the dense {precision} peak ({gemm.id})"),
        attention.note(f"flash attention at {attention.value:g} x the 16-bit GEMM fraction, in 16 bits"),
        hbm.note(f"memory-bound kernels at {hbm.value:.0%} of {accelerator.memory_bandwidth_bytes_per_s / 1e12:.3g} "
                 "TB/s"),
        reserve.note(f"{reserve.value:.0%} of memory kept for framework buffers"),
    ]
    if precision == "fp4":
        notes.assumptions.append("FP4 GEMMs at the FP8 fraction of the FP4 peak: no measured FP4 training fraction")
    return chip, reserve.value * accelerator.memory_bytes, {
        "gemm_efficiency_fraction": gemm.value, "attention_efficiency_ratio": attention.value,
        "hbm_efficiency_fraction": hbm.value, "reserved_fraction": reserve.value}


def _network(catalog, accelerator, system_id: str | None, gpus: int, notes: _Notes, inter: str | None = None,
             nics_per_node: int | None = None):
    """The cluster's fabric from the accelerator, system and interconnect sheets: the accelerator's
    scale-up domain and link, and the system's NICs (by default the first system sheet built on
    this accelerator; else one 400 Gb/s InfiniBand NIC per GPU), or ``inter`` NICs at their own
    rate. The one place to switch to the collectives helper's Fabric builder."""
    system = _sheet(catalog, "system", system_id) if system_id else _default_system(catalog, accelerator.id)
    domain = system.scale_up_domain if system else accelerator.scale_up_domain
    up_id = accelerator.scale_up_interconnect or (system.scale_up_interconnect if system else None)
    up_sheet = _sheet(catalog, "interconnect", up_id) if up_id else None
    rates = [r for r in (accelerator.scale_up_bandwidth_bytes_per_s,
                         up_sheet.device_bandwidth_bytes_per_s if up_sheet else None) if r]
    up = Tier(up_id or "none", min(rates) if rates else 1e9, up_sheet.latency_s if up_sheet else 1e-5,
              bool(up_sheet and up_sheet.in_network_reduction))
    if inter is not None:
        out_sheet = _sheet(catalog, "interconnect", inter)
        nic_bw = out_sheet.device_bandwidth_bytes_per_s
        nics_per_gpu = system.nics / system.accelerators if system else 1.0
    elif system is not None:
        out_sheet = _sheet(catalog, "interconnect", system.network_interconnect)
        nic_bw, nics_per_gpu = system.nic_bandwidth_bytes_per_s, system.nics / system.accelerators
    else:
        out_sheet = _sheet(catalog, "interconnect", "ib-ndr")
        nic_bw, nics_per_gpu = out_sheet.device_bandwidth_bytes_per_s, 1.0
        notes.assumptions.append(f"network: no system sheet for {accelerator.id}; one {out_sheet.id} NIC per GPU "
                                 "(give --system, or --inter and --nics-per-node)")
    if nics_per_node is not None:
        nics_per_gpu = nics_per_node / domain
    out = Tier(out_sheet.id, nic_bw, out_sheet.latency_s, out_sheet.in_network_reduction)
    eff = Efficiency(*(_sheet(catalog, "default", d).value for d in
                       ("efficiency-scale-up", "efficiency-scale-out", "efficiency-in-network")))
    whole = max(gpus, domain) // domain * domain
    fabric = Fabric(whole, domain, up, out, nics_per_gpu * domain, eff)
    mesh = bool(up_sheet and up_sheet.family in MESH_FAMILIES)
    return Network(fabric, mesh), {"network_system": system.id if system else None, "scale_up_domain": domain,
                                   "inter": out_sheet.id, "nics_per_domain": nics_per_gpu * domain}


def _default_system(catalog, accelerator_id: str):
    """The first system sheet built on this accelerator (remembered for the run), or None."""
    memo = _SHEETS.setdefault(catalog, {})
    key = ("default-system", accelerator_id)
    if key not in memo:
        found = next((s for s in catalog.ids("system") if catalog.raw("system", s)["accelerator"] == accelerator_id),
                     None)
        memo[key] = _sheet(catalog, "system", found) if found else None
    return memo[key]


def _batch(o, seq: int) -> int | None:
    if o.global_batch is not None and o.global_batch_tokens is not None:
        raise InputError("--global-batch-tokens: give either --global-batch (sequences) or --global-batch-tokens")
    if o.global_batch_tokens is not None:
        sequences = o.global_batch_tokens / seq
        if abs(sequences - round(sequences)) > 1e-9 * sequences or round(sequences) < 1:
            raise InputError(f"--global-batch-tokens: {o.global_batch_tokens:,.0f} tokens is not a whole number of "
                             f"{seq:,}-token sequences")
        return int(round(sequences))
    return int(o.global_batch) if o.global_batch is not None else None


def _gpu_count(o, shape: Shape) -> int | None:
    if o.target_days is not None:
        for name in ("gpus", "dp"):
            if getattr(o, name) is not None:
                raise InputError(f"--{name}: give either --target-days (to solve for the GPU count) or --{name}")
        return None
    if o.gpus is not None:
        return o.gpus
    if o.dp is not None:
        return (o.tp or 1) * (o.pp or 1) * (o.cp or 1) * o.dp
    raise InputError("--gpus: give the accelerator count, or --target-days to solve for it")


def _layout(o, shape: Shape, device: Device, gpus: int | None):
    """A fixed layout when any of --tp --pp --dp --cp --ep --vpp is given (the rest 1, micro-batch
    1, ZeRO-1, and the least recompute that fits, unless given); otherwise the search space,
    narrowed by what is given."""
    arch = shape.arch
    if arch is not None and o.pp is not None and o.pp > arch.layers:
        raise InputError(f"--pp: {o.pp} pipeline stages but the model has {arch.layers} layers")
    if arch is None and any(getattr(o, n) is not None for n in ("cp", "ep", "vpp")):
        raise InputError("--cp: context, expert and virtual-pipeline layouts need the architecture (--model)")
    if not any(getattr(o, n) is not None for n in LAYOUT):
        if o.search and arch is None:
            raise InputError("--search: the layout search needs the architecture (--model, or --layers, "
                             "--hidden-size and --heads)")
        max_cp = 1 if o.seq_len is None or o.seq_len < 16_384 else 64
        return None, Space(max_tp=min(8, device.scale_up_domain), max_cp=max_cp, micro_batch=o.micro_batch,
                           zero=o.zero, recompute=o.recompute)
    tp, pp, cp, ep, vpp = (getattr(o, n) or 1 for n in ("tp", "pp", "cp", "ep", "vpp"))
    if o.search:
        raise InputError("--search: it chooses the layout; drop --tp/--pp/--dp/--cp/--ep/--vpp (or --search)")
    if arch is not None and ep > 1:
        if not arch.experts:
            raise InputError(f"--ep: {ep}-way expert parallelism but the model has no experts")
        if arch.experts % ep:
            raise InputError(f"--ep: {arch.experts} experts do not split over {ep} ranks")
    if vpp > 1 and pp < 2:
        raise InputError("--vpp: interleaving needs at least 2 pipeline stages (--pp)")
    if gpus is None:  # --target-days: dp is solved
        return Layout(tp, pp, 1, cp, ep, vpp, o.micro_batch or 1, _zero(o), o.recompute), None
    model = tp * pp * cp
    if model > gpus:
        raise InputError(f"--tp/--pp/--cp: tp·pp·cp = {model} ranks but only {gpus} GPUs")
    if gpus % model:
        raise InputError(f"--gpus: {gpus} GPUs do not split into tp·pp·cp groups of {model}")
    dp = gpus // model
    if o.dp is not None and o.dp != dp:
        raise InputError(f"--dp: tp·pp·cp·dp = {model * o.dp}, not the {gpus} GPUs given")
    if ep > 1 and (tp * cp * dp) % ep:
        raise InputError(f"--ep: {ep} expert ranks do not divide tp·cp·dp = {tp * cp * dp}")
    return Layout(tp, pp, dp, cp, ep, vpp, o.micro_batch or 1, _zero(o), o.recompute), None


def _zero(o) -> int:
    return 1 if o.zero is None else int(o.zero)


def _price(o, accelerator, notes: _Notes) -> float | None:
    if o.price_per_gpu_hour is not None:
        return o.price_per_gpu_hour
    notes.assumptions.append(accelerator.price_note())  # the price basis, or the prices the sheet has on others
    return accelerator.price_usd_per_hour


# ---- cost basis: the owner's GPU-hour, chained from wafer to run (issue 18; arithmetic in calc/tco.py) ------

def _cost_basis(catalog, o, accelerator, notes: _Notes) -> float | None:
    """The price of a GPU-hour the run is charged: rented (--price-per-gpu-hour or the sheet's), or owned
    (--cost-basis own: tco's cost of an owned GPU-hour for this cluster, its chain kept for the results)."""
    if o.cost_basis == "rent":
        return _price(o, accelerator, notes)
    if o.price_per_gpu_hour is not None:
        raise InputError("--price-per-gpu-hour: a rental price; --cost-basis own prices the GPU-hour from the tco "
                         "chain (give --cost-basis rent, or the tco options)")
    got = chain.owned(catalog, o, accelerator.id, o.system, o.gpus, "training", None)
    notes.owned = got  # its links join the point's results (_point)
    return got.rate_usd_per_gpu_hour


# ---- --search: the ranked layouts as rows ---------------------------------------------------

def _search_rows(o, shape, tokens, seq, device, cluster, power, failures, inputs, notes) -> list[Point]:
    if cluster.gpus is None:
        raise InputError("--search: give --gpus (with --target-days the best layout is chosen for the solved count)")
    flop = total_flop(shape.params_active, tokens)
    batch = global_batch(flop, seq, cluster, notes)
    model = step_model(shape, seq, device, cluster, cluster.gpus)
    found = search(model, cluster.gpus, batch, cluster.space, device.memory_bytes, device.reserve_bytes,
                   o.rank_by, keep=TOP, progress=_progress())
    _progress.done()
    if not found.ranked:
        if found.closest is None:
            raise InputError(f"--gpus: no layout of {cluster.gpus:,} GPUs runs the global batch of "
                             f"{batch.sequences:,.0f} sequences (give --global-batch)")
        c = found.closest
        notes.warnings.append(
            f"no layout fits: of {found.searched:,} searched, the closest is {c.layout.text()} at "
            f"{c.memory_bytes / 2**30:,.1f} GiB per GPU of {device.memory_bytes / 2**30:,.1f} GiB")
        ranked = [c]
    else:
        ranked = list(found.ranked)
    notes.assumptions.append(f"{found.searched:,} layouts searched, {found.fitting:,} fit; ranked by {o.rank_by}, "
                             "best first"
                             + (" (cost is time at a fixed GPU count)" if o.rank_by == "cost" else ""))
    rows = []
    for rank, candidate in enumerate(ranked, start=1):
        sequences = candidate.micro_batches * candidate.layout.dp * candidate.layout.micro_batch
        fixed = replace(cluster, layout=candidate.layout, global_batch=sequences)
        result = compute(shape, tokens, seq, device, fixed, power, failures)
        rows.append(_point(inputs, result, notes, {"rank": rank, "layout": candidate.layout.text(),
                                                   "layouts_searched": found.searched,
                                                   "layouts_fitting": found.fitting}))
    return rows


class _Progress:
    """A progress line on stderr for searches that outlast a second on a terminal."""

    def __init__(self):
        self.start = 0.0
        self.shown = False

    def __call__(self):
        self.start = time.perf_counter()
        self.shown = False
        tty = sys.stderr.isatty()

        def tick(done: int) -> None:
            if tty and time.perf_counter() - self.start > 1.0:
                sys.stderr.write(f"\rsearching layouts: {done:,} checked")
                sys.stderr.flush()
                self.shown = True

        return tick

    def done(self) -> None:
        if self.shown:
            sys.stderr.write("\r" + " " * 40 + "\r")
            sys.stderr.flush()


_progress = _Progress()


_POWER_SETUPS: dict[tuple, tuple] = {}  # resolved once per distinct power options (sweeps)


def _power(catalog, o, accelerator, notes: _Notes) -> tuple[Power, dict]:
    """Energy inputs resolved exactly as cluster-power resolves them (commands/site.py), once per
    distinct set of power options."""
    key = (id(catalog), accelerator.id, o.system, o.inter, *(getattr(o, opt.name) for opt in POWER_OPTIONS))
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
    fabric, net_inputs, net_notes, net_warnings = site.fabric(catalog, o.network, o.inter, system_inputs,
                                                              required=False)
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

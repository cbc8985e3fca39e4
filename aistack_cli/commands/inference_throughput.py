"""``aistack inference-throughput``: serving a model under load, and the planner's questions."""

from __future__ import annotations

import math
from functools import lru_cache

from aistack_cli.calc.common import BYTES_PER_ELEMENT, Step, fmt
from aistack_cli.calc.inference import (Deployment, Device, Disaggregation, Efficiency, Engine, Layout, Load,
                                        ModelShape, Scenario, Speculation, Targets, Working, Workload,
                                        layout_candidates, memory, plan, serve)
from aistack_cli.calc.kvcache import Attention, vllm_large_gpu
from aistack_cli.commands.common import (ACTIVE_PARAMS, HEAD_DIM, HEADS, HIDDEN_SIZE, KV_HEADS, LAYERS, PARAMS,
                                         accelerator_precision, model_overrides)
from aistack_cli.commands import tco as chain
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt

WEIGHT_DTYPES = ("bf16", "fp16", "fp8", "int8", "int4", "fp4")
KV_DTYPES = ("auto", "bf16", "fp16", "fp8", "int8", "int4", "fp4")
ENGINES = ("vllm", "sglang", "trtllm", "none")
NATIVE_LOW_PRECISION = ("fp8", "fp4")  # tensor cores multiply these directly where the sheet lists them
# Stored bytes per weight, scales included: int4 as AWQ/GPTQ/Marlin ship it (group 128, 16-bit scale:
# 4 + 16/128 bits); fp4 as NVFP4 (E2M1 with an E4M3 scale per 16 elements: 4 + 8/16 bits, NVIDIA
# Blackwell NVFP4 format); fp8 and int8 with per-block or per-channel scales (negligible).
WEIGHT_BYTES = {"bf16": 2.0, "fp16": 2.0, "fp8": 1.0, "int8": 1.0, "int4": 0.5 + 2.0 / 128, "fp4": 0.5 + 1.0 / 16}
# Accelerator lineage, for the efficiency sheets (mbu-serving-<family>, mfu-serving-<family>-<class>).
FAMILIES = (("a100", "ampere"), ("h100", "hopper"), ("h200", "hopper"), ("h800", "hopper"), ("b200", "blackwell"),
            ("b300", "blackwell"), ("gb200", "blackwell"), ("gb300", "blackwell"), ("mi250", "cdna"),
            ("mi300", "cdna"), ("mi325", "cdna"), ("mi355", "cdna"), ("tpu", "tpu"), ("gaudi", "gaudi"),
            ("trainium", "trainium"))
MESH_FAMILIES = ("infinity-fabric", "gaudi-roce")  # switchless meshes: links split evenly over peers
SCALE_OUT_FALLBACK = "ib-ndr"  # one 400G NIC per GPU when no system sheet carries the accelerator
COLUMNS = ["replica_gpus", "total_gpus", "concurrent_sequences", "ttft_s", "itl_s", "output_tokens_per_s",
           "output_tokens_per_s_per_gpu", "cost_per_million_output_tokens_usd"]

OPTIONS = [
    Opt("model", "id", "Model id from the catalog, e.g. llama-3.1-70b (or give the shape options).", ids="model"),
    PARAMS, ACTIVE_PARAMS, LAYERS, HIDDEN_SIZE, HEADS, KV_HEADS, HEAD_DIM,
    Opt("attention", "word", "Attention kind of a model given by shape.", choices=("mha", "gqa", "mqa", "mla")),
    Opt("kv_lora_rank", "int", "MLA latent rank (DeepSeek: 512).", lo=1, hi=1e5),
    Opt("qk_rope_head_dim", "int", "MLA decoupled RoPE key dimension (DeepSeek: 64).", lo=1, hi=1e5),
    Opt("sliding_window", "int", "Sliding window in tokens (a model given by shape).", lo=1, hi=1e8),
    Opt("sliding_window_layers", "int", "Layers using the window (default: all, when a window is given).", lo=0,
        hi=1e4),
    Opt("ffn_size", "int", "Dense MLP width.", lo=1, hi=1e7),
    Opt("vocab_size", "int", "Vocabulary size (the output head).", lo=1, hi=1e8),
    Opt("experts", "int", "Routed experts per MoE layer.", lo=1, hi=1e5),
    Opt("top_k", "int", "Routed experts per token.", lo=1, hi=1e4),
    Opt("expert_ffn_size", "int", "Width of one routed expert's MLP.", lo=1, hi=1e7),
    Opt("moe_layers", "int", "Layers with routed experts (default: all, when --experts is given).", lo=0, hi=1e4),
    Opt("gpu", "id", "Accelerator id(s), e.g. h100-sxm or h100-sxm,h200,b200,mi300x to compare.", ids="accelerator"),
    Opt("gpus", "int", "Accelerators serving (decode pool with --disaggregate); default: the smallest power of two "
        "that fits, or what a plan finds.", lo=1, hi=1e6),
    Opt("tp", "int", "Tensor-parallel size of attention and dense layers per replica.", lo=1, hi=1e4),
    Opt("pp", "int", "Pipeline stages per replica.", lo=1, hi=1e4),
    Opt("ep", "int", "Expert-parallel size: routed experts spread over this many GPUs (MoE).", lo=1, hi=1e5),
    Opt("dp_attention", "flag", "Attention data-parallel over the expert-parallel group (tp 1 per rank)."),
    Opt("expert_imbalance", "ratio", "Busiest expert-parallel rank's tokens over the mean (default: uniform "
        "routing's balls-into-bins maximum).", lo=1, hi=100),
    Opt("disaggregate", "flag", "Prefill and decode on separate GPU pools; the KV cache crosses the fabric."),
    Opt("prefill_gpus", "int", "GPUs of the prefill pool (default: enough instances to feed the decode pool).",
        lo=1, hi=1e6),
    Opt("prefill_tp", "int", "Tensor-parallel size of a prefill instance (default: --tp).", lo=1, hi=1e4),
    Opt("prefill_ep", "int", "Expert-parallel size of a prefill instance (default: --ep).", lo=1, hi=1e5),
    Opt("batching", "word", "continuous (chunked prefill, as vLLM, SGLang and TensorRT-LLM serve) or static "
        "(offline: one batch prefilled together).", default="continuous", choices=("continuous", "static")),
    Opt("batch", "int", "Sequences in one static batch (implies --batching static).", lo=1, hi=1e7),
    Opt("concurrency", "count", "Requests always in the system (closed loop, as load-test tools run).", lo=1, hi=1e9),
    Opt("rate", "count", "Requests per second arriving at random (open loop, Poisson).", field="rate_per_s",
        lo=0, lo_open=True, hi=1e9),
    Opt("users", "count", "Plan: concurrent users to serve; finds replicas and total GPUs.", lo=1, hi=1e9),
    Opt("prompt", "int", "Prompt tokens per request, e.g. 2k.", default=2000, default_text="2k",
        field="prompt_tokens", lo=1, hi=1e8),
    Opt("output", "int", "Output tokens per request, e.g. 512.", default=512, field="output_tokens", lo=1, hi=1e8),
    Opt("prefix_hit", "fraction", "Share of prompt tokens served from the prefix cache.", default=0.0, lo=0, hi=1,
        hi_open=True),
    Opt("speculative", "int", "Speculative decoding: draft tokens per step (MTP or a draft model).",
        field="speculative_tokens", lo=1, hi=64),
    Opt("acceptance", "fraction", "Probability each drafted token is accepted (with --speculative).", lo=0, hi=1),
    Opt("draft_params", "count", "Parameters of the draft model (default: an MTP head, one target layer).",
        lo=1, hi=1e13),
    Opt("weights_dtype", "word", "Weight type (int8/int4: weight-only; fp8/fp4: native where the GPU has the "
        "peak).", default="bf16", choices=WEIGHT_DTYPES),
    Opt("kv_dtype", "word", "KV-cache type (auto: fp8 with fp8/fp4 weights, else 16-bit).", default="auto",
        choices=KV_DTYPES),
    Opt("engine", "word", "Memory policy of the engine: vllm, sglang, trtllm or none (no activation reserve).",
        default="vllm", choices=ENGINES),
    Opt("max_num_seqs", "int", "Engine cap on running sequences per instance (default as vLLM ships it: 1024 on "
        ">= 70 GiB GPUs other than A100, else 256).", lo=1, hi=1e7),
    Opt("max_num_batched_tokens", "int", "Token budget per step (default as vLLM ships it: 8192 on >= 70 GiB "
        "GPUs other than A100, else 2048).", lo=1, hi=1e8),
    Opt("memory_utilization", "fraction", "Fraction of memory the engine may use (default: as the engine ships it; "
        "SGLang by TP size, TensorRT-LLM of free memory).", lo=0, lo_open=True, hi=1,
        default_id=("engine-memory-utilization", "trtllm-kv-free-fraction")),
    Opt("mbu", "fraction", "Achieved fraction of peak memory bandwidth (default: per accelerator family).", lo=0,
        lo_open=True, hi=1),
    Opt("mfu", "fraction", "Achieved fraction of dense peak compute (default: per family and precision).", lo=0,
        lo_open=True, hi=1),
    Opt("price_per_gpu_hour", "usd_per_hour", "USD per GPU-hour (default: the sheet's dated price).",
        field="price_usd_per_gpu_hour", lo=0, lo_open=True, hi=1e4),
    Opt("target_itl", "seconds", "Latency target: inter-token latency at most this, e.g. 40ms.",
        field="target_itl_s", lo=0, lo_open=True, hi=3600),
    Opt("target_ttft", "seconds", "Latency target: time to first token at most this, e.g. 2s.",
        field="target_ttft_s", lo=0, lo_open=True, hi=86400),
]
OPTIONS += chain.chain_options(OPTIONS)  # --cost-basis own and the tco options (issue 18)
EXAMPLES = (
    "aistack inference-throughput --model llama-3.1-70b --gpu h100-sxm --gpus 2 --weights-dtype fp8 "
    "--concurrency 50 --prompt 5000 --output 500",
    "aistack inference-throughput --model llama-3.1-405b --gpu h200 --users 2000 --target-itl 40ms",
    "aistack inference-throughput --model deepseek-v3 --gpu h100-sxm --gpus 16 --ep 16 --dp-attention "
    "--weights-dtype fp8 --disaggregate --concurrency 2048",
    "aistack inference-throughput --model llama-3.1-70b --gpu h100-sxm,h200,b200,mi300x --target-itl 50ms",
)
SHAPE = ("params", "active_params", "layers", "hidden_size", "heads", "kv_heads", "head_dim", "attention",
         "kv_lora_rank", "qk_rope_head_dim", "ffn_size", "vocab_size", "experts", "top_k", "expert_ffn_size",
         "moe_layers")


@lru_cache(maxsize=256)
def sheet(catalog, kind: str, wanted: str):
    """A catalog sheet, looked up once per run (a sweep asks for the same sheets at every point)."""
    return catalog.get(kind, wanted)


@calculator("inference-throughput",
            help="Serving under load: TTFT, ITL with prefill interference, tokens/s, goodput, cost; "
                 "replicas and GPUs for N users or a request rate.",
            options=OPTIONS, examples=EXAMPLES, columns=COLUMNS,
            sort_by="cost_per_million_output_tokens_usd", rank_over=("gpu",),
            pin={"replica_gpus": "gpus", "tensor_parallel": "tp", "pipeline_parallel": "pp", "expert_parallel": "ep"})
def inference_throughput(catalog, o) -> Point:
    if not o.gpu:
        raise InputError("--gpu: give an accelerator id, e.g. --gpu h100-sxm (or a list to compare)")
    shape, model_inputs, max_context, model_notes = model_shape(catalog, o)
    accelerator = sheet(catalog, "accelerator", o.gpu)
    compute, precision_note = compute_precision(o.weights_dtype, accelerator)
    kv_dtype = _kv_dtype(o.kv_dtype, o.weights_dtype)
    price, owned = _cost_basis(catalog, o, accelerator)
    device, price_note = _device(accelerator, compute, price)
    eff, eff_notes = efficiency(catalog, accelerator.id, o.weights_dtype, compute, o.mbu, o.mfu)
    engine, engine_notes = _engine(catalog, o.max_num_seqs, o.max_num_batched_tokens, o.memory_utilization, o.engine,
                                   accelerator.id)
    work = Workload(o.prompt, o.output, o.prefix_hit)
    spec = _speculation(o)
    targets = Targets(itl_s=o.target_itl, ttft_s=o.target_ttft)
    sc = Scenario(shape, device, eff, engine, work, WEIGHT_BYTES[o.weights_dtype], BYTES_PER_ELEMENT[kv_dtype], spec,
                  fabric_builder(catalog, accelerator.id), o.expert_imbalance, targets)
    fixed = _fixed_layout(o, shape)
    dis = _disaggregation(o, fixed)
    dep, load, plan_note = _deployment(o, sc, fixed, dis, accelerator)
    if engine.kind == "sglang" and o.memory_utilization is None:
        from aistack_cli.calc.kvcache import sglang_mem_fraction_static

        sc = _with_engine(sc, sglang_mem_fraction_static(dep.layout.tp))
    result = serve(sc, dep, load)
    assumptions = [*model_notes, *eff_notes, precision_note, *engine_notes,
                   *filter(None, [plan_note, price_note, _kv_note(o.kv_dtype, kv_dtype)]), *result.assumptions]
    warnings = [*result.warnings, *_input_warnings(max_context, work, device, o, accelerator, compute)]
    inputs = {**model_inputs, "gpu": accelerator.id, "gpus": o.gpus, "tp": o.tp, "pp": o.pp, "ep": o.ep,
              "dp_attention": bool(o.dp_attention), "disaggregate": bool(o.disaggregate),
              "prefill_gpus": o.prefill_gpus, "batching": load.mode if load.mode == "static" else o.batching,
              "batch": o.batch, "concurrency": o.concurrency, "rate_per_s": o.rate, "users": o.users,
              "prompt_tokens": o.prompt, "output_tokens": o.output, "prefix_hit": o.prefix_hit,
              "speculative_tokens": o.speculative, "acceptance": o.acceptance if spec.on else None,
              "draft_params": o.draft_params, "weights_dtype": o.weights_dtype, "kv_dtype": kv_dtype,
              "compute_precision": compute, "engine": engine.kind, "max_num_seqs": engine.max_num_seqs,
              "max_num_batched_tokens": engine.max_num_batched_tokens,
              "memory_utilization": sc.engine.memory_utilization, "mbu": eff.mbu, "mfu": eff.mfu,
              "expert_imbalance": o.expert_imbalance, "price_usd_per_gpu_hour": device.price_usd_per_gpu_hour,
              "target_itl_s": o.target_itl, "target_ttft_s": o.target_ttft}
    steps = Working(lambda: [*_sheet_steps(accelerator, compute, device), *result.steps])
    return chain.with_chain(Point(inputs, result.values, assumptions, warnings, steps), owned, "token")


# ---- cost basis: the owner's GPU-hour, chained from wafer to token (issue 18; arithmetic in calc/tco.py) ----

def _cost_basis(catalog, o, accelerator):
    """(price per GPU-hour given to the serving model, the owned chain): rented (--price-per-gpu-hour or the
    sheet's), or owned (--cost-basis own: tco's cost of an owned GPU-hour, its chain kept for the results)."""
    if o.cost_basis == "rent":
        return o.price_per_gpu_hour, None
    if o.price_per_gpu_hour is not None:
        raise InputError("--price-per-gpu-hour: a rental price; --cost-basis own prices the GPU-hour from the tco "
                         "chain (give --cost-basis rent, or the tco options)")
    got = chain.owned(catalog, o, accelerator.id, None, o.gpus, "inference", None)
    return got.rate_usd_per_gpu_hour, got


# ---- the model ---------------------------------------------------------------------------------

def model_shape(catalog, o):
    """The model from the catalog (any shape option overriding the sheet's figure) or from the shape
    options alone; its inputs, maximum context and notes."""
    if o.model:
        m = sheet(catalog, "model", o.model)
        figures = {"params": m.params_total, "active_params": m.params_active, "layers": m.layers,
                 "hidden_size": m.hidden_size, "heads": m.heads, "kv_heads": m.kv_heads, "head_dim": m.head_dim,
                 "attention": m.attention, "kv_lora_rank": m.kv_lora_rank, "qk_rope_head_dim": m.qk_rope_head_dim,
                 "ffn_size": m.ffn_size, "vocab_size": m.vocab_size, "experts": m.experts_routed,
                 "top_k": m.experts_active, "expert_ffn_size": m.expert_ffn_size, "moe_layers": m.moe_layers}
        shape, notes = model_overrides(o, figures, m.id)
        window, window_layers, tied, max_context = m.sliding_window, m.sliding_window_layers, m.family == "gemma", \
            m.max_context
        model_id = m.id
    else:
        if o.params is None or o.layers is None or o.hidden_size is None or o.heads is None:
            raise InputError("--model: give a model id, or its shape: --params, --layers, --hidden-size and --heads "
                             "(with --kv-heads, or --kv-lora-rank and --qk-rope-head-dim for MLA)")
        shape = {name: getattr(o, name) for name in SHAPE}
        notes, tied, max_context, model_id = [], False, None, None
        window = o.sliding_window
        window_layers = o.sliding_window_layers if o.sliding_window_layers is not None else (o.layers if window else 0)
        notes.append("a model given by its shape: untied embeddings" + ("" if o.vocab_size else
                                                                         "; no --vocab-size, so no output head"))
    return _build_shape(shape, window, window_layers, tied, notes, model_id, max_context)


def _build_shape(shape: dict, window, window_layers, tied, notes, model_id, max_context):
    heads, hidden = shape["heads"], shape["hidden_size"]
    head_dim = shape["head_dim"] or (hidden // heads if hidden % heads == 0 else None)
    if head_dim is None:
        raise InputError(f"--head-dim: {heads} heads do not divide --hidden-size {hidden}; give --head-dim")
    kind = shape["attention"] or ("mla" if shape["kv_lora_rank"] else "gqa")
    kv_heads = shape["kv_heads"] or heads
    if kind == "mla" and (shape["kv_lora_rank"] is None or shape["qk_rope_head_dim"] is None):
        raise InputError("--attention mla: give --kv-lora-rank and --qk-rope-head-dim")
    layers = shape["layers"]
    experts, top_k, expert_ffn = shape["experts"] or 0, shape["top_k"] or 0, shape["expert_ffn_size"] or 0
    if experts and (not top_k or not expert_ffn):
        raise InputError("--experts: a MoE model needs --top-k and --expert-ffn-size too")
    if top_k > experts:
        raise InputError(f"--top-k: {top_k} experts per token but only {experts} experts")
    moe_layers = shape["moe_layers"] if shape["moe_layers"] is not None else (layers if experts else 0)
    if moe_layers > layers:
        raise InputError("--moe-layers: more MoE layers than --layers")
    total = shape["params"]
    routed = moe_layers * experts * 3.0 * hidden * expert_ffn
    active = shape["active_params"] or (total - routed + moe_layers * top_k * 3.0 * hidden * expert_ffn)
    if active > total:
        raise InputError("--active-params: more active parameters than --params in total")
    if routed > total:
        raise InputError("--experts: the routed experts alone exceed --params")
    if window_layers and window_layers > layers:
        raise InputError("--sliding-window-layers: more window layers than --layers")
    att = Attention(layers, kv_heads, head_dim, kind, shape["kv_lora_rank"], shape["qk_rope_head_dim"], window,
                    window_layers)
    model = ModelShape(total, active, layers, hidden, heads, head_dim, att, experts, top_k, moe_layers, expert_ffn,
                       shape["ffn_size"] or 0, shape["vocab_size"] or 0, tied)
    inputs = {"model": model_id, "params_total": total, "params_active": active, "layers": layers,
              "hidden_size": hidden, "heads": heads, "kv_heads": None if kind == "mla" else kv_heads,
              "head_dim": head_dim, "attention": kind, "kv_lora_rank": shape["kv_lora_rank"],
              "qk_rope_head_dim": shape["qk_rope_head_dim"], "sliding_window": window,
              "sliding_window_layers": window_layers if window else None, "ffn_size": shape["ffn_size"],
              "vocab_size": shape["vocab_size"], "experts": experts or None, "top_k": top_k or None,
              "expert_ffn_size": expert_ffn or None, "moe_layers": moe_layers or None}
    return model, inputs, max_context, notes


# ---- hardware, efficiency, engine ----------------------------------------------------------------

def compute_precision(weights_type: str, accelerator) -> tuple[str, str]:
    """The precision the matrix maths runs in, and the rule as an assumption line.

    FP8 and FP4 weights are multiplied natively where the sheet lists that peak; otherwise (and for
    INT8/INT4, taken as weight-only quantisation such as AWQ or GPTQ) weights are dequantised and
    multiplied in bf16 (fp16 for fp16 weights, or when the sheet has no bf16).
    """
    peaks = accelerator.dense_flop_per_s
    if weights_type in NATIVE_LOW_PRECISION and weights_type in peaks:
        return weights_type, f"compute in {weights_type}: the weight dtype, whose dense peak the {accelerator.id} sheet lists"
    base = "fp16" if weights_type == "fp16" or "bf16" not in peaks else "bf16"
    accelerator_precision(accelerator, base, "--gpu")
    if weights_type in NATIVE_LOW_PRECISION:
        return base, (f"compute in {base}: {accelerator.id} lists no {weights_type} peak, so {weights_type} weights "
                      f"are dequantised (weight-only, as vLLM does on such GPUs)")
    if weights_type in ("int8", "int4"):
        return base, f"compute in {base}: {weights_type} weights taken as weight-only quantisation (AWQ/GPTQ style)"
    return base, f"compute in {base}, the weight dtype"


def large_gpu(accelerator) -> bool:
    return vllm_large_gpu(accelerator.memory_bytes, family(accelerator.id) == "ampere")


def family(accelerator_id: str) -> str | None:
    """The accelerator's lineage, which names its efficiency sheets."""
    return next((name for prefix, name in FAMILIES if accelerator_id.startswith(prefix)), None)


def _default(catalog, *ids: str):
    """The first default sheet that exists among ``ids`` (most specific first)."""
    for sheet_id in ids:
        if sheet_id in catalog.sheets.get("default", {}):
            return sheet(catalog, "default", sheet_id)
    raise InputError(f"no default sheet among {', '.join(ids)}")


@lru_cache(maxsize=64)
def efficiency(catalog, accelerator_id: str, weights_type: str, compute: str, mbu: float | None,
               mfu: float | None) -> tuple[Efficiency, tuple[str, ...]]:
    """MBU, MFU (GEMMs and attention) and the dequantisation factor: given, or read from the sheets of the
    accelerator's family and precision (mbu-serving-<family>, mfu-serving-<family>-<class>, falling back to
    the sheets without a family)."""
    fam = family(accelerator_id) or "other"
    notes = []
    cls = {"fp4": "8bit", "fp8": "8bit", "int8": "8bit"}.get(compute, "16bit")
    if mbu is None:
        sheet = _default(catalog, f"mbu-serving-{fam}", "mbu-serving")
        mbu = sheet.value
        notes.append(sheet.note(f"MBU {mbu:g} of peak memory bandwidth ({sheet.id})"))
    if mfu is None:
        sheet = _default(catalog, f"mfu-serving-{fam}-{cls}", f"mfu-serving-{cls}")
        mfu = sheet.value
        notes.append(sheet.note(f"MFU {mfu:g} of the dense {compute} peak ({sheet.id})"))
    attention = _default(catalog, f"mfu-serving-{fam}-16bit", "mfu-serving-16bit")
    dequant = 1.0
    weight_only = weights_type in ("int8", "int4") or (weights_type in NATIVE_LOW_PRECISION and compute != weights_type)
    if weight_only:
        sheet = _default(catalog, "dequant-weight-only")
        dequant = sheet.value
        notes.append(sheet.note(f"weight-only {weights_type}: weights stream at {dequant:g} of the 16-bit kernel's "
                                "bandwidth (dequantisation)"))
    return Efficiency(mbu, mfu, attention.value, dequant), tuple(notes)


def _device(accelerator, compute: str, given_price: float | None):
    if given_price is not None:
        price, note = given_price, None
    else:
        price, note = accelerator.price_usd_per_hour, accelerator.price_note()  # names the price basis
    peaks = accelerator.dense_flop_per_s
    attention_peak = peaks.get("bf16") or peaks.get("fp16") or accelerator_precision(accelerator, compute, "--gpu")
    return Device(accelerator.memory_bytes, accelerator.memory_bandwidth_bytes_per_s,
                  accelerator_precision(accelerator, compute, "--weights-dtype"), attention_peak,
                  accelerator.scale_up_domain, price), note


@lru_cache(maxsize=64)
def _engine(catalog, seqs: int | None, tokens: int | None, util: float | None, kind: str,
            accelerator_id: str) -> tuple[Engine, tuple[str, ...]]:
    """The engine's caps and memory fraction: given, or as the engine ships them (default sheets)."""
    large = large_gpu(sheet(catalog, "accelerator", accelerator_id))
    notes = []
    if seqs is None:
        found = sheet(catalog, "default", "engine-max-num-seqs-large" if large else "engine-max-num-seqs")
        seqs = int(found.value)
        notes.append(found.note(f"max_num_seqs {seqs}"))
    if tokens is None:
        found = sheet(catalog, "default", "engine-max-num-batched-tokens-large" if large else
                      "engine-max-num-batched-tokens")
        tokens = int(found.value)
        notes.append(found.note(f"max_num_batched_tokens {tokens}"))
    if util is None and kind in ("vllm", "none"):
        found = sheet(catalog, "default", "engine-memory-utilization")
        util = found.value
        notes.append(found.note(f"gpu_memory_utilization {util:g}"))
    elif util is None and kind == "trtllm":
        found = sheet(catalog, "default", "trtllm-kv-free-fraction")
        util = found.value
        notes.append(found.note(f"kv_cache_free_gpu_mem_fraction {util:g}"))
    elif util is None:
        util = 0.0  # SGLang: set from the tensor-parallel size once the layout is known
        notes.append("mem_fraction_static by tensor-parallel size, as SGLang sets it (server_args.py)")
    return Engine(seqs, tokens, util, kind), tuple(notes)


def _with_engine(sc: Scenario, utilization: float) -> Scenario:
    from dataclasses import replace

    return replace(sc, engine=replace(sc.engine, memory_utilization=utilization))


def _kv_dtype(given: str, weights: str) -> str:
    if given != "auto":
        return given
    return "fp8" if weights in ("fp8", "fp4") else ("fp16" if weights == "fp16" else "bf16")


def _kv_note(given: str, used: str) -> str | None:
    if given != "auto":
        return None
    return (f"KV cache in {used} (auto: FP8 with FP8/FP4 weights, as TensorRT-LLM and NIM FP8 checkpoints ship "
            "it; 16-bit otherwise; give --kv-dtype)")


def _speculation(o) -> Speculation:
    if o.speculative is None:
        for name in ("acceptance", "draft_params"):
            if getattr(o, name) is not None:
                raise InputError(f"--{name.replace('_', '-')}: give --speculative K (draft tokens per step) too")
        return Speculation()
    if o.acceptance is None:
        raise InputError("--acceptance: give the probability each drafted token is accepted, e.g. 0.8")
    return Speculation(o.speculative, o.acceptance, o.draft_params)


# ---- the fabric: ONE function until commands/fabric.py (issue 20) lands --------------------------

@lru_cache(maxsize=16)
def fabric_builder(catalog, accelerator_id: str):
    """A Fabric for a group of GPUs, built by the one fabric builder (commands/fabric.py) from the
    accelerator and the first system sheet that carries it (its scale-up switch and NICs; else the
    accelerator's own link and one 400G InfiniBand NIC per GPU). ``build(gpus, per_domain=None)``;
    ``per_domain=1`` puts each GPU in its own domain (a transfer across the scale-out fabric)."""
    from aistack_cli.commands.fabric import build_fabric

    accelerator = sheet(catalog, "accelerator", accelerator_id)
    system = next((s for s in catalog.ids("system") if catalog.raw("system", s)["accelerator"] == accelerator.id),
                  None)
    domain = max(1, accelerator.scale_up_domain)

    @lru_cache(maxsize=64)
    def build(gpus: int, per_domain: int | None = None):
        if gpus < 2:
            return None
        per = per_domain or min(gpus, domain)
        if gpus % per:
            per = math.gcd(gpus, per)
        built = build_fabric(catalog, gpu=accelerator.id, gpus=gpus, system=system, gpus_per_domain=per,
                             inter=None if system else SCALE_OUT_FALLBACK,
                             flags={"gpus": "--tp", "gpus_per_domain": "--tp", "gpu": "--gpu"})
        return built.fabric

    return build


# ---- layout, load and plans ------------------------------------------------------------------------

def _fixed_layout(o, model: ModelShape) -> Layout | None:
    """The replica layout the options fix, or None (the tool chooses)."""
    if all(getattr(o, n) is None for n in ("gpus", "tp", "pp", "ep")) and not o.dp_attention:
        return None
    pp = o.pp or 1
    if pp > model.layers:
        raise InputError(f"--pp: {pp} pipeline stages but the model has only {model.layers} layers")
    ep = o.ep or 1
    if (ep > 1 or o.dp_attention) and not model.moe:
        raise InputError("--ep/--dp-attention: expert parallelism needs a MoE model (--experts)")
    if o.dp_attention and ep == 1:
        if o.gpus is None:
            raise InputError("--dp-attention: give --ep (or --gpus) for the expert-parallel group")
        ep = o.gpus // pp
    if ep > 1:
        tp = 1 if o.dp_attention else (o.tp or ep)
        if o.dp_attention and o.tp not in (None, 1):
            raise InputError("--dp-attention: attention runs with tp 1 per rank; drop --tp")
        if ep % tp:
            raise InputError(f"--tp: {tp} does not divide the expert-parallel group of {ep}")
        return Layout(tp, pp, ep)
    if o.tp is not None:
        return Layout(o.tp, pp, 1)
    if o.gpus is not None:
        if o.gpus % pp:
            raise InputError(f"--pp: {o.gpus} GPUs do not split into {pp} pipeline stages")
        return Layout(o.gpus // pp, pp, 1)
    return Layout(1, pp, 1)


def _disaggregation(o, fixed: Layout | None) -> Disaggregation | None:
    given = [n for n in ("prefill_gpus", "prefill_tp", "prefill_ep") if getattr(o, n) is not None]
    if not o.disaggregate:
        if given:
            raise InputError(f"--{given[0].replace('_', '-')}: give --disaggregate too")
        return None
    base = fixed or Layout()
    ep = o.prefill_ep if o.prefill_ep is not None else base.ep
    tp = o.prefill_tp if o.prefill_tp is not None else (min(base.tp, ep) if ep > 1 else base.tp)
    if ep > 1 and ep % tp:
        raise InputError(f"--prefill-tp: {tp} does not divide --prefill-ep {ep}")
    layout = Layout(tp, 1, ep)
    if o.prefill_gpus is not None and o.prefill_gpus % layout.gpus:
        raise InputError(f"--prefill-gpus: {o.prefill_gpus} GPUs do not make whole prefill instances of "
                         f"{layout.gpus}")
    return Disaggregation(layout, o.prefill_gpus)


def _load(o) -> Load | None:
    given = [n for n in ("batch", "concurrency", "rate", "users") if getattr(o, n) is not None]
    if len(given) > 1:
        raise InputError(f"--{given[1]}: give one of --batch, --concurrency, --rate or --users")
    if o.batch is not None:
        return Load("static", float(o.batch))
    if o.batching == "static":
        return Load("static", float(o.concurrency or 1))
    if o.concurrency is not None:
        return Load("concurrency", float(o.concurrency))
    if o.rate is not None:
        return Load("rate", float(o.rate))
    return None


def _deployment(o, sc: Scenario, fixed: Layout | None, dis, accelerator):
    """The deployment and load to evaluate: as given, or what a plan finds; and the note saying which."""
    load = _load(o)
    targets = sc.targets
    planning = o.users is not None or (o.rate is not None and o.gpus is None and targets.given) or \
        (load is None and targets.given)
    if planning and dis is not None:
        raise InputError("--disaggregate: plans size colocated replicas; give --gpus and a load (--concurrency or "
                         "--rate) to evaluate a disaggregated deployment")
    if o.users is not None:
        if o.gpus is not None:
            raise InputError("--gpus: --users finds the GPU count; give --tp/--ep for the replica layout instead")
        found = plan(sc, layout_candidates(sc.model, accelerator.scale_up_domain, fixed), "users", o.users)
        return _found(found, "users", o.users, sc) + (_plan_note("users", found, fixed),)
    if o.rate is not None and o.gpus is None and targets.given:
        found = plan(sc, layout_candidates(sc.model, accelerator.scale_up_domain, fixed), "rate", o.rate)
        return _found(found, "rate", o.rate, sc) + (_plan_note("rate", found, fixed),)
    if load is None and targets.given:
        found = plan(sc, layout_candidates(sc.model, accelerator.scale_up_domain, fixed), "targets", gpus=o.gpus)
        if found is None:
            layout = fixed or _smallest(sc, accelerator.scale_up_domain, Load("concurrency", 1.0))
            return (Deployment(layout, _replicas(o.gpus, layout), dis), Load("concurrency", 1.0),
                    "no layout meets the latency targets: one request is shown")
        return found.deployment, found.load, _plan_note("targets", found, fixed)
    load = load or Load("concurrency", 1.0)
    if fixed is None:
        layout = _smallest(sc, accelerator.scale_up_domain, load)
        note = ("GPUs: the smallest power of two up to the scale-up domain that holds the weights and the load's "
                "KV cache, one tensor-parallel group (set --gpus or --tp to fix it)")
        return Deployment(layout, 1, dis), load, note
    return Deployment(fixed, _replicas(o.gpus, fixed), dis), load, None


def _replicas(gpus: int | None, layout: Layout) -> int:
    if gpus is None:
        return 1
    if gpus < layout.gpus or gpus % layout.gpus:
        raise InputError(f"--gpus: {gpus} GPUs do not make whole replicas of {layout.gpus} "
                         f"(tp {layout.tp}, ep {layout.ep}, pp {layout.pp})")
    return gpus // layout.gpus


def _smallest(sc: Scenario, domain: int, load: Load) -> Layout:
    """The smallest tensor-parallel group (power of two up to the domain) holding the weights and the load."""
    wanted = load.value if load.mode in ("static", "concurrency") else 1.0
    candidates = layout_candidates(replace_moe_free(sc.model), domain)
    for layout in candidates:
        mem = memory(sc.model, sc.work, layout, sc.device, sc.engine, sc.weight_bytes_per_param,
                     sc.kv_bytes_per_element)
        if mem.pool_bytes_per_gpu > 0 and mem.max_sequences_per_replica >= min(wanted, sc.engine.max_num_seqs):
            return layout
    return candidates[-1]


def replace_moe_free(model: ModelShape) -> ModelShape:
    """The model as the default layout sees it: tensor parallelism only (vLLM's default for MoE too)."""
    from dataclasses import replace

    return replace(model, experts_routed=0, moe_layers=0, expert_ffn_size=0)


def _found(found, question: str, value: float, sc: Scenario):
    if found is None:
        raise InputError(f"--{'target-itl/--target-ttft' if sc.targets.given else question}: no layout up to the "
                         "scale-up domain fits the model and meets the targets on this accelerator")
    return found.deployment, found.load


def _plan_note(question: str, found, fixed: Layout | None) -> str:
    layout = found.deployment.layout
    where = "the layout given" if fixed else "the layout (TP, or EP with TP or DP attention, up to the scale-up " \
                                             "domain) needing the fewest GPUs"
    if question == "users":
        return (f"plan: {found.per_replica:g} users per replica of {layout.gpus} GPUs meet the targets, so "
                f"{found.deployment.replicas} replicas; {where}")
    if question == "rate":
        return (f"plan: {found.per_replica:.4g} requests/s per replica of {layout.gpus} GPUs within the targets "
                f"(goodput), so {found.deployment.replicas} replicas; {where}")
    return (f"plan: the most concurrent requests per replica within the targets ({found.per_replica:g}); "
            + ("the layout given" if fixed else "the layout with the most output tokens/s per GPU"))


# ---- notes --------------------------------------------------------------------------------------

def _sheet_steps(accelerator, compute: str, device: Device) -> list[Step]:
    rows = [("memory_bytes_per_gpu", device.memory_bytes, "B", "memory"),
            ("memory_bandwidth_bytes_per_s", device.bandwidth_bytes_per_s, "B/s", "memory"),
            (f"peak_{compute}_flop_per_s", device.peak_flop_per_s, "FLOP/s", "compute")]
    return [Step(name, f"{accelerator.id} sheet", fmt(value), value, unit,
                 accelerator.sources.get(group, f"{accelerator.id} sheet")) for name, value, unit, group in rows]


def _input_warnings(max_context, work: Workload, device: Device, o, accelerator, compute) -> list[str]:
    warnings = []
    if max_context and work.prompt_tokens + work.output_tokens > max_context:
        warnings.append(f"prompt + output = {work.prompt_tokens + work.output_tokens:,} tokens exceeds the "
                        f"model's maximum of {max_context:,}")
    if device.price_usd_per_gpu_hour is None:
        warnings.append("no price per GPU-hour on the sheet: costs are null (give --price-per-gpu-hour)")
    if o.weights_dtype in NATIVE_LOW_PRECISION and compute != o.weights_dtype:
        warnings.append(f"{accelerator.id} has no {o.weights_dtype} tensor cores: {o.weights_dtype} weights are "
                        f"dequantised to {compute}")
    return warnings

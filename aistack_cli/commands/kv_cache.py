"""``aistack kv-cache``: KV-cache bytes per token, per sequence and in total, and the fit."""

from __future__ import annotations

from functools import lru_cache

from aistack_cli.calc.common import BYTES_PER_ELEMENT, result_values
from aistack_cli.calc.kvcache import (ENGINES, Activations, Attention, Shards, WeightSplit, activation_peak_bytes,
                                      kv_cache as compute, profiled_tokens, sglang_mem_fraction_static, vllm_large_gpu,
                                      weights_bytes, weights_bytes_per_gpu)
from aistack_cli.commands.common import (ARCHITECTURE_OPTIONS, HIDDEN_SIZE, WEIGHT_DTYPE, model_overrides,
                                         tensor_parallel)
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt

KV_DTYPES = ("fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4")
ATTENTION_KINDS = ("mha", "gqa", "mqa", "mla")

OPTIONS = [
    Opt("model", "id", "Model id from the catalog, e.g. llama-3.1-70b.", ids="model"),
    Opt("context", "int", "Tokens per sequence, e.g. 8k or 128k (default: the model's maximum).",
        field="context_tokens", lo=1, hi=1e8),
    Opt("batch", "int", "Concurrent sequences.", default=1, lo=1, hi=1e7),
    Opt("kv_dtype", "word", "KV element type.", default="bf16", choices=KV_DTYPES),
    Opt("block_size", "int", "Paged-allocation block in tokens (vLLM: 16); 0 for none.", default=16,
        field="block_tokens", lo=0, hi=1e6),
    Opt("gpu", "id", "Accelerator id, to check the fit, e.g. h100-sxm.", ids="accelerator"),
    Opt("gpu_memory", "bytes", "Memory of one accelerator as its driver reports it, e.g. 23.58GiB (an accelerator "
        "not in the catalog, or overriding the sheet's).", field="gpu_memory_bytes", lo=1, hi=1e15),
    Opt("gpus", "int", "Accelerators holding the model.", default=1, lo=1, hi=1e7),
    Opt("tp", "int", "Tensor-parallel shards of attention per group (default: all GPUs; 1 with --ep means DP "
        "attention).", lo=1, hi=1e5),
    Opt("ep", "int", "Expert-parallel size: routed experts spread over this many GPUs (MoE).", lo=1, hi=1e5),
    WEIGHT_DTYPE,
    Opt("engine", "word", "Memory policy: vllm (utilisation less weights and the profiled activation peak), sglang "
        "(static fraction less weights), trtllm (fraction of what weights and activations leave) or none.",
        default="vllm", choices=ENGINES),
    Opt("memory_utilization", "fraction", "Fraction of memory the engine may use (default: as the engine ships it; "
        "SGLang by TP size, TensorRT-LLM of free memory).", lo=0, lo_open=True, hi=1,
        default_id=("engine-memory-utilization", "trtllm-kv-free-fraction")),
    Opt("max_num_batched_tokens", "int", "Token budget the engine profiles (default as vLLM ships it: 8192 on "
        ">= 70 GiB GPUs other than A100, else 2048).", lo=1, hi=1e8),
    Opt("max_num_seqs", "int", "Sequences the profile pass samples (default as vLLM ships it: 1024 or 256).",
        lo=1, hi=1e7),
    Opt("chunked_prefill", "word", "off: the engine profiles the whole context (vLLM V0 below 32k), so the reserve "
        "grows with it.", default="on", choices=("on", "off")),
    Opt("reserve", "bytes", "Bytes per GPU kept besides the activation reserve, e.g. 2GiB for CUDA graphs.",
        default=0.0, field="reserve_bytes_per_gpu", lo=0, hi=1e15),
    *ARCHITECTURE_OPTIONS, HIDDEN_SIZE,
    Opt("ffn_size", "int", "Dense MLP width (for the activation reserve).", lo=1, hi=1e7),
    Opt("vocab_size", "int", "Vocabulary size (the sampled logits and the embedding).", lo=1, hi=1e8),
    Opt("experts", "int", "Routed experts per MoE layer.", lo=1, hi=1e5),
    Opt("top_k", "int", "Routed experts per token.", lo=1, hi=1e4),
    Opt("expert_ffn_size", "int", "Width of one routed expert's MLP.", lo=1, hi=1e7),
    Opt("moe_layers", "int", "Layers with routed experts (default: all, when --experts is given).", lo=0, hi=1e4),
    Opt("attention", "word", "Attention kind (with --layers: a model not in the catalog).", choices=ATTENTION_KINDS),
    Opt("kv_lora_rank", "int", "MLA latent rank (DeepSeek: 512).", lo=1, hi=1e5),
    Opt("qk_rope_head_dim", "int", "MLA decoupled RoPE key dimension (DeepSeek: 64).", lo=1, hi=1e5),
    Opt("sliding_window", "int", "Sliding window in tokens.", lo=1, hi=1e8),
    Opt("sliding_window_layers", "int", "How many layers use the window (default: all, when a window is given).",
        lo=0, hi=1e4),
]
EXAMPLES = (
    "aistack kv-cache --model llama-3.1-70b --context 128k --gpu h100-sxm --gpus 4",
    "aistack kv-cache --model deepseek-v3 --context 4k --gpu h200 --gpus 8 --ep 8 --tp 1 --weights-dtype fp8",
    "aistack kv-cache --model deepseek-v3 --context 32k,64k,128k --kv-dtype fp8 -f csv",
    "aistack kv-cache --layers 61 --kv-lora-rank 512 --qk-rope-head-dim 64 --context 32k",
)


@lru_cache(maxsize=256)
def sheet(catalog, kind: str, wanted: str):
    """A catalog sheet, looked up once per run (a sweep asks for the same sheets at every point)."""
    return catalog.get(kind, wanted)


@calculator("kv-cache", help="KV-cache size per token, sequence and batch, and whether it fits on GPUs.",
            options=OPTIONS, examples=EXAMPLES,
            columns=["kv_bytes_per_token", "kv_bytes_per_sequence", "kv_total_bytes", "max_sequences", "fits"])
def kv_cache(catalog, o) -> Point:
    att, model_inputs, shape, max_context, notes = _attention(catalog, o)
    context_tokens = o.context or max_context
    if context_tokens is None:
        raise InputError("--context: give the tokens per sequence, e.g. --context 8k")
    inputs = {**model_inputs, "context_tokens": context_tokens, "batch": o.batch, "kv_dtype": o.kv_dtype,
              "block_tokens": o.block_size}
    shards = None
    if o.gpu or o.gpu_memory is not None:
        shards, gpu_inputs, gpu_notes = _shards(catalog, o, shape, context_tokens)
        inputs.update(gpu_inputs)
        notes += gpu_notes
    else:
        given = [n for n in ("tp", "gpus", "ep", "engine", "memory_utilization", "reserve") if o.given(n)]
        if given:
            raise InputError(f"--{given[0].replace('_', '-')}: give --gpu (or --gpu-memory) too, to check the fit")
    result = compute(att, context_tokens, o.batch, BYTES_PER_ELEMENT[o.kv_dtype], o.block_size, shards)
    warnings = list(result.warnings)
    if max_context and context_tokens > max_context:
        warnings.append(f"context {context_tokens:,} exceeds the model's maximum of {max_context:,} tokens")
    return Point(inputs, result_values(result), [*notes, *result.assumptions], warnings, list(result.steps))


SHAPE_NAMES = ("layers", "kv_heads", "head_dim", "attention", "kv_lora_rank", "qk_rope_head_dim", "sliding_window",
               "sliding_window_layers", "params", "hidden_size", "ffn_size", "vocab_size", "experts", "top_k",
               "expert_ffn_size", "moe_layers")


def _attention(catalog, o):
    """The attention shape from --model (with any architecture option overriding the sheet's
    figure), or from the architecture options alone; with the figures the fit needs."""
    if o.model:
        m = sheet(catalog, "model", o.model)
        figures = {"layers": m.layers, "kv_heads": m.kv_heads, "head_dim": m.head_dim, "attention": m.attention,
                   "kv_lora_rank": m.kv_lora_rank, "qk_rope_head_dim": m.qk_rope_head_dim,
                   "sliding_window": m.sliding_window, "sliding_window_layers": m.sliding_window_layers,
                   "params": m.params_total, "hidden_size": m.hidden_size, "ffn_size": m.ffn_size,
                   "vocab_size": m.vocab_size, "experts": m.experts_routed, "top_k": m.experts_active,
                   "expert_ffn_size": m.expert_ffn_size, "moe_layers": m.moe_layers}
        shape, notes = model_overrides(o, figures, m.id)
        shape["tied"] = m.family == "gemma"
        att = _build(shape)
        inputs = {"model": m.id, **_shape_inputs(shape, att)}
        return att, inputs, shape, m.max_context, notes
    if o.layers is None:
        raise InputError("--model: give a model id, or --layers with --kv-heads and --head-dim "
                         "(or --kv-lora-rank and --qk-rope-head-dim for MLA)")
    shape = {name: getattr(o, name) for name in SHAPE_NAMES}
    shape["attention"] = shape["attention"] or ("mla" if o.kv_lora_rank else "gqa")
    shape["tied"] = False
    att = _build(shape)
    return att, {"model": None, **_shape_inputs(shape, att)}, shape, None, []


def _build(shape: dict) -> Attention:
    kind, layers = shape["attention"], shape["layers"]
    window = shape["sliding_window"]
    window_layers = shape["sliding_window_layers"]
    if window_layers is None:
        window_layers = layers if window else 0
    if window_layers > layers:
        raise InputError("--sliding-window-layers: more window layers than --layers")
    if kind == "mla":
        if shape["kv_lora_rank"] is None or shape["qk_rope_head_dim"] is None:
            raise InputError("--attention mla: give --kv-lora-rank and --qk-rope-head-dim")
        return Attention(layers, 1, 1, "mla", shape["kv_lora_rank"], shape["qk_rope_head_dim"], window, window_layers)
    if shape["kv_heads"] is None or shape["head_dim"] is None:
        raise InputError("--kv-heads/--head-dim: both are needed for a model not in the catalog")
    if kind == "mqa" and shape["kv_heads"] != 1:
        raise InputError("--attention mqa: multi-query attention has exactly one KV head")
    return Attention(layers, shape["kv_heads"], shape["head_dim"], kind, None, None, window, window_layers)


def _shape_inputs(shape: dict, att: Attention) -> dict:
    mla = att.kind == "mla"
    moe = bool(shape["experts"])
    return {"layers": att.layers, "kv_heads": None if mla else att.kv_heads, "head_dim": None if mla else att.head_dim,
            "attention": att.kind, "kv_lora_rank": att.kv_lora_rank, "qk_rope_head_dim": att.qk_rope_head_dim,
            "sliding_window": att.sliding_window, "sliding_window_layers": att.sliding_window_layers,
            "params_total": shape["params"], "hidden_size": shape["hidden_size"], "ffn_size": shape["ffn_size"] or None,
            "vocab_size": shape["vocab_size"] or None, "experts": shape["experts"] if moe else None,
            "top_k": shape["top_k"] if moe else None, "expert_ffn_size": shape["expert_ffn_size"] if moe else None,
            "moe_layers": _moe_layers(shape) if moe else None}


def _moe_layers(shape: dict) -> int:
    if not shape["experts"]:
        return 0
    return shape["moe_layers"] if shape["moe_layers"] is not None else shape["layers"]


def _split(shape: dict) -> WeightSplit:
    """Parameters by sharding: routed experts (over --ep) and the embedding (16-bit when quantised)."""
    hidden, vocab = shape["hidden_size"] or 0, shape["vocab_size"] or 0
    routed = _moe_layers(shape) * (shape["experts"] or 0) * 3.0 * hidden * (shape["expert_ffn_size"] or 0)
    embedding = vocab * hidden * (1 if shape.get("tied") else 2)
    total = shape["params"]
    return WeightSplit(total, min(routed, total), min(embedding, total))


def _shards(catalog, o, shape: dict, context: float):
    if shape["params"] is None:
        raise InputError("--params: the fit needs the model's parameter count (or use --model)")
    accelerator = sheet(catalog, "accelerator", o.gpu) if o.gpu else None
    memory = o.gpu_memory if o.gpu_memory is not None else accelerator.memory_bytes
    ep = o.ep or 1
    if ep > 1 and not shape["experts"]:
        raise InputError("--ep: expert parallelism needs a MoE model (--experts)")
    group = ep if ep > 1 else o.gpus
    if o.gpus % group:
        raise InputError(f"--ep: {o.gpus} GPUs do not split into expert-parallel groups of {ep}")
    tp = tensor_parallel(o.tp, group)
    split = _split(shape)
    bpp = BYTES_PER_ELEMENT[o.weights_dtype]
    large = accelerator is not None and vllm_large_gpu(accelerator.memory_bytes, accelerator.id.startswith("a100"))
    notes = []
    seqs, budget = o.max_num_seqs, o.max_num_batched_tokens
    if seqs is None:
        seqs = int(sheet(catalog, "default", "engine-max-num-seqs-large" if large else "engine-max-num-seqs").value)
    if budget is None:
        budget = int(sheet(catalog, "default", "engine-max-num-batched-tokens-large" if large else
                           "engine-max-num-batched-tokens").value)
    util = _utilization(catalog, o, tp, notes)
    activation = 0.0
    if o.engine in ("vllm", "trtllm"):
        if shape["hidden_size"] is None:
            notes.append("no --hidden-size: the activation reserve is taken as 0")
        else:
            act = Activations(shape["hidden_size"], shape["ffn_size"] or 0, shape["vocab_size"] or 0,
                              shape["top_k"] or 0 if shape["experts"] else 0, shape["expert_ffn_size"] or 0)
            tokens = profiled_tokens(budget, context, o.chunked_prefill == "on")
            activation = activation_peak_bytes(act, tokens, tp, min(seqs, tokens))
            notes.append(f"activation reserve: one forward pass over {tokens:,.0f} tokens "
                         + ("(the token budget: chunked prefill)" if o.chunked_prefill == "on" else
                            "(the whole context: no chunked prefill, as vLLM V0 below 32k)"))
    shards = Shards(o.gpus, tp, memory, util, weights_bytes(split, bpp), o.reserve, activation, o.engine,
                    weights_bytes_per_gpu(split, bpp, tp, ep))
    inputs = {"gpu": accelerator.id if accelerator else None, "gpus": o.gpus, "tp": tp, "ep": ep,
              "gpu_memory_bytes": memory, "weights_dtype": o.weights_dtype, "engine": o.engine,
              "memory_utilization": util, "max_num_batched_tokens": budget, "max_num_seqs": seqs,
              "chunked_prefill": o.chunked_prefill, "reserve_bytes_per_gpu": o.reserve}
    return shards, inputs, notes


def _utilization(catalog, o, tp: int, notes: list[str]) -> float:
    if o.memory_utilization is not None:
        return o.memory_utilization
    if o.engine == "sglang":
        notes.append("mem_fraction_static by tensor-parallel size, as SGLang sets it (server_args.py)")
        return sglang_mem_fraction_static(tp)
    found = sheet(catalog, "default", "trtllm-kv-free-fraction" if o.engine == "trtllm" else "engine-memory-utilization")
    notes.append(found.note(f"memory fraction {found.value:g}"))
    return found.value

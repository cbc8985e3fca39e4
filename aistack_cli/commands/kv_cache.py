"""``aistack kv-cache``: KV-cache bytes per token, per sequence and in total, and the fit."""

from __future__ import annotations

from aistack_cli.calc.common import BYTES_PER_ELEMENT, result_values
from aistack_cli.calc.kvcache import Attention, Shards, kv_cache as compute
from aistack_cli.commands.common import ARCHITECTURE_OPTIONS, WEIGHT_DTYPE, model_overrides, tensor_parallel
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
    Opt("gpus", "int", "Accelerators holding the model.", default=1, lo=1, hi=1e7),
    Opt("tp", "int", "Tensor-parallel shards per replica (default: all GPUs).", lo=1, hi=1e5),
    WEIGHT_DTYPE,
    Opt("memory_utilization", "fraction", "Fraction of accelerator memory the server may use (vLLM default 0.9).",
        default=0.9, lo=0, lo_open=True, hi=1),
    Opt("reserve", "bytes", "Bytes per GPU kept for activations and graphs, e.g. 4GiB.", default=0.0,
        field="reserve_bytes_per_gpu", lo=0, hi=1e15),
    *ARCHITECTURE_OPTIONS,
    Opt("attention", "word", "Attention kind (with --layers: a model not in the catalog).", choices=ATTENTION_KINDS),
    Opt("kv_lora_rank", "int", "MLA latent rank (DeepSeek: 512).", lo=1, hi=1e5),
    Opt("qk_rope_head_dim", "int", "MLA decoupled RoPE key dimension (DeepSeek: 64).", lo=1, hi=1e5),
    Opt("sliding_window", "int", "Sliding window in tokens.", lo=1, hi=1e8),
    Opt("sliding_window_layers", "int", "How many layers use the window (default: all, when a window is given).",
        lo=0, hi=1e4),
]
EXAMPLES = (
    "aistack kv-cache --model llama-3.1-70b --context 128k --gpu h100-sxm --gpus 4",
    "aistack kv-cache --model deepseek-v3 --context 32k,64k,128k --kv-dtype fp8 -f csv",
    "aistack kv-cache --layers 61 --kv-lora-rank 512 --qk-rope-head-dim 64 --context 32k",
)


@calculator("kv-cache", help="KV-cache size per token, sequence and batch, and whether it fits on GPUs.",
            options=OPTIONS, examples=EXAMPLES,
            columns=["kv_bytes_per_token", "kv_bytes_per_sequence", "kv_total_bytes", "max_sequences", "fits"])
def kv_cache(catalog, o) -> Point:
    att, model_inputs, params_total, max_context, notes = _attention(catalog, o)
    context_tokens = o.context or max_context
    if context_tokens is None:
        raise InputError("--context: give the tokens per sequence, e.g. --context 8k")
    inputs = {**model_inputs, "context_tokens": context_tokens, "batch": o.batch, "kv_dtype": o.kv_dtype,
              "block_tokens": o.block_size}
    shards = None
    if o.gpu:
        shards, gpu_inputs = _shards(catalog, o, params_total)
        inputs.update(gpu_inputs)
    elif o.given("tp") or o.given("gpus"):
        raise InputError("--gpus/--tp: give --gpu too, to check the fit on those accelerators")
    result = compute(att, context_tokens, o.batch, BYTES_PER_ELEMENT[o.kv_dtype], o.block_size, shards)
    warnings = list(result.warnings)
    if max_context and context_tokens > max_context:
        warnings.append(f"context {context_tokens:,} exceeds the model's maximum of {max_context:,} tokens")
    return Point(inputs, result_values(result), [*notes, *result.assumptions], warnings, list(result.steps))


def _attention(catalog, o):
    """The attention shape from --model (with any architecture option overriding the sheet's
    figure), or from the architecture options alone."""
    if o.model:
        m = catalog.get("model", o.model)
        sheet = {"layers": m.layers, "kv_heads": m.kv_heads, "head_dim": m.head_dim, "attention": m.attention,
                 "kv_lora_rank": m.kv_lora_rank, "qk_rope_head_dim": m.qk_rope_head_dim,
                 "sliding_window": m.sliding_window, "sliding_window_layers": m.sliding_window_layers,
                 "params": m.params_total}
        shape, notes = model_overrides(o, sheet, m.id)
        att = _build(shape)
        inputs = {"model": m.id, **_shape_inputs(shape, att)}
        return att, inputs, shape["params"], m.max_context, notes
    if o.layers is None:
        raise InputError("--model: give a model id, or --layers with --kv-heads and --head-dim "
                         "(or --kv-lora-rank and --qk-rope-head-dim for MLA)")
    names = ("layers", "kv_heads", "head_dim", "attention", "kv_lora_rank", "qk_rope_head_dim", "sliding_window",
             "sliding_window_layers", "params")
    shape = {name: getattr(o, name) for name in names}
    shape["attention"] = shape["attention"] or ("mla" if o.kv_lora_rank else "gqa")
    att = _build(shape)
    return att, {"model": None, **_shape_inputs(shape, att)}, shape["params"], None, []


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
    return {"layers": att.layers, "kv_heads": None if mla else att.kv_heads, "head_dim": None if mla else att.head_dim,
            "attention": att.kind, "kv_lora_rank": att.kv_lora_rank, "qk_rope_head_dim": att.qk_rope_head_dim,
            "sliding_window": att.sliding_window, "sliding_window_layers": att.sliding_window_layers,
            "params_total": shape["params"]}


def _shards(catalog, o, params_total):
    if params_total is None:
        raise InputError("--params: the fit needs the model's parameter count (or use --model)")
    accelerator = catalog.get("accelerator", o.gpu)
    tp = tensor_parallel(o.tp, o.gpus)
    weights = params_total * BYTES_PER_ELEMENT[o.weights_dtype]
    shards = Shards(o.gpus, tp, accelerator.memory_bytes, o.memory_utilization, weights, o.reserve)
    inputs = {"gpu": accelerator.id, "gpus": o.gpus, "tp": tp, "gpu_memory_bytes": accelerator.memory_bytes,
              "weights_dtype": o.weights_dtype, "memory_utilization": o.memory_utilization,
              "reserve_bytes_per_gpu": o.reserve}
    return shards, inputs

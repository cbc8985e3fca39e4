"""``aistack kv-cache``: KV-cache bytes per token, per sequence and in total, and the fit."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from aistack_cli import units
from aistack_cli.calc.common import BYTES_PER_ELEMENT, result_values
from aistack_cli.calc.kvcache import Attention, Shards, kv_cache as compute
from aistack_cli.commands.common import optional_int, precision, tensor_parallel
from aistack_cli.errors import InputError
from aistack_cli.render import Point
from aistack_cli.runner import calculator

KV_DTYPES = ("fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4")
ATTENTION_KINDS = ("mha", "gqa", "mqa", "mla")
Text = Optional[str]


@calculator("kv-cache", help="KV-cache size per token, sequence and batch, and whether it fits on GPUs.",
            columns=["kv_bytes_per_token", "kv_bytes_per_sequence", "kv_total_bytes", "max_sequences", "fits"])
def kv_cache(
    catalog,
    model: Annotated[Text, typer.Option(help="Model id from the catalog, e.g. llama-3.1-70b.")] = None,
    context: Annotated[Text, typer.Option(help="Tokens per sequence, e.g. 8k or 128k (default: the model's maximum).")] = None,
    batch: Annotated[str, typer.Option(help="Concurrent sequences.")] = "1",
    kv_dtype: Annotated[str, typer.Option(help="KV element type: " + ", ".join(KV_DTYPES) + ".")] = "bf16",
    block_size: Annotated[str, typer.Option(help="Paged-allocation block in tokens (vLLM: 16); 0 for none.")] = "16",
    gpu: Annotated[Text, typer.Option(help="Accelerator id, to check the fit, e.g. h100-sxm.")] = None,
    gpus: Annotated[str, typer.Option(help="Accelerators holding the model.")] = "1",
    tp: Annotated[Text, typer.Option(help="Tensor-parallel shards per replica (default: all GPUs).")] = None,
    weights_dtype: Annotated[str, typer.Option(help="Weight element type for the fit.")] = "bf16",
    memory_utilization: Annotated[str, typer.Option(help="Fraction of HBM the server may use (vLLM default 0.9).")] = "0.9",
    reserve: Annotated[str, typer.Option(help="Bytes per GPU kept for activations and graphs, e.g. 4GiB.")] = "0",
    layers: Annotated[Text, typer.Option(help="Architecture for a model not in the catalog: layers.")] = None,
    kv_heads: Annotated[Text, typer.Option(help="... KV heads (1 for MQA).")] = None,
    head_dim: Annotated[Text, typer.Option(help="... head dimension.")] = None,
    attention: Annotated[Text, typer.Option(help="... attention kind: mha, gqa, mqa or mla.")] = None,
    kv_lora_rank: Annotated[Text, typer.Option(help="... MLA latent rank (DeepSeek: 512).")] = None,
    qk_rope_head_dim: Annotated[Text, typer.Option(help="... MLA decoupled RoPE key dim (DeepSeek: 64).")] = None,
    sliding_window: Annotated[Text, typer.Option(help="... sliding window in tokens.")] = None,
    sliding_window_layers: Annotated[Text, typer.Option(help="... how many layers use the window.")] = None,
    params: Annotated[Text, typer.Option(help="... total parameters, for the weights in the fit, e.g. 70B.")] = None,
) -> Point:
    att, model_inputs, params_total, max_context = _attention(catalog, locals())
    context_tokens = units.integer(context, "--context") if context else max_context
    if context_tokens is None:
        raise InputError("--context: give the tokens per sequence, e.g. --context 8k")
    batch_n = units.integer(batch, "--batch")
    kv_type = precision(kv_dtype, "--kv-dtype", KV_DTYPES)
    block = units.integer(block_size, "--block-size", minimum=0)
    inputs = {**model_inputs, "context_tokens": context_tokens, "batch": batch_n,
              "kv_dtype": kv_type, "block_tokens": block}
    shards = None
    if gpu:
        shards, gpu_inputs = _shards(catalog, gpu, gpus, tp, weights_dtype, memory_utilization,
                                     reserve, params_total)
        inputs.update(gpu_inputs)
    elif tp is not None or gpus != "1":
        raise InputError("--gpus/--tp: give --gpu too, to check the fit on those accelerators")
    result = compute(att, context_tokens, batch_n, BYTES_PER_ELEMENT[kv_type], block, shards)
    warnings = list(result.warnings)
    if max_context and context_tokens > max_context:
        warnings.append(f"context {context_tokens:,} exceeds the model's maximum of {max_context:,} tokens")
    return Point(inputs, result_values(result), list(result.assumptions), warnings, list(result.steps))


ARCH_OPTIONS = ("layers", "kv_heads", "head_dim", "attention", "kv_lora_rank", "qk_rope_head_dim",
                "sliding_window", "sliding_window_layers", "params")


def _attention(catalog, opts: dict):
    """The attention shape from --model, or from the architecture options."""
    given = [name for name in ARCH_OPTIONS if opts[name] is not None]
    if opts["model"]:
        if given:
            flags = ", ".join("--" + n.replace("_", "-") for n in given)
            raise InputError(f"{flags}: give either --model or the architecture options, not both")
        m = catalog.get("model", opts["model"])
        att = Attention(m.layers, m.kv_heads, m.head_dim, m.attention, m.kv_lora_rank,
                        m.qk_rope_head_dim, m.sliding_window, m.sliding_window_layers)
        inputs = {"model": m.id, "layers": m.layers, "kv_heads": m.kv_heads, "head_dim": m.head_dim,
                  "attention": m.attention, "kv_lora_rank": m.kv_lora_rank,
                  "qk_rope_head_dim": m.qk_rope_head_dim, "sliding_window": m.sliding_window,
                  "sliding_window_layers": m.sliding_window_layers, "params_total": m.params_total}
        return att, inputs, m.params_total, m.max_context
    return _custom_attention(opts)


def _custom_attention(opts: dict):
    if opts["layers"] is None:
        raise InputError("--model: give a model id, or --layers with --kv-heads and --head-dim "
                         "(or --kv-lora-rank and --qk-rope-head-dim for MLA)")
    layers = units.integer(opts["layers"], "--layers")
    kind = (opts["attention"] or ("mla" if opts["kv_lora_rank"] else "gqa")).lower()
    if kind not in ATTENTION_KINDS:
        raise InputError(f"--attention: expected one of {', '.join(ATTENTION_KINDS)}, got {opts['attention']!r}")
    window = optional_int(opts["sliding_window"], "--sliding-window")
    window_layers = optional_int(opts["sliding_window_layers"], "--sliding-window-layers", minimum=0)
    if window_layers is None:
        window_layers = layers if window else 0
    if window_layers > layers:
        raise InputError("--sliding-window-layers: more window layers than --layers")
    if kind == "mla":
        rank = optional_int(opts["kv_lora_rank"], "--kv-lora-rank")
        rope = optional_int(opts["qk_rope_head_dim"], "--qk-rope-head-dim")
        if rank is None or rope is None:
            raise InputError("--attention mla: give --kv-lora-rank and --qk-rope-head-dim")
        att = Attention(layers, 1, 1, "mla", rank, rope, window, window_layers)
    else:
        kv = units.integer(opts["kv_heads"], "--kv-heads") if opts["kv_heads"] else None
        head = units.integer(opts["head_dim"], "--head-dim") if opts["head_dim"] else None
        if kv is None or head is None:
            raise InputError("--kv-heads/--head-dim: both are needed for a model not in the catalog")
        if kind == "mqa" and kv != 1:
            raise InputError("--attention mqa: multi-query attention has exactly one KV head")
        att = Attention(layers, kv, head, kind, None, None, window, window_layers)
    params_total = units.positive(opts["params"], "count", "--params") if opts["params"] else None
    inputs = {"model": None, "layers": layers, "kv_heads": att.kv_heads if kind != "mla" else None,
              "head_dim": att.head_dim if kind != "mla" else None, "attention": kind,
              "kv_lora_rank": att.kv_lora_rank, "qk_rope_head_dim": att.qk_rope_head_dim,
              "sliding_window": window, "sliding_window_layers": window_layers,
              "params_total": params_total}
    return att, inputs, params_total, None


def _shards(catalog, gpu_id, gpus_text, tp_text, weights_dtype, utilization, reserve, params_total):
    if params_total is None:
        raise InputError("--params: the fit needs the model's parameter count (or use --model)")
    accelerator = catalog.get("accelerator", gpu_id)
    gpus = units.integer(gpus_text, "--gpus")
    tp = tensor_parallel(tp_text, gpus)
    weights_type = precision(weights_dtype, "--weights-dtype")
    util = units.fraction(utilization, "--memory-utilization")
    reserve_bytes = units.non_negative(reserve, "bytes", "--reserve")
    weights = params_total * BYTES_PER_ELEMENT[weights_type]
    shards = Shards(gpus, tp, accelerator.memory_bytes, util, weights, reserve_bytes)
    inputs = {"gpu": accelerator.id, "gpus": gpus, "tp": tp, "memory_bytes_per_gpu": accelerator.memory_bytes,
              "weights_dtype": weights_type, "memory_utilization": util, "reserve_bytes_per_gpu": reserve_bytes}
    return shards, inputs

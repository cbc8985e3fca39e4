"""KV-cache size and fit.

Standard attention (MHA, GQA, MQA) caches a key and a value vector per KV head per layer:
2 · L · k · h · bytes per token (Vaswani et al. 2017; GQA, Ainslie et al. 2023; MQA,
Shazeer 2019). Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434, section 2.1)
caches one compressed latent of ``kv_lora_rank`` plus the decoupled RoPE key of
``qk_rope_head_dim`` per layer, with no factor 2. Sliding-window layers (Mistral 7B, Gemma 2/3)
hold at most ``window`` tokens. Paged caches (vLLM, Kwon et al. 2023, SOSP) allocate whole
blocks, 16 tokens by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aistack_cli.calc.common import Step, ceil_to, fmt

SRC_GQA = "2·L·k·h per token: K and V per KV head per layer (Ainslie et al. 2023, GQA)"
SRC_MLA = "DeepSeek-V2 (arXiv 2405.04434) §2.1: cache c_KV (kv_lora_rank) + k_rope per layer"
SRC_PAGED = "vLLM PagedAttention (Kwon et al. 2023): whole blocks per sequence"
SRC_FIT = "vLLM: usable = gpu_memory_utilization · HBM; KV gets what weights leave"


@dataclass(frozen=True)
class Attention:
    """What the KV cache of one model depends on."""

    layers: int
    kv_heads: int
    head_dim: int
    kind: str  # mha | gqa | mqa | mla
    kv_lora_rank: int | None = None
    qk_rope_head_dim: int | None = None
    sliding_window: int | None = None
    sliding_window_layers: int = 0


@dataclass(frozen=True)
class Shards:
    """Where the cache lives: ``gpus`` accelerators of ``memory_bytes`` each, in groups of
    ``tensor_parallel`` shards; each group (replica) holds the whole model."""

    gpus: int
    tensor_parallel: int
    memory_bytes: float
    memory_utilization: float
    weights_bytes: float  # whole model, all shards together
    reserve_bytes_per_gpu: float = 0.0


@dataclass(frozen=True)
class KvCacheResult:
    kv_bytes_per_token: float
    kv_bytes_per_sequence: float
    kv_total_bytes: float
    cached_tokens_per_sequence: float
    kv_bytes_per_gpu: float | None
    weights_bytes: float | None
    weights_bytes_per_gpu: float | None
    usable_bytes: float | None
    free_bytes_for_kv: float | None
    max_sequences: int | None
    max_tokens: int | None
    fits: bool | None
    shortfall_bytes: float | None
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    steps: tuple[Step, ...]


def elements_per_token_per_layer(att: Attention) -> int:
    """Cached elements per token per layer: 2·k·h, or kv_lora_rank + qk_rope_head_dim for MLA."""
    if att.kind == "mla":
        return int(att.kv_lora_rank) + int(att.qk_rope_head_dim)
    return 2 * att.kv_heads * att.head_dim


def kv_bytes_per_token(att: Attention, bytes_per_element: float) -> float:
    """Bytes one token adds to the cache while the context is within every window."""
    return att.layers * elements_per_token_per_layer(att) * bytes_per_element


def kv_bytes_per_sequence(att: Attention, context_tokens: float, bytes_per_element: float,
                          block_tokens: int = 0) -> float:
    """Bytes of one sequence's cache: full layers hold the context, window layers the window.

    Each layer's token count is rounded up to whole blocks when ``block_tokens`` > 1.
    """
    per_layer_token = elements_per_token_per_layer(att) * bytes_per_element
    window_layers = att.sliding_window_layers if att.sliding_window else 0
    full_layers = att.layers - window_layers
    full_tokens = ceil_to(context_tokens, block_tokens)
    window_tokens = ceil_to(min(context_tokens, att.sliding_window or context_tokens), block_tokens)
    return per_layer_token * (full_layers * full_tokens + window_layers * window_tokens)


def shard_fraction(att: Attention, gpus: int) -> float:
    """Fraction of a sequence's cache that one tensor-parallel shard holds.

    KV heads are split across shards; with fewer KV heads than shards each head is replicated,
    so a shard still holds one whole head (Megatron-LM / vLLM behaviour). MLA's latent is not
    split by head: every shard holds all of it.
    """
    if att.kind == "mla":
        return 1.0
    heads_per_shard = math.ceil(att.kv_heads / gpus)
    return heads_per_shard / att.kv_heads


def kv_cache(att: Attention, context_tokens: float, batch: int, bytes_per_element: float,
             block_tokens: int = 16, shards: Shards | None = None) -> KvCacheResult:
    """KV bytes per token, per sequence and in total; with ``shards``, whether it fits."""
    per_layer = elements_per_token_per_layer(att)
    per_token = kv_bytes_per_token(att, bytes_per_element)
    per_sequence = kv_bytes_per_sequence(att, context_tokens, bytes_per_element, block_tokens)
    total = per_sequence * batch
    cached_tokens = per_sequence / per_token  # equivalent full-layer tokens held
    steps = [_per_token_step(att, per_layer, bytes_per_element, per_token),
             _per_sequence_step(att, context_tokens, block_tokens, per_token, per_sequence),
             Step("kv_total_bytes", "batch · kv_bytes_per_sequence",
                  f"{batch} · {fmt(per_sequence)}", total, "B", "sum over sequences")]
    assumptions = [f"paged allocation in blocks of {block_tokens} tokens" if block_tokens > 1
                   else "no paging: exactly the context is cached"]
    warnings: list[str] = []
    fit = _fit(att, shards, per_sequence, per_token, batch, steps, assumptions, warnings) if shards else {}
    return KvCacheResult(
        kv_bytes_per_token=per_token,
        kv_bytes_per_sequence=per_sequence,
        kv_total_bytes=total,
        cached_tokens_per_sequence=cached_tokens,
        kv_bytes_per_gpu=fit.get("kv_bytes_per_gpu"),
        weights_bytes=fit.get("weights_bytes"),
        weights_bytes_per_gpu=fit.get("weights_bytes_per_gpu"),
        usable_bytes=fit.get("usable_bytes"),
        free_bytes_for_kv=fit.get("free_bytes_for_kv"),
        max_sequences=fit.get("max_sequences"),
        max_tokens=fit.get("max_tokens"),
        fits=fit.get("fits"),
        shortfall_bytes=fit.get("shortfall_bytes"),
        assumptions=tuple(assumptions),
        warnings=tuple(warnings),
        steps=tuple(steps),
    )


def _per_token_step(att: Attention, per_layer: int, bpe: float, per_token: float) -> Step:
    if att.kind == "mla":
        return Step("kv_bytes_per_token", "L · (kv_lora_rank + qk_rope_head_dim) · bytes",
                    f"{att.layers} · ({att.kv_lora_rank} + {att.qk_rope_head_dim}) · {fmt(bpe)}",
                    per_token, "B", SRC_MLA)
    return Step("kv_bytes_per_token", "2 · L · kv_heads · head_dim · bytes",
                f"2 · {att.layers} · {att.kv_heads} · {att.head_dim} · {fmt(bpe)}",
                per_token, "B", SRC_GQA)


def _per_sequence_step(att: Attention, context: float, block: int, per_token: float,
                       per_sequence: float) -> Step:
    rounded = f"ceil({fmt(context)} / {block}) · {block}" if block > 1 else fmt(context)
    if att.sliding_window and att.sliding_window_layers:
        full = att.layers - att.sliding_window_layers
        return Step("kv_bytes_per_sequence",
                    "kv_bytes_per_token / L · (full_layers · tokens + window_layers · min(tokens, window))",
                    f"{fmt(per_token)} / {att.layers} · ({full} · {rounded} + "
                    f"{att.sliding_window_layers} · min({rounded}, {att.sliding_window}))",
                    per_sequence, "B", "sliding-window layers keep only the last `window` tokens")
    return Step("kv_bytes_per_sequence", "kv_bytes_per_token · tokens (rounded up to blocks)",
                f"{fmt(per_token)} · {rounded}", per_sequence, "B", SRC_PAGED)


def _fit(att, shards, per_sequence, per_token, batch, steps, assumptions, warnings) -> dict:
    tp, gpus, util = shards.tensor_parallel, shards.gpus, shards.memory_utilization
    replicas = gpus // tp
    fraction = shard_fraction(att, tp)
    kv_per_gpu_per_seq = per_sequence * fraction
    usable = shards.memory_bytes * util
    weights_per_gpu = shards.weights_bytes / tp
    free = usable - weights_per_gpu - shards.reserve_bytes_per_gpu
    per_replica = max(0, math.floor(free / kv_per_gpu_per_seq)) if free > 0 else 0
    max_sequences = per_replica * replicas
    max_tokens = (max(0, math.floor(free / (per_token * fraction))) if free > 0 else 0) * replicas
    needed_per_gpu = math.ceil(batch / replicas) * kv_per_gpu_per_seq
    fits = free > 0 and needed_per_gpu <= free
    shortfall_per_gpu = 0.0 if fits else needed_per_gpu - free
    steps += [
        Step("usable_bytes", "HBM per GPU · memory_utilization",
             f"{fmt(shards.memory_bytes)} · {fmt(util)}", usable, "B per GPU", SRC_FIT),
        Step("weights_bytes_per_gpu", "weights_bytes / tensor_parallel",
             f"{fmt(shards.weights_bytes)} / {tp}", weights_per_gpu, "B per GPU",
             "weights split evenly over tensor-parallel shards (Megatron-LM)"),
        Step("free_bytes_for_kv", "usable − weights per GPU − reserve",
             f"{fmt(usable)} − {fmt(weights_per_gpu)} − {fmt(shards.reserve_bytes_per_gpu)}",
             free, "B per GPU", SRC_FIT),
        Step("max_sequences", "replicas · floor(free / (kv_bytes_per_sequence · shard_fraction))",
             f"{replicas} · floor({fmt(free)} / ({fmt(per_sequence)} · {fmt(fraction)}))",
             max_sequences, "", "each shard holds its share of KV heads (all of an MLA latent)"),
    ]
    assumptions.append(f"memory utilisation {util:g} of HBM (vLLM gpu_memory_utilization default 0.9)")
    if shards.reserve_bytes_per_gpu == 0:
        assumptions.append("no memory reserved for activations or CUDA graphs (set --reserve)")
    if replicas > 1:
        assumptions.append(f"{replicas} replicas of {tp} tensor-parallel shards; sequences spread evenly")
    if att.kind != "mla" and att.kv_heads < tp:
        warnings.append(f"{att.kv_heads} KV heads over {tp} shards: KV heads are replicated")
    if free <= 0:
        warnings.append("weights alone exceed usable memory: nothing left for the KV cache")
    elif not fits:
        warnings.append("the requested batch and context do not fit in the memory left for KV")
    return {
        "kv_bytes_per_gpu": needed_per_gpu,
        "weights_bytes": shards.weights_bytes,
        "weights_bytes_per_gpu": weights_per_gpu,
        "usable_bytes": usable * gpus,
        "free_bytes_for_kv": free * gpus,
        "max_sequences": max_sequences,
        "max_tokens": max_tokens,
        "fits": fits,
        "shortfall_bytes": shortfall_per_gpu * gpus,
    }

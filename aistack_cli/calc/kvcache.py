"""KV-cache size and fit.

Standard attention (MHA, GQA, MQA) caches a key and a value vector per KV head per layer:
2 · L · k · h · bytes per token (Vaswani et al. 2017; GQA, Ainslie et al. 2023; MQA,
Shazeer 2019). Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434, section 2.1)
caches one compressed latent of ``kv_lora_rank`` plus the decoupled RoPE key of
``qk_rope_head_dim`` per layer, with no factor 2. Sliding-window layers (Mistral 7B, Gemma 2/3)
hold at most ``window`` tokens. Paged caches (vLLM, Kwon et al. 2023, SOSP) allocate whole
blocks, 16 tokens by default.

The fit is the one memory budget every serving calculation uses: what an engine leaves for the
pool after the weights and the activation peak it reserves (``kv_pool_bytes_per_gpu``). vLLM
profiles one forward pass over its token budget and keeps the peak out of the pool (vLLM docs,
``gpu_memory_utilization``; ``Worker.determine_num_available_blocks``); SGLang's static fraction
holds weights and pool and leaves activations outside it (``mem_fraction_static``); TensorRT-LLM
gives the pool a fraction of what is free after weights and activation buffers
(``kv_cache_free_gpu_mem_fraction``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from aistack_cli.calc.common import Step, ceil_to, fmt

SRC_GQA = "2·L·k·h per token: K and V per KV head per layer (Ainslie et al. 2023, GQA)"
SRC_MLA = "DeepSeek-V2 (arXiv 2405.04434) §2.1: cache c_KV (kv_lora_rank) + k_rope per layer"
SRC_PAGED = "vLLM PagedAttention (Kwon et al. 2023): whole blocks per sequence"
SRC_FIT = "vLLM: usable = gpu_memory_utilization · HBM; KV gets what weights and the profiled activation peak leave"
SRC_ACTIVATION = ("activation peak of one forward pass over the profiled tokens: per token 3·hidden (residual, normed "
                  "input, output) + 3·ffn/tp (SwiGLU gate_up output and its product) or, for a fused MoE layer, "
                  "k·(3·expert_ffn/tp + hidden); plus 16-bit and fp32 logits of the sampled rows (vLLM profile_run)")
ENGINES = ("vllm", "sglang", "trtllm", "none")
ACTIVATION_BYTES = 2.0  # activations are 16-bit in vLLM, SGLang and TensorRT-LLM
LOGIT_BYTES = 6.0  # each sampled row's logits in 16-bit, then cast to fp32 for the sampler
V0_MIN_BATCHED_TOKENS = 2048  # vLLM V0 without chunked prefill: max_num_batched_tokens = max(max_model_len, 2048)


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
    """Where the cache lives: ``gpus`` accelerators of ``memory_bytes`` each. Attention runs in
    groups of ``tensor_parallel`` shards, each group holding its own sequences; without expert
    parallelism each group is a replica holding the whole model. ``weights_bytes_per_gpu`` is what
    one GPU holds (``weights_bytes_per_gpu()``: the dense part over tensor parallelism, routed experts
    over expert parallelism); None: the whole model over ``tensor_parallel``."""

    gpus: int
    tensor_parallel: int
    memory_bytes: float
    memory_utilization: float
    weights_bytes: float  # whole model, all shards together
    reserve_bytes_per_gpu: float = 0.0  # kept besides the activation peak (given by the user)
    activation_bytes_per_gpu: float = 0.0  # the engine's profiled activation peak
    engine: str = "none"
    weights_bytes_per_gpu: float | None = None


@dataclass(frozen=True)
class KvCacheResult:
    kv_bytes_per_token: float
    kv_bytes_per_sequence: float
    kv_total_bytes: float
    cached_tokens_per_sequence: float
    kv_bytes_per_gpu: float | None
    activation_reserve_bytes_per_gpu: float | None
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


# ---- the memory budget: weights, activation peak, pool ------------------------------------

@dataclass(frozen=True)
class WeightSplit:
    """Parameters by how they are sharded and stored: ``routed`` experts are split over expert
    parallelism, the rest over tensor parallelism; ``embedding`` (input table and output head) stays
    16-bit in quantised checkpoints (vLLM, TensorRT-LLM ModelOpt, AutoAWQ and GPTQ leave lm_head
    and the embedding unquantised)."""

    total: float
    routed: float = 0.0
    embedding: float = 0.0


def weights_bytes(split: WeightSplit, bytes_per_param: float) -> float:
    """Bytes of the whole model: its parameters at their element size, the embedding at 16-bit or more."""
    return (split.total - split.embedding) * bytes_per_param + split.embedding * max(bytes_per_param, 2.0)


def weights_bytes_per_gpu(split: WeightSplit, bytes_per_param: float, tp: int, ep: int = 1, pp: int = 1) -> float:
    """What one GPU holds: the dense part over tp, routed experts over ep (over tp when ep is 1),
    each pipeline stage a 1/pp share of the layers."""
    whole = weights_bytes(split, bytes_per_param)
    routed = split.routed * bytes_per_param
    experts_over = ep if ep > 1 else tp
    return ((whole - routed) / tp + routed / experts_over) / pp


@dataclass(frozen=True)
class Activations:
    """What the activation peak of a forward pass depends on; a 0 width means unknown."""

    hidden_size: int
    ffn_size: int = 0
    vocab_size: int = 0
    experts_active: int = 0
    expert_ffn_size: int = 0


def activation_peak_bytes(act: Activations, tokens: float, tp: int, logit_rows: float) -> float:
    """Peak activation memory on one tensor-parallel shard for a forward pass over ``tokens`` tokens
    that samples ``logit_rows`` rows: the busiest MLP's live buffers per token (a SwiGLU MLP holds its
    gate_up output 2·ffn and the product ffn, sharded over tp, beside the residual stream, the normed
    input and the output, 3·hidden; a fused MoE layer holds k·(3·expert_ffn/tp + hidden) per token),
    plus the sampled rows' logits. This is what vLLM's profile_run measures and keeps out of the pool."""
    dense = 3.0 * act.ffn_size / tp
    moe = act.experts_active * (3.0 * act.expert_ffn_size / tp + act.hidden_size)
    per_token = ACTIVATION_BYTES * (3.0 * act.hidden_size + max(dense, moe))
    return tokens * per_token + logit_rows * act.vocab_size / tp * LOGIT_BYTES


def profiled_tokens(max_num_batched_tokens: int, max_context: float, chunked_prefill: bool) -> float:
    """Tokens vLLM's profile pass runs: its token budget with chunked prefill (V1 always; V0 above 32k
    context), else the whole max context (V0: max_num_batched_tokens = max(max_model_len, 2048)), so the
    reserve grows with the context the server admits."""
    if chunked_prefill:
        return float(max_num_batched_tokens)
    return float(max(max_context, V0_MIN_BATCHED_TOKENS))


def vllm_large_gpu(memory_bytes: float, ampere: bool) -> bool:
    """vLLM's rule for its larger batch defaults (max_num_seqs 1024, max_num_batched_tokens 8192): at least
    70 GiB of memory and not an A100 (vllm/engine/arg_utils.py get_batch_defaults; PR #17885)."""
    return memory_bytes >= 70 * 2**30 and not ampere


def sglang_mem_fraction_static(tp: int) -> float:
    """SGLang's default ``mem_fraction_static`` by tensor-parallel size (server_args.py, v0.4 era):
    weights and KV pool share it; activations and CUDA graphs use the rest."""
    if tp >= 16:
        return 0.79
    if tp >= 8:
        return 0.81
    if tp >= 4:
        return 0.85
    if tp >= 2:
        return 0.87
    return 0.88


def kv_pool_bytes_per_gpu(engine: str, memory_bytes: float, utilization: float, weights_per_gpu: float,
                          activation_bytes: float, reserve_bytes: float = 0.0) -> float:
    """Bytes one GPU gives its KV pool, by the engine's rule (negative: the weights do not fit).

    vllm: utilization · memory − weights − activation peak; sglang: utilization · memory − weights
    (activations outside the static fraction); trtllm: utilization · (memory − weights − activation
    buffers); none: utilization · memory − weights. ``reserve_bytes`` is taken off in every case."""
    if engine == "vllm":
        pool = utilization * memory_bytes - weights_per_gpu - activation_bytes
    elif engine == "trtllm":
        pool = utilization * (memory_bytes - weights_per_gpu - activation_bytes)
    else:
        pool = utilization * memory_bytes - weights_per_gpu
    return pool - reserve_bytes


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
        activation_reserve_bytes_per_gpu=fit.get("activation_reserve_bytes_per_gpu"),
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
    groups = gpus // tp  # attention groups, each holding its own sequences
    fraction = shard_fraction(att, tp)
    kv_per_gpu_per_seq = per_sequence * fraction
    weights_per_gpu = shards.weights_bytes / tp if shards.weights_bytes_per_gpu is None else shards.weights_bytes_per_gpu
    activation = shards.activation_bytes_per_gpu
    free = kv_pool_bytes_per_gpu(shards.engine, shards.memory_bytes, util, weights_per_gpu, activation,
                                 shards.reserve_bytes_per_gpu)
    per_group = max(0, math.floor(free / kv_per_gpu_per_seq)) if free > 0 else 0
    max_sequences = per_group * groups
    max_tokens = (max(0, math.floor(free / (per_token * fraction))) if free > 0 else 0) * groups
    needed_per_gpu = math.ceil(batch / groups) * kv_per_gpu_per_seq
    fits = free > 0 and needed_per_gpu <= free
    shortfall_per_gpu = 0.0 if fits else needed_per_gpu - max(free, 0.0)
    formula, substituted = _pool_formula(shards, weights_per_gpu, activation)
    steps += [
        Step("weights_bytes_per_gpu", "dense weights / tp + routed experts / ep",
             f"{fmt(shards.weights_bytes)} over {tp} shards" if shards.weights_bytes_per_gpu is None
             else "calc.kvcache.weights_bytes_per_gpu", weights_per_gpu, "B per GPU",
             "weights split evenly over tensor-parallel shards (Megatron-LM), experts over expert-parallel ranks"),
        Step("activation_reserve_bytes_per_gpu", "profiled tokens · per-token MLP buffers + sampled logits",
             "calc.kvcache.activation_peak_bytes", activation, "B per GPU", SRC_ACTIVATION),
        Step("free_bytes_for_kv", formula, substituted, free, "B per GPU", SRC_FIT),
        Step("max_sequences", "groups · floor(free / (kv_bytes_per_sequence · shard_fraction))",
             f"{groups} · floor({fmt(free)} / ({fmt(per_sequence)} · {fmt(fraction)}))",
             max_sequences, "", "each shard holds its share of KV heads (all of an MLA latent)"),
    ]
    assumptions.append(_engine_note(shards.engine, util))
    if shards.engine == "none" and shards.reserve_bytes_per_gpu == 0:
        assumptions.append("no memory reserved for activations or CUDA graphs (set --engine or --reserve)")
    if shards.engine in ("vllm", "trtllm"):
        assumptions.append("CUDA graphs, NCCL buffers and the CUDA context are not reserved (vLLM counts them "
                           "as non-torch memory: a few hundred MiB to a few GiB)")
    if groups > 1:
        assumptions.append(f"{groups} attention groups of {tp} tensor-parallel shards; sequences spread evenly")
    if att.kind != "mla" and att.kv_heads < tp:
        warnings.append(f"{att.kv_heads} KV heads over {tp} shards: KV heads are replicated")
    if free <= 0:
        warnings.append("weights and the activation reserve exceed usable memory: nothing left for the KV cache")
    elif not fits:
        warnings.append("the requested batch and context do not fit in the memory left for KV")
    return {
        "kv_bytes_per_gpu": needed_per_gpu,
        "activation_reserve_bytes_per_gpu": activation,
        "weights_bytes": shards.weights_bytes,
        "weights_bytes_per_gpu": weights_per_gpu,
        "usable_bytes": shards.memory_bytes * util * gpus,
        "free_bytes_for_kv": free * gpus,
        "max_sequences": max_sequences,
        "max_tokens": max_tokens,
        "fits": fits,
        "shortfall_bytes": shortfall_per_gpu * gpus,
    }


def _pool_formula(shards: Shards, weights: float, activation: float) -> tuple[str, str]:
    m, u, r = fmt(shards.memory_bytes), fmt(shards.memory_utilization), fmt(shards.reserve_bytes_per_gpu)
    if shards.engine == "vllm":
        return ("HBM · utilization − weights − activation peak − reserve",
                f"{m} · {u} − {fmt(weights)} − {fmt(activation)} − {r}")
    if shards.engine == "trtllm":
        return ("free fraction · (HBM − weights − activation buffers) − reserve",
                f"{u} · ({m} − {fmt(weights)} − {fmt(activation)}) − {r}")
    return "HBM · utilization − weights − reserve", f"{m} · {u} − {fmt(weights)} − {r}"


def _engine_note(engine: str, util: float) -> str:
    if engine == "vllm":
        return (f"vLLM pool: {util:g} of memory (gpu_memory_utilization) less the weights and the activation "
                "peak of its profile pass over the token budget")
    if engine == "sglang":
        return f"SGLang pool: {util:g} of memory (mem_fraction_static) less the weights; activations outside it"
    if engine == "trtllm":
        return (f"TensorRT-LLM pool: {util:g} (kv_cache_free_gpu_mem_fraction) of the memory free after weights "
                "and activation buffers")
    return f"memory utilisation {util:g} of HBM; the KV cache gets what the weights leave"

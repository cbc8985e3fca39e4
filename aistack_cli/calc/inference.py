"""Serving a model: fit, time to first token, inter-token latency, throughput and cost.

A roofline per phase (Williams, Waterman & Patterson 2009, CACM 52(4)): a phase takes the
longer of its memory traffic over achieved bandwidth and its arithmetic over achieved compute.
Prefill runs the prompt's tokens through the model at once and is usually compute-bound; each
decode step reads the weights once for the whole batch plus every sequence's KV cache, and is
usually memory-bound until the batch is large (Pope et al. 2022, "Efficiently Scaling
Transformer Inference", arXiv 2211.05102, section 2). Tensor parallelism adds two all-reduces
of the layer's activations per layer (Megatron-LM, Shoeybi et al. 2019, arXiv 1909.08053,
section 3), timed with the alpha-beta ring model (Thakur et al. 2005; Patarasuk & Yuan 2009).

KV-cache sizes come from ``calc.kvcache``; nothing about the cache is computed twice.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from aistack_cli.calc.common import Step, fmt
from aistack_cli.calc.kvcache import Attention, kv_bytes_per_sequence, kv_bytes_per_token, shard_fraction

SRC_ROOFLINE = "roofline: time = max(bytes / achieved bandwidth, FLOP / achieved compute) (Williams et al. 2009)"
SRC_DECODE = "Pope et al. 2022 (arXiv 2211.05102) §2: a decode step reads the weights once per batch plus each KV cache"
SRC_FLOP = "2 FLOP per active parameter per token (Kaplan et al. 2020, arXiv 2001.08361, §2.1)"
SRC_ATTN = "attention scores and values: 4·heads·head_dim FLOP per token per cached token per layer"
SRC_RING = "ring all-reduce 2(t−1)·α + 2(t−1)/t·S/B (Thakur et al. 2005); 2 per layer (Megatron-LM §3)"
SRC_MOE = "experts hit by b tokens routed top-k of E at random: E·(1 − (1 − k/E)^b)"
SRC_FIT = "vLLM: usable = gpu_memory_utilization · HBM; KV gets what the weights leave"
SRC_COST = "GPU-hours of each phase charged to its tokens: n · price/h ÷ 3600 ÷ tokens per second"
SRC_PIPE = "pipeline stages run one after another for each step (no micro-batch overlap)"

ACTIVATION_BYTES = 2.0  # activations exchanged between shards are 16-bit in vLLM and TensorRT-LLM
GIB = 2.0**30


@dataclass(frozen=True)
class ModelShape:
    """What serving cost depends on. MoE experts are SwiGLU MLPs of 3·hidden·expert_ffn."""

    params_total: float
    params_active: float
    layers: int
    hidden_size: int
    heads: int
    head_dim: int
    attention: Attention
    experts_routed: int = 0
    experts_active: int = 0
    moe_layers: int = 0
    expert_ffn_size: int = 0


@dataclass(frozen=True)
class Hardware:
    """One accelerator from its sheet; peak is dense at the precision the maths runs in."""

    memory_bytes: float
    bandwidth_bytes_per_s: float
    peak_flop_per_s: float
    link_bytes_per_s: float | None  # scale-up, per direction; None: one GPU per replica only
    link_latency_s: float  # per ring step
    scale_up_domain: int
    price_usd_per_gpu_hour: float | None = None


@dataclass(frozen=True)
class Deployment:
    """How the model is laid out and how well the software drives the hardware."""

    gpus: int
    tp: int
    pp: int
    weight_bytes_per_param: float
    kv_bytes_per_element: float
    mbu: float = 0.7
    mfu: float = 0.4
    memory_utilization: float = 0.9
    block_tokens: int = 16

    @property
    def replicas(self) -> int:
        return self.gpus // (self.tp * self.pp)


@dataclass(frozen=True)
class Workload:
    batch: int  # concurrent sequences over the whole deployment
    prompt_tokens: int
    output_tokens: int

    @property
    def decode_context(self) -> float:
        """Mean context over the decode steps: the prompt plus half the output."""
        return self.prompt_tokens + self.output_tokens / 2


@dataclass(frozen=True)
class Phase:
    """One roofline evaluation: its parts and total, in seconds."""

    bytes: float
    flop: float
    memory_s: float
    compute_s: float
    comm_s: float

    @property
    def seconds(self) -> float:
        return max(self.memory_s, self.compute_s) + self.comm_s

    @property
    def bound(self) -> str:
        return "memory" if self.memory_s >= self.compute_s else "compute"


@dataclass(frozen=True)
class Fit:
    weights_bytes: float
    kv_bytes: float
    free_bytes_per_gpu: float
    kv_bytes_per_sequence_per_gpu: float
    max_batch: int
    fits: bool
    shortfall_bytes: float


@dataclass(frozen=True)
class InferenceResult:
    weights_bytes: float
    kv_total_bytes: float
    fits: bool
    shortfall_bytes: float
    max_sequences: int
    prefill_s: float
    ttft_s: float
    itl_s: float
    tokens_per_s_per_user: float
    output_tokens_per_s: float
    requests_per_s: float
    e2e_latency_s: float
    decode_bound: str
    step_memory_s: float
    step_compute_s: float
    step_comm_s: float
    cost_per_million_output_tokens_usd: float | None
    cost_per_million_input_tokens_usd: float | None
    meets_targets: bool | None
    assumptions: tuple[str, ...]
    warnings: tuple[str, ...]
    steps: tuple[Step, ...]


# ---- weights and FLOP -------------------------------------------------------------------

def expert_params(model: ModelShape) -> float:
    """Parameters of one routed expert: gate, up and down projections of a SwiGLU MLP."""
    return 3.0 * model.hidden_size * model.expert_ffn_size


def experts_touched(experts: int, top_k: int, tokens: float) -> float:
    """Expected experts hit per MoE layer when ``tokens`` tokens each pick top-k of E uniformly.

    Each expert is missed by one token with probability 1 − k/E, so by all with (1 − k/E)^b.
    """
    if experts <= 0 or top_k <= 0:
        return 0.0
    return experts * (1.0 - (1.0 - top_k / experts) ** tokens)


def weight_params_read(model: ModelShape, tokens: float) -> float:
    """Parameters a forward pass over ``tokens`` tokens reads: all of a dense model; for MoE the
    dense part (attention, shared experts, dense layers, embeddings) plus the experts touched."""
    if model.experts_routed <= 0 or model.moe_layers <= 0:
        return model.params_total
    routed = model.moe_layers * model.experts_routed * expert_params(model)
    touched = experts_touched(model.experts_routed, model.experts_active, tokens)
    return model.params_total - routed + model.moe_layers * touched * expert_params(model)


def _window_split(att: Attention) -> tuple[int, int, int]:
    window_layers = att.sliding_window_layers if att.sliding_window else 0
    return att.layers - window_layers, window_layers, att.sliding_window or 0


def attention_flop_per_token(model: ModelShape, context: float) -> float:
    """Decode: each new token attends to ``context`` cached tokens: 4·a·h per cached token per layer
    (scores and weighted values); window layers see at most the window."""
    full, windowed, window = _window_split(model.attention)
    per_cached = 4.0 * model.heads * model.head_dim
    return per_cached * (full * context + windowed * min(context, window or context))


def attention_flop_prefill(model: ModelShape, tokens: float) -> float:
    """Prefill of one prompt, causal: token i attends to i tokens, Σ 4·a·h·i ≈ 2·a·h·T² per layer;
    a window layer caps each token's span at the window: 2·a·h·(2·w·T − w²) once T > w."""
    full, windowed, window = _window_split(model.attention)
    ah = model.heads * model.head_dim
    window_term = tokens**2 if tokens <= window else 2 * window * tokens - window**2
    return 2.0 * ah * (full * tokens**2 + windowed * window_term)


# ---- communication ----------------------------------------------------------------------

def ring_allreduce_s(message_bytes: float, ranks: int, hw: Hardware) -> float:
    """Ring all-reduce of ``message_bytes`` over ``ranks``: 2(t−1) steps of latency α, and each rank
    sends 2(t−1)/t of the message over its link (per direction)."""
    if ranks <= 1:
        return 0.0
    steps = 2 * (ranks - 1)
    return steps * hw.link_latency_s + steps / ranks * message_bytes / hw.link_bytes_per_s


def comm_s(model: ModelShape, tokens: float, dep: Deployment, hw: Hardware) -> float:
    """Tensor parallelism: 2 all-reduces of tokens·hidden activations per layer; pipeline stages
    hand the activations on (pp − 1 hops of latency plus transfer)."""
    if dep.tp * dep.pp == 1:
        return 0.0
    message = tokens * model.hidden_size * ACTIVATION_BYTES
    tensor = 2 * model.layers * ring_allreduce_s(message, dep.tp, hw)
    pipeline = (dep.pp - 1) * (hw.link_latency_s + message / hw.link_bytes_per_s)
    return tensor + pipeline


# ---- phases -----------------------------------------------------------------------------

def _phase(bytes_moved: float, flop: float, comm: float, dep: Deployment, hw: Hardware) -> Phase:
    """Roofline over the tensor-parallel group: stages of a pipeline run one after another."""
    memory = bytes_moved / (dep.tp * hw.bandwidth_bytes_per_s * dep.mbu)
    compute = flop / (dep.tp * hw.peak_flop_per_s * dep.mfu)
    return Phase(bytes_moved, flop, memory, compute, comm)


def _forward(model: ModelShape, tokens: float, kv_bytes: float, attention_flop: float,
             dep: Deployment, hw: Hardware) -> Phase:
    """One forward pass over ``tokens`` tokens: the weights they touch plus ``kv_bytes`` of cache
    traffic; 2·N_active FLOP per token plus the attention."""
    weights = weight_params_read(model, tokens) * dep.weight_bytes_per_param
    flop = 2.0 * model.params_active * tokens + attention_flop
    return _phase(weights + kv_bytes, flop, comm_s(model, tokens, dep, hw), dep, hw)


def _kv_sequence(model: ModelShape, tokens: float, dep: Deployment) -> float:
    return kv_bytes_per_sequence(model.attention, tokens, dep.kv_bytes_per_element)


def prefill(model: ModelShape, prompts: int, prompt_tokens: int, dep: Deployment, hw: Hardware) -> Phase:
    """``prompts`` prompts of ``prompt_tokens`` at once, writing their caches; causal attention."""
    return _forward(model, prompts * prompt_tokens, prompts * _kv_sequence(model, prompt_tokens, dep),
                    prompts * attention_flop_prefill(model, prompt_tokens), dep, hw)


def decode_step(model: ModelShape, sequences: int, context: float, dep: Deployment, hw: Hardware) -> Phase:
    """One token for each of ``sequences`` sequences at ``context`` cached tokens: the active weights
    once for the batch plus every sequence's cache (Pope et al. 2022 §2)."""
    return _forward(model, sequences, sequences * _kv_sequence(model, context, dep),
                    sequences * attention_flop_per_token(model, context), dep, hw)


def first_token_step(model: ModelShape, prompt_tokens: int, others: int, context: float,
                     dep: Deployment, hw: Hardware) -> Phase:
    """A new request's prompt prefilled in one step beside ``others`` sequences' decode, as
    continuous batching with chunked prefill runs it (vLLM, Sarathi: Agrawal et al. 2023)."""
    kv = _kv_sequence(model, prompt_tokens, dep) + others * _kv_sequence(model, context, dep)
    attention = attention_flop_prefill(model, prompt_tokens) + others * attention_flop_per_token(model, context)
    return _forward(model, prompt_tokens + others, kv, attention, dep, hw)


# ---- memory fit -------------------------------------------------------------------------

def fit(model: ModelShape, work: Workload, dep: Deployment, hw: Hardware) -> Fit:
    """Weights split over tp·pp GPUs; each GPU holds its shard of every sequence's cache at the full
    context (its KV heads, its 1/pp of the layers), in paged blocks."""
    weights = model.params_total * dep.weight_bytes_per_param
    context = work.prompt_tokens + work.output_tokens
    per_sequence = kv_bytes_per_sequence(model.attention, context, dep.kv_bytes_per_element, dep.block_tokens)
    per_sequence_per_gpu = per_sequence * shard_fraction(model.attention, dep.tp) / dep.pp
    free = hw.memory_bytes * dep.memory_utilization - weights / (dep.tp * dep.pp)
    per_replica = math.floor(free / per_sequence_per_gpu) if free > 0 else 0
    needed = math.ceil(work.batch / dep.replicas) * per_sequence_per_gpu
    fits = free > 0 and needed <= free
    shortfall = 0.0 if fits else (needed - free) * dep.gpus
    return Fit(weights, per_sequence * work.batch, free, per_sequence_per_gpu,
               per_replica * dep.replicas, fits, shortfall)


def smallest_fitting_gpus(model: ModelShape, work: Workload, dep: Deployment, hw: Hardware) -> Deployment:
    """The smallest power of two up to the scale-up domain, as one tensor-parallel group, that holds
    the weights and the batch's cache; the largest such power of two if none does."""
    candidates = powers_of_two(hw.scale_up_domain)
    for gpus in candidates:
        trial = replace(dep, gpus=gpus, tp=gpus, pp=1)
        if fit(model, work, trial, hw).fits:
            return trial
    return replace(dep, gpus=candidates[-1], tp=candidates[-1], pp=1)


def powers_of_two(limit: int) -> list[int]:
    """1, 2, 4, ... up to ``limit`` (at least [1])."""
    return [2**i for i in range(int(math.log2(max(1, limit))) + 1)]


# ---- latency, throughput and cost --------------------------------------------------------

@dataclass(frozen=True)
class Targets:
    """Latency limits for planning; None means no limit."""

    itl_s: float | None = None
    ttft_s: float | None = None

    @property
    def given(self) -> bool:
        return self.itl_s is not None or self.ttft_s is not None

    def met(self, timing: Timing) -> bool:
        return ((self.itl_s is None or timing.step.seconds <= self.itl_s)
                and (self.ttft_s is None or timing.first_token.seconds <= self.ttft_s))


@dataclass(frozen=True)
class Timing:
    """What one replica does with its share of the batch."""

    sequences_per_replica: int
    one_prefill: Phase  # a prompt alone
    first_token: Phase  # a prompt beside the others' decode: the TTFT
    batch_prefill: Phase  # every prompt of the batch: the prefill GPU-time throughput pays for
    step: Phase  # one decode step at the mean context: the ITL
    cycle_s: float  # GPU-time to serve the batch's requests: prefill + (output − 1) steps
    e2e_s: float  # what one user waits: first token, then output − 1 more at the ITL


def timing(model: ModelShape, work: Workload, dep: Deployment, hw: Hardware) -> Timing:
    """Per replica: ceil(batch / replicas) sequences, decode at the mean context."""
    per_replica = math.ceil(work.batch / dep.replicas)
    context = work.decode_context
    step = decode_step(model, per_replica, context, dep, hw)
    batch = prefill(model, per_replica, work.prompt_tokens, dep, hw)
    first = first_token_step(model, work.prompt_tokens, per_replica - 1, context, dep, hw)
    later_tokens_s = (work.output_tokens - 1) * step.seconds
    return Timing(
        sequences_per_replica=per_replica,
        one_prefill=prefill(model, 1, work.prompt_tokens, dep, hw),
        first_token=first,
        batch_prefill=batch,
        step=step,
        cycle_s=batch.seconds + later_tokens_s,
        e2e_s=first.seconds + later_tokens_s,
    )


def costs_per_million(work: Workload, dep: Deployment, hw: Hardware, t: Timing) -> tuple[float, float] | None:
    """(output, input) USD per million tokens: decode GPU-time over the decoded tokens, prefill
    GPU-time over the prompt tokens, so both together pay for every GPU-hour."""
    if hw.price_usd_per_gpu_hour is None:
        return None
    usd_per_s = dep.gpus * hw.price_usd_per_gpu_hour / 3600
    decode_tokens_per_s = work.batch / t.step.seconds
    prompt_tokens_per_s = work.batch * work.prompt_tokens / t.batch_prefill.seconds
    return usd_per_s / decode_tokens_per_s * 1e6, usd_per_s / prompt_tokens_per_s * 1e6


def largest_batch(model: ModelShape, work: Workload, dep: Deployment, hw: Hardware, targets: Targets) -> int | None:
    """The most concurrent sequences that fit in memory and meet the targets (binary search: both
    latencies grow with the batch); None if even one sequence misses or does not fit."""
    limit = fit(model, replace(work, batch=1), dep, hw).max_batch

    def meets(batch: int) -> bool:
        return targets.met(timing(model, replace(work, batch=batch), dep, hw))

    if limit < 1 or not meets(1):
        return None
    low, high = 1, limit
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if meets(middle) else (low, middle - 1)
    return low


def plan(model: ModelShape, work: Workload, dep: Deployment, hw: Hardware, targets: Targets,
         choose_gpus: bool) -> tuple[Deployment, Workload]:
    """Planning mode: the largest batch meeting ``targets``. With ``choose_gpus``, every power of
    two up to the scale-up domain (one tensor-parallel group) is tried and the one giving the most
    output tokens per second per GPU wins, i.e. the cheapest per token at a given GPU price. When
    nothing meets the targets: batch 1 on the smallest layout that holds it."""
    options = [replace(dep, gpus=n, tp=n, pp=1) for n in powers_of_two(hw.scale_up_domain)] if choose_gpus else [dep]
    best: tuple[float, Deployment, Workload] | None = None
    for option in options:
        batch = largest_batch(model, work, option, hw, targets)
        if batch is None:
            continue
        found = replace(work, batch=batch)
        per_gpu = batch * work.output_tokens / timing(model, found, option, hw).cycle_s / option.gpus
        if best is None or per_gpu > best[0]:
            best = (per_gpu, option, found)
    if best is not None:
        return best[1], best[2]
    fallback = smallest_fitting_gpus(model, replace(work, batch=1), dep, hw) if choose_gpus else dep
    return fallback, replace(work, batch=1)


def serve(model: ModelShape, work: Workload, dep: Deployment, hw: Hardware,
          targets: Targets = Targets()) -> InferenceResult:
    """Fit, latencies, throughput and cost of ``work`` on ``dep``, with the working shown."""
    memory = fit(model, work, dep, hw)
    t = timing(model, work, dep, hw)
    costs = costs_per_million(work, dep, hw, t) if memory.fits else None
    return InferenceResult(
        weights_bytes=memory.weights_bytes,
        kv_total_bytes=memory.kv_bytes,
        fits=memory.fits,
        shortfall_bytes=memory.shortfall_bytes,
        max_sequences=memory.max_batch,
        prefill_s=t.one_prefill.seconds,
        ttft_s=t.first_token.seconds,
        itl_s=t.step.seconds,
        tokens_per_s_per_user=1.0 / t.step.seconds,
        output_tokens_per_s=work.batch * work.output_tokens / t.cycle_s,
        requests_per_s=work.batch / t.cycle_s,
        e2e_latency_s=t.e2e_s,
        decode_bound=t.step.bound,
        step_memory_s=t.step.memory_s,
        step_compute_s=t.step.compute_s,
        step_comm_s=t.step.comm_s,
        cost_per_million_output_tokens_usd=costs[0] if costs else None,
        cost_per_million_input_tokens_usd=costs[1] if costs else None,
        meets_targets=(memory.fits and targets.met(t)) if targets.given else None,
        assumptions=tuple(_assumptions(model, work, dep, hw)),
        warnings=tuple(_warnings(model, work, dep, hw, memory, t, targets)),
        steps=tuple(_steps(model, work, dep, hw, memory, t, costs)),
    )


# ---- notes and working ------------------------------------------------------------------

def _assumptions(model: ModelShape, work: Workload, dep: Deployment, hw: Hardware) -> list[str]:
    notes = [
        f"requests of {work.prompt_tokens:,} prompt + {work.output_tokens:,} output tokens; average context "
        f"during decode = prompt + output/2 = {work.decode_context:,g} tokens",
        "ttft_s: the prompt is prefilled in one step beside the other sequences' decode (continuous "
        "batching with chunked prefill); no queueing; prefill_s is the prompt alone",
        "throughput pays for every prompt's prefill: batch · output ÷ (prefill of the batch's prompts "
        "+ (output − 1) · itl), as static-batch benchmarks measure",
        f"memory utilisation {dep.memory_utilization:g} of HBM (vLLM gpu_memory_utilization default 0.9); "
        f"KV cache paged in blocks of {dep.block_tokens} tokens",
        "every parameter stored at the weight dtype (quantisation scales and any 16-bit layers ignored)",
    ]
    if dep.tp > 1:
        notes.append("tensor parallel: 2 ring all-reduces of batch·hidden·2 B per layer over the scale-up link "
                     "at its per-direction bandwidth and per-step latency from the sheets")
    if dep.pp > 1:
        notes.append(f"pipeline parallel {dep.pp}: {SRC_PIPE}; it adds memory, not speed")
    if dep.replicas > 1:
        notes.append(f"{dep.replicas} replicas of {dep.tp * dep.pp} GPUs; sequences spread evenly")
    if model.experts_routed and model.moe_layers:
        notes.append(f"MoE: a step of b tokens reads E·(1 − (1 − k/E)^b) of {model.experts_routed} experts "
                     f"per MoE layer (top-{model.experts_active}, uniform routing)")
    if hw.price_usd_per_gpu_hour is not None:
        notes.append("cost split by phase: prefill GPU-time is charged to input tokens, decode GPU-time to output tokens")
    return notes


def _warnings(model, work, dep, hw, memory: Fit, t: Timing, targets: Targets) -> list[str]:
    notes = []
    if memory.free_bytes_per_gpu <= 0:
        notes.append(f"weights alone exceed usable memory: short by {memory.shortfall_bytes / GIB:,.1f} GiB "
                     f"over {dep.gpus} GPUs; latencies are what the roofline gives were it to fit")
    elif not memory.fits:
        notes.append(f"the batch's KV cache does not fit: short by {memory.shortfall_bytes / GIB:,.1f} GiB; "
                     f"at most {memory.max_batch} sequences of {work.prompt_tokens + work.output_tokens} tokens")
    if dep.tp > hw.scale_up_domain:
        notes.append(f"tensor parallel {dep.tp} spans more than the scale-up domain of {hw.scale_up_domain}: "
                     "all-reduces are timed at scale-up speed, an optimistic bound")
    if model.attention.kind != "mla" and model.attention.kv_heads < dep.tp:
        notes.append(f"{model.attention.kv_heads} KV heads over {dep.tp} shards: KV heads are replicated")
    if dep.mfu > 0.7:
        notes.append(f"MFU {dep.mfu:g} is above the 0.7 that well-tuned serving rarely exceeds")
    if dep.mbu > 0.9:
        notes.append(f"MBU {dep.mbu:g} is above the ~0.9 that memory-copy kernels reach")
    if targets.given and memory.fits and not targets.met(t):
        notes.append("no batch meets the latency targets on this hardware: batch 1 is shown")
    return notes


def _steps(model, work, dep, hw, memory: Fit, t: Timing, costs) -> list[Step]:
    att, b = model.attention, t.sequences_per_replica
    bpp, kv_e = dep.weight_bytes_per_param, dep.kv_bytes_per_element
    group = f"{dep.tp} · "
    steps = [
        Step("weights_bytes", "params_total · bytes per parameter", f"{fmt(model.params_total)} · {fmt(bpp)}",
             memory.weights_bytes, "B", "model sheet parameter count"),
        Step("kv_bytes_per_token", "from kv-cache (2·L·kv_heads·head_dim·bytes, or MLA's latent)",
             f"KV dtype {fmt(kv_e)} B", kv_bytes_per_token(att, kv_e), "B", "calc.kvcache"),
        Step("free_bytes_per_gpu", "HBM · memory_utilization − weights / (tp · pp)",
             f"{fmt(hw.memory_bytes)} · {fmt(dep.memory_utilization)} − {fmt(memory.weights_bytes)} / "
             f"({dep.tp} · {dep.pp})", memory.free_bytes_per_gpu, "B per GPU", SRC_FIT),
        Step("max_batch", "replicas · floor(free / (kv_bytes_per_sequence · shard_fraction / pp))",
             f"{dep.replicas} · floor({fmt(memory.free_bytes_per_gpu)} / {fmt(memory.kv_bytes_per_sequence_per_gpu)})",
             memory.max_batch, "", "KV at prompt + output tokens, paged (calc.kvcache)"),
    ]
    if model.experts_routed and model.moe_layers:
        steps.append(Step("experts_touched_per_step", "E · (1 − (1 − k/E)^b)",
                          f"{model.experts_routed} · (1 − (1 − {model.experts_active}/{model.experts_routed})^{b})",
                          experts_touched(model.experts_routed, model.experts_active, b), "", SRC_MOE))
    one = t.one_prefill
    steps += [
        Step("prefill_flop", "2 · N_active · T + causal attention", f"2 · {fmt(model.params_active)} · "
             f"{work.prompt_tokens} + {fmt(attention_flop_prefill(model, work.prompt_tokens))}", one.flop, "FLOP", SRC_FLOP),
        Step("prefill_s", "max(bytes / (tp · BW · MBU), FLOP / (tp · peak · MFU)) + comm",
             f"max({fmt(one.bytes)} / ({group}{fmt(hw.bandwidth_bytes_per_s)} · {fmt(dep.mbu)}), {fmt(one.flop)} / "
             f"({group}{fmt(hw.peak_flop_per_s)} · {fmt(dep.mfu)})) + {fmt(one.comm_s)}", one.seconds, "s", SRC_ROOFLINE),
        Step("ttft_s", "the same for the prompt plus the other b − 1 sequences' decode tokens",
             f"max({fmt(t.first_token.memory_s)}, {fmt(t.first_token.compute_s)}) + {fmt(t.first_token.comm_s)}",
             t.first_token.seconds, "s", "continuous batching with chunked prefill (Agrawal et al. 2023, Sarathi)"),
    ]
    steps += _decode_steps(model, work, dep, hw, t)
    steps += _throughput_steps(work, dep, hw, t, costs)
    return steps


def _decode_steps(model, work, dep, hw, t: Timing) -> list[Step]:
    step, b, group = t.step, t.sequences_per_replica, f"{dep.tp} · "
    message = b * model.hidden_size * ACTIVATION_BYTES
    return [
        Step("step_bytes", "active weight bytes + b · KV bytes at the mean context",
             f"{fmt(weight_params_read(model, b) * dep.weight_bytes_per_param)} + {b} · "
             f"{fmt(kv_bytes_per_sequence(model.attention, work.decode_context, dep.kv_bytes_per_element))}",
             step.bytes, "B", SRC_DECODE),
        Step("step_flop", "b · (2 · N_active + 4 · a · h · context per layer)",
             f"{b} · (2 · {fmt(model.params_active)} + {fmt(attention_flop_per_token(model, work.decode_context))})",
             step.flop, "FLOP", SRC_FLOP),
        Step("step_memory_s", "step_bytes / (tp · BW · MBU)",
             f"{fmt(step.bytes)} / ({group}{fmt(hw.bandwidth_bytes_per_s)} · {fmt(dep.mbu)})",
             step.memory_s, "s", SRC_ROOFLINE),
        Step("step_compute_s", "step_flop / (tp · peak · MFU)",
             f"{fmt(step.flop)} / ({group}{fmt(hw.peak_flop_per_s)} · {fmt(dep.mfu)})",
             step.compute_s, "s", SRC_ROOFLINE),
        Step("step_comm_s", "2 · L · allreduce(b · hidden · 2 B, tp) + (pp − 1) · hop",
             f"2 · {model.layers} · allreduce({fmt(message)}, {dep.tp}) + {dep.pp - 1} hops",
             step.comm_s, "s", SRC_RING),
        Step("itl_s", "max(step_memory_s, step_compute_s) + step_comm_s",
             f"max({fmt(step.memory_s)}, {fmt(step.compute_s)}) + {fmt(step.comm_s)}",
             step.seconds, "s", SRC_ROOFLINE),
    ]


def _throughput_steps(work, dep, hw, t: Timing, costs) -> list[Step]:
    b = t.sequences_per_replica
    steps = [
        Step("e2e_latency_s", "ttft + (output − 1) · itl",
             f"{fmt(t.first_token.seconds)} + {work.output_tokens - 1} · {fmt(t.step.seconds)}",
             t.e2e_s, "s", "the first token comes out of the prefill"),
        Step("batch_prefill_s", "roofline over the replica's b prompts at once",
             f"{b} prompts: max({fmt(t.batch_prefill.memory_s)}, {fmt(t.batch_prefill.compute_s)}) + "
             f"{fmt(t.batch_prefill.comm_s)}", t.batch_prefill.seconds, "s", SRC_ROOFLINE),
        Step("output_tokens_per_s", "batch · output / (batch_prefill + (output − 1) · itl)",
             f"{work.batch} · {work.output_tokens} / ({fmt(t.batch_prefill.seconds)} + "
             f"{work.output_tokens - 1} · {fmt(t.step.seconds)})",
             work.batch * work.output_tokens / t.cycle_s, "tokens/s", "each request's prefill is paid for"),
    ]
    if costs:
        rate = f"{dep.gpus} · {fmt(hw.price_usd_per_gpu_hour)} / 3600"
        steps += [
            Step("cost_per_million_output_tokens_usd", "n · price/h / 3600 ÷ (batch / itl) · 1e6",
                 f"{rate} ÷ ({work.batch} / {fmt(t.step.seconds)}) · 1e6", costs[0], "USD", SRC_COST),
            Step("cost_per_million_input_tokens_usd", "n · price/h / 3600 ÷ (batch · prompt / batch_prefill) · 1e6",
                 f"{rate} ÷ ({work.batch} · {work.prompt_tokens} / {fmt(t.batch_prefill.seconds)}) · 1e6",
                 costs[1], "USD", SRC_COST),
        ]
    return steps

"""``aistack inference-throughput``: fit, TTFT, ITL, throughput and cost of serving a model."""

from __future__ import annotations

from dataclasses import replace

from aistack_cli.calc.common import BYTES_PER_ELEMENT, Step, fmt, result_values
from aistack_cli.calc.inference import (Deployment, Hardware, ModelShape, Targets, Workload, plan, serve,
                                        smallest_fitting_gpus)
from aistack_cli.calc.kvcache import Attention
from aistack_cli.commands.common import accelerator_precision, tensor_parallel
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt

WEIGHT_DTYPES = ("bf16", "fp16", "fp8", "int8", "int4", "fp4")
KV_DTYPES = ("bf16", "fp16", "fp8", "int8", "int4", "fp4")
NATIVE_LOW_PRECISION = ("fp8", "fp4")  # tensor cores multiply these directly where the sheet lists them
# A comparison table shows these next to the inputs that differ between rows (gpu, gpus, tp, batch, price).
COLUMNS = ["replica_gpus", "concurrent_sequences", "fits", "ttft_s", "itl_s", "output_tokens_per_s",
           "cost_per_million_output_tokens_usd"]

OPTIONS = [
    Opt("model", "id", "Model id from the catalog, e.g. llama-3.1-70b.", ids="model"),
    Opt("gpu", "id", "Accelerator id(s), e.g. h100-sxm or h100-sxm,h200,b200,mi300x to compare.", ids="accelerator"),
    Opt("gpus", "int", "Accelerators in the deployment (default: the smallest power of two that fits).", lo=1,
        hi=1e6),
    Opt("tp", "int", "Tensor-parallel shards per replica (default: all GPUs / pp).", lo=1, hi=1e4),
    Opt("pp", "int", "Pipeline stages per replica.", lo=1, hi=1e4),
    Opt("batch", "int", "Concurrent sequences (default 1; found by --target-itl/--target-ttft).", lo=1, hi=1e7),
    Opt("prompt", "int", "Prompt tokens per request, e.g. 2k.", default=2000, default_text="2k",
        field="prompt_tokens", lo=1, hi=1e8),
    Opt("output", "int", "Output tokens per request, e.g. 512.", default=512, field="output_tokens", lo=1, hi=1e8),
    Opt("weights_dtype", "word", "Weight type.", default="bf16", choices=WEIGHT_DTYPES),
    Opt("kv_dtype", "word", "KV-cache type.", default="bf16", choices=KV_DTYPES),
    Opt("mbu", "fraction", "Achieved fraction of peak memory bandwidth.", lo=0, lo_open=True, hi=1,
        default_id="mbu-serving"),
    Opt("mfu", "fraction", "Achieved fraction of dense peak compute (16-bit; fp8/fp4).", lo=0, lo_open=True, hi=1,
        default_id=("mfu-serving-16bit", "mfu-serving-8bit")),
    Opt("memory_utilization", "fraction", "Fraction of accelerator memory the server may use (vLLM default 0.9).",
        default=0.9, lo=0, lo_open=True, hi=1),
    Opt("price_per_gpu_hour", "usd_per_hour", "USD per GPU-hour (default: the sheet's dated price).",
        field="price_usd_per_gpu_hour", lo=0, lo_open=True, hi=1e4),
    Opt("target_itl", "seconds", "Plan: largest batch with inter-token latency at most this, e.g. 50ms.",
        field="target_itl_s", lo=0, lo_open=True, hi=3600),
    Opt("target_ttft", "seconds", "Plan: largest batch with time to first token at most this, e.g. 2s.",
        field="target_ttft_s", lo=0, lo_open=True, hi=86400),
]
EXAMPLES = (
    "aistack inference-throughput --model llama-3.1-70b --gpu h100-sxm --gpus 4 --batch 32 --prompt 2k --output 512",
    "aistack inference-throughput --model llama-3.1-70b --gpu h100-sxm,h200,b200,mi300x --target-itl 50ms",
    "aistack inference-throughput --model mixtral-8x7b --gpu h100-sxm --gpus 2 --batch 1,8,64,256 -f csv",
)


@calculator("inference-throughput",
            help="Serving a model: does it fit, TTFT, inter-token latency, tokens/s and cost per million tokens.",
            options=OPTIONS, examples=EXAMPLES, columns=COLUMNS,
            sort_by="cost_per_million_output_tokens_usd", rank_over=("gpu",))
def inference_throughput(catalog, o) -> Point:
    if not o.model:
        raise InputError("--model: give a model id, e.g. --model llama-3.1-70b")
    if not o.gpu:
        raise InputError("--gpu: give an accelerator id, e.g. --gpu h100-sxm (or a list to compare)")
    m = catalog.get("model", o.model)
    accelerator = catalog.get("accelerator", o.gpu)
    shape = model_shape(m)
    work = Workload(batch=o.batch or 1, prompt_tokens=o.prompt, output_tokens=o.output)
    targets = Targets(itl_s=o.target_itl, ttft_s=o.target_ttft)
    if targets.given and o.batch is not None:
        raise InputError("--batch: give either --batch or --target-itl/--target-ttft (which find the batch)")
    compute, precision_note = compute_precision(o.weights_dtype, accelerator)
    hw, link, price_note = _hardware(catalog, accelerator, compute, o.price_per_gpu_hour)
    mbu_value, mfu_value, default_notes = _efficiencies(catalog, o.mbu, o.mfu, compute)
    dep = Deployment(gpus=1, tp=1, pp=1, weight_bytes_per_param=BYTES_PER_ELEMENT[o.weights_dtype],
                     kv_bytes_per_element=BYTES_PER_ELEMENT[o.kv_dtype], mbu=mbu_value, mfu=mfu_value,
                     memory_utilization=o.memory_utilization)
    dep, work, gpu_note = _layout(shape, work, dep, hw, targets, o.gpus, o.tp, o.pp, m.layers)
    result = serve(shape, work, dep, hw, targets)
    assumptions = [*default_notes, precision_note, *filter(None, [gpu_note, price_note]),
                   *result.assumptions]
    fallback_note = precision_note if o.weights_dtype in NATIVE_LOW_PRECISION and compute != o.weights_dtype else None
    warnings = [*result.warnings, *_input_warnings(m, work, hw), *filter(None, [fallback_note])]
    inputs = _inputs(m, accelerator, o, compute, hw, dep)
    results = {"replica_gpus": dep.tp * dep.pp, "tensor_parallel": dep.tp, "pipeline_parallel": dep.pp,
               "replicas": dep.replicas, "concurrent_sequences": work.batch, **result_values(result)}
    steps = [*sheet_steps(accelerator, link, compute, hw), *result.steps]
    return Point(inputs, results, assumptions, warnings, steps)


def model_shape(m) -> ModelShape:
    """A catalog model as the calc needs it; the attention shape is built as kv-cache builds it."""
    att = Attention(m.layers, m.kv_heads, m.head_dim, m.attention, m.kv_lora_rank,
                    m.qk_rope_head_dim, m.sliding_window, m.sliding_window_layers)
    return ModelShape(m.params_total, m.params_active, m.layers, m.hidden_size, m.heads, m.head_dim, att,
                      m.experts_routed, m.experts_active, m.moe_layers, m.expert_ffn_size)


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


def _hardware(catalog, accelerator, compute: str, given_price: float | None):
    """The accelerator as the calc needs it, its scale-up interconnect sheet, and the price note."""
    link = catalog.get("interconnect", accelerator.scale_up_interconnect) if accelerator.scale_up_interconnect else None
    if given_price is not None:
        price, note = given_price, None
    else:
        price = accelerator.price_usd_per_hour
        note = (f"price ${price:g} per GPU-hour from the {accelerator.id} sheet (as of {accelerator.price_as_of})"
                if price is not None else None)
    hw = Hardware(memory_bytes=accelerator.memory_bytes,
                  bandwidth_bytes_per_s=accelerator.memory_bandwidth_bytes_per_s,
                  peak_flop_per_s=accelerator_precision(accelerator, compute, "--weights-dtype"),
                  link_bytes_per_s=accelerator.scale_up_bandwidth_bytes_per_s,
                  link_latency_s=link.latency_s if link else 0.0, scale_up_domain=accelerator.scale_up_domain,
                  price_usd_per_gpu_hour=price)
    return hw, link, note


def _layout(shape, work, dep, hw, targets, gpus_given, tp_given, pp_given, layers):
    """GPU count, tensor and pipeline parallelism, and in planning mode the batch."""
    pp = pp_given or 1
    if pp > layers:
        raise InputError(f"--pp: {pp} pipeline stages but the model has only {layers} layers")
    if gpus_given is None and tp_given is None and pp_given is None:
        return _auto_layout(shape, work, dep, hw, targets)
    if gpus_given is None:
        tp = tp_given or 1
        gpus = tp * pp
    else:
        gpus = gpus_given
        if gpus % pp:
            raise InputError(f"--pp: {gpus} GPUs do not split into {pp} pipeline stages")
        tp = tensor_parallel(tp_given, gpus // pp)
    _check_link(hw, tp * pp)
    dep = replace(dep, gpus=gpus, tp=tp, pp=pp)
    if targets.given:
        dep, work = plan(shape, work, dep, hw, targets, choose_gpus=False)
    return dep, work, None


def _auto_layout(shape, work, dep, hw, targets):
    if targets.given:
        dep, work = plan(shape, work, dep, hw, targets, choose_gpus=True)
        note = ("GPUs: the power of two up to the scale-up domain giving the most output tokens/s per GPU "
                "within the targets, one tensor-parallel group (set --gpus to fix it)")
    else:
        dep = smallest_fitting_gpus(shape, work, dep, hw)
        note = ("GPUs: the smallest power of two up to the scale-up domain that holds the weights and the "
                "batch's KV cache, one tensor-parallel group (set --gpus to fix it)")
    _check_link(hw, dep.gpus)
    return dep, work, note


def _check_link(hw: Hardware, group: int) -> None:
    if group > 1 and hw.link_bytes_per_s is None:
        raise InputError("--tp/--pp: the accelerator sheet gives no scale-up bandwidth, so only one GPU "
                         "per replica can be timed; use --tp 1 --pp 1")


def _efficiencies(catalog, mbu: float | None, mfu: float | None, compute: str) -> tuple[float, float, list[str]]:
    """MBU and MFU as given, or their cited defaults with the evidence as assumption lines."""
    notes = []
    if mbu is None:
        default = catalog.get("default", "mbu-serving")
        mbu = default.value
        notes.append(default.note(f"MBU {mbu:g} of peak memory bandwidth"))
    if mfu is None:
        default = catalog.get("default", "mfu-serving-8bit" if compute in NATIVE_LOW_PRECISION else "mfu-serving-16bit")
        mfu = default.value
        notes.append(default.note(f"MFU {mfu:g} of the dense {compute} peak"))
    return mbu, mfu, notes


def sheet_steps(accelerator, link, compute: str, hw: Hardware) -> list[Step]:
    """The sheets' numbers the calculation uses, first in the working, each with its source."""
    rows = [("memory_bytes_per_gpu", hw.memory_bytes, "B", accelerator, "memory"),
            ("memory_bandwidth_bytes_per_s", hw.bandwidth_bytes_per_s, "B/s", accelerator, "memory"),
            (f"peak_{compute}_flop_per_s", hw.peak_flop_per_s, "FLOP/s", accelerator, "compute"),
            ("scale_up_bandwidth_bytes_per_s", hw.link_bytes_per_s, "B/s", accelerator, "scale_up"),
            ("link_latency_s", hw.link_latency_s if link else None, "s", link, "latency")]
    return [Step(name, f"{sheet.id} sheet", fmt(value), value, unit, sheet.sources.get(group, f"{sheet.id} sheet"))
            for name, value, unit, sheet, group in rows if value is not None]


def _input_warnings(m, work: Workload, hw: Hardware) -> list[str]:
    warnings = []
    if work.prompt_tokens + work.output_tokens > m.max_context:
        warnings.append(f"prompt + output = {work.prompt_tokens + work.output_tokens:,} tokens exceeds the "
                        f"model's maximum of {m.max_context:,}")
    if hw.price_usd_per_gpu_hour is None:
        warnings.append("no price per GPU-hour on the sheet: costs are null (give --price-per-gpu-hour)")
    return warnings


def _inputs(m, accelerator, o, compute, hw: Hardware, dep: Deployment) -> dict:
    """What was given (the layout and batch only when given: what a plan finds is a result)."""
    return {
        "model": m.id, "params_total": m.params_total, "params_active": m.params_active,
        "gpu": accelerator.id, "gpus": o.gpus, "tp": o.tp, "pp": o.pp, "batch": o.batch,
        "prompt_tokens": o.prompt, "output_tokens": o.output,
        "weights_dtype": o.weights_dtype, "kv_dtype": o.kv_dtype, "compute_precision": compute,
        "mbu": dep.mbu, "mfu": dep.mfu, "memory_utilization": dep.memory_utilization,
        "price_usd_per_gpu_hour": hw.price_usd_per_gpu_hour,
        "target_itl_s": o.target_itl, "target_ttft_s": o.target_ttft,
    }

"""``aistack inference-throughput``: fit, TTFT, ITL, throughput and cost of serving a model."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Optional

import typer

from aistack_cli import units
from aistack_cli.calc.common import BYTES_PER_ELEMENT, Step, fmt, result_values
from aistack_cli.calc.inference import (Deployment, Hardware, ModelShape, Targets, Workload, plan, serve,
                                        smallest_fitting_gpus)
from aistack_cli.calc.kvcache import Attention
from aistack_cli.commands.common import accelerator_precision, precision, tensor_parallel
from aistack_cli.errors import InputError
from aistack_cli.render import Point
from aistack_cli.runner import calculator

WEIGHT_DTYPES = ("bf16", "fp16", "fp8", "int8", "int4", "fp4")
KV_DTYPES = ("bf16", "fp16", "fp8", "int8", "int4", "fp4")
NATIVE_LOW_PRECISION = ("fp8", "fp4")  # tensor cores multiply these directly where the sheet lists them
DEFAULT_PROMPT, DEFAULT_OUTPUT = "2k", "512"
# Decode reaches ~0.7 of peak HBM bandwidth at batch 1: gpt-fast (pytorch-labs/gpt-fast README, A100-80GB)
# measured 1,397 of 2,039 GB/s (0.69) for Llama-2-7B and 1,426 GB/s per GPU (0.70) for Llama-2-70B TP2.
MBU_DEFAULT = 0.7
MBU_NOTE = "MBU 0.7 of peak HBM bandwidth (default; gpt-fast measured 0.69-0.70 at batch 1 on A100)"
# Achieved compute, one default per compute precision. TensorRT-LLM's batch-1 first-token latency for
# Llama-70B TP4 with 2,048 prompt tokens (docs/source/performance.md, v0.5) is 377 ms in FP16 on A100 and
# 109 ms in FP8 on H100; with the all-reduces counted these imply 0.66 of the 16-bit peak and 0.41 of the
# FP8 peak: FP8 halves the GEMM time at best while the rest of the layer does not speed up.
MFU_DEFAULTS = {"16-bit": 0.6, "8/4-bit": 0.4}
MFU_NOTE = ("MFU {mfu:g} of dense {compute} peak (default for {kind} compute; TensorRT-LLM batch-1 TTFT "
            "implies 0.66 in FP16 on A100, 0.41 in FP8 on H100)")
Text = Optional[str]
# A comparison table shows these next to the inputs that differ between rows (gpu, gpus, tp, batch, price).
COLUMNS = ["fits", "ttft_s", "itl_s", "output_tokens_per_s", "cost_per_million_output_tokens_usd"]


@calculator("inference-throughput",
            help="Serving a model: does it fit, TTFT, inter-token latency, tokens/s and cost per million tokens.",
            columns=COLUMNS, sort_by="cost_per_million_output_tokens_usd", rank_over=("gpu",))
def inference_throughput(
    catalog,
    model: Annotated[Text, typer.Option(help="Model id from the catalog, e.g. llama-3.1-70b.")] = None,
    gpu: Annotated[Text, typer.Option(help="Accelerator id(s), e.g. h100-sxm or h100-sxm,h200,b200,mi300x to compare.")] = None,
    gpus: Annotated[Text, typer.Option(help="Accelerators in the deployment (default: the smallest power of two that fits).")] = None,
    tp: Annotated[Text, typer.Option(help="Tensor-parallel shards per replica (default: all GPUs / pp).")] = None,
    pp: Annotated[Text, typer.Option(help="Pipeline stages per replica.")] = None,
    batch: Annotated[Text, typer.Option(help="Concurrent sequences (default 1; found by --target-itl/--target-ttft).")] = None,
    prompt: Annotated[str, typer.Option(help="Prompt tokens per request, e.g. 2k.")] = DEFAULT_PROMPT,
    output: Annotated[str, typer.Option(help="Output tokens per request, e.g. 512.")] = DEFAULT_OUTPUT,
    weights_dtype: Annotated[str, typer.Option(help="Weight type: " + ", ".join(WEIGHT_DTYPES) + ".")] = "bf16",
    kv_dtype: Annotated[str, typer.Option(help="KV-cache type: " + ", ".join(KV_DTYPES) + ".")] = "bf16",
    mbu: Annotated[Text, typer.Option(help="Achieved fraction of peak memory bandwidth (default 0.7).")] = None,
    mfu: Annotated[Text, typer.Option(help="Achieved fraction of dense peak compute (default 0.6 in 16-bit, 0.4 in fp8/fp4).")] = None,
    memory_utilization: Annotated[str, typer.Option(help="Fraction of HBM the server may use (vLLM default 0.9).")] = "0.9",
    price_per_gpu_hour: Annotated[Text, typer.Option(help="USD per GPU-hour (default: the sheet's dated price).")] = None,
    target_itl: Annotated[Text, typer.Option(help="Plan: largest batch with inter-token latency at most this, e.g. 50ms.")] = None,
    target_ttft: Annotated[Text, typer.Option(help="Plan: largest batch with time to first token at most this, e.g. 2s.")] = None,
) -> Point:
    if not model:
        raise InputError("--model: give a model id, e.g. --model llama-3.1-70b")
    if not gpu:
        raise InputError("--gpu: give an accelerator id, e.g. --gpu h100-sxm (or a list to compare)")
    m = catalog.get("model", model)
    accelerator = catalog.get("accelerator", gpu)
    shape = model_shape(m)
    work = _workload(batch, prompt, output)
    targets = _targets(target_itl, target_ttft, batch)
    weights_type = precision(weights_dtype, "--weights-dtype", WEIGHT_DTYPES)
    kv_type = precision(kv_dtype, "--kv-dtype", KV_DTYPES)
    compute, precision_note = compute_precision(weights_type, accelerator)
    hw, link, price_note = _hardware(catalog, accelerator, compute, price_per_gpu_hour)
    mbu_value, mfu_value, default_notes = _efficiencies(mbu, mfu, compute)
    dep = Deployment(gpus=1, tp=1, pp=1, weight_bytes_per_param=BYTES_PER_ELEMENT[weights_type],
                     kv_bytes_per_element=BYTES_PER_ELEMENT[kv_type], mbu=mbu_value, mfu=mfu_value,
                     memory_utilization=units.fraction(memory_utilization, "--memory-utilization"))
    dep, work, gpu_note = _layout(shape, work, dep, hw, targets, gpus, tp, pp, m.layers)
    result = serve(shape, work, dep, hw, targets)
    assumptions = [*default_notes, precision_note, *filter(None, [gpu_note, price_note]),
                   *result.assumptions]
    fallback_note = precision_note if weights_type in NATIVE_LOW_PRECISION and compute != weights_type else None
    warnings = [*result.warnings, *_input_warnings(m, work, hw), *filter(None, [fallback_note])]
    inputs = _inputs(m, accelerator, dep, work, weights_type, kv_type, compute, hw, targets)
    steps = [*sheet_steps(accelerator, link, compute, hw), *result.steps]
    return Point(inputs, result_values(result), assumptions, warnings, steps)


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


def _hardware(catalog, accelerator, compute: str, price_text: str | None):
    """The accelerator as the calc needs it, its scale-up interconnect sheet, and the price note."""
    link = catalog.get("interconnect", accelerator.scale_up_interconnect) if accelerator.scale_up_interconnect else None
    if price_text is not None:
        price, note = units.positive(price_text, "usd_per_hour", "--price-per-gpu-hour"), None
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


def _workload(batch: str | None, prompt: str, output: str) -> Workload:
    return Workload(batch=units.integer(batch, "--batch") if batch is not None else 1,
                    prompt_tokens=units.integer(prompt, "--prompt"),
                    output_tokens=units.integer(output, "--output"))


def _targets(itl: str | None, ttft: str | None, batch: str | None) -> Targets:
    targets = Targets(itl_s=units.positive(itl, "seconds", "--target-itl") if itl is not None else None,
                      ttft_s=units.positive(ttft, "seconds", "--target-ttft") if ttft is not None else None)
    if targets.given and batch is not None:
        raise InputError("--batch: give either --batch or --target-itl/--target-ttft (which find the batch)")
    return targets


def _layout(shape, work, dep, hw, targets, gpus_text, tp_text, pp_text, layers):
    """GPU count, tensor and pipeline parallelism, and in planning mode the batch."""
    pp = units.integer(pp_text, "--pp") if pp_text is not None else 1
    if pp > layers:
        raise InputError(f"--pp: {pp} pipeline stages but the model has only {layers} layers")
    if gpus_text is None and tp_text is None and pp_text is None:
        return _auto_layout(shape, work, dep, hw, targets)
    if gpus_text is None:
        tp = units.integer(tp_text, "--tp") if tp_text is not None else 1
        gpus = tp * pp
    else:
        gpus = units.integer(gpus_text, "--gpus")
        if gpus % pp:
            raise InputError(f"--pp: {gpus} GPUs do not split into {pp} pipeline stages")
        tp = tensor_parallel(tp_text, gpus // pp)
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


def _efficiencies(mbu: str | None, mfu: str | None, compute: str) -> tuple[float, float, list[str]]:
    """MBU and MFU as given, or their defaults with the evidence as assumption lines."""
    notes = []
    if mbu is None:
        notes.append(MBU_NOTE)
    kind = "8/4-bit" if compute in NATIVE_LOW_PRECISION else "16-bit"
    if mfu is None:
        notes.append(MFU_NOTE.format(mfu=MFU_DEFAULTS[kind], compute=compute, kind=kind))
    mbu_value = units.fraction(mbu, "--mbu") if mbu is not None else MBU_DEFAULT
    mfu_value = units.fraction(mfu, "--mfu") if mfu is not None else MFU_DEFAULTS[kind]
    return mbu_value, mfu_value, notes


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


def _inputs(m, accelerator, dep: Deployment, work: Workload, weights_type, kv_type, compute, hw: Hardware,
            targets: Targets) -> dict:
    return {
        "model": m.id, "params_total": m.params_total, "params_active": m.params_active,
        "gpu": accelerator.id, "gpus": dep.gpus, "tp": dep.tp, "pp": dep.pp, "batch": work.batch,
        "prompt_tokens": work.prompt_tokens, "output_tokens": work.output_tokens,
        "weights_dtype": weights_type, "kv_dtype": kv_type, "compute_precision": compute,
        "mbu": dep.mbu, "mfu": dep.mfu, "memory_utilization": dep.memory_utilization,
        "gpu_hour_usd": hw.price_usd_per_gpu_hour,
        "target_itl_s": targets.itl_s, "target_ttft_s": targets.ttft_s,
    }

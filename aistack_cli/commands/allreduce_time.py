"""``aistack allreduce-time``: collective time on a real fabric, reported the way nccl-tests does."""

from __future__ import annotations

import math
from aistack_cli import units
from aistack_cli.calc.collectives import ALGORITHMS, OPS, Efficiency, Fabric, Tier, collective_time, mesh_bytes_per_s
from aistack_cli.calc.common import result_values
from aistack_cli.errors import InputError
from aistack_cli.result import Point
from aistack_cli.runner import calculator
from aistack_cli.runner.options import Opt

ALGORITHM_CHOICES = ("auto", *ALGORITHMS)
MESH_FAMILIES = ("infinity-fabric", "gaudi-roce")  # switchless full meshes: links split evenly over peers
OP_ALIASES = (("allreduce", "all-reduce"), ("allgather", "all-gather"), ("reducescatter", "reduce-scatter"),
              ("bcast", "broadcast"), ("alltoall", "all-to-all"))
COLUMNS = ["algorithm", "time_s", "algbw_bytes_per_s", "busbw_bytes_per_s", "bottleneck"]
EFFICIENCY_DEFAULTS = ("efficiency-scale-up", "efficiency-scale-out", "efficiency-in-network")

OPTIONS = [
    Opt("size", "nccl_bytes", "Message size S as nccl-tests counts it (a bare 128M or 8G is binary, as nccl-tests "
        "reads -b/-e), e.g. 1GiB; a list or range such as 8:8G:2 sweeps it (all-gather/reduce-scatter: the whole "
        "array; all-to-all: one GPU's buffer).", flags=("--sizes",), field="size_bytes", lo=1, hi=2**50),
    Opt("gpus", "int", "GPUs taking part (default: the --system's GPUs).", lo=2, hi=1e7),
    Opt("gpus_per_node", "int", "GPUs per scale-up domain (default: the --system's, else the accelerator's scale-up "
        "domain; NVL72 is one domain of 72).", flags=("--gpus-per-domain",), field="gpus_per_domain", lo=1, hi=1e5),
    Opt("system", "id", "System id, e.g. dgx-h100 or gb200-nvl72: sets GPU, fabrics and NICs.", ids="system"),
    Opt("gpu", "id", "Accelerator id, e.g. h100-sxm (default: the --system's).", ids="accelerator"),
    Opt("intra", "id", "Scale-up interconnect id, e.g. nvswitch-3 (default: the system's or accelerator's).",
        ids="interconnect"),
    Opt("inter", "id", "Scale-out interconnect id, e.g. ib-ndr, ib-xdr, roce-400g (default: the system's).",
        ids="interconnect"),
    Opt("nics_per_node", "int", "Scale-out NICs per domain (default: the system's, else one per GPU).",
        flags=("--nics-per-domain",), field="nics_per_domain", lo=1, hi=1e5),
    Opt("algorithm", "word", "Algorithm (auto: the fastest).", default="auto", choices=ALGORITHM_CHOICES,
        field="requested_algorithm"),
    Opt("op", "word", "Collective.", default="all-reduce", choices=OPS, aliases=OP_ALIASES),
    Opt("efficiency", "fraction", "Achieved fraction of every link rate (else one cited default per regime).",
        lo=0.01, hi=1, default_id=("efficiency-scale-up", "efficiency-scale-out", "efficiency-in-network")),
    Opt("intra_latency", "seconds", "Scale-up latency per ring/tree hop, e.g. 3.4us (default: the sheet's).",
        field="intra_latency_s", lo=0, hi=1),
    Opt("inter_latency", "seconds", "Scale-out latency per ring/tree hop, e.g. 14us (default: the sheet's).",
        field="inter_latency_s", lo=0, hi=1),
]
EXAMPLES = (
    "aistack allreduce-time --size 1GiB --gpus 1024 --system dgx-h100 --inter ib-ndr",
    "aistack allreduce-time --sizes 8:8G:2 --gpus 8 --system dgx-h100",
    "aistack allreduce-time --op all-gather --size 256MiB --gpus 72 --system gb200-nvl72",
)


@calculator("allreduce-time",
            help="Collective time, algbw and busbw (as nccl-tests reports them) on a scale-up and scale-out fabric.",
            options=OPTIONS, examples=EXAMPLES, columns=COLUMNS)
def allreduce_time(catalog, o) -> Point:
    if o.size is None:
        raise InputError("--size: give the message size, e.g. --size 1GiB, or sweep it with --sizes 8:8G:2")
    fabric, fabric_inputs, notes, warnings = _fabric(catalog, o)
    if o.algorithm != "auto":
        from aistack_cli.calc.collectives import unavailable

        reason = unavailable(o.algorithm, o.op, fabric)
        if reason:
            raise InputError(f"--algorithm {o.algorithm}: {reason}")
    result = collective_time(o.op, o.size, fabric, o.algorithm)
    inputs = {"op": o.op, "size_bytes": o.size, **fabric_inputs, "requested_algorithm": o.algorithm}
    notes = [*_efficiency_notes(catalog, o.efficiency, fabric.nodes, result), *notes, *result.assumptions]
    return Point(inputs, result_values(result), notes, warnings, list(result.steps))


def _fabric(catalog, o):
    """The fabric from --system, --gpu and the fabric options; its inputs, notes and warnings."""
    sys_sheet = catalog.get("system", o.system) if o.system else None
    accelerator = _accelerator(catalog, o.gpu, sys_sheet)
    gpus = _gpus(o.gpus, sys_sheet)
    per_node = _gpus_per_node(o.gpus_per_node, gpus, accelerator, sys_sheet)
    nodes = gpus // per_node
    up, mesh_notes, up_inputs = _scale_up(catalog, o.intra, o.intra_latency, accelerator, sys_sheet, per_node)
    out, nics, out_inputs = _scale_out(catalog, o.inter, o.inter_latency, o.nics_per_node, per_node, nodes, sys_sheet)
    eff = _efficiency(catalog, o.efficiency)
    inputs = {"gpus": gpus, "gpus_per_domain": per_node, "domains": nodes, "system": sys_sheet.id if sys_sheet else None,
              "gpu": accelerator.id, **up_inputs, **out_inputs, "scale_up_efficiency_fraction": eff.scale_up,
              "scale_out_efficiency_fraction": eff.scale_out, "in_network_efficiency_fraction": eff.in_network}
    notes = [*mesh_notes, *_domain_notes(sys_sheet, per_node, nodes, out_inputs)]
    return (Fabric(gpus, per_node, up, out, nics, eff), inputs, notes,
            _warnings(accelerator, sys_sheet, per_node))


# ---- parsing -----------------------------------------------------------------------------

def _gpus(given: int | None, sys_sheet) -> int:
    if given is None:
        if sys_sheet is None:
            raise InputError("--gpus: give the number of GPUs taking part, e.g. --gpus 16 (or a --system)")
        if sys_sheet.accelerators < 2:
            raise InputError(f"--gpus: {sys_sheet.id} holds one GPU; a collective needs at least 2")
        return sys_sheet.accelerators
    return given


def _accelerator(catalog, gpu: str | None, sys_sheet):
    if gpu is None and sys_sheet is None:
        raise InputError("--gpu: give the accelerator, e.g. --gpu h100-sxm, or a --system such as dgx-h100")
    return catalog.get("accelerator", gpu or sys_sheet.accelerator)


def _gpus_per_node(given: int | None, gpus: int, accelerator, sys_sheet) -> int:
    if given is not None:
        per_node = given
        if per_node > gpus:
            raise InputError(f"--gpus-per-node: {per_node} per domain but only {gpus} GPUs take part")
    else:
        domain = sys_sheet.scale_up_domain if sys_sheet else accelerator.scale_up_domain
        per_node = min(gpus, max(1, domain))
    if gpus % per_node:
        raise InputError(f"--gpus: {gpus} GPUs do not fill whole scale-up domains of {per_node}; "
                         "give a multiple of it, or set --gpus-per-node")
    return per_node


def _scale_up(catalog, intra: str | None, latency: float | None, accelerator, sys_sheet, per_node: int):
    """The scale-up tier: the GPU's own link rate, capped by the fabric's per-device figure
    (and, on a switchless mesh, by the links that reach the GPUs taking part)."""
    intra_id = intra or (sys_sheet.scale_up_interconnect if sys_sheet else accelerator.scale_up_interconnect)
    if not intra_id:
        raise InputError(f"--intra: {accelerator.id} has no scale-up interconnect in its sheet; give one, e.g. pcie-5")
    sheet = catalog.get("interconnect", intra_id)
    rate = min(r for r in (accelerator.scale_up_bandwidth_bytes_per_s, sheet.device_bandwidth_bytes_per_s) if r)
    notes = []
    if sheet.family in MESH_FAMILIES:
        mesh = sys_sheet.scale_up_domain if sys_sheet else accelerator.scale_up_domain
        meshed = mesh_bytes_per_s(rate, per_node, mesh)
        if meshed < rate:
            notes.append(f"{sheet.id} is a direct mesh of {mesh}: {per_node} GPUs reach each other over "
                         f"{per_node - 1}/{mesh - 1} of each GPU's links")
        rate = meshed
    alpha = sheet.latency_s if latency is None else latency
    tier = Tier(sheet.id, rate, alpha, sheet.in_network_reduction)
    return tier, notes, {"intra": sheet.id, "scale_up_bandwidth_bytes_per_s": rate, "intra_latency_s": alpha,
                         "intra_in_network_reduction": sheet.in_network_reduction}


def _scale_out(catalog, inter, latency, nics_given, per_node, nodes, sys_sheet):
    """The scale-out tier, its NICs per domain, and the inputs to report (None in one domain)."""
    inter_id = inter or (sys_sheet.network_interconnect if sys_sheet else None)
    if inter_id is None:
        if nodes > 1:
            raise InputError(f"--inter: {nodes} scale-up domains need a scale-out fabric, e.g. --inter ib-ndr")
        return None, 0.0, {"inter": None, "nics_per_domain": None, "nic_bandwidth_bytes_per_s": None,
                           "inter_latency_s": None, "inter_in_network_reduction": None}
    sheet = catalog.get("interconnect", inter_id)
    own = sys_sheet is not None and sheet.id == sys_sheet.network_interconnect
    rate = sys_sheet.nic_bandwidth_bytes_per_s if own else sheet.device_bandwidth_bytes_per_s
    alpha = sheet.latency_s if latency is None else latency
    nics = _nics(nics_given, per_node, sys_sheet)
    tier = Tier(sheet.id, rate, alpha, sheet.in_network_reduction)
    return tier, nics, {"inter": sheet.id, "nics_per_domain": nics, "nic_bandwidth_bytes_per_s": rate,
                        "inter_latency_s": alpha, "inter_in_network_reduction": sheet.in_network_reduction}


def _nics(given: int | None, per_node: int, sys_sheet) -> float:
    """NICs per domain: given, else the system's NICs per GPU times the domain, else one per GPU."""
    if given is not None:
        return given
    if sys_sheet is None:
        return per_node
    nics = sys_sheet.nics * per_node / sys_sheet.accelerators
    return int(nics) if nics.is_integer() else nics


def _efficiency(catalog, given: float | None) -> Efficiency:
    if given is not None:
        return Efficiency(given, given, given)
    up, out, inr = (catalog.get("default", d).value for d in EFFICIENCY_DEFAULTS)
    return Efficiency(up, out, inr)


def _efficiency_notes(catalog, given: float | None, nodes: int, result) -> list[str]:
    """The defaults this result leans on, with their evidence (or the value given)."""
    if given is not None:
        return [f"efficiency {given:g} of every link rate (given)"]
    up, out, inr = (catalog.get("default", d) for d in EFFICIENCY_DEFAULTS)
    notes = [up.note(f"scale-up efficiency {up.value:g} of the NVLink rate")]
    if nodes > 1:
        notes.append(out.note(f"scale-out efficiency {out.value:g} of the NIC rate"))
    if result.in_network_time_s:
        notes.append(inr.note(f"in-network (NVLS) efficiency {inr.value:g} of the NVLink rate as algbw"))
    return notes


# ---- notes -------------------------------------------------------------------------------

def _domain_notes(sys_sheet, per_node: int, nodes: int, out_inputs: dict) -> list[str]:
    notes = []
    if sys_sheet and sys_sheet.nodes > 1 and per_node > sys_sheet.accelerators // sys_sheet.nodes:
        notes.append(f"{sys_sheet.id}: one scale-up domain of {per_node} GPUs spans its "
                     f"{sys_sheet.nodes} trays; counted as one node")
    if nodes > 1 and sys_sheet is None and out_inputs["nics_per_domain"] == per_node:
        notes.append("one scale-out NIC per GPU (rail-optimised; set --nics-per-node)")
    if nodes > 1 and sys_sheet and out_inputs["inter"] != sys_sheet.network_interconnect:
        notes.append(f"{out_inputs['inter']} NICs at their own rate instead of {sys_sheet.id}'s "
                     f"{sys_sheet.network_interconnect}")
    return notes


def _warnings(accelerator, sys_sheet, per_node: int) -> list[str]:
    warnings = []
    if sys_sheet and accelerator.id != sys_sheet.accelerator:
        warnings.append(f"{sys_sheet.id} ships with {sys_sheet.accelerator}; computing with {accelerator.id}")
    domain = sys_sheet.scale_up_domain if sys_sheet else accelerator.scale_up_domain
    if per_node > domain:
        warnings.append(f"{per_node} GPUs per scale-up domain, but {sys_sheet.id if sys_sheet else accelerator.id}'s "
                        f"domain holds {domain}")
    return warnings

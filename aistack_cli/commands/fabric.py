"""Catalog sheets -> a ``calc.collectives.Fabric``: the one way every command builds its fabric.

    from aistack_cli.commands.fabric import build_fabric
    built = build_fabric(catalog, gpu="h100-sxm", gpus=16, system="dgx-h100")
    result = collective_time("all-reduce", 2**30, built.fabric)
    point_inputs.update(built.inputs); notes += built.notes; warnings += built.warnings

``build_fabric`` takes ids and counts (an accelerator, an optional system, optional scale-up and
scale-out interconnects, the GPU count, GPUs per scale-up domain, NICs per domain) and returns the
Fabric with the resolved input keys (declared in fields.py), the assumption notes (each default it
used, with its evidence) and warnings. Its defaults are data: the achieved fraction of a link's rate
per fabric generation and a network's own latency are default sheets in specs/defaults/
(``efficiency-scale-up-<interconnect>``, falling back to the interconnect's family and then to a
generic sheet). Results are memoised per catalog, so a sweep builds each fabric once; the
returned inputs, notes and warnings are shared (read-only mapping, tuples): copy before changing.

A parallel group is a fabric of its own. Tensor parallelism inside one node: ``gpus=tp`` (the
system's domain caps the domain). A data-parallel group with tp·pp GPUs per node holds one GPU per
node: ``gpus=dp, gpus_per_domain=1`` (the system's NICs per GPU follow). Expert parallelism over
nodes: ``gpus=ep`` with the domain the layout puts together, ``op="all-to-all"``. Pipeline sends:
``gpus=2``, ``gpus_per_domain=1`` across nodes, ``op="send-recv"``.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from aistack_cli.calc.collectives import Efficiency, Fabric, Tier, mesh_bytes_per_s
from aistack_cli.errors import InputError, UnknownIdError

# Switchless full meshes: a GPU's links are split evenly over its peers.
MESH_FAMILIES = ("infinity-fabric", "gaudi-roce")
# The library's link class per interconnect family (NCCL tuning.cc link types; RCCL's xGMI).
LINK_CLASS = {"nvlink": "nvlink", "nvswitch": "nvlink", "pcie": "pci", "infinity-fabric": "xgmi", "ici": "ici",
              "neuronlink": "neuronlink", "gaudi-roce": "gaudi"}
# NCCL's tuning rows are per GPU generation (compute capability); the NVLink generation an
# accelerator carries names it (NCCL src/graph/topo.h: SM70 NVLink 2, SM80 NVLink 3, SM90 NVLink 4,
# SM100 NVLink 5).
NCCL_ARCH = {"nvlink-2": "volta", "nvlink-3": "ampere", "nvlink-4": "hopper", "nvlink-5": "blackwell",
             "nvswitch-1": "volta", "nvswitch-2": "ampere", "nvswitch-3": "hopper", "nvswitch-4": "blackwell"}
LIBRARY = {"NVIDIA": "nccl", "AMD": "rccl"}
LIBRARY_NAMES = {"nccl": "NCCL", "rccl": "RCCL", "generic": "no NCCL-family library"}


class BuiltFabric(NamedTuple):
    """Shared between the calls that ask for the same fabric: read it, copy before changing it."""

    fabric: Fabric
    inputs: Mapping[str, Any]  # read-only
    notes: tuple[str, ...]
    warnings: tuple[str, ...]


_CACHE: "weakref.WeakKeyDictionary[Any, dict]" = weakref.WeakKeyDictionary()


def build_fabric(catalog, gpu: str | None = None, gpus: int | None = None, system: str | None = None,
                 gpus_per_domain: int | None = None, intra: str | None = None, inter: str | None = None,
                 nics_per_domain: float | None = None, sharp: bool = False, oversubscription: float = 1.0,
                 efficiency: float | None = None, intra_latency_s: float | None = None,
                 inter_latency_s: float | None = None, network_latency_s: float | None = None,
                 flags: dict[str, str] | None = None) -> BuiltFabric:
    """The fabric for these sheets and counts. ``flags`` names the option behind each argument in
    error messages (``{"gpus_per_domain": "--tp"}``); the defaults are allreduce-time's flags."""
    key = (gpu, gpus, system, gpus_per_domain, intra, inter, nics_per_domain, sharp, oversubscription, efficiency,
           intra_latency_s, inter_latency_s, network_latency_s, tuple(sorted((flags or {}).items())))
    try:
        per_catalog = _CACHE.setdefault(catalog, {})
    except TypeError:  # a catalog that cannot be weakly referenced: no memo
        per_catalog = {}
    if key not in per_catalog:
        per_catalog[key] = _build(catalog, *key[:-1], {**FLAGS, **(flags or {})})
    return per_catalog[key]


FLAGS = {"gpu": "--gpu", "gpus": "--gpus", "system": "--system", "gpus_per_domain": "--gpus-per-domain",
         "intra": "--intra", "inter": "--inter", "nics_per_domain": "--nics-per-domain", "sharp": "--sharp"}


def _build(catalog, gpu, gpus, system, per_domain, intra, inter, nics, sharp, oversubscription, efficiency,
           intra_latency_s, inter_latency_s, network_latency_s, flags) -> BuiltFabric:
    sys_sheet = catalog.get("system", system) if system else None
    accelerator = _accelerator(catalog, gpu, sys_sheet, flags)
    gpus = _gpus(gpus, sys_sheet, flags)
    per_domain = _per_domain(per_domain, gpus, accelerator, sys_sheet, flags)
    domains = gpus // per_domain
    library = LIBRARY.get(accelerator.vendor, "generic")
    arch = NCCL_ARCH.get(accelerator.scale_up_interconnect or "", "") if library == "nccl" else ""
    notes: list[str] = []
    up_sheet, up, up_inputs = _scale_up(catalog, intra, intra_latency_s, accelerator, sys_sheet, per_domain, library,
                                        notes, flags)
    out_sheet, out, nic_count, out_inputs = _scale_out(catalog, inter, inter_latency_s, network_latency_s, nics,
                                                       per_domain, domains, sys_sheet, library, notes, flags)
    eff, eff_inputs = _efficiency(catalog, efficiency, up_sheet, out_sheet, domains, notes)
    if sharp and (out_sheet is None or not out_sheet.in_network_reduction):
        what = out_sheet.id if out_sheet else "one scale-up domain"
        raise InputError(f"{flags['sharp']}: {what} has no InfiniBand SHARP; it needs an InfiniBand fabric with "
                         "in-network reduction (HDR or newer) and several domains")
    fabric = Fabric(gpus, per_domain, up, out, nic_count, eff, library, arch, bool(sharp), oversubscription)
    inputs = {"gpus": gpus, "gpus_per_domain": per_domain, "domains": domains,
              "system": sys_sheet.id if sys_sheet else None, "gpu": accelerator.id, "library": library,
              **up_inputs, **out_inputs, "oversubscription": oversubscription if domains > 1 else None,
              "sharp": bool(sharp), **eff_inputs}
    notes += _domain_notes(sys_sheet, per_domain, domains, out_inputs)
    if library == "generic":
        notes.append(f"{accelerator.id}: {LIBRARY_NAMES[library]} model; latency is the interconnect sheet's "
                     "per hop, Simple protocol only")
    return BuiltFabric(fabric, MappingProxyType(inputs), tuple(notes), tuple(_warnings(accelerator, sys_sheet,
                                                                                       per_domain)))


# ---- counts ------------------------------------------------------------------------------

def _gpus(given, sys_sheet, flags) -> int:
    if given is None:
        if sys_sheet is None:
            raise InputError(f"{flags['gpus']}: give the number of GPUs taking part, e.g. {flags['gpus']} 16 "
                             f"(or a {flags['system']})")
        if sys_sheet.accelerators < 2:
            raise InputError(f"{flags['gpus']}: {sys_sheet.id} holds one GPU; a collective needs at least 2")
        return sys_sheet.accelerators
    if given < 2:
        raise InputError(f"{flags['gpus']}: a collective needs at least 2 GPUs, got {given}")
    return int(given)


def _accelerator(catalog, gpu, sys_sheet, flags):
    if gpu is None and sys_sheet is None:
        raise InputError(f"{flags['gpu']}: give the accelerator, e.g. {flags['gpu']} h100-sxm, or a {flags['system']} "
                         "such as dgx-h100")
    return catalog.get("accelerator", gpu or sys_sheet.accelerator)


def _per_domain(given, gpus: int, accelerator, sys_sheet, flags) -> int:
    if given is not None:
        per_domain = int(given)
        if per_domain > gpus:
            raise InputError(f"{flags['gpus_per_domain']}: {per_domain} per domain but only {gpus} GPUs take part")
    else:
        domain = sys_sheet.scale_up_domain if sys_sheet else accelerator.scale_up_domain
        per_domain = min(gpus, max(1, domain))
    if gpus % per_domain:
        raise InputError(f"{flags['gpus']}: {gpus} GPUs do not fill whole scale-up domains of {per_domain}; "
                         f"give a multiple of it, or set {flags['gpus_per_domain']}")
    return per_domain


# ---- tiers -------------------------------------------------------------------------------

def _scale_up(catalog, intra, latency, accelerator, sys_sheet, per_domain, library, notes, flags):
    """The scale-up tier: the GPU's own link rate, capped by the fabric's per-device figure (and, on a
    switchless mesh, by the links that reach the GPUs taking part)."""
    intra_id = intra or (sys_sheet.scale_up_interconnect if sys_sheet else accelerator.scale_up_interconnect)
    if not intra_id:
        raise InputError(f"{flags['intra']}: {accelerator.id} has no scale-up interconnect in its sheet; give one, "
                         "e.g. pcie-5")
    sheet = catalog.get("interconnect", intra_id)
    rate = min(r for r in (accelerator.scale_up_bandwidth_bytes_per_s, sheet.device_bandwidth_bytes_per_s) if r)
    peer = None
    if sheet.family in MESH_FAMILIES:
        mesh = sys_sheet.scale_up_domain if sys_sheet else accelerator.scale_up_domain
        meshed = mesh_bytes_per_s(rate, per_domain, mesh)
        if meshed < rate:
            notes.append(f"{sheet.id} is a direct mesh of {mesh}: {per_domain} GPUs reach each other over "
                         f"{per_domain - 1}/{mesh - 1} of each GPU's links")
        peer = rate / (mesh - 1) if mesh > 1 else rate
        rate = meshed
    link = LINK_CLASS.get(sheet.family, "nvlink")
    if library == "generic" and latency is None:
        latency = sheet.latency_s  # no library tables: the sheet's own per-hop figure
    torus = sheet.links_per_device // 2 if sheet.family == "ici" else 0
    tier = Tier(sheet.id, rate, latency, sheet.in_network_reduction, link, peer, 0.0, torus)
    return sheet, tier, {"intra": sheet.id, "scale_up_bandwidth_bytes_per_s": rate, "intra_latency_s": latency,
                         "intra_in_network_reduction": sheet.in_network_reduction}


NO_SCALE_OUT = {"inter": None, "nics_per_domain": None, "nic_bandwidth_bytes_per_s": None, "inter_latency_s": None,
                "network_latency_s": None, "inter_in_network_reduction": None}


def _scale_out(catalog, inter, latency, network_latency, nics_given, per_domain, domains, sys_sheet, library, notes,
               flags):
    """The scale-out tier, its NICs per domain, and the inputs to report (None in one domain)."""
    inter_id = inter or (sys_sheet.network_interconnect if sys_sheet else None)
    if inter_id is None or domains == 1:
        if domains > 1:
            raise InputError(f"{flags['inter']}: {domains} scale-up domains need a scale-out fabric, "
                             f"e.g. {flags['inter']} ib-ndr")
        return None, None, 0.0, dict(NO_SCALE_OUT)
    sheet = catalog.get("interconnect", inter_id)
    own = sys_sheet is not None and sheet.id == sys_sheet.network_interconnect
    rate = sys_sheet.nic_bandwidth_bytes_per_s if own else sheet.device_bandwidth_bytes_per_s
    if library == "generic" and latency is None:
        latency = sheet.latency_s
    extra = network_latency
    if extra is None:
        default = _default(catalog, "network-latency", sheet)
        extra = default.value if default else 0.0
        if default:
            notes.append(default.note(f"{sheet.id} adds {extra * 1e6:g} us per network hop to NCCL's InfiniBand "
                                      "figures"))
    nics = _nics(nics_given, per_domain, sys_sheet)
    tier = Tier(sheet.id, rate, latency, sheet.in_network_reduction, "net", None, extra)
    return sheet, tier, nics, {"inter": sheet.id, "nics_per_domain": nics, "nic_bandwidth_bytes_per_s": rate,
                               "inter_latency_s": latency, "network_latency_s": extra,
                               "inter_in_network_reduction": sheet.in_network_reduction}


def _nics(given, per_domain: int, sys_sheet) -> float:
    """NICs per domain: given, else the system's NICs per GPU times the domain, else one per GPU."""
    if given is not None:
        return given
    if sys_sheet is None:
        return per_domain
    nics = sys_sheet.nics * per_domain / sys_sheet.accelerators
    return int(nics) if float(nics).is_integer() else nics


# ---- efficiencies (data per fabric generation) ---------------------------------------------

def _default(catalog, prefix: str, sheet):
    """The most specific default sheet for ``sheet``: by its id, else by its family, else None."""
    for key in (f"{prefix}-{sheet.id}", f"{prefix}-{sheet.family}"):
        try:
            return catalog.get("default", key)
        except UnknownIdError:
            continue
    return None


def _efficiency(catalog, given, up_sheet, out_sheet, domains: int, notes: list[str]):
    if given is not None:
        notes.append(f"efficiency {given:g} of every link rate (given)")
        return Efficiency(given, given, given), {"scale_up_efficiency_fraction": given,
                                                 "scale_out_efficiency_fraction": given if domains > 1 else None,
                                                 "in_network_efficiency_fraction": given}
    up = _default(catalog, "efficiency-scale-up", up_sheet) or catalog.get("default", "efficiency-scale-up")
    notes.append(up.note(f"{up_sheet.id}: {up.value:g} of the line rate achieved"))
    out_value = inr_value = None
    if domains > 1:
        out = _default(catalog, "efficiency-scale-out", out_sheet) or catalog.get("default", "efficiency-scale-out")
        out_value = out.value
        notes.append(out.note(f"{out_sheet.id}: {out.value:g} of the NIC rate achieved"))
    if up_sheet.in_network_reduction:
        inr = _default(catalog, "efficiency-in-network", up_sheet) or catalog.get("default", "efficiency-in-network")
        inr_value = inr.value
        notes.append(inr.note(f"{up_sheet.id} NVLink SHARP: {inr.value:g} of the line rate achieved"))
    eff = Efficiency(up.value, out_value if out_value is not None else 1.0, inr_value if inr_value is not None else 1.0)
    return eff, {"scale_up_efficiency_fraction": up.value, "scale_out_efficiency_fraction": out_value,
                 "in_network_efficiency_fraction": inr_value}


# ---- notes -------------------------------------------------------------------------------

def _domain_notes(sys_sheet, per_domain: int, domains: int, out_inputs: dict) -> list[str]:
    notes = []
    if sys_sheet and sys_sheet.nodes > 1 and per_domain > sys_sheet.accelerators // sys_sheet.nodes:
        notes.append(f"{sys_sheet.id}: one scale-up domain of {per_domain} GPUs spans its "
                     f"{sys_sheet.nodes} trays; counted as one node")
    if domains > 1 and sys_sheet is None and out_inputs["nics_per_domain"] == per_domain:
        notes.append("one scale-out NIC per GPU (rail-optimised; set the NICs per domain to change it)")
    if domains > 1 and sys_sheet and out_inputs["inter"] != sys_sheet.network_interconnect:
        notes.append(f"{out_inputs['inter']} NICs at their own rate instead of {sys_sheet.id}'s "
                     f"{sys_sheet.network_interconnect}")
    return notes


def _warnings(accelerator, sys_sheet, per_domain: int) -> list[str]:
    warnings = []
    if sys_sheet and accelerator.id != sys_sheet.accelerator:
        warnings.append(f"{sys_sheet.id} ships with {sys_sheet.accelerator}; computing with {accelerator.id}")
    domain = sys_sheet.scale_up_domain if sys_sheet else accelerator.scale_up_domain
    if per_domain > domain:
        warnings.append(f"{per_domain} GPUs per scale-up domain, but {sys_sheet.id if sys_sheet else accelerator.id}'s "
                        f"domain holds {domain}")
    return warnings

"""Runtime types for spec sheets: immutable records in base SI units.

Built from the compiled catalog (or a validated user sheet) without importing Pydantic, so a
command pays only for ``json.loads`` and the few sheets it uses. They are NamedTuples rather than
dataclasses because a command defines them on every start: six dataclasses cost ~17 ms there,
six NamedTuples ~3 ms.
"""

from __future__ import annotations

from typing import NamedTuple


class Accelerator(NamedTuple):
    id: str
    name: str
    vendor: str
    release_year: int
    dense_flop_per_s: dict[str, float]
    sparse_flop_per_s: dict[str, float]
    memory_bytes: float
    memory_bandwidth_bytes_per_s: float
    tdp_w: float | None
    scale_up_interconnect: str | None
    scale_up_bandwidth_bytes_per_s: float | None
    scale_up_domain: int
    gpus_per_package: int
    package_dense_flop_per_s: dict[str, float]
    price_usd_per_hour: float | None
    price_as_of: str | None
    sources: dict[str, str]
    aliases: list[str] = []
    notes: str = ""


class Interconnect(NamedTuple):
    id: str
    name: str
    family: str
    year: int
    link_bandwidth_bytes_per_s: float
    links_per_device: int
    device_bandwidth_bytes_per_s: float
    latency_s: float
    in_network_reduction: bool
    switch_radix: int | None
    switch_power_w: float | None
    transceiver_power_w: float | None
    sources: dict[str, str]
    aliases: list[str] = []
    notes: str = ""


class System(NamedTuple):
    id: str
    name: str
    vendor: str
    accelerator: str
    accelerators: int
    nodes: int
    scale_up_interconnect: str
    scale_up_domain: int
    nics: int
    nic_bandwidth_bytes_per_s: float
    network_interconnect: str
    max_power_w: float
    systems_per_rack: int | None
    sources: dict[str, str]
    aliases: list[str] = []
    notes: str = ""


class Model(NamedTuple):
    id: str
    name: str
    family: str
    layers: int
    hidden_size: int
    heads: int
    kv_heads: int
    head_dim: int
    ffn_size: int
    vocab_size: int
    max_context: int
    attention: str
    sliding_window: int | None
    sliding_window_layers: int
    kv_lora_rank: int | None
    qk_rope_head_dim: int | None
    params_total: float
    params_active: float
    experts_routed: int
    experts_active: int
    experts_shared: int
    moe_layers: int
    expert_ffn_size: int
    training_tokens: float | None
    sources: dict[str, str]
    aliases: list[str] = []
    notes: str = ""


class ProcessNode(NamedTuple):
    id: str
    name: str
    foundry: str
    year: int
    wafer_cost_usd: float
    wafer_cost_year: int
    wafer_diameter_mm: float
    defect_density_per_cm2: float
    sources: dict[str, str]
    aliases: list[str] = []
    notes: str = ""


class Default(NamedTuple):
    """A calibrated default: value, published P10-P90, evidence and calibration cases."""

    id: str
    name: str
    value: float
    p10: float | None
    p90: float | None
    unit: str
    used_by: list[str]
    evidence: str
    sources: dict[str, str]
    calibration_cases: list[str]
    fit: str = ""
    aliases: list[str] = []
    notes: str = ""

    def note(self, what: str) -> str:
        """An assumption line: what the default is, and the evidence behind it."""
        return f"{what} (default; {self.evidence})"


TYPES = {
    "accelerator": Accelerator,
    "interconnect": Interconnect,
    "system": System,
    "model": Model,
    "process-node": ProcessNode,
    "default": Default,
}

"""Runtime types for spec sheets: immutable records in base SI units.

Built from the compiled catalog (or a validated user sheet) without importing Pydantic, so a
command pays only for ``json.loads`` and the few sheets it uses. They are NamedTuples rather than
dataclasses because a command defines them on every start: six dataclasses cost ~17 ms there,
six NamedTuples ~3 ms.
"""

from __future__ import annotations

from typing import NamedTuple


class Accelerator(NamedTuple):
    """One accelerator. ``price_usd_per_hour`` and ``price_as_of`` are the price on the catalog's default basis
    (``price_basis`` says which; ``prices`` lists every published price with its type, provider class and date)."""

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
    status: str = "shipping"
    status_date: str | None = None
    dense_basis: str = ""
    memory_vendor_bytes: float | None = None
    memory_basis: str = "driver-visible"
    tdp_estimated: bool = False
    price_basis: str = ""
    prices: list[dict] = []
    purchase_price_usd: float | None = None
    purchase_price_as_of: str | None = None
    compute_dies: int | None = None
    die_area_mm2: float | None = None
    process_node: str | None = None
    memory_type: str | None = None
    hbm_stacks: int | None = None
    hbm_stack_bytes: float | None = None
    packaging: str | None = None
    confidence: dict[str, str] = {}

    def price_note(self) -> str:
        """The assumption line for the sheet's default price, naming its basis (or why there is none)."""
        from aistack_cli.catalog.prices import basis_text, other_prices

        if self.price_usd_per_hour is not None:
            return (f"price ${self.price_usd_per_hour:,.2f} per GPU-hour from the {self.id} sheet, as of "
                    f"{self.price_as_of}: {self.price_basis} (prices move; give --price-per-gpu-hour)")
        others = other_prices(self.prices)
        listed = f"; the sheet lists {others}" if others else ""
        return (f"no price for {self.id} on the default basis ({basis_text()}){listed}; "
                "give --price-per-gpu-hour")


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
    status: str = "shipping"
    status_date: str | None = None
    switch_model: str | None = None
    switch_power_basis: str | None = None
    transceiver_kind: str | None = None
    cpo_power_w: float | None = None
    confidence: dict[str, str] = {}


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
    status: str = "shipping"
    status_date: str | None = None
    max_power_basis: str = "rated"
    confidence: dict[str, str] = {}


class Model(NamedTuple):
    """One model. ``sliding_window`` / ``sliding_window_layers`` bound the tokens a local layer caches: a
    sliding window, or for chunked attention (Llama 4, ``attention_chunk`` set) the chunk."""

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
    developer: str = ""
    released: str | None = None
    native_context: int | None = None
    attention_chunk: int | None = None
    sparse_attention_topk: int | None = None
    index_bytes_per_token_per_layer: int | None = None
    mtp_layers: int = 0
    weights_dtype: str | None = None
    expert_weights_dtype: str | None = None
    confidence: dict[str, str] = {}


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
    wafer_cost_kind: str = "price"
    defect_density_stage: str | None = None
    defect_density_assumed: bool = False
    confidence: dict[str, str] = {}


class Part(NamedTuple):
    """A package or fab cost item (an HBM stack, an interposer, assembly and test, a mask set)."""

    id: str
    name: str
    category: str
    year: int
    price_usd: float
    price_per: str
    price_as_of: str
    capacity_bytes: float | None
    sources: dict[str, str]
    aliases: list[str] = []
    notes: str = ""
    confidence: dict[str, str] = {}


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
    "part": Part,
    "default": Default,
}

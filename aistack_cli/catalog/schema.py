"""Pydantic v2 schemas for spec sheets as written in YAML.

A sheet groups its figures, and every group that holds a number carries the ``source`` it came
from, so a reviewer sees the citation beside the figure. Quantities may be written as
datasheets print them (``989.5 TFLOP/s``, ``80 GB``, ``450 GB/s``, ``700 W``) and are converted
to base SI here, once. ``to_runtime()`` flattens a validated sheet into the plain dict that the
runtime dataclasses in ``types.py`` are built from.

Imported only when sheets are compiled or a user sheet is loaded: Pydantic is slow to import.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from aistack_cli import units
from aistack_cli.errors import InputError

PRECISIONS = ("fp64", "fp32", "tf32", "bf16", "fp16", "fp8", "fp6", "int8", "fp4", "int4")
ID_PATTERN = r"^[a-z0-9]+(?:[.-][a-z0-9]+)*$"


def _quantity(dimension: str):
    def convert(value):
        if value is None:
            return None
        try:
            return units.parse(value, dimension, "value")
        except InputError as exc:
            raise ValueError(str(exc).removeprefix("value: ")) from None

    return BeforeValidator(convert)


Bytes = Annotated[float, _quantity("bytes"), Field(gt=0)]
BytesPerS = Annotated[float, _quantity("bytes_per_s"), Field(gt=0)]
Watts = Annotated[float, _quantity("watts"), Field(gt=0)]
FlopPerS = Annotated[float, _quantity("flop_per_s"), Field(gt=0)]
Seconds = Annotated[float, _quantity("seconds"), Field(gt=0)]
Count = Annotated[float, _quantity("count"), Field(gt=0)]
Usd = Annotated[float, _quantity("usd"), Field(gt=0)]
Mm = Annotated[float, _quantity("mm"), Field(gt=0)]
PerCm2 = Annotated[float, _quantity("per_cm2"), Field(ge=0)]
Mm2 = Annotated[float, _quantity("mm2"), Field(gt=0)]
PLACEHOLDER = "REPLACE"  # what `aistack specs template` leaves for the user to fill in


def _no_placeholder(text: str) -> str:
    if PLACEHOLDER in text:
        raise ValueError(f"still says {PLACEHOLDER}: name the public document "
                         "(title, section or table, date)")
    return text


Source = Annotated[str, Field(min_length=8), AfterValidator(_no_placeholder)]
SheetId = Annotated[str, Field(pattern=ID_PATTERN)]
# A date as precise as the source gives it: 2026, 2026-03 or 2026-03-17.
DateText = Annotated[str, BeforeValidator(str), Field(pattern=r"^\d{4}(-\d{2}){0,2}$")]
Confidence = Literal["high", "medium", "low"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(Strict):
    """A group of figures from one source. ``confidence`` marks a figure that is not a vendor's or a
    primary source's own (medium: a faithful secondary copy; low: an estimate, a rumour or a derivation)."""

    source: Source
    confidence: Confidence | None = None


class Status(Sourced):
    """Where a part stands: shipping (with its first availability), announced (with the announcement date:
    figures may change), sampling, or end-of-life."""

    state: Literal["shipping", "announced", "sampling", "end-of-life"]
    date: DateText


class SheetBase(Strict):
    id: SheetId
    name: str
    aliases: list[SheetId] = []
    notes: str = ""


# ---- accelerators ------------------------------------------------------------------------

class Compute(Sourced):
    """Peak rates per precision. ``dense`` is without structured sparsity; ``sparse`` holds the vendor's
    sparse (or sparse-class) figure where one is printed. ``dense_basis`` says how the dense figures were
    read from the vendor's headline (required for an announced part, whose headline is often sparse)."""

    dense: dict[Literal[PRECISIONS], FlopPerS]  # type: ignore[valid-type]
    sparse: dict[Literal[PRECISIONS], FlopPerS] = {}  # type: ignore[valid-type]
    dense_basis: str = ""

    @model_validator(mode="after")
    def _dense_not_above_sparse(self):
        for precision, sparse in self.sparse.items():
            dense = self.dense.get(precision)
            if dense is not None and dense > sparse:
                raise ValueError(f"dense {precision} ({dense:g}) exceeds sparse ({sparse:g})")
        return self


class Memory(Sourced):
    """``capacity`` follows the catalog's rule: the driver-visible total (nvidia-smi, rocm-smi, hl-smi, the
    runtime's device limit), written in binary units or exact bytes, because allocators such as vLLM scale
    that total. ``vendor_capacity`` is the marketing figure. ``basis`` says whether the capacity was read from
    a driver (``driver-visible``) or is the vendor's own figure in binary units (``vendor-binary``, used when
    no driver reading was found)."""

    capacity: Bytes
    bandwidth: BytesPerS
    vendor_capacity: Bytes | None = None
    basis: Literal["driver-visible", "vendor-binary"] = "driver-visible"


class Power(Sourced):
    """``tdp`` is the board (or module) power at full load. ``estimated`` marks a figure the vendor does not
    publish, derived as the source explains."""

    tdp: Watts
    estimated: bool = False


class ScaleUp(Sourced):
    interconnect: SheetId
    bandwidth_per_direction: BytesPerS
    domain: int = Field(ge=1)


class Package(Sourced):
    """A package (superchip) holding several GPUs; the sheet's other figures are per GPU."""

    gpus: int = Field(ge=1)
    dense: dict[Literal[PRECISIONS], FlopPerS] = {}  # type: ignore[valid-type]


class Silicon(Sourced):
    """What the package is made of: compute dies, their node and area, memory stacks, packaging."""

    compute_dies: int | None = Field(default=None, ge=1)
    die_area: Mm2 | None = None  # per compute die
    node: SheetId | None = None  # a process-node sheet id
    io_dies: int = Field(default=0, ge=0)
    memory_type: str = ""  # HBM3, HBM3e, HBM4, GDDR6, ...
    memory_stacks: int | None = Field(default=None, ge=1)
    stack_capacity: Bytes | None = None
    packaging: str = ""  # CoWoS-S, CoWoS-L, EMIB, ...
    transistors: Count | None = None


PRICE_TYPES = ("on-demand", "reserved", "spot", "purchase")
PROVIDER_CLASSES = ("hyperscaler", "neocloud", "marketplace", "vendor", "analyst")


class PriceEntry(Sourced):
    """One published price. Rental types (on-demand list, reserved / contract, spot) give ``usd_per_hour`` per
    accelerator-hour; ``purchase`` gives ``usd`` per accelerator. Prices are recorded in US dollars."""

    type: Literal[PRICE_TYPES]  # type: ignore[valid-type]
    provider_class: Literal[PROVIDER_CLASSES]  # type: ignore[valid-type]
    provider: str = Field(min_length=2)
    currency: Literal["USD"] = "USD"
    usd_per_hour: Usd | None = None
    usd: Usd | None = None
    as_of: DateText
    note: str = ""

    @model_validator(mode="after")
    def _amount_fits_type(self):
        if self.type == "purchase" and (self.usd is None or self.usd_per_hour is not None):
            raise ValueError("a purchase price gives usd (per accelerator), not usd_per_hour")
        if self.type != "purchase" and (self.usd_per_hour is None or self.usd is not None):
            raise ValueError(f"a {self.type} price gives usd_per_hour (per accelerator-hour), not usd")
        return self

    def to_runtime(self) -> dict:
        return {"type": self.type, "provider_class": self.provider_class, "provider": self.provider,
                "currency": self.currency, "usd_per_hour": self.usd_per_hour, "usd": self.usd,
                "as_of": self.as_of, "note": self.note, "source": self.source}


class Price(Sourced):
    """The single price of catalog v1 sheets, still read from user sheets: used as the default price, with
    its basis stated as unknown."""

    usd_per_hour: Usd
    as_of: DateText


class Release(Sourced):
    year: int = Field(ge=2010, le=2035)


class Accelerator(SheetBase):
    kind: Literal["accelerator"]
    vendor: str
    release: Release
    status: Status | None = None
    compute: Compute
    memory: Memory
    power: Power | None = None
    scale_up: ScaleUp | None = None
    package: Package | None = None
    silicon: Silicon | None = None
    prices: list[PriceEntry] = []
    price: Price | None = None

    @model_validator(mode="after")
    def _announced_states_dense(self):
        if self.status and self.status.state == "announced" and not self.compute.dense_basis:
            raise ValueError("compute.dense_basis: an announced part must say how its dense figures relate to "
                             "the vendor's headline (dense, sparse or neither)")
        if self.price and self.prices:
            raise ValueError("give prices (a list, each with its type and provider class), not also price")
        return self

    def to_runtime(self) -> dict:
        from aistack_cli.catalog.prices import default_price, purchase_price

        entries = [p.to_runtime() for p in self.prices]
        if self.price:
            value, as_of, basis = self.price.usd_per_hour, self.price.as_of, "the sheet's own price (basis not stated)"
        else:
            value, as_of, basis = default_price(entries)
        purchase, purchase_as_of = purchase_price(entries)
        silicon = self.silicon
        return {
            "id": self.id, "name": self.name, "vendor": self.vendor, "aliases": self.aliases,
            "release_year": self.release.year,
            "dense_flop_per_s": dict(self.compute.dense),
            "sparse_flop_per_s": dict(self.compute.sparse),
            "memory_bytes": self.memory.capacity,
            "memory_bandwidth_bytes_per_s": self.memory.bandwidth,
            "tdp_w": self.power.tdp if self.power else None,
            "scale_up_interconnect": self.scale_up.interconnect if self.scale_up else None,
            "scale_up_bandwidth_bytes_per_s": self.scale_up.bandwidth_per_direction if self.scale_up else None,
            "scale_up_domain": self.scale_up.domain if self.scale_up else 1,
            "gpus_per_package": self.package.gpus if self.package else 1,
            "package_dense_flop_per_s": dict(self.package.dense) if self.package else {},
            "price_usd_per_hour": value,
            "price_as_of": as_of,
            "sources": _sources(self, "release", "status", "compute", "memory", "power", "scale_up", "package",
                                "silicon", "price"),
            "notes": self.notes,
            "status": self.status.state if self.status else "shipping",
            "status_date": self.status.date if self.status else str(self.release.year),
            "dense_basis": self.compute.dense_basis,
            "memory_vendor_bytes": self.memory.vendor_capacity,
            "memory_basis": self.memory.basis,
            "tdp_estimated": bool(self.power and self.power.estimated),
            "price_basis": basis,
            "prices": entries,
            "purchase_price_usd": purchase,
            "purchase_price_as_of": purchase_as_of,
            "compute_dies": silicon.compute_dies if silicon else None,
            "die_area_mm2": silicon.die_area if silicon else None,
            "process_node": silicon.node if silicon else None,
            "memory_type": silicon.memory_type if silicon and silicon.memory_type else None,
            "hbm_stacks": silicon.memory_stacks if silicon else None,
            "hbm_stack_bytes": silicon.stack_capacity if silicon else None,
            "packaging": silicon.packaging if silicon and silicon.packaging else None,
            "confidence": _confidence(self, "release", "status", "compute", "memory", "power", "scale_up", "package",
                                      "silicon"),
        }


# ---- interconnects -----------------------------------------------------------------------

class Bandwidth(Sourced):
    per_link_per_direction: BytesPerS
    links_per_device: int = Field(ge=1)
    per_device_per_direction: BytesPerS

    @model_validator(mode="after")
    def _device_not_below_link(self):
        if self.per_device_per_direction < self.per_link_per_direction * (1 - 1e-9):
            raise ValueError("per_device_per_direction is below per_link_per_direction")
        return self


class Latency(Sourced):
    typical: Seconds


class InNetwork(Sourced):
    reduction: bool


class Switch(Sourced):
    """The typical switch of this fabric: its radix at this port rate and its power WITHOUT the pluggable optics
    (counted per port in ``transceiver``). ``power_basis`` says what the figure is: the vendor's rated maximum,
    a typical draw, an upper bound from the power supplies, or an estimate."""

    radix: int = Field(ge=2)
    power: Watts
    model: str = ""
    power_basis: Literal["rated-max", "typical", "psu-bound", "estimate"] = "rated-max"


class Transceiver(Sourced):
    """Power of one optical module end per port at this rate: a DSP pluggable, a linear-drive pluggable (LPO),
    an active optical cable end, or a co-packaged-optics port."""

    power: Watts
    kind: Literal["pluggable-dsp", "pluggable-lpo", "aoc", "cpo"] = "pluggable-dsp"


class CoPackaged(Sourced):
    """Co-packaged optics for this fabric (the optics sit beside the switch ASIC): power per port."""

    power_per_port: Watts
    product: str = ""


class Interconnect(SheetBase):
    kind: Literal["interconnect"]
    family: Literal["nvlink", "nvswitch", "pcie", "infiniband", "ethernet", "efa", "ici",
                    "infinity-fabric", "neuronlink", "gaudi-roce", "ualink"]
    year: int = Field(ge=1990, le=2035)
    year_source: Source
    status: Status | None = None
    bandwidth: Bandwidth
    latency: Latency
    in_network: InNetwork | None = None
    switch: Switch | None = None
    transceiver: Transceiver | None = None
    co_packaged: CoPackaged | None = None

    def to_runtime(self) -> dict:
        return {
            "id": self.id, "name": self.name, "family": self.family, "aliases": self.aliases,
            "year": self.year,
            "link_bandwidth_bytes_per_s": self.bandwidth.per_link_per_direction,
            "links_per_device": self.bandwidth.links_per_device,
            "device_bandwidth_bytes_per_s": self.bandwidth.per_device_per_direction,
            "latency_s": self.latency.typical,
            "in_network_reduction": bool(self.in_network and self.in_network.reduction),
            "switch_radix": self.switch.radix if self.switch else None,
            "switch_power_w": self.switch.power if self.switch else None,
            "transceiver_power_w": self.transceiver.power if self.transceiver else None,
            "sources": {"year": self.year_source,
                        **_sources(self, "status", "bandwidth", "latency", "in_network", "switch", "transceiver",
                                   "co_packaged")},
            "notes": self.notes,
            "status": self.status.state if self.status else "shipping",
            "status_date": self.status.date if self.status else str(self.year),
            "switch_model": self.switch.model if self.switch and self.switch.model else None,
            "switch_power_basis": self.switch.power_basis if self.switch else None,
            "transceiver_kind": self.transceiver.kind if self.transceiver else None,
            "cpo_power_w": self.co_packaged.power_per_port if self.co_packaged else None,
            "confidence": _confidence(self, "status", "bandwidth", "latency", "in_network", "switch", "transceiver",
                                      "co_packaged"),
        }


# ---- systems -----------------------------------------------------------------------------

class SystemScaleUp(Strict):
    interconnect: SheetId
    domain: int = Field(ge=1)


class Network(Sourced):
    nics: int = Field(ge=0)
    nic_speed: BytesPerS
    interconnect: SheetId


class SystemPower(Sourced):
    """``max`` is the system's power at full load. ``basis`` says what it is: the vendor's rated maximum,
    an upper bound from the power supplies, a sum of published parts, or an estimate."""

    max: Watts
    basis: Literal["rated", "psu-bound", "sum-of-parts", "estimate"] = "rated"


class Rack(Sourced):
    systems_per_rack: int = Field(ge=1)


class System(SheetBase):
    kind: Literal["system"]
    vendor: str
    accelerator: SheetId
    accelerators: int = Field(ge=1)
    nodes: int = Field(ge=1)
    composition_source: Source
    status: Status | None = None
    scale_up: SystemScaleUp
    network: Network
    power: SystemPower
    rack: Rack | None = None

    def to_runtime(self) -> dict:
        return {
            "id": self.id, "name": self.name, "vendor": self.vendor, "aliases": self.aliases,
            "accelerator": self.accelerator,
            "accelerators": self.accelerators,
            "nodes": self.nodes,
            "scale_up_interconnect": self.scale_up.interconnect,
            "scale_up_domain": self.scale_up.domain,
            "nics": self.network.nics,
            "nic_bandwidth_bytes_per_s": self.network.nic_speed,
            "network_interconnect": self.network.interconnect,
            "max_power_w": self.power.max,
            "systems_per_rack": self.rack.systems_per_rack if self.rack else None,
            "sources": {"composition": self.composition_source,
                        **_sources(self, "status", "network", "power", "rack")},
            "notes": self.notes,
            "status": self.status.state if self.status else "shipping",
            "status_date": self.status.date if self.status else None,
            "max_power_basis": self.power.basis,
            "confidence": _confidence(self, "status", "network", "power", "rack"),
        }


# ---- models ------------------------------------------------------------------------------

class Mla(Strict):
    kv_lora_rank: int = Field(ge=1)
    qk_rope_head_dim: int = Field(ge=1)
    qk_nope_head_dim: int = Field(ge=1)
    v_head_dim: int = Field(ge=1)
    q_lora_rank: int | None = Field(default=None, ge=1)


class ChunkedAttention(Strict):
    """Local attention within aligned chunks (Llama 4): a layer attends only inside its ``chunk``-token block,
    so it caches at most ``chunk`` tokens, as a sliding-window layer caches at most its window."""

    chunk: int = Field(ge=1)
    layers: int = Field(ge=1)


class SparseAttention(Strict):
    """Token-selecting sparse attention (DeepSeek Sparse Attention): an indexer picks ``topk`` cached tokens
    per query; the indexer keeps its own key cache of ``index_bytes_per_token`` per token per layer."""

    mechanism: str = Field(min_length=3)
    topk: int = Field(ge=1)
    index_heads: int = Field(ge=1)
    index_head_dim: int = Field(ge=1)
    index_bytes_per_token: int = Field(ge=1)


class Architecture(Sourced):
    layers: int = Field(ge=1)
    hidden_size: int = Field(ge=1)
    heads: int = Field(ge=1)
    kv_heads: int = Field(ge=1)
    head_dim: int = Field(ge=1)
    ffn_size: int = Field(ge=1)
    vocab_size: int = Field(ge=1)
    max_context: int = Field(ge=1)
    attention: Literal["mha", "gqa", "mqa", "mla"]
    sliding_window: int | None = Field(default=None, ge=1)
    sliding_window_layers: int = Field(default=0, ge=0)
    chunked_attention: ChunkedAttention | None = None
    sparse_attention: SparseAttention | None = None
    mla: Mla | None = None
    native_context: int | None = Field(default=None, ge=1)
    mtp_layers: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _consistent(self):
        if self.kv_heads > self.heads:
            raise ValueError("kv_heads exceeds heads")
        if self.heads % self.kv_heads:
            raise ValueError("heads is not a multiple of kv_heads")
        expected = {"mha": self.kv_heads == self.heads, "mqa": self.kv_heads == 1,
                    "gqa": 1 < self.kv_heads < self.heads, "mla": self.mla is not None}
        if not expected[self.attention]:
            raise ValueError(f"attention {self.attention!r} does not match heads/kv_heads/mla")
        if (self.attention == "mla") != (self.mla is not None):
            raise ValueError("mla block is given exactly when attention is 'mla'")
        if self.sliding_window_layers > self.layers:
            raise ValueError("sliding_window_layers exceeds layers")
        if self.sliding_window_layers and not self.sliding_window:
            raise ValueError("sliding_window_layers given without sliding_window")
        if self.chunked_attention and self.sliding_window:
            raise ValueError("give chunked_attention or sliding_window, not both")
        if self.chunked_attention and self.chunked_attention.layers > self.layers:
            raise ValueError("chunked_attention.layers exceeds layers")
        if self.native_context and self.native_context > self.max_context:
            raise ValueError("native_context exceeds max_context")
        return self


class Parameters(Sourced):
    total: Count
    active: Count

    @model_validator(mode="after")
    def _active_not_above_total(self):
        if self.active > self.total:
            raise ValueError("active parameters exceed total")
        return self


class Experts(Sourced):
    routed: int = Field(ge=1)
    active: int = Field(ge=1)
    shared: int = Field(default=0, ge=0)
    moe_layers: int = Field(ge=1)
    expert_ffn_size: int = Field(ge=1)


class Training(Sourced):
    tokens: Count


WEIGHT_DTYPES = ("fp32", "bf16", "fp16", "fp8", "mxfp8", "int8", "mxfp4", "nvfp4", "int4")


class Weights(Sourced):
    """The released checkpoint's number formats: ``dtype`` for most tensors, ``experts_dtype`` where the MoE
    expert weights differ (gpt-oss ships its experts in MXFP4: 4-bit values with one 8-bit scale per 32)."""

    dtype: Literal[WEIGHT_DTYPES]  # type: ignore[valid-type]
    experts_dtype: Literal[WEIGHT_DTYPES] | None = None  # type: ignore[valid-type]


class ModelRelease(Sourced):
    date: DateText


class Model(SheetBase):
    kind: Literal["model"]
    family: str
    developer: str = ""
    release: ModelRelease | None = None
    architecture: Architecture
    parameters: Parameters
    experts: Experts | None = None
    training: Training | None = None
    weights: Weights | None = None

    def to_runtime(self) -> dict:
        arch, mla, experts = self.architecture, self.architecture.mla, self.experts
        chunk, sparse = arch.chunked_attention, arch.sparse_attention
        return {
            "id": self.id, "name": self.name, "family": self.family, "aliases": self.aliases,
            "layers": arch.layers, "hidden_size": arch.hidden_size, "heads": arch.heads,
            "kv_heads": arch.kv_heads, "head_dim": arch.head_dim, "ffn_size": arch.ffn_size,
            "vocab_size": arch.vocab_size, "max_context": arch.max_context,
            "attention": arch.attention,
            # Local layers cache at most this many tokens: a sliding window, or a chunk (Llama 4).
            "sliding_window": chunk.chunk if chunk else arch.sliding_window,
            "sliding_window_layers": chunk.layers if chunk else arch.sliding_window_layers,
            "kv_lora_rank": mla.kv_lora_rank if mla else None,
            "qk_rope_head_dim": mla.qk_rope_head_dim if mla else None,
            "params_total": self.parameters.total, "params_active": self.parameters.active,
            "experts_routed": experts.routed if experts else 0,
            "experts_active": experts.active if experts else 0,
            "experts_shared": experts.shared if experts else 0,
            "moe_layers": experts.moe_layers if experts else 0,
            "expert_ffn_size": experts.expert_ffn_size if experts else 0,
            "training_tokens": self.training.tokens if self.training else None,
            "sources": _sources(self, "release", "architecture", "parameters", "experts", "training", "weights"),
            "notes": self.notes,
            "developer": self.developer,
            "released": self.release.date if self.release else None,
            "native_context": arch.native_context,
            "attention_chunk": chunk.chunk if chunk else None,
            "sparse_attention_topk": sparse.topk if sparse else None,
            "index_bytes_per_token_per_layer": sparse.index_bytes_per_token if sparse else None,
            "mtp_layers": arch.mtp_layers,
            "weights_dtype": self.weights.dtype if self.weights else None,
            "expert_weights_dtype": self.weights.experts_dtype if self.weights else None,
            "confidence": _confidence(self, "release", "architecture", "parameters", "experts", "training",
                                      "weights"),
        }


# ---- process nodes -----------------------------------------------------------------------

class Wafer(Sourced):
    """The price a customer pays for one processed wafer, in the year it was reported. ``kind`` says what the
    figure is: a reported price, an average selling price, a forecast, or a rumour."""

    cost_usd: Usd
    cost_year: int = Field(ge=2000, le=2035)
    diameter: Mm
    kind: Literal["price", "asp", "forecast", "rumour"] = "price"


class DefectDensity(Sourced):
    """Killer defects per cm2 and the stage of the node it describes (D0 falls for years after ramp).
    ``assumed`` marks a value the foundry has not published."""

    per_cm2: PerCm2
    stage: str = Field(default="", max_length=120)
    assumed: bool = False


class ProcessNode(SheetBase):
    kind: Literal["process-node"]
    foundry: str
    year: int = Field(ge=1990, le=2035)
    year_source: Source
    wafer: Wafer
    defect_density: DefectDensity

    def to_runtime(self) -> dict:
        return {
            "id": self.id, "name": self.name, "foundry": self.foundry, "aliases": self.aliases,
            "year": self.year,
            "wafer_cost_usd": self.wafer.cost_usd, "wafer_cost_year": self.wafer.cost_year,
            "wafer_diameter_mm": self.wafer.diameter,
            "defect_density_per_cm2": self.defect_density.per_cm2,
            "sources": {"year": self.year_source, **_sources(self, "wafer", "defect_density")},
            "notes": self.notes,
            "wafer_cost_kind": self.wafer.kind,
            "defect_density_stage": self.defect_density.stage or None,
            "defect_density_assumed": self.defect_density.assumed,
            "confidence": _confidence(self, "wafer", "defect_density"),
        }


# ---- package and fab parts ---------------------------------------------------------------

class PartPrice(Sourced):
    usd: Usd
    as_of: DateText
    per: Literal["stack", "package", "wafer", "set", "module"]


class Part(SheetBase):
    """A cost item of a chip package or its making: an HBM stack, an interposer (CoWoS), assembly and test,
    a mask set. fab-cost and TCO read the price; ``capacity`` is given for memory stacks."""

    kind: Literal["part"]
    category: Literal["hbm-stack", "interposer", "assembly-test", "mask-set", "substrate"]
    year: int = Field(ge=2000, le=2035)
    price: PartPrice
    capacity: Bytes | None = None

    def to_runtime(self) -> dict:
        return {"id": self.id, "name": self.name, "aliases": self.aliases, "category": self.category,
                "year": self.year, "price_usd": self.price.usd, "price_per": self.price.per,
                "price_as_of": self.price.as_of, "capacity_bytes": self.capacity,
                "sources": _sources(self, "price"), "notes": self.notes, "confidence": _confidence(self, "price")}


# ---- calibrated defaults -----------------------------------------------------------------

class Default(SheetBase):
    """A default that stands in for what the user did not give (an efficiency, a load, a PUE, a
    price): its value, the published spread (P10-P90), the evidence, and the published cases it was
    fit on (role ``calibration`` in benchmarks/references.yaml; never a validation case)."""

    kind: Literal["default"]
    value: float
    p10: float | None = None
    p90: float | None = None
    unit: str = Field(min_length=1)
    used_by: list[str] = Field(min_length=1)
    evidence: Source
    sources: list[Source] = Field(min_length=1)
    calibration_cases: list[str] = []
    fit: str = ""

    @model_validator(mode="after")
    def _range_holds_value(self):
        if (self.p10 is None) != (self.p90 is None):
            raise ValueError("give both p10 and p90, or neither")
        if self.p10 is not None and not self.p10 <= self.value <= self.p90:
            raise ValueError(f"value {self.value:g} is outside p10-p90 [{self.p10:g}, {self.p90:g}]")
        return self

    def to_runtime(self) -> dict:
        return {"id": self.id, "name": self.name, "aliases": self.aliases, "value": self.value, "p10": self.p10,
                "p90": self.p90, "unit": self.unit, "used_by": self.used_by, "evidence": self.evidence,
                "sources": {str(i + 1): s for i, s in enumerate(self.sources)},
                "calibration_cases": self.calibration_cases, "fit": self.fit, "notes": self.notes}


Sheet = Annotated[Union[Accelerator, Interconnect, System, Model, ProcessNode, Part, Default],
                  Field(discriminator="kind")]
KINDS = ("accelerator", "interconnect", "system", "model", "process-node", "part", "default")


def _confidence(sheet: BaseModel, *groups: str) -> dict[str, str]:
    """The confidence of each group that states one (groups without it are vendor or primary figures)."""
    found = {}
    for group in groups:
        value = getattr(sheet, group)
        if value is not None and getattr(value, "confidence", None):
            found[group] = value.confidence
    return found


def _sources(sheet: BaseModel, *groups: str) -> dict[str, str]:
    """The source of each group the sheet fills in, keyed by group name."""
    found = {}
    for group in groups:
        value = getattr(sheet, group)
        if value is not None and getattr(value, "source", None):
            found[group] = value.source
    return found

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

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

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
Source = Annotated[str, Field(min_length=8)]
SheetId = Annotated[str, Field(pattern=ID_PATTERN)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sourced(Strict):
    source: Source


class SheetBase(Strict):
    id: SheetId
    name: str
    aliases: list[SheetId] = []
    notes: str = ""


# ---- accelerators ------------------------------------------------------------------------

class Compute(Sourced):
    dense: dict[Literal[PRECISIONS], FlopPerS]  # type: ignore[valid-type]
    sparse: dict[Literal[PRECISIONS], FlopPerS] = {}  # type: ignore[valid-type]

    @model_validator(mode="after")
    def _dense_not_above_sparse(self):
        for precision, sparse in self.sparse.items():
            dense = self.dense.get(precision)
            if dense is not None and dense > sparse:
                raise ValueError(f"dense {precision} ({dense:g}) exceeds sparse ({sparse:g})")
        return self


class Memory(Sourced):
    capacity: Bytes
    bandwidth: BytesPerS


class Power(Sourced):
    tdp: Watts


class ScaleUp(Sourced):
    interconnect: SheetId
    bandwidth_per_direction: BytesPerS
    domain: int = Field(ge=1)


class Package(Sourced):
    """A package (superchip) holding several GPUs; the sheet's other figures are per GPU."""

    gpus: int = Field(ge=1)
    dense: dict[Literal[PRECISIONS], FlopPerS] = {}  # type: ignore[valid-type]


class Price(Sourced):
    usd_per_hour: Usd
    as_of: Annotated[str, BeforeValidator(str), Field(pattern=r"^\d{4}(-\d{2}){0,2}$")]


class Release(Sourced):
    year: int = Field(ge=2010, le=2035)


class Accelerator(SheetBase):
    kind: Literal["accelerator"]
    vendor: str
    release: Release
    compute: Compute
    memory: Memory
    power: Power | None = None
    scale_up: ScaleUp | None = None
    package: Package | None = None
    price: Price | None = None

    def to_runtime(self) -> dict:
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
            "price_usd_per_hour": self.price.usd_per_hour if self.price else None,
            "price_as_of": self.price.as_of if self.price else None,
            "sources": _sources(self, "release", "compute", "memory", "power", "scale_up", "package", "price"),
            "notes": self.notes,
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
    radix: int = Field(ge=2)
    power: Watts


class Transceiver(Sourced):
    power: Watts


class Interconnect(SheetBase):
    kind: Literal["interconnect"]
    family: Literal["nvlink", "nvswitch", "pcie", "infiniband", "ethernet", "efa", "ici",
                    "infinity-fabric", "neuronlink", "gaudi-roce"]
    year: int = Field(ge=1990, le=2035)
    year_source: Source
    bandwidth: Bandwidth
    latency: Latency
    in_network: InNetwork | None = None
    switch: Switch | None = None
    transceiver: Transceiver | None = None

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
                        **_sources(self, "bandwidth", "latency", "in_network", "switch", "transceiver")},
            "notes": self.notes,
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
    max: Watts


class Rack(Sourced):
    systems_per_rack: int = Field(ge=1)


class System(SheetBase):
    kind: Literal["system"]
    vendor: str
    accelerator: SheetId
    accelerators: int = Field(ge=1)
    nodes: int = Field(ge=1)
    composition_source: Source
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
                        **_sources(self, "network", "power", "rack")},
            "notes": self.notes,
        }


# ---- models ------------------------------------------------------------------------------

class Mla(Strict):
    kv_lora_rank: int = Field(ge=1)
    qk_rope_head_dim: int = Field(ge=1)
    qk_nope_head_dim: int = Field(ge=1)
    v_head_dim: int = Field(ge=1)
    q_lora_rank: int | None = Field(default=None, ge=1)


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
    mla: Mla | None = None

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


class Model(SheetBase):
    kind: Literal["model"]
    family: str
    architecture: Architecture
    parameters: Parameters
    experts: Experts | None = None
    training: Training | None = None

    def to_runtime(self) -> dict:
        arch, mla, experts = self.architecture, self.architecture.mla, self.experts
        return {
            "id": self.id, "name": self.name, "family": self.family, "aliases": self.aliases,
            "layers": arch.layers, "hidden_size": arch.hidden_size, "heads": arch.heads,
            "kv_heads": arch.kv_heads, "head_dim": arch.head_dim, "ffn_size": arch.ffn_size,
            "vocab_size": arch.vocab_size, "max_context": arch.max_context,
            "attention": arch.attention, "sliding_window": arch.sliding_window,
            "sliding_window_layers": arch.sliding_window_layers,
            "kv_lora_rank": mla.kv_lora_rank if mla else None,
            "qk_rope_head_dim": mla.qk_rope_head_dim if mla else None,
            "params_total": self.parameters.total, "params_active": self.parameters.active,
            "experts_routed": experts.routed if experts else 0,
            "experts_active": experts.active if experts else 0,
            "experts_shared": experts.shared if experts else 0,
            "moe_layers": experts.moe_layers if experts else 0,
            "expert_ffn_size": experts.expert_ffn_size if experts else 0,
            "training_tokens": self.training.tokens if self.training else None,
            "sources": _sources(self, "architecture", "parameters", "experts", "training"),
            "notes": self.notes,
        }


# ---- process nodes -----------------------------------------------------------------------

class Wafer(Sourced):
    cost_usd: Usd
    cost_year: int = Field(ge=2000, le=2035)
    diameter: Mm


class DefectDensity(Sourced):
    per_cm2: PerCm2


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
        }


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


Sheet = Annotated[Union[Accelerator, Interconnect, System, Model, ProcessNode, Default], Field(discriminator="kind")]
KINDS = ("accelerator", "interconnect", "system", "model", "process-node", "default")


def _sources(sheet: BaseModel, *groups: str) -> dict[str, str]:
    """The source of each group the sheet fills in, keyed by group name."""
    found = {}
    for group in groups:
        value = getattr(sheet, group)
        if value is not None and getattr(value, "source", None):
            found[group] = value.source
    return found

"""Every bundled sheet loads, validates, cites its sources and keeps dense <= sparse."""

import json
import re
from pathlib import Path

import pytest
import yaml

from aistack_cli import catalog
from aistack_cli.catalog.compile import SPECS_DIR, compile_specs, digest
from aistack_cli.catalog.types import TYPES

BUNDLED = catalog.load()


def test_compiled_catalog_is_up_to_date_with_specs():
    # Run `python -m aistack_cli.catalog.compile` after editing specs/.
    compiled = json.loads(catalog.COMPILED.read_text())
    assert compiled["digest"] == digest(), "compiled.json is stale: run python -m aistack_cli.catalog.compile"
    assert compiled == json.loads(json.dumps(compile_specs()))


def _all_sheets():
    return [(kind, sheet_id) for kind in catalog.KINDS for sheet_id in BUNDLED.ids(kind)]


@pytest.mark.parametrize("kind, sheet_id", _all_sheets())
def test_every_sheet_builds_its_runtime_type_and_cites_sources(kind, sheet_id):
    sheet = BUNDLED.get(kind, sheet_id)
    assert isinstance(sheet, TYPES[kind])
    assert re.fullmatch(r"[a-z0-9]+(?:[.-][a-z0-9]+)*", sheet.id)
    assert sheet.sources and all(len(text) >= 8 for text in sheet.sources.values())


def test_every_number_in_yaml_has_a_source_in_its_group():
    # Each mapping holding a number must carry `source`, or sit directly inside one that does.
    def walk(node, sourced, path):
        if isinstance(node, dict):
            here = sourced or "source" in node
            for key, value in node.items():
                if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in ("year", "cost_year"):
                    assert here, f"{path}.{key} has no source"
                walk(value, here, f"{path}.{key}")
    for file in SPECS_DIR.rglob("*.yaml"):
        loaded = yaml.safe_load(file.read_text())
        for doc in loaded if isinstance(loaded, list) else [loaded]:
            if doc["kind"] == "default":  # a default's numbers are cited by its evidence and sources list
                assert doc["evidence"] and doc["sources"], doc["id"]
                continue
            # A system's composition (accelerator count, scale-up domain) cites composition_source.
            sheet_sourced = "composition_source" in doc
            for key, value in doc.items():
                if isinstance(value, dict):
                    walk(value, sheet_sourced and key == "scale_up", f"{file.name}:{key}")


def test_no_number_like_strings_slip_through_as_text():
    # PyYAML reads 1e9 as a string; every quantity field must have become a float.
    for kind in catalog.KINDS:
        for sheet_id in BUNDLED.ids(kind):
            for key, value in BUNDLED.raw(kind, sheet_id).items():
                if key.endswith(("_bytes", "_w", "_usd", "_per_s", "_s", "_mm")) and value is not None:
                    values = value.values() if isinstance(value, dict) else [value]
                    assert all(isinstance(v, float) for v in values), (sheet_id, key, value)


def test_ids_and_aliases_are_unique_per_kind():
    for kind in catalog.KINDS:
        names = []
        for sheet_id in BUNDLED.ids(kind):
            names += [sheet_id, *BUNDLED.raw(kind, sheet_id)["aliases"]]
        assert len(names) == len(set(names)), kind


def test_dense_never_exceeds_sparse():
    for sheet_id in BUNDLED.ids("accelerator"):
        gpu = BUNDLED.get("accelerator", sheet_id)
        for precision, sparse in gpu.sparse_flop_per_s.items():
            assert gpu.dense_flop_per_s.get(precision, 0) <= sparse, (sheet_id, precision)


def test_references_resolve():
    for sheet_id in BUNDLED.ids("system"):
        system = BUNDLED.get("system", sheet_id)
        BUNDLED.get("accelerator", system.accelerator)
        BUNDLED.get("interconnect", system.scale_up_interconnect)
        BUNDLED.get("interconnect", system.network_interconnect)


def test_aliases_resolve_case_insensitively():
    assert BUNDLED.resolve("accelerator", "H100") == "h100-sxm"


def test_superchips_record_per_gpu_figures_below_the_package():
    # GB200/GB300 sheets are per GPU: each per-GPU peak times the GPUs in the package must give
    # the package's published peak, and so stay below it (a package figure typed as per-GPU fails).
    superchips = [BUNDLED.get("accelerator", i) for i in BUNDLED.ids("accelerator")]
    superchips = [g for g in superchips if g.gpus_per_package > 1]
    assert {g.id for g in superchips} >= {"gb200", "gb300"}
    for gpu in superchips:
        assert gpu.package_dense_flop_per_s, gpu.id
        for precision, package_peak in gpu.package_dense_flop_per_s.items():
            per_gpu = gpu.dense_flop_per_s[precision]
            assert per_gpu < package_peak
            assert per_gpu * gpu.gpus_per_package == pytest.approx(package_peak, rel=0.01), (gpu.id, precision)

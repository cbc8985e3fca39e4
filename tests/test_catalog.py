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


# ---- catalog v2: one memory basis, honest aliases, dated sources, prices on one basis ------------------

from aistack_cli.catalog import prices as price_basis  # noqa: E402
from aistack_cli.catalog.templates import TEMPLATES  # noqa: E402
from conftest import assert_usage_error  # noqa: E402

ACCELERATOR_FILES = sorted((SPECS_DIR / "accelerators").glob("*.yaml"))
BINARY_OR_BYTES = re.compile(r"^\d+(\.\d+)? ?(KiB|MiB|GiB|TiB|B)$")


@pytest.mark.parametrize("file", ACCELERATOR_FILES, ids=lambda f: f.stem)
def test_memory_is_driver_visible_in_binary_units(file):
    # The catalog's rule: capacity is what the driver shows (nvidia-smi 81,559 MiB on an "80 GB" H100), written
    # in binary units or exact bytes; where no driver reading exists, the vendor's figure read in GiB. A decimal
    # "80 GB" here would be 6.5-6.9% low, the catalog v1 error on h100-pcie, gaudi3 and the MI300-series parts.
    doc = yaml.safe_load(file.read_text())
    memory = doc["memory"]
    assert BINARY_OR_BYTES.match(str(memory["capacity"])), (file.name, memory["capacity"])
    assert memory.get("basis", "driver-visible") in ("driver-visible", "vendor-binary")
    sheet = BUNDLED.get("accelerator", doc["id"])
    assert sheet.memory_vendor_bytes, f"{doc['id']}: give vendor_capacity (the marketing figure)"
    # Binary capacity never falls below the decimal marketing figure (81,559 MiB = 85.5e9 B > 80e9 B).
    assert sheet.memory_bytes >= sheet.memory_vendor_bytes * (1 - 1e-9), doc["id"]


def test_memory_figures_the_issue_named():
    mib, gib = 2**20, 2**30
    expected = {"h100-pcie": 81_559 * mib, "h100-nvl": 95_830 * mib, "gaudi3": 131_072 * mib,
                "mi250x": 2 * 68_702_699_520, "mi325x": 256 * gib, "mi355x": 288 * gib,
                "tpu-v5e": 16 * gib, "tpu-v6e": 32 * gib, "h100-sxm": 81_559 * mib}
    for sheet_id, value in expected.items():
        assert BUNDLED.get("accelerator", sheet_id).memory_bytes == value, sheet_id


def test_catalog_covers_the_parts_planners_ask_for():
    wanted = {"accelerator": ["vr200", "tpu-v7", "trainium3", "mi350x", "h20", "l40s", "gh200", "v100", "gaudi2"],
              "system": ["hgx-b300", "tpu-v5p-pod"],
              "model": ["gpt-oss-120b", "gpt-oss-20b", "qwen3-235b-a22b", "qwen3-30b-a3b", "deepseek-r1",
                        "llama-4-scout", "llama-4-maverick", "kimi-k2"],
              "process-node": ["n3p", "n2p"]}
    for kind, ids in wanted.items():
        for sheet_id in ids:
            BUNDLED.resolve(kind, sheet_id)
    assert len(BUNDLED.ids("accelerator")) >= 35 and len(BUNDLED.ids("model")) >= 30


def _versions(text: str) -> set[str]:
    """The numbers a name carries, each with a one-letter suffix that ends a word: 'TPU v5e' -> 5e,
    'Llama 3.1 70B' -> 3.1 and 70b, 'H100 SXM5 80 GB' -> 100, 5 and 80, '16 nm' -> 16."""
    text = re.sub(r"(?<=\d),(?=\d{3})", "", text.lower())
    found = set()
    for match in re.finditer(r"(\d+(?:\.\d+)*)([a-z]?)", text):
        ends_word = match.end() == len(text) or not text[match.end()].isalpha()
        found.add(match.group(1) + (match.group(2) if ends_word else ""))
    return found


def _params_version(version: str, params: float) -> bool:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([bt])", version)
    return bool(match) and abs(float(match.group(1)) * (1e9 if match.group(2) == "b" else 1e12) / params - 1) < 0.03


def test_every_alias_names_only_what_its_sheet_holds():
    # An alias is another spelling of the SAME part or model: every version or size it carries must be one the
    # sheet's id or name carries (or the model's parameter count); it may drop a variant letter (mi300 for MI300X)
    # but never add or change one. Catalog v1 broke this: llama-3-70b resolved to Llama 3.1 (131,072 tokens of
    # context instead of 8,192), n3e and n3p to the N3B sheet and its 2022 wafer price.
    for kind in catalog.KINDS:
        if kind == "default":  # a default's aliases name the fabrics or parts it applies to, not versions of itself
            continue
        for sheet_id in BUNDLED.ids(kind):
            sheet = BUNDLED.raw(kind, sheet_id)
            known = _versions(sheet_id) | _versions(sheet["name"])
            loose = {re.sub(r"[a-z]$", "", v) for v in known}
            for alias in sheet["aliases"]:
                for version in _versions(alias):
                    if version in known or version in loose:
                        continue
                    if kind == "model" and _params_version(version, sheet["params_total"]):
                        continue
                    pytest.fail(f"{kind} {sheet_id}: alias {alias!r} names {version!r}, which the sheet is not")


def test_the_alias_rule_catches_the_v1_mistakes():
    assert "3" not in _versions("Llama 3.1 70B") | _versions("llama-3.1-70b")
    assert "3e" not in _versions("TSMC N3 (N3B, the first 3 nm node)")
    assert _versions("TSMC N3 family (N3B, N3E, N3P)") >= {"3e", "3p"}  # a name that claims them would pass


def test_llama_3_and_3_1_are_separate_sheets():
    l3, l31 = BUNDLED.get("model", "llama-3-70b"), BUNDLED.get("model", "llama-3.1-70b")
    assert (l3.max_context, l31.max_context) == (8192, 131072)
    assert BUNDLED.resolve("model", "llama-3-8b") == "llama-3-8b"
    assert "llama-3-70b" not in l31.aliases and "n3e" not in BUNDLED.raw("process-node", "n3")["aliases"]


def test_specs_show_llama_3_70b_reports_its_8k_context(cli):
    run = cli("specs", "show", "llama-3-70b", "-f", "json")
    assert run.code == 0 and run.json()["sheet"]["max_context"] == 8192


def test_specs_show_h100_pcie_reports_driver_visible_memory(cli):
    sheet = cli("specs", "show", "h100-pcie", "-f", "json").json()["sheet"]
    assert sheet["memory_bytes"] == 81_559 * 2**20 and sheet["memory_basis"] == "driver-visible"


NOT_SHIPPED = re.compile(r"specs_facts|specs-facts|fact sheet|cross-check table|/work/|research/", re.I)


def _all_source_texts():
    for kind in catalog.KINDS:
        if kind == "default":
            continue
        for sheet_id in BUNDLED.ids(kind):
            sheet = BUNDLED.raw(kind, sheet_id)
            for group, text in sheet["sources"].items():
                yield f"{kind} {sheet_id} {group}", text
            for i, price in enumerate(sheet.get("prices", [])):
                yield f"{kind} {sheet_id} prices[{i}]", price["source"]


@pytest.mark.parametrize("where, text", list(_all_source_texts()), ids=lambda v: v if " " in str(v)[:40] else "")
def test_every_source_is_a_dated_public_document(where, text):
    # Users must be able to follow a citation: no reference to a file that does not ship, and a date (the
    # document's, or for a living web page the month it was read).
    assert not NOT_SHIPPED.search(text), where
    assert re.search(r"(19|20)\d\d", text), f"{where}: the source gives no date"


def test_default_price_is_the_median_on_one_basis_within_the_window():
    for sheet_id in BUNDLED.ids("accelerator"):
        gpu = BUNDLED.get("accelerator", sheet_id)
        chosen = [p for p in gpu.prices if price_basis.on_basis(p)]
        if not chosen:
            assert gpu.price_usd_per_hour is None and "no price on the default basis" in gpu.price_basis, sheet_id
            continue
        values = sorted(p["usd_per_hour"] for p in chosen)
        mid = len(values) // 2
        median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        assert gpu.price_usd_per_hour == pytest.approx(median), sheet_id
        assert gpu.price_as_of == max(p["as_of"] for p in chosen)
        for p in chosen:
            assert p["type"] == "on-demand" and p["provider_class"] in ("neocloud", "marketplace")
            assert price_basis.WINDOW[0] <= p["as_of"][:7] <= price_basis.WINDOW[1]


def test_price_window_counts_a_year_only_when_the_whole_year_is_inside():
    assert price_basis.in_window("2026") and not price_basis.in_window("2025")
    assert price_basis.in_window("2025-04") and not price_basis.in_window("2025-03-31")


def test_price_note_states_the_basis_or_names_the_other_prices():
    note = BUNDLED.get("accelerator", "h100-sxm").price_note()
    assert "median of the sheet's on-demand list prices" in note and "2025-04 to 2026-12" in note
    tpu = BUNDLED.get("accelerator", "tpu-v5p").price_note()
    assert tpu.startswith("no price for tpu-v5p on the default basis") and "hyperscaler on-demand $4.20" in tpu


def test_every_accelerator_with_a_rental_price_says_its_type_class_and_date():
    priced = [i for i in BUNDLED.ids("accelerator") if BUNDLED.get("accelerator", i).prices]
    assert len(priced) >= 16
    for sheet_id in priced:
        for p in BUNDLED.get("accelerator", sheet_id).prices:
            assert p["type"] and p["provider_class"] and p["currency"] == "USD" and p["as_of"], sheet_id


def test_announced_parts_say_dense_from_sparse():
    rubin = BUNDLED.get("accelerator", "vr200")
    assert rubin.status == "announced" and rubin.status_date == "2026-01"
    assert rubin.dense_flop_per_s["fp4"] == 35e15 and rubin.sparse_flop_per_s["fp4"] == 50e15  # "50 PF" is not dense
    assert "NOT a dense peak" in rubin.dense_basis
    for sheet_id in BUNDLED.ids("accelerator"):
        gpu = BUNDLED.get("accelerator", sheet_id)
        if gpu.status == "announced":
            assert gpu.dense_basis, sheet_id


def test_chunked_attention_bounds_the_cache_like_a_window():
    scout = BUNDLED.get("model", "llama-4-scout")
    assert (scout.attention_chunk, scout.sliding_window, scout.sliding_window_layers) == (8192, 8192, 36)
    gpt = BUNDLED.get("model", "gpt-oss-120b")
    assert gpt.expert_weights_dtype == "mxfp4" and gpt.weights_dtype == "bf16"
    v32 = BUNDLED.get("model", "deepseek-v3.2")
    assert v32.sparse_attention_topk == 2048 and v32.index_bytes_per_token_per_layer == 132


def test_kv_cache_of_llama_4_counts_only_global_layers_beyond_the_chunk(cli):
    # 12 global layers x 8 kv heads x 128 x 2 (K, V) x 2 B = 49,152 B per token beyond 8,192 tokens, plus 36 chunked
    # layers capped at 8,192 tokens: at 1M tokens 1,048,576 x 49,152 + 8,192 x 147,456 = 52.8 GB.
    doc = cli("kv-cache", "--model", "llama-4-scout", "--context", "1Mi", "--format", "json").json()
    per_full_layer = 8 * 128 * 2 * 2
    expected = 2**20 * 12 * per_full_layer + 8192 * 36 * per_full_layer
    assert doc["results"]["kv_bytes_per_sequence"] == pytest.approx(expected, rel=0.01)


def test_tpu_v5p_pod_power_computes(cli):
    run = cli("cluster-power", "--system", "tpu-v5p-pod", "--format", "json")
    assert run.code == 0, run.err
    assert BUNDLED.get("system", "tpu-v5p-pod").max_power_basis == "estimate"
    assert BUNDLED.get("accelerator", "tpu-v5p").tdp_estimated


def test_every_scale_out_generation_from_200g_has_switch_power():
    for sheet_id in ("ib-ndr", "ib-xdr", "roce-200g", "roce-400g", "roce-800g"):
        link = BUNDLED.get("interconnect", sheet_id)
        assert link.switch_radix and link.switch_power_w and link.switch_power_basis, sheet_id
        assert link.transceiver_power_w, sheet_id
    assert BUNDLED.get("interconnect", "ib-xdr").cpo_power_w < BUNDLED.get("interconnect", "ib-xdr").transceiver_power_w


# ---- extending the catalog: templates, all errors at once, diff, list filters --------------------------

@pytest.mark.parametrize("kind", sorted(TEMPLATES))
def test_template_validates_once_filled_in(cli, tmp_path, kind):
    printed = cli("specs", "template", kind)
    assert printed.code == 0 and printed.out == TEMPLATES[kind]
    raw = tmp_path / "raw.yaml"
    raw.write_text(printed.out)
    refused = cli("specs", "list", "--specs", str(raw))  # every REPLACE marker named on one line
    assert_usage_error(refused, str(raw), "REPLACE")
    assert refused.err.count("REPLACE") == printed.out.count("REPLACE: ")
    filled = tmp_path / "filled.yaml"
    filled.write_text(printed.out.replace("REPLACE: ", "Example Corp datasheet rev 1, table 2, 2026-03, "))
    run = cli("specs", "list", "--specs", str(filled), "--format", "json")
    assert run.code == 0, run.err
    assert any(row["origin"] == str(filled) for row in run.json()["sheets"])


def test_validation_names_every_problem_of_a_sheet(cli, tmp_path):
    sheet = tmp_path / "bad.yaml"
    sheet.write_text("id: my-gpu\nkind: accelerator\nname: Mine\nvendor: me\n"
                     "release: {year: 2026, source: 'my datasheet, 2026'}\n"
                     "compute: {source: 'my datasheet, 2026', dense: {bf16: 12 parsecs}}\n"
                     "memory: {source: 'my datasheet, 2026', capacity: lots, bandwidth: 3 TB/s}\n"
                     "power: {source: 'my datasheet, 2026'}\n")
    run = cli("specs", "list", "--specs", str(sheet))
    assert_usage_error(run, str(sheet), "my-gpu", "3 problems", "compute.dense.bf16", "memory.capacity", "power.tdp")


def test_diff_shows_a_user_override_against_the_bundled_sheet(cli, tmp_path):
    text = (SPECS_DIR / "accelerators" / "h100-sxm.yaml").read_text().replace("capacity: 81559 MiB", "capacity: 80 GiB")
    mine = tmp_path / "h100.yaml"
    mine.write_text(text)
    doc = cli("specs", "diff", "h100-sxm", "--specs", str(mine), "--format", "json").json()
    assert doc["state"].startswith("overridden by")
    assert doc["differences"] == [{"field": "memory_bytes", "bundled": 81_559 * 2**20, "user": 80 * 2**30}]
    table = cli("specs", "diff", "h100", "--specs", str(mine)).out  # the override keeps the bundled aliases
    assert "memory_bytes" in table and "79.6 GiB -> 80.0 GiB" in table
    plain = cli("specs", "diff", "h100-sxm").out
    assert "no user sheet overrides it" in plain


def test_list_filters_by_kind_vendor_and_year(cli):
    rows = cli("specs", "list", "--kind", "accelerator", "--vendor", "amd", "--format", "json").json()["sheets"]
    ids = {r["id"] for r in rows}
    assert {"mi300x", "mi355x", "mi350x"} <= ids and not any(i.startswith("h1") for i in ids)
    recent = cli("specs", "list", "--year", "2026:", "--format", "json").json()["sheets"]
    assert "vr200" in {r["id"] for r in recent} and all(r["year"] >= 2026 for r in recent)
    models = cli("specs", "list", "--kind", "model", "--vendor", "meta", "--year", "2025", "--format", "json").json()
    assert {r["id"] for r in models["sheets"]} == {"llama-4-scout", "llama-4-maverick"}
    assert_usage_error(cli("specs", "list", "--year", "recent"), "--year")

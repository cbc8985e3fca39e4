"""The CLI through its real entry point: formats, exit codes, one-line errors."""

import csv
import io
import json
import tomllib

import pytest
import yaml

from conftest import assert_usage_error, run_subprocess

KV = ["kv-cache", "--model", "llama-3.1-70b", "--context", "128k", "--gpu", "h100-sxm", "--gpus", "4"]


def test_json_contract(cli):
    run = cli(*KV, "--format", "json")
    assert run.code == 0, run.err
    doc = run.json()
    assert list(doc) == ["schema_version", "aistack", "command", "swept", "rows", "inputs", "results",
                         "assumptions", "warnings"]
    assert doc["schema_version"] == 2 and doc["command"] == "kv-cache" and doc["swept"] == []
    assert doc["inputs"]["gpu"] == "h100-sxm" and doc["inputs"]["gpu_memory_bytes"] == 81559 * 2**20
    assert doc["rows"] == [{"inputs": doc["inputs"], "results": doc["results"], "warnings": doc["warnings"],
                            "error": None}]
    assert doc["results"]["kv_bytes_per_token"] == 327_680
    assert doc["results"]["max_sequences"] == 4 and doc["results"]["fits"] is True
    assert isinstance(doc["assumptions"], list) and isinstance(doc["warnings"], list)


@pytest.mark.parametrize("fmt, load", [
    ("json", json.loads),
    ("yaml", yaml.safe_load),
    ("toml", tomllib.loads),
])
def test_each_machine_format_parses(cli, fmt, load):
    run = cli(*KV, "--format", fmt)
    assert run.code == 0, run.err
    doc = load(run.out)
    assert doc["results"]["kv_bytes_per_token"] == 327_680


def test_csv_has_a_header_and_one_row(cli):
    run = cli(*KV, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert len(rows) == 1
    assert float(rows[0]["kv_bytes_per_token"]) == 327_680
    assert rows[0]["model"] == "llama-3.1-70b"


def test_table_lists_assumptions_in_human_units(cli):
    run = cli(*KV)
    assert run.code == 0
    assert "320.0 KiB" in run.out and "39.1 GiB" in run.out
    assert "assumption: vLLM pool: 0.92 of memory" in run.out


def test_no_input_and_output_key_clash(cli):
    doc = cli(*KV, "--format", "json").json()
    assert not set(doc["inputs"]) & set(doc["results"])


@pytest.mark.parametrize("args, fragments", [
    (["kv-cache", "--model", "llama-3.1-70b", "--context", "12XB"], ["--context", "12XB"]),
    (["kv-cache", "--model", "llama-3.1-7b"], ["unknown model", "llama-3.1-70b"]),
    (["kv-cache", "--model", "llama-3.1-70b", "--batch", "0"], ["--batch"]),
    (["kv-cache", "--model", "llama-3.1-70b", "--batch", "-3"], ["--batch"]),
    (["kv-cache", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "2", "--tp", "4"], ["--tp", "only 2 GPUs"]),
    (["kv-cache", "--model", "llama-3.1-70b", "--kv-dtype", "fp3"], ["--kv-dtype"]),
    (["kv-cache", "--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--memory-utilization", "1.5"], ["--memory-utilization"]),
    (["kv-cache", "--model", "llama-3.1-70b", "--format", "xml"], ["xml"]),
    (["kv-cache", "--nonsense"], ["--nonsense"]),
    (["kv-cache"], ["--model"]),
    (["specs", "show", "h1OO"], ["unknown sheet"]),
    (["specs", "list", "--kind", "gadget"], ["--kind"]),
])
def test_bad_input_is_one_line_and_exit_2(cli, args, fragments):
    assert_usage_error(cli(*args), *fragments)


def test_malformed_user_sheet_names_file_id_and_field(cli, tmp_path):
    sheet = tmp_path / "mine.yaml"
    sheet.write_text("id: my-gpu\nkind: accelerator\nname: Mine\nvendor: me\n"
                     "release: {year: 2025, source: 'my own datasheet'}\n"
                     "compute: {source: 'my own datasheet', dense: {bf16: 12 parsecs}}\n"
                     "memory: {source: 'my own datasheet', capacity: 80 GB, bandwidth: 3 TB/s}\n")
    run = cli("specs", "list", "--specs", str(sheet))
    assert_usage_error(run, str(sheet), "my-gpu", "compute.dense.bf16")


def test_python_object_tag_is_refused_not_run(cli, tmp_path):
    sheet = tmp_path / "evil.yaml"
    sheet.write_text("!!python/object/apply:os.system ['echo pwned']\n")
    run = cli("specs", "list", "--specs", str(sheet))
    assert_usage_error(run, str(sheet), "not valid YAML")
    assert "pwned" not in run.out


def test_user_sheet_adds_and_overrides(cli, tmp_path):
    sheet = tmp_path / "custom.yaml"
    sheet.write_text("""
id: tiny-gqa
kind: model
name: Tiny GQA
family: test
architecture:
  source: "made up for a test"
  layers: 2
  hidden_size: 64
  heads: 4
  kv_heads: 2
  head_dim: 16
  ffn_size: 256
  vocab_size: 1000
  max_context: 4096
  attention: gqa
parameters: {source: "made up for a test", total: 1M, active: 1M}
""")
    run = cli("kv-cache", "--model", "tiny-gqa", "--context", "1k", "--specs", str(sheet), "--format", "json")
    assert run.code == 0, run.err
    assert run.json()["results"]["kv_bytes_per_token"] == 2 * 2 * 2 * 16 * 2


def test_env_var_user_sheets(tmp_path, monkeypatch, cli):
    sheet = tmp_path / "h.yaml"
    sheet.write_text("id: bad\nkind: model\n")
    monkeypatch.setenv("AISTACK_SPECS", str(sheet))
    assert_usage_error(cli("specs", "list"), str(sheet), "bad")


def test_custom_architecture_without_catalog(cli):
    run = cli("kv-cache", "--layers", "61", "--kv-lora-rank", "512", "--qk-rope-head-dim", "64",
              "--context", "1k", "--format", "json")
    assert run.code == 0, run.err
    assert run.json()["results"]["kv_bytes_per_token"] == 70_272


def test_version_and_module_entry_point():
    run = run_subprocess("--version")
    assert run.code == 0 and run.out.startswith("aistack ")


def test_unknown_id_suggests_close_matches(cli):
    run = cli("kv-cache", "--model", "lama-3.1-70b")
    assert_usage_error(run, "did you mean", "llama-3.1-70b")


def test_shell_completion_completes_subcommands():
    import os

    env = {**os.environ, "_AISTACK_COMPLETE": "complete_bash", "COMP_WORDS": "aistack kv-c", "COMP_CWORD": "1"}
    run = run_subprocess(env=env)
    assert run.code == 0 and "kv-cache" in run.out.split()
    assert "_aistack_completion" in run_subprocess("--show-completion", "bash").out


def test_piped_tables_are_plain_text():
    run = run_subprocess(*KV)  # stdout is a pipe here, not a terminal
    assert run.code == 0 and "\x1b[" not in run.out and "kv_bytes_per_token" in run.out


def test_quiet_sweep_rows_keep_the_swept_inputs(cli):
    quiet = cli("kv-cache", "--model", "llama-3.1-70b", "--context", "1k,8k", "--format", "json", "--quiet").json()
    loud = cli("kv-cache", "--model", "llama-3.1-70b", "--context", "1k,8k", "--format", "json").json()
    assert list(quiet) == list(loud) and quiet["swept"] == ["context_tokens"]
    assert [row["inputs"]["context_tokens"] for row in quiet["rows"]] == [1000, 8000]
    assert [r["results"] for r in quiet["rows"]] == [r["results"] for r in loud["rows"]]  # -q drops notes, not data
    assert quiet["assumptions"] == [] and loud["assumptions"]
    assert quiet["inputs"]["context_tokens"] == [1000, 8000] and quiet["results"] is None


def test_check_gate_exit_codes(cli):
    ok = cli(*KV, "--check", "fits == true", "--check", "kv_bytes_per_token < 1MiB", "--format", "json")
    assert ok.code == 0 and ok.err == ""
    failed = cli(*KV, "--check", "max_sequences >= 5", "--format", "json")
    assert failed.code == 1 and failed.err.strip() == "check failed: max_sequences >= 5 (actual 4)"
    assert failed.json()["results"]["max_sequences"] == 4  # the result is still printed
    assert_usage_error(cli(*KV, "--check", "bogus_key < 3"), "not a result of kv-cache")
    assert_usage_error(cli(*KV, "--check", "kv_bytes_per_tokn < 3"), "did you mean kv_bytes_per_token")
    assert_usage_error(cli(*KV, "--check", "fits is great"), "--check")


def test_config_file_fills_options_and_command_line_wins(cli, tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text('model = "llama-3.1-70b"\ncontext = "8k"\nbatch = [1, 2]\nformat = "json"\n')
    run = cli("kv-cache", "--config", str(scenario), "--batch", "4")
    assert run.code == 0, run.err
    assert run.json()["inputs"]["batch"] == 4 and run.json()["inputs"]["context_tokens"] == 8000
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: llama-3.1-70b\ncontex: 8k\n")
    assert_usage_error(cli("kv-cache", "--config", str(bad)), "unknown option 'contex'")


def test_bare_command_prints_help_and_succeeds(cli):
    run = cli()
    assert run.code == 0 and run.out.startswith("Usage: aistack") and "kv-cache" in run.out
    assert cli("specs").code == 0

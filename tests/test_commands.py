"""Every calculator is documented, has help on every option, and shows its working."""

import re

import pytest
import typer.main

from aistack_cli import commands
from aistack_cli.cli import build_app
from conftest import ROOT

README = (ROOT / "README.md").read_text()
EXAMPLES = {
    "kv-cache": ["--model", "llama-3.1-70b", "--context", "128k", "--gpu", "h100-sxm", "--gpus", "4"],
    "train-cost": ["--model", "llama-3.1-405b", "--tokens", "15.6T", "--gpu", "h100-sxm", "--gpus", "16384"],
    "inference-throughput": ["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "4", "--batch", "32"],
    "cluster-power": ["--gpu", "gb200", "--gpus", "100000", "--pue", "1.15", "--price-per-kwh", "0.08"],
    "allreduce-time": ["--size", "1GiB", "--gpus", "1024", "--system", "dgx-h100", "--inter", "ib-ndr"],
    "fab-cost": ["--node", "n4", "--die-area", "814", "--defect-density", "0.1"],
    "tco": ["--gpu", "h100-sxm", "--gpus", "1024"],
}
NAMES = [name.replace("_", "-") for name in commands.CALCULATORS]


def test_every_calculator_has_an_example_here():
    assert sorted(EXAMPLES) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_documented_with_help_on_every_option(name):
    assert re.search(rf"^### {re.escape(name)}$", README, re.M), f"README has no section for {name}"
    command = typer.main.get_command(build_app([name])).commands[name]
    assert command.help
    for param in command.params:
        if param.opts and param.opts[0].startswith("--"):
            assert getattr(param, "help", None), f"{name} {param.opts[0]} has no help"


@pytest.mark.parametrize("name", NAMES)
def test_explain_shows_each_formula_with_numbers_and_source(cli, name):
    doc = cli(name, *EXAMPLES[name], "--explain", "--format", "json").json()
    steps = doc["rows"][0]["explain"]
    assert len(steps) >= 3
    for step in steps:
        assert step["formula"] and step["substituted"] and step["source"], step
        assert isinstance(step["value"], (int, float))
    table = cli(name, *EXAMPLES[name], "--explain").out
    assert "working:" in table and "source:" in table

"""Docs that cannot drift: docs/cli.md and the README's output blocks are generated from real runs,
docs/api.md's example runs, and the Python API agrees with the CLI on every README example."""

import re
import shlex
import subprocess
import sys

import pytest

from conftest import ROOT

README = (ROOT / "README.md").read_text()
CALCULATORS = ("kv-cache", "train-cost", "inference-throughput", "cluster-power", "allreduce-time", "fab-cost",
               "tco")


def test_cli_reference_and_readme_outputs_are_current():
    proc = subprocess.run([sys.executable, str(ROOT / "docs" / "generate.py"), "--check"], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr


def test_api_doc_example_runs(capsys):
    code = re.search(r"```python\n(.*?)```", (ROOT / "docs" / "api.md").read_text(), re.S).group(1)
    exec(compile(code, "docs/api.md", "exec"), {})
    assert "327680" in capsys.readouterr().out


def test_api_example_from_the_issue():
    from aistack_cli import api

    assert api.kv_cache(model="llama-3.1-70b", context="128k").results["kv_bytes_per_token"] == 327680


def _readme_commands():
    for block in re.findall(r"```sh\n(.*?)```", README, re.S):
        for line in block.splitlines():
            if line.startswith("aistack ") and "|" not in line:
                words = shlex.split(line)
                if words[1] in CALCULATORS:
                    yield words[1:]


def _as_kwargs(command, words):
    from aistack_cli import commands, runner

    commands.load([command])
    calc = runner.REGISTRY[command]
    by_flag = {flag: opt.name for opt in calc.options for flag in (opt.flag, *opt.flags)}
    kwargs, i = {}, 0
    while i < len(words):
        flag = words[i]
        if flag in ("--format", "-f", "--config", "--check", "--ranges", "--sensitivity", "--plot"):
            return None  # scenario files, gates, ranges and charts are CLI matters
        name = by_flag[flag]
        kwargs[name] = True if calc.by_name[name].kind == "flag" else words[i + 1]
        i += 1 if calc.by_name[name].kind == "flag" else 2
    return kwargs


@pytest.mark.parametrize("words", list(_readme_commands()), ids=lambda w: " ".join(w)[:60])
def test_api_and_cli_agree_on_readme_examples(cli, words):
    from aistack_cli import api

    kwargs = _as_kwargs(words[0], words[1:])
    if kwargs is None:
        pytest.skip("uses a scenario file or a gate")
    via_cli = cli(*words, "--format", "json").json()
    via_api = api.run(words[0], **kwargs).document
    assert via_api["rows"] == via_cli["rows"]

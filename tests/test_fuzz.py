"""No input ever produces a traceback (issue 8): Hypothesis drives the real CLI of every
calculator with generated arguments and generated user sheets. The only outcomes allowed are
exit 0, 1 or 2; exit 2 with one clean line on stderr; output valid in the chosen format."""

import contextlib
import csv
import io
import json
import tomllib

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from aistack_cli import commands
from aistack_cli.cli import build_app, main

JUNK = ["0", "-1", "1", "2", "8", "3.5", "1e400", "nan", "inf", "-inf", "", " ", "ü", "🙂", "80GB",
        "12XB", "80GiB", "400Gb/s", "700W", "2.5ms", "40%", "150%", "1e30", "0.0001", "1k", "128k",
        "2,4", "1:8:2", "8:1:2", "1:8:1", ",", "a,b", "h100-sxm", "llama-3.1-70b", "gb200", "n4",
        "ib-ndr", "dgx-h100", "mixtral-8x7b", "deepseek-v3", "bf16", "fp8", "fp4", "int4", "ring",
        "auto", "true", "none", "full", "3", "$5M", "-0", "0x10", "1_000", "∞", "None", "null"]
VALUE = st.one_of(st.sampled_from(JUNK), st.text(max_size=12))
FORMATS = st.sampled_from(["json", "yaml", "toml", "csv", "table"])


def _options() -> dict[str, list[tuple[str, bool]]]:
    """Every calculator's options: name -> [(flag, is_flag)], read from the real Click app."""
    import typer.main

    group = typer.main.get_command(build_app(["--help"]))
    found = {}
    for name in (c.replace("_", "-") for c in commands.CALCULATORS):
        params = group.commands[name].params
        found[name] = [(p.opts[0], bool(getattr(p, "is_flag", False))) for p in params
                       if p.opts and p.opts[0].startswith("--") and p.name not in ("config", "specs", "format")]
    return found


OPTIONS = _options()


def _run(args: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(args)
    return code, out.getvalue(), err.getvalue()


def _check_outcome(code: int, out: str, err: str, fmt: str) -> None:
    assert code in (0, 1, 2), (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
        return
    if fmt == "json":
        json.loads(out, parse_constant=lambda c: pytest.fail(f"non-finite {c} in JSON"))
    elif fmt == "yaml":
        yaml.safe_load(out)
    elif fmt == "toml":
        tomllib.loads(out)
    elif fmt == "csv":
        assert list(csv.reader(io.StringIO(out)))[0]


@pytest.mark.parametrize("command", sorted(OPTIONS))
def test_no_generated_arguments_break_the_cli(command):
    options = OPTIONS[command]

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(picks=st.lists(st.tuples(st.sampled_from(options), VALUE), max_size=5), fmt=FORMATS)
    def run(picks, fmt):
        args = [command]
        for (flag, is_flag), value in picks:
            args += [flag] if is_flag else [flag, value]
        args += ["--format", fmt]
        _check_outcome(*_run(args), fmt)

    run()


SHEET = {
    "id": "fuzz-gpu", "kind": "accelerator", "name": "Fuzz", "vendor": "x",
    "release": {"year": 2025, "source": "made up for a test"},
    "compute": {"source": "made up for a test", "dense": {"bf16": "100 TFLOP/s"}},
    "memory": {"source": "made up for a test", "capacity": "80 GB", "bandwidth": "3 TB/s"},
}


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(path=st.lists(st.sampled_from(["release", "compute", "memory", "dense", "bf16", "capacity", "year",
                                      "source", "id", "kind", "name", "bandwidth", "extra"]), min_size=1, max_size=3),
       value=st.one_of(VALUE, st.integers(), st.floats(), st.none(), st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.text(max_size=4), st.integers(), max_size=2)))
def test_generated_user_sheets_fail_cleanly(tmp_path_factory, path, value):
    import copy

    sheet = copy.deepcopy(SHEET)
    node = sheet
    for key in path[:-1]:
        node = node.setdefault(key, {}) if isinstance(node.get(key), dict) or key not in node else node
        if not isinstance(node, dict):
            return
    node[path[-1]] = value
    file = tmp_path_factory.mktemp("sheets") / "s.yaml"
    file.write_text(yaml.safe_dump(sheet, allow_unicode=True))
    code, out, err = _run(["specs", "show", "fuzz-gpu", "--specs", str(file), "--format", "json"])
    _check_outcome(code, out, err, "json")

"""The output contract (issue 12): one registry, one JSON shape for every run, a JSON Schema that
every output validates against."""

import json

import pytest

from aistack_cli import fields

EXAMPLES = {
    "kv-cache": ["--model", "llama-3.1-70b", "--context", "128k", "--gpu", "h100-sxm", "--gpus", "4"],
    "train-cost": ["--model", "llama-3.1-70b", "--tokens", "15T", "--gpu", "h100-sxm", "--gpus", "1024"],
    "inference-throughput": ["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "4", "--batch", "32"],
    "cluster-power": ["--system", "dgx-h100", "--gpus", "1024"],
    "allreduce-time": ["--size", "1GiB", "--gpus", "16", "--system", "dgx-h100", "--inter", "ib-ndr"],
    "fab-cost": ["--node", "n4", "--die-area", "814"],
    "tco": ["--gpu", "h100-sxm", "--gpus", "1024"],
}
SWEEP = {"kv-cache": ["--batch", "1,8"], "train-cost": ["--gpus", "1024,2048"],
         "inference-throughput": ["--batch", "1,8"], "cluster-power": ["--gpus", "1024,2048"],
         "allreduce-time": ["--size", "1M,1G"], "fab-cost": ["--die-area", "200,400"],
         "tco": ["--gpus", "1024,2048"]}
TOP = ["schema_version", "aistack", "command", "swept", "rows", "inputs", "results", "assumptions", "warnings"]


def test_registry_is_consistent():
    for command, (inputs, results) in fields.COMMANDS.items():
        assert not set(inputs) & set(results), command
        assert len(set(inputs)) == len(inputs) and len(set(results)) == len(results), command
        for key in (*inputs, *results):
            assert key in fields.FIELDS, (command, key)
            assert fields.unit(key) in fields.UNITS, (command, key)
            assert fields.meaning(key), (command, key)
    used = {k for ins, outs in fields.COMMANDS.values() for k in (*ins, *outs)}
    assert set(fields.FIELDS) <= used, f"declared but never emitted: {sorted(set(fields.FIELDS) - used)}"


def validate(instance, schema, path="$"):
    """A small JSON Schema validator for the subset aistack's schemas use."""
    if "anyOf" in schema:
        errors = [validate_quiet(instance, option) for option in schema["anyOf"]]
        assert any(not e for e in errors), f"{path}: matches no anyOf branch: {errors}"
        return
    if "const" in schema:
        assert instance == schema["const"], f"{path}: {instance!r} != {schema['const']!r}"
    if "enum" in schema:
        assert instance in schema["enum"], f"{path}: {instance!r} not in {schema['enum']}"
    types = schema.get("type")
    if types is not None:
        types = types if isinstance(types, list) else [types]
        kinds = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}
        ok = any((t == "number" and isinstance(instance, (int, float)) and not isinstance(instance, bool))
                 or (t != "number" and isinstance(instance, kinds[t])) for t in types)
        assert ok, f"{path}: {instance!r} is not {types}"
    if isinstance(instance, dict) and "properties" in schema:
        for key in schema.get("required", []):
            assert key in instance, f"{path}: missing {key}"
        if schema.get("additionalProperties") is False:
            extra = set(instance) - set(schema["properties"])
            assert not extra, f"{path}: unexpected keys {sorted(extra)}"
        for key, value in instance.items():
            if key in schema["properties"]:
                validate(value, schema["properties"][key], f"{path}.{key}")
    if isinstance(instance, list) and "items" in schema:
        for index, item in enumerate(instance):
            validate(item, schema["items"], f"{path}[{index}]")


def validate_quiet(instance, schema):
    try:
        validate(instance, schema)
    except AssertionError as exc:
        return str(exc)
    return ""


@pytest.mark.parametrize("command", list(EXAMPLES))
def test_one_shape_for_every_run_and_the_schema_holds(cli, command):
    schema = json.loads(cli("schema", command).out)
    docs = {}
    for label, extra in (("point", []), ("sweep", SWEEP[command])):
        for quiet in ((), ("--quiet",)):
            run = cli(command, *EXAMPLES[command], *extra, *quiet, "--format", "json")
            assert run.code == 0, run.err
            doc = run.json()
            assert list(doc) == TOP and doc["schema_version"] == 2, (command, label, quiet)
            validate(doc, schema)
            docs[(label, bool(quiet))] = doc
    assert docs[("point", True)]["rows"] == [{**r, "warnings": []} for r in docs[("point", False)]["rows"]]
    assert docs[("sweep", False)]["results"] is None and len(docs[("sweep", False)]["rows"]) == 2


def test_schema_of_every_command_at_once(cli):
    doc = json.loads(cli("schema").out)
    assert {s["properties"]["command"]["const"] for s in doc["oneOf"]} == set(fields.COMMANDS)


@pytest.mark.parametrize("command", list(EXAMPLES))
def test_csv_header_is_fixed(cli, command):
    header = None
    for extra in ([], SWEEP[command], ["--quiet"]):
        out = cli(command, *EXAMPLES[command], *extra, "--format", "csv").out
        first = out.splitlines()[0]
        assert header is None or first == header
        header = first
    assert header.split(",") == [*fields.COMMANDS[command][0], *fields.COMMANDS[command][1], "error"]


def test_no_key_is_declared_twice():
    # A dict literal keeps the last of two equal keys silently: two helpers declaring one key with two
    # meanings would pass every other test.
    import ast
    from pathlib import Path

    tree = ast.parse(Path(fields.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            keys = [k.value for k in node.keys if isinstance(k, ast.Constant)]
            assert len(keys) == len(set(keys)), sorted({k for k in keys if keys.count(k) > 1})

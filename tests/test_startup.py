"""Start-up stays lean: a JSON command imports none of the heavy modules (timing lives in
benchmarks/startup.py; this guards which modules load, which does not vary with machine load)."""

import json
import subprocess
import sys

from conftest import ROOT


PROBE = """
import json, sys
from aistack_cli.cli import main
code = main(sys.argv[1:])
heavy = sorted({m.split('.')[0] if m != 'importlib.metadata' else m for m in sys.modules
                if m.split('.')[0] in ('rich', 'yaml', 'pydantic', 'tomli_w') or m == 'importlib.metadata'})
calc = sorted(m for m in sys.modules if m.startswith('aistack_cli.calc.') and m != 'aistack_cli.calc.common')
print(json.dumps({'code': code, 'heavy': heavy, 'calc': calc}), file=sys.stderr)
"""


def probe(*args: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True, text=True, cwd=ROOT, timeout=60)
    return json.loads(proc.stderr.strip().splitlines()[-1])


def test_json_command_imports_no_heavy_module():
    found = probe("kv-cache", "--model", "llama-3.1-70b", "--context", "8k", "--format", "json")
    assert found["code"] == 0
    assert found["heavy"] == [], f"heavy modules on the JSON path: {found['heavy']}"


def test_only_the_invoked_calculator_is_imported():
    found = probe("kv-cache", "--model", "llama-3.1-70b", "--context", "8k", "--format", "json")
    assert found["calc"] == ["aistack_cli.calc.kvcache"]


def test_yaml_output_does_import_yaml():
    # The guard above must be able to fail: the YAML path really does load PyYAML.
    found = probe("kv-cache", "--model", "llama-3.1-70b", "--context", "8k", "--format", "yaml")
    assert "yaml" in found["heavy"]


def test_tables_are_drawn_without_rich():
    found = probe("kv-cache", "--model", "llama-3.1-70b", "--context", "8k")
    assert found["code"] == 0 and found["heavy"] == []

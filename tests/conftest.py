import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from aistack_cli.cli import main

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Run:
    code: int
    out: str
    err: str

    def json(self):
        return json.loads(self.out)


@pytest.fixture
def cli(capsys, monkeypatch):
    """Run the real entry point in-process: ``cli('kv-cache', '--model', ...)``."""
    monkeypatch.delenv("AISTACK_SPECS", raising=False)
    monkeypatch.setenv("COLUMNS", "120")

    def run(*args: str) -> Run:
        code = main(list(args))
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def run_subprocess(*args: str, env=None) -> Run:
    proc = subprocess.run([sys.executable, "-m", "aistack_cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=60)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def assert_usage_error(run: Run, *fragments: str) -> None:
    """Exit 2, exactly one line on stderr, no traceback, and the line names what was wrong."""
    assert run.code == 2, (run.code, run.err)
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert "Traceback" not in run.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])

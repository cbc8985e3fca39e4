"""Every `aistack ...` line in the README's shell blocks runs as written.

A line ending in `# exit N` must exit with N (for the gate examples); others must exit 0.
Lines run in-process from the repository root, where the README's relative paths point.
"""

import re
import shlex

import pytest

from conftest import ROOT

README = (ROOT / "README.md").read_text()
BLOCKS = re.findall(r"```sh\n(.*?)```", README, re.S)
LINES = [line.strip() for block in BLOCKS for line in block.replace("\\\n", " ").splitlines()
         if line.strip().startswith("aistack ")]


def test_readme_has_examples():
    assert len(LINES) >= 3


@pytest.mark.parametrize("line", LINES)
def test_readme_example_runs(line, cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    expected = 0
    match = re.search(r"#\s*exit\s+(\d)\s*$", line)
    if match:
        expected = int(match.group(1))
        line = line[: match.start()]
    args = shlex.split(line, comments=True)
    assert "|" not in args, "pipes are not run here; keep README examples single commands"
    if "--plot" in args:
        pytest.importorskip("plotext")  # the plot extra (.ci/run installs it)
    run = cli(*args[1:])
    assert run.code == expected, (line, run.err)

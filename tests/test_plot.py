"""--plot: a sweep or a tornado in the terminal (plotext) or in a file (matplotlib).

Tests that draw skip only when the optional library is missing; .ci/run installs the plot extra,
so in CI they run.
"""

import sys

import pytest

from conftest import assert_usage_error, run_subprocess

DONE = ("inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm,h200", "--batch", "1,8,64,256")
TRAIN = ("train-cost", "--model", "llama-3.1-70b", "--tokens", "15T", "--gpu", "h100-sxm", "--gpus", "1024")


@pytest.fixture
def plain(monkeypatch):
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "80")


def test_done_sweep_chart_in_the_terminal(cli, plain):
    pytest.importorskip("plotext")
    run = cli(*DONE, "--plot")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert "cost_per_million_output_tokens_usd against batch" in run.out
    assert "gpu=h100-sxm" in run.out and "gpu=h200" in run.out  # one line per listed GPU
    assert any("batch" == line.strip() for line in lines)  # the x label
    assert any("256" in line and "64" in line for line in lines)  # the swept values on the x axis
    assert "assumption:" in run.out  # the notes stay under the chart
    assert "\x1b[" not in run.out and all(len(line) <= 80 for line in lines)
    assert "8 points" in cli(*DONE).out and "8 points" not in run.out  # the chart takes the place of the table


def test_target_chooses_the_result_drawn(cli, plain):
    pytest.importorskip("plotext")
    run = cli(*DONE, "--plot", "--target", "output_tokens_per_s", "-q")
    assert run.code == 0 and "output_tokens_per_s against batch" in run.out
    assert "--target RESULT" not in run.out


def test_categories_draw_bars(cli, plain):
    pytest.importorskip("plotext")
    run = cli("inference-throughput", "--model", "llama-3.1-70b", "--gpu", "h100-sxm,h200,b200", "--plot", "-q")
    assert run.code == 0, run.err
    assert "h200" in run.out and "b200" in run.out


def test_two_swept_ids_draw_grouped_bars(cli, plain, tmp_path):
    pytest.importorskip("plotext")
    args = ("inference-throughput", "--model", "llama-3.1-70b,llama-3.1-8b", "--gpu", "h100-sxm,h200")
    run = cli(*args, "--plot", "-q")
    assert run.code == 0, run.err
    assert "gpu=h100-sxm" in run.out and "gpu=h200" in run.out and "llama-3.1-8b" in run.out
    assert "▒" in run.out  # the second series is told apart without colour
    pytest.importorskip("matplotlib")
    path = tmp_path / "bars.svg"
    assert cli(*args, "--plot", str(path), "-q").code == 0 and "<svg" in path.read_text()


def test_tornado_in_the_terminal(cli, plain):
    run = cli(*TRAIN, "--sensitivity", "--target", "cost_usd", "--plot", "-q")
    assert run.code == 0, run.err
    assert "what moves cost_usd" in run.out and "█" in run.out


def test_chart_files(cli, tmp_path):
    pytest.importorskip("matplotlib")
    svg, png = tmp_path / "sweep.svg", tmp_path / "tornado.png"
    run = cli(*DONE, "--ranges", "--samples", "50", "--plot", str(svg), "-f", "json")
    assert run.code == 0, run.err
    assert run.json()["rows"]  # the output is as usual
    assert svg.read_text().lstrip().startswith("<?xml") and "<svg" in svg.read_text()
    run = cli(*TRAIN, "--sensitivity", "--plot", str(png))
    assert run.code == 0, run.err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "what moves" in run.out  # the table still prints


@pytest.mark.parametrize("args, fragment", [
    (DONE + ("--plot", "-f", "json"), "--plot: a terminal chart takes the place of the table"),
    (TRAIN + ("--plot",), "--plot: draws a sweep"),
    (DONE + ("--plot", "chart.txt"), "a chart file ends in .svg, .png, .pdf"),
])
def test_plot_usage_errors(cli, args, fragment):
    assert_usage_error(cli(*args), fragment)


def test_unwritable_chart_file_is_a_usage_error(cli, tmp_path):
    pytest.importorskip("matplotlib")
    assert_usage_error(cli(*DONE, "--plot", str(tmp_path / "missing" / "x.svg")), "--plot: cannot write")


def test_missing_library_is_a_clear_usage_error(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "plotext", None)  # import plotext raises ImportError
    assert_usage_error(cli(*DONE, "--plot"), "pip install 'aistack-cli[plot]'")
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert_usage_error(cli(*DONE, "--plot", "x.svg"), "needs matplotlib")


def test_plot_as_the_last_word_or_before_another_option():
    from aistack_cli.runner import optional_values

    assert optional_values(["x", "--plot"]) == ["x", "--plot="]
    assert optional_values(["x", "--plot", "--ranges"]) == ["x", "--plot=", "--ranges"]
    assert optional_values(["x", "--plot", "a.svg"]) == ["x", "--plot", "a.svg"]


def test_nothing_for_plots_ranges_or_compare_is_imported_without_them():
    probe = ("import json, sys\nfrom aistack_cli.cli import main\nmain(sys.argv[1:])\n"
             "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('plotext', 'matplotlib', "
             "'numpy') or m in ('aistack_cli.runner.ranges', 'aistack_cli.render.plot', "
             "'aistack_cli.commands.compare'))), file=sys.stderr)\n")
    import json
    import subprocess

    from conftest import ROOT

    proc = subprocess.run([sys.executable, "-c", probe, *TRAIN, "-f", "json"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []
    proc = subprocess.run([sys.executable, "-c", probe, *TRAIN, "--ranges", "--samples", "20", "-f", "json"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == ["aistack_cli.runner.ranges"]  # the guard can fail


def test_plot_runs_in_a_real_process():
    pytest.importorskip("plotext")
    run = run_subprocess(*DONE, "--plot", "-q")
    assert run.code == 0, run.err
    assert "gpu=h200" in run.out

"""Defaults are declared once, as cited data (specs/defaults), and nothing restates them.

- No option's help text restates the value of a default its command uses: the runner shows the
  sheet's value from ``Opt(default_id=...)``.
- No code in calc/ or commands/ assigns a default's value to a name, a field or a parameter
  default (a threshold compared against, such as "MFU above 0.7", is not a restatement).
- Every assumption line that cites a default ("... (default; <evidence>)") was written by that
  default sheet's ``note()``, for a sheet the point really read through the catalog.
- An option backed by a default reads the same in every command (``--pue 1.58 (default; ...)``,
  ``--pue 1.3 (given)``).
"""

import ast
import re
import shlex

import pytest

from conftest import ROOT

from aistack_cli import catalog, commands, runner
from aistack_cli.runner.sweep import combinations

commands.load([])
SHEETS = catalog.load(None)
DEFAULTS = {i: SHEETS.raw("default", i) for i in SHEETS.ids("default")}

# Named constants that restate a default sheet (owner to remove; strict: when one goes, delete its
# line here), and named constants whose value only coincides with a default's (not restatements).
KNOWN = {
    ("aistack_cli/calc/training.py", "fallback_mfu"): "#16: restates mfu-training 0.40",
    ("aistack_cli/calc/training.py", "batch_fraction"): "#16: restates global-batch-fraction 0.21",
}
COINCIDENCES = {
    ("aistack_cli/calc/collectives.py", "RING_LL_FRACTION"),  # NCCL tuner payload fractions
    ("aistack_cli/calc/collectives.py", "LL128_FRACTION"),
    ("aistack_cli/calc/collectives.py", "TREE_SIMPLE_FRACTION"),
    ("aistack_cli/calc/collectives.py", "PAT_FRACTION"),  # NCCL's PAT bandwidth fraction, not a vendor margin
}


def renderings(value: float, unit: str) -> set[str]:
    """How a default's number would be written in text."""
    out = {f"{value:g}"} | ({f"{value:.2f}"} if float(f"{value:.2f}") == value else set())  # 0.4 and 0.40
    if value >= 1000:
        out |= {f"{value:,.0f}", f"{value / 1000:g}k", f"{value / 1000:g} k"}
    if unit == "fraction":
        out |= {f"{value:.0%}", f"{value * 100:g}%", f"{value * 100:g} %"}
    if unit.startswith("USD"):
        out |= {f"${value:g}", f"{value * 100:g}c", f"{value * 100:g} cents"}
    return {r for r in out if r not in ("0", "1", "1.")}


def mentions(text: str, value: str) -> bool:
    return re.search(rf"(?<![\d.,]){re.escape(value)}(?![\d])", text) is not None


def test_renderings_find_a_restated_value():
    # The helpers above must be able to catch the restatements this issue removed.
    assert mentions("Power usage effectiveness (default: the pue default, 1.58).", "1.58")
    assert mentions("(default 0.76, measured)", "0.76") and mentions("(default $0.0806/kWh)", "$0.0806")
    assert mentions("Llama 3's 50,677", "50,677") and not mentions("1.585", "1.58")


def test_no_option_help_restates_a_default_value():
    for name, calc in runner.REGISTRY.items():
        # The calibrated defaults (those with a published P10-P90); an engine's shipped settings are facts.
        used = [d for d in DEFAULTS.values() if name in d["used_by"] and d["p10"] is not None]
        for opt in calc.options:
            for sheet in used:
                for text in renderings(sheet["value"], sheet["unit"]):
                    assert not mentions(opt.help, text), (
                        f"{name} {opt.flag} help restates {sheet['id']} ({text}); declare "
                        f"Opt(default_id={sheet['id']!r}) and let the runner show it")


def test_cited_default_options_show_the_sheet_value_in_help(cli):
    for name, calc in runner.REGISTRY.items():
        backed = [opt for opt in calc.options if isinstance(opt.default_id, str)]
        if not backed:
            continue
        text = " ".join(cli(name, "--help").out.split())
        for opt in backed:
            assert f"aistack specs show {opt.default_id}" in text.replace("- ", "-"), (name, opt.flag)


def _restating_constants(path):
    """(line, name, value) of float constants assigned to a name, a field or a parameter default
    (whole numbers are counts and sizes, which coincide with defaults such as 2,048 tokens)."""
    tree = ast.parse(path.read_text())
    found = []

    def constant(node, name):
        if isinstance(node, ast.Constant) and type(node.value) is float:
            found.append((node.lineno, name, node.value))

    def target(node):
        return node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else "?"

    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            constant(node.value, target(node.targets[0]))
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            constant(node.value, target(node.target))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args.args[len(node.args.args) - len(node.args.defaults):]
            for arg, default in zip(args, node.args.defaults):
                constant(default, arg.arg)
            for arg, default in zip(node.args.kwonlyargs, node.args.kw_defaults):
                if default is not None:
                    constant(default, arg.arg)
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "default" and node.args and isinstance(node.args[0], ast.Constant):
                    constant(keyword.value, f"Opt {node.args[0].value}")
    return found


def test_code_does_not_restate_a_default_value():
    values = {d["value"] for d in DEFAULTS.values()} - {0.0, 1.0}
    seen = set()
    problems = []
    for folder in ("calc", "commands"):
        for path in sorted((ROOT / "aistack_cli" / folder).glob("*.py")):
            rel = str(path.relative_to(ROOT))
            for line, name, value in _restating_constants(path):
                if value not in values or (rel, name) in COINCIDENCES:
                    continue
                if (rel, name) in KNOWN:
                    seen.add((rel, name))
                    continue
                owners = [i for i, d in DEFAULTS.items() if d["value"] == value]
                problems.append(f"{rel}:{line} {name} = {value} restates {', '.join(owners)}: read the default "
                                "sheet through the catalog instead (or list a coincidence in COINCIDENCES)")
    assert not problems, "\n".join(problems)
    gone = set(KNOWN) - seen
    assert not gone, f"these restatements are gone: delete them from KNOWN: {sorted(gone)}"


# ---- at run time ---------------------------------------------------------------------------

EXTRA_RUNS = {
    "train-cost": ["--model llama-3.1-70b --tokens 1T --gpu h100-sxm --gpus 512 --checkpoint-time 60s",
                   "--model llama-3.1-70b --tokens 1T --gpu h100-sxm --gpus 512 --precision fp8"],
    "cluster-power": ["--gpus-per-node 8 --node-overhead 4kW --gpu-power 700W --gpus 1024"],
    "inference-throughput": ["--model llama-3.1-70b --gpu h100-sxm --weights-dtype fp8 --batch 8"],
    "allreduce-time": ["--system dgx-h100 --gpus 8 --size 1GiB"],
    "fab-cost": ["--node n3 --die-area 600 --ramp-quarters 2"],
}


def _runs():
    for name, calc in runner.REGISTRY.items():
        for example in calc.examples:
            yield name, shlex.split(example)[2:]
        for extra in EXTRA_RUNS.get(name, []):
            yield name, shlex.split(extra)


def _points(name: str, words: list[str]):
    """(point, ids of the defaults it read) for each point of ``aistack NAME WORDS``."""
    calc = runner.REGISTRY[name]
    words = _strip(words, {"-f", "--format"})
    by_flag = {opt.flag: opt for opt in calc.options} | {f: opt for opt in calc.options for f in opt.flags}
    raw, i = {}, 0
    while i < len(words):
        opt = by_flag[words[i]]
        if opt.kind == "flag":
            raw[opt.name], i = True, i + 1
        else:
            raw[opt.name], i = words[i + 1], i + 2
    prepared = runner.prepare(calc, raw, {"format": "json"})
    sheets = catalog.load(None)
    for combo in list(combinations(prepared.axes))[:6]:
        view = sheets.view()  # a fresh catalog object: memos per catalog cannot hide a read
        computed = runner.compute(calc, view, combo, prepared.given)
        for point in computed if isinstance(computed, list) else [computed]:
            yield point, list(view.read)


@pytest.mark.parametrize("name, words", list(_runs()), ids=lambda v: v if isinstance(v, str) else " ".join(v)[:40])
def test_assumptions_citing_a_default_come_from_its_sheet(name, words):
    for point, read in _points(name, words):
        for line in point.assumptions:
            if "(default; " not in line:
                continue
            sources = [d for d in read if line.endswith(f" (default; {DEFAULTS[d]['evidence']})")]
            assert sources, f"{name}: assumption cites a default the run did not read through its sheet: {line!r}"


def test_every_calculator_reads_its_uncertain_defaults_through_the_catalog():
    # The Monte Carlo of --ranges can only sample what the catalog saw: a calculator named in the
    # used_by of uncertain defaults (a published P10-P90) reads some of them in its example runs.
    read_by = {}
    for name, words in _runs():
        for _, read in _points(name, words):
            read_by.setdefault(name, set()).update(read)
    for name in runner.REGISTRY:
        uncertain = {d for d, sheet in DEFAULTS.items() if name in sheet["used_by"] and sheet["p10"] is not None}
        if uncertain:  # (per-generation sheets: an example reaches some of them, not all)
            assert uncertain & read_by.get(name, set()), f"{name} reads none of {sorted(uncertain)} through the catalog"


def _strip(words: list[str], flags: set[str]) -> list[str]:
    out, skip = [], False
    for word in words:
        if skip:
            skip = False
            continue
        if word in flags:
            skip = True
            continue
        out.append(word)
    return out


def test_a_cited_default_option_reads_the_same_in_every_command(cli):
    groups = {}
    for name, calc in runner.REGISTRY.items():
        for opt in calc.options:
            if isinstance(opt.default_id, str):
                groups.setdefault(opt.default_id, []).append((name, opt))
    shared = {d: members for d, members in groups.items() if len({n for n, _ in members}) > 1}
    # (PUE, load and carbon depend on --site, --cooling, --workload and --grid: commands/site.py picks
    # the sheet and writes the one line for both commands; see the next test.)
    for default_id, members in shared.items():
        evidence = DEFAULTS[default_id]["evidence"]
        defaulted, given = set(), set()
        for name, opt in members:
            base = _strip(shlex.split(runner.REGISTRY[name].examples[0])[2:], {opt.flag, *opt.flags})
            run = cli(name, *base, "-f", "json")
            defaulted |= {a for a in run.json()["assumptions"] if a.endswith(f"(default; {evidence})")}
            run = cli(name, *base, opt.flag, str(DEFAULTS[default_id]["p90"] or 1), "-f", "json")
            if run.code == 0:  # (an option that applies only in some modes refuses others with exit 2)
                given |= {a for a in run.json()["assumptions"] if a.startswith(opt.flag + " ") and a.endswith("(given)")}
        assert len(defaulted) <= 1, (default_id, defaulted)  # one wording, whichever command writes it
        assert len(given) <= 1, (default_id, given)


def test_site_figures_read_the_same_in_train_cost_and_cluster_power(cli):
    train = ("train-cost", "--model", "llama-3.1-70b", "--tokens", "1T", "--gpu", "h100-sxm", "--gpus", "64")
    power = ("cluster-power", "--gpu", "h100-sxm", "--gpus", "64")
    for prefix in ("PUE ", "grid ", "average draw "):
        for extra in ((), ("--pue", "1.2")):
            lines = [[a for a in cli(*args, *extra, "-f", "json").json()["assumptions"] if a.startswith(prefix)]
                     for args in (train, power)]
            assert lines[0] == lines[1] and len(lines[0]) == 1, (prefix, lines)
    assert lines and [a for a in cli(*train, "--pue", "1.2", "-f", "json").json()["assumptions"]
                      if a.startswith("PUE ")] == ["PUE 1.2 (average, air) (given)"]


def test_clustering_written_2_or_2_0_is_the_same_input(cli):
    # The runner compares typed values: --clustering 2.0 and --clustering 2 are one number, so they
    # give the same results and the same warnings (with a yield model it does not apply to as well).
    for model in ("negative-binomial", "murphy"):
        runs = [cli("fab-cost", "--node", "n4", "--die-area", "600", "--yield-model", model, "--clustering", text,
                    "-f", "json").json() for text in ("2", "2.0", "2.00")]
        assert runs[0]["results"] == runs[1]["results"] == runs[2]["results"]
        assert runs[0]["warnings"] == runs[1]["warnings"] == runs[2]["warnings"]
    warned = cli("fab-cost", "--node", "n4", "--die-area", "600", "--clustering", "2.0", "-f", "json").json()
    assert any("--clustering applies only" in w for w in warned["warnings"])  # murphy, the default model

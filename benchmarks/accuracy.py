"""Accuracy report: aistack against published outcomes, validation first.

    python benchmarks/accuracy.py              # regenerate docs/ACCURACY.md
    python benchmarks/accuracy.py --baseline   # also record benchmarks/accuracy_baseline.json (deliberately,
                                               # with a CHANGELOG line: the regression test compares with it)

Each case in benchmarks/references.yaml has a role:
- identity: a formula or a config read back (FLOP = 6ND, KV bytes from a config, a rated power).
  Reported pass/fail against its tolerance; tests/test_accuracy.py fails on a miss.
- calibration: a published figure a default was fit on. The default names it (specs/defaults);
  reported as the fit, never as evidence of accuracy.
- validation: never sets anything. The report leads with these: median and worst |error| per
  calculator, then every case with its source and signed error, then the known misses.

Every case runs through the real entry point in-process (``aistack_cli.cli.main``), so the figures
are what the CLI prints. Error is signed: (aistack − published) ÷ published.

Ranges: the report runs every validation case with ``--ranges`` too (the point is the same) and
says how often the published figure falls inside aistack's P10-P90, and how wide that band is
(P90 ÷ P10), per calculator. The bands come from the cited defaults' published P10-P90 alone: a
default's spread is changed only from published spread, never to hit this coverage.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
REFERENCES = HERE / "references.yaml"
BASELINE = HERE / "accuracy_baseline.json"
REPORT = HERE.parent / "docs" / "ACCURACY.md"
ROLES = ("validation", "calibration", "identity")
RANGE_SAMPLES = 200  # draws per validation case for the coverage of P10-P90 (hundreds of cases run)
COMMANDS = ("train-cost", "inference-throughput", "kv-cache", "cluster-power", "allreduce-time", "fab-cost", "tco")


@dataclass
class Outcome:
    case: dict
    value: float | None
    error: float | None  # signed relative error
    problem: str = ""
    spread: dict | None = None  # {p10, p50, p90} of the key with --ranges

    @property
    def inside(self) -> bool | None:
        if not self.spread:
            return None
        return self.spread["p10"] <= self.case["published"] <= self.spread["p90"]

    @property
    def width(self) -> float | None:
        """P90 ÷ P10 (1.0: no default with a spread moves this result)."""
        if not self.spread or not self.spread["p10"] > 0:
            return None
        return self.spread["p90"] / self.spread["p10"]

    @property
    def role(self) -> str:
        return self.case["role"]

    @property
    def within(self) -> bool:
        return self.error is not None and abs(self.error) <= self.case["tolerance"]


def load(path: Path = REFERENCES) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]


def run_case(case: dict) -> tuple[float | None, str]:
    """The case's key from one run of the real CLI (in-process), or None and why."""
    value, problem, _ = run_case_with_range(case, ranges=False)
    return value, problem


def run_case_with_range(case: dict, ranges: bool = True) -> tuple[float | None, str, dict | None]:
    """``run_case``, and with ``ranges`` the key's P10/P50/P90 (``--ranges``, RANGE_SAMPLES draws, seed 0)."""
    from aistack_cli.cli import main

    argv = [case["command"], *map(str, case["args"]), "--format", "json",
            *(["--ranges", "--samples", str(RANGE_SAMPLES)] if ranges else [])]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    if code not in (0, 1):
        return None, err.getvalue().strip() or f"exit {code}", None
    doc = json.loads(out.getvalue())
    value = (doc["results"] or doc["rows"][0]["results"]).get(case["key"])
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None, f"{case['key']} is {value!r}", None
    spread = (doc.get("ranges") or doc["rows"][0].get("ranges") or {}).get(case["key"]) if ranges else None
    return float(value), "", spread


def evaluate(cases: list[dict], ranges: bool = False) -> list[Outcome]:
    """Every case; with ``ranges``, validation cases also get their P10-P90."""
    outcomes = []
    for case in cases:
        value, problem, spread = run_case_with_range(case, ranges and case["role"] == "validation")
        error = None if value is None else (value - case["published"]) / case["published"]
        outcomes.append(Outcome(case, value, error, problem, spread))
    return outcomes


def coverage(outcomes: list[Outcome]) -> dict[str, dict]:
    """Per calculator, over its validation cases run with --ranges: how many published figures
    fall inside P10-P90, and the median band width P90 ÷ P10."""
    table: dict[str, dict] = {}
    for command in COMMANDS:
        items = [o for o in outcomes if o.case["command"] == command and o.role == "validation" and o.spread]
        if not items:
            continue
        widths = [o.width for o in items if o.width is not None]
        spread = [o for o in items if o.width is not None and o.width > 1 + 1e-9]
        table[command] = {"cases": len(items), "inside": sum(bool(o.inside) for o in items),
                          "with_spread": len(spread), "inside_with_spread": sum(bool(o.inside) for o in spread),
                          "median_width": statistics.median(widths) if widths else None,
                          "median_width_with_spread": statistics.median(o.width for o in spread) if spread else None}
    return table


def summary(outcomes: list[Outcome], role: str) -> dict[str, dict]:
    """Per calculator: count, median and worst |error| (and which case is worst)."""
    table: dict[str, dict] = {}
    for command in COMMANDS:
        items = [o for o in outcomes if o.case["command"] == command and o.role == role]
        if not items:
            continue
        errors = [(abs(o.error), o.case["id"]) for o in items if o.error is not None]
        worst = max(errors) if errors else (None, "")
        table[command] = {
            "cases": len(items), "failed_to_run": sum(o.error is None for o in items),
            "median": statistics.median(e for e, _ in errors) if errors else None,
            "worst": worst[0], "worst_case": worst[1],
            "within_25": sum(e <= 0.25 for e, _ in errors), "beyond_2x": sum(e >= 1.0 for e, _ in errors),
            "within_tolerance": sum(o.within for o in items),
        }
    return table


def _pct(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "—"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown(outcomes: list[Outcome]) -> str:
    validation = summary(outcomes, "validation")
    calibration = summary(outcomes, "calibration")
    identities = [o for o in outcomes if o.role == "identity"]
    lines = [
        "# aistack accuracy against published figures", "",
        "Generated by `python benchmarks/accuracy.py` from `benchmarks/references.yaml`; do not edit by hand.",
        "Error is signed: (aistack − published) ÷ published. Every case runs through the real CLI.", "",
        "Cases have roles. **Validation** cases never set anything: they are how aistack does on published",
        "figures it was not tuned on, and this report leads with them. **Calibration** cases are the figures a",
        "default was fit on (each default in `specs/defaults/` names its cases); their fit is shown second and",
        "says nothing about accuracy. **Identity** cases read a formula or a config back, pass or fail.", "",
        "## Validation: how far aistack lands from published figures it was not tuned on", "",
        "| calculator | cases | median abs error | worst abs error (case) | within 25 % | off by 2x or more |",
        "|---|---|---|---|---|---|",
    ]
    for command, row in validation.items():
        lines.append(f"| `{command}` | {row['cases']} | {_pct(row['median'], False)} | {_pct(row['worst'], False)} "
                     f"({row['worst_case']}) | {row['within_25']} | {row['beyond_2x']} |")
    everything = [abs(o.error) for o in outcomes if o.role == "validation" and o.error is not None]
    if everything:
        lines += ["", f"All validation cases together: {len(everything)}, median abs error "
                      f"{_pct(statistics.median(everything), False)}."]
    lines += _coverage_lines(outcomes)
    lines += ["", "## Calibration: the fit of the defaults (not evidence of accuracy)", "",
              "| calculator | cases | median abs error | worst abs error |", "|---|---|---|---|"]
    for command, row in calibration.items():
        lines.append(f"| `{command}` | {row['cases']} | {_pct(row['median'], False)} | {_pct(row['worst'], False)} |")
    passed = sum(o.within for o in identities)
    lines += ["", "## Identities: formulas and configs read back", "",
              f"{passed} of {len(identities)} pass within their tolerance "
              "(tests/test_accuracy.py fails on any miss).", ""]
    lines += [f"- {'pass' if o.within else 'FAIL'}: `{o.case['command']}` {o.case['id']} ({_pct(o.error)})"
              for o in identities]
    lines += ["", "## Every validation case", "",
              "| calculator | case | key | published | aistack | error | P10–P90 | source | what the source includes |",
              "|---|---|---|---|---|---|---|---|---|"]
    for o in outcomes:
        if o.role != "validation":
            continue
        c = o.case
        band = "—" if not o.spread else (f"{_num(o.spread['p10'])}–{_num(o.spread['p90'])} "
                                         f"({'inside' if o.inside else 'outside'})")
        lines.append(f"| `{c['command']}` | {c['id']} | `{c['key']}` | {_num(c['published'])} | {_num(o.value)} | "
                     f"{_pct(o.error) if o.error is not None else 'not run: ' + _cell(o.problem)} | {band} | "
                     f"{_cell(c['source'])} | {_cell(c.get('includes', ''))} |")
    misses = [o for o in outcomes if o.role == "validation" and o.error is not None and abs(o.error) > 0.5]
    lines += ["", "## Known misses (validation cases off by more than 50 %)", ""]
    if not misses:
        lines.append("None.")
    for o in sorted(misses, key=lambda o: -abs(o.error or 0)):
        lines.append(f"- `{o.case['command']}` {o.case['id']}: {_pct(o.error)}. "
                     f"{o.case.get('known_miss', 'Mechanism not yet identified.')}")
    lines += ["", "## Calibration cases", "", "| calculator | case | key | published | aistack | error | source |",
              "|---|---|---|---|---|---|---|"]
    for o in outcomes:
        if o.role == "calibration":
            c = o.case
            lines.append(f"| `{c['command']}` | {c['id']} | `{c['key']}` | {_num(c['published'])} | {_num(o.value)} | "
                         f"{_pct(o.error)} | {_cell(c['source'])} |")
    return "\n".join(lines) + "\n"


def _coverage_lines(outcomes: list[Outcome]) -> list[str]:
    table = coverage(outcomes)
    if not table:
        return []
    lines = ["", "## Ranges: how often the published figure falls inside aistack's P10–P90", "",
             f"Each validation case run again with `--ranges` ({RANGE_SAMPLES} Latin-hypercube draws, seed 0) over the",
             "published P10–P90 of the cited defaults it uses; the user's inputs stay fixed. A useful band holds",
             "about 80 % of published figures without being huge. A result no uncertain default moves has a",
             "zero-width band (P90 ÷ P10 = 1): it is inside only when exact. The spreads are the published ones",
             "(specs/defaults), never widened or narrowed to reach a coverage.", "",
             "| calculator | cases | inside P10–P90 | coverage | median P90 ÷ P10 | cases with a spread | "
             "inside, of those | median P90 ÷ P10 of those |", "|---|---|---|---|---|---|---|---|"]
    for command, row in table.items():
        share = row["inside"] / row["cases"]
        spread_share = (f"{row['inside_with_spread']} ({row['inside_with_spread'] / row['with_spread']:.0%})"
                        if row["with_spread"] else "—")
        lines.append(f"| `{command}` | {row['cases']} | {row['inside']} | {share:.0%} | {_num(row['median_width'])} | "
                     f"{row['with_spread']} | {spread_share} | {_num(row['median_width_with_spread'])} |")
    inside = sum(r["inside"] for r in table.values())
    cases = sum(r["cases"] for r in table.values())
    lines += ["", f"All validation cases together: {inside} of {cases} published figures inside P10–P90 "
                  f"({inside / cases:.0%})."]
    return lines


def baseline(outcomes: list[Outcome]) -> dict:
    """What the regression test compares with: each validation case's |error| and each median."""
    cases = {o.case["id"]: (None if o.error is None else round(abs(o.error), 4))
             for o in outcomes if o.role == "validation"}
    medians = {command: (None if row["median"] is None else round(row["median"], 4))
               for command, row in summary(outcomes, "validation").items()}
    return {"cases": cases, "medians": medians}


def main() -> int:
    parser = argparse.ArgumentParser(description="aistack accuracy report (validation first)")
    parser.add_argument("--output", type=Path, default=REPORT)
    parser.add_argument("--baseline", action="store_true", help=f"also write {BASELINE.name}")
    args = parser.parse_args()
    outcomes = evaluate(load(), ranges=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown(outcomes), encoding="utf-8")
    print("validation (median / worst abs error):")
    for command, row in summary(outcomes, "validation").items():
        print(f"  {command:22s} {row['cases']:3d} cases  median {_pct(row['median'], False):>7s}  "
              f"worst {_pct(row['worst'], False):>8s} ({row['worst_case']})")
    print("ranges on validation cases (inside P10-P90 / cases, median P90/P10):")
    for command, row in coverage(outcomes).items():
        print(f"  {command:22s} {row['inside']:3d} / {row['cases']:3d} inside  median width {_num(row['median_width'])}"
              f"  (with a spread: {row['inside_with_spread']} / {row['with_spread']}, median width "
              f"{_num(row['median_width_with_spread'])})")
    for o in outcomes:
        if o.error is None:
            print(f"NOT RUN: {o.case['id']}: {o.problem}", file=sys.stderr)
        elif o.role == "identity" and not o.within:
            print(f"IDENTITY MISS: {o.case['id']}: {_pct(o.error)}", file=sys.stderr)
    if args.baseline:
        BASELINE.write_text(json.dumps(baseline(outcomes), indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {BASELINE}")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""aistack against published figures: roles, honesty, identities and the regression guard.

Validation cases are not held to a tolerance (the report shows how far they land); what a test
holds them to is the recorded baseline: no case and no calculator's median may get worse by more
than a stated margin. The baseline changes only deliberately (``python benchmarks/accuracy.py
--baseline``, with a CHANGELOG line).
"""

import json
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import accuracy  # noqa: E402  (benchmarks/accuracy.py)

CASES = accuracy.load()
BY_ID = {case["id"]: case for case in CASES}
BASELINE = json.loads(accuracy.BASELINE.read_text()) if accuracy.BASELINE.exists() else {"cases": {}, "medians": {}}
CASE_MARGIN = 0.05  # a validation case may drift this much (absolute |error|) before the test fails
MEDIAN_MARGIN = 0.02
# Options that set an efficiency, a load or a utilisation: a validation or calibration case that
# passed one could be fed its own answer. Only the datasheet value 1.0 (rated power, peak bandwidth)
# may be given, where the source's figure is defined that way.
EFFICIENCY_OPTIONS = ("--mfu", "--mbu", "--efficiency", "--load", "--gpu-power-fraction", "--scale-up-efficiency",
                      "--scale-out-efficiency", "--link-efficiency", "--utilization")


def test_every_case_is_complete_and_has_a_role():
    assert len(BY_ID) == len(CASES), "duplicate case ids"
    for case in CASES:
        assert {"id", "command", "role", "args", "key", "published", "tolerance", "source", "includes"} <= set(case), \
            case["id"]
        assert case["role"] in accuracy.ROLES, case["id"]
        assert isinstance(case["published"], (int, float)) and case["published"] > 0, case["id"]
        assert 0 < case["tolerance"] <= 1.0 and "--format" not in case["args"], case["id"]


def test_no_case_is_fed_an_efficiency():
    for case in CASES:
        if case["role"] == "identity":
            continue
        args = list(map(str, case["args"]))
        for option in EFFICIENCY_OPTIONS:
            if option in args:
                value = float(args[args.index(option) + 1])
                assert value == 1.0, f"{case['id']} passes {option} {value}: an efficiency fitted to its own figure"


def test_defaults_name_only_calibration_cases():
    from aistack_cli import catalog

    bundled = catalog.load(None)
    for default_id in bundled.ids("default"):
        default = bundled.get("default", default_id)
        for case_id in default.calibration_cases:
            assert case_id in BY_ID, f"{default_id} names unknown case {case_id}"
            assert BY_ID[case_id]["role"] == "calibration", f"{default_id} was fit on {case_id}, a {BY_ID[case_id]['role']} case"


def test_calibration_cases_calibrate_something():
    from aistack_cli import catalog

    bundled = catalog.load(None)
    named = {c for d in bundled.ids("default") for c in bundled.get("default", d).calibration_cases}
    orphans = [c["id"] for c in CASES if c["role"] == "calibration" and c["id"] not in named]
    assert not orphans, f"calibration cases no default names: {orphans}"


def test_enough_cases_and_validation_for_every_calculator():
    # Issue 14: at least 150 cases, 70 of them validation, and 8 validation cases per calculator.
    assert len(CASES) >= 150
    assert sum(c["role"] == "validation" for c in CASES) >= 70
    for command in accuracy.COMMANDS:
        count = sum(c["command"] == command and c["role"] == "validation" for c in CASES)
        assert count >= 8, (command, count)


IDENTITIES = [c for c in CASES if c["role"] == "identity"]


@pytest.mark.parametrize("case", IDENTITIES, ids=[c["id"] for c in IDENTITIES])
def test_identity_holds(case):
    value, problem = accuracy.run_case(case)
    assert value is not None, problem
    error = (value - case["published"]) / case["published"]
    assert abs(error) <= case["tolerance"], f"{case['id']}: aistack {value:.4g} vs {case['published']:.4g} ({error:+.1%})"


def test_validation_does_not_regress():
    outcomes = accuracy.evaluate([c for c in CASES if c["role"] == "validation"])
    worse = []
    for o in outcomes:
        assert o.error is not None, f"{o.case['id']} did not run: {o.problem}"
        recorded = BASELINE["cases"].get(o.case["id"])
        if recorded is not None and abs(o.error) > recorded + CASE_MARGIN:
            worse.append(f"{o.case['id']}: |error| {abs(o.error):.1%} vs baseline {recorded:.1%}")
    for command, row in accuracy.summary(outcomes, "validation").items():
        recorded = BASELINE["medians"].get(command)
        if recorded is not None and row["median"] > recorded + MEDIAN_MARGIN:
            worse.append(f"{command} median {row['median']:.1%} vs baseline {recorded:.1%}")
    assert not worse, "validation got worse than benchmarks/accuracy_baseline.json:\n" + "\n".join(worse)


def test_every_validation_case_is_in_the_baseline():
    missing = [c["id"] for c in CASES if c["role"] == "validation" and c["id"] not in BASELINE["cases"]]
    assert not missing, f"run python benchmarks/accuracy.py --baseline (new validation cases: {missing[:5]})"

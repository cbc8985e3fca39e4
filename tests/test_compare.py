"""aistack compare: scenario files of one command side by side, with differences and gates."""

import pytest

from conftest import assert_usage_error

A = "command: train-cost\nmodel: llama-3.1-70b\ntokens: 15T\ngpu: h100-sxm\ngpus: 1024\nmfu: 0.4\n"
B = "command: train-cost\nmodel: llama-3.1-70b\ntokens: 15T\ngpu: h100-sxm\ngpus: 1024\nmfu: 0.5\n"


@pytest.fixture
def files(tmp_path):
    def write(name: str, text: str) -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write


def test_two_scenarios_side_by_side_with_differences(cli, files):
    run = cli("compare", files("a.yaml", A), files("b.yaml", B))
    assert run.code == 0, run.err
    out = run.out
    assert "aistack compare: train-cost, 2 scenarios (differences from a)" in out
    assert "inputs that differ" in out and "mfu_given" in out
    line = next(x for x in out.splitlines() if x.strip().startswith("wall_clock_s"))
    # time ∝ 1/MFU: 0.40 -> 0.50 is 0.8 of the time, a -20.0% difference.
    assert "−20.0%" in line
    assert "results the same in every scenario" in out and "total_flop" in out
    assert all(len(x) <= 120 for x in out.splitlines())


def test_json_has_every_scenario_and_each_difference(cli, files):
    doc = cli("compare", files("a.yaml", A), files("b.yaml", B), "-f", "json").json()
    assert doc["command"] == "compare" and doc["compared"] == "train-cost" and doc["baseline"] == "a"
    a, b = (s["results"] for s in doc["scenarios"])
    diff = doc["differences"][0]
    assert diff["name"] == "b" and diff["inputs"] == ["mfu_given"]
    wall = diff["results"]["wall_clock_s"]
    assert wall["delta"] == pytest.approx(b["wall_clock_s"] - a["wall_clock_s"])
    assert wall["relative"] == pytest.approx(-0.2, rel=1e-9) and wall["same"] is False
    assert diff["results"]["total_flop"] == {"delta": 0, "relative": 0.0, "same": True}
    assert diff["results"]["fits"] == {"delta": None, "relative": None, "same": True}


def test_json_matches_its_schema(cli, files):
    jsonschema = pytest.importorskip("jsonschema")
    from aistack_cli.render.schema import compare_schema

    doc = cli("compare", files("a.yaml", A), files("b.yaml", B), files("c.yaml", A), "-f", "json").json()
    jsonschema.validate(doc, compare_schema())


def test_saved_outputs_compare(cli, files):
    small = cli("kv-cache", "--model", "llama-3.1-70b", "--context", "8k", "-f", "yaml").out
    large = cli("kv-cache", "--model", "llama-3.1-70b", "--context", "32k", "-f", "toml").out
    doc = cli("compare", files("small.yaml", small), files("large.toml", large), "-f", "json").json()
    assert doc["compared"] == "kv-cache"
    # KV bytes per sequence grow with the context: 32,768 / 8,192 = 4x, a +300% difference.
    assert doc["differences"][0]["results"]["kv_bytes_per_sequence"]["relative"] == pytest.approx(3.0)
    assert doc["differences"][0]["results"]["kv_bytes_per_token"]["same"]


def test_three_scenarios_and_a_toml_scenario(cli, files):
    c = files("c.toml", 'command = "train-cost"\nmodel = "llama-3.1-70b"\ntokens = "15T"\ngpu = "h100-sxm"\n'
                        'gpus = 2048\n')
    run = cli("compare", files("a.yaml", A), files("b.yaml", B), c)
    assert run.code == 0, run.err
    assert "train-cost, 3 scenarios (differences from a)" in run.out
    assert "gpus" in run.out.split("results")[0]  # c differs from a in its GPU count


def test_csv_has_one_row_per_key(cli, files):
    lines = cli("compare", files("a.yaml", A), files("b.yaml", B), "-f", "csv").out.splitlines()
    assert lines[0] == "role,key,unit,a,b,b.delta,b.relative"
    wall = next(line for line in lines if line.startswith("result,wall_clock_s,"))
    assert float(wall.split(",")[-1]) == pytest.approx(-0.2)


@pytest.mark.parametrize("gate, code", [
    ("wall_clock_s.delta < 10%", 1),   # the time moves by 20 %
    ("wall_clock_s.delta < 25%", 0),
    ("wall_clock_s.change <= 0", 0),   # signed: it got shorter
    ("wall_clock_s.change > 0", 1),
    ("wall_clock_s.delta <= 30d", 1),  # absolute, in the key's unit: 181 days -> 145 days is 36 days
    ("wall_clock_s.delta <= 40d", 0),
    ("wall_clock_s.delta <= 20d", 1),
    ("fits == true", 0),               # a gate on every scenario
    ("cost_usd <= 1M", 1),
])
def test_checks_on_differences(cli, files, gate, code):
    run = cli("compare", files("a.yaml", A), files("b.yaml", B), "--check", gate, "-q")
    assert run.code == code, (gate, run.err)
    if code == 1:
        assert "check failed for" in run.err


def test_compare_errors_are_usage_errors(cli, files):
    a = files("a.yaml", A)
    assert_usage_error(cli("compare", a), "two or more")
    assert_usage_error(cli("compare", a, files("kv.yaml", "command: kv-cache\nmodel: llama-3.1-70b\n")),
                       "different commands")
    assert_usage_error(cli("compare", files("x.yaml", "gpus: 8\n"), files("y.yaml", "gpus: 16\n")),
                       "do not name their command")
    assert_usage_error(cli("compare", a, files("sweep.yaml", A.replace("gpus: 1024", "gpus: 512,1024"))),
                       "is a sweep (--gpus)")
    assert_usage_error(cli("compare", a, files("bad.yaml", A + "nonsense: 3\n")), "unknown option")
    assert_usage_error(cli("compare", a, a, "--check", "cost.delta < 1%"), "not a result of train-cost")
    assert_usage_error(cli("compare", a, a, "--check", "fits.delta < 1%"), "not a number")
    assert_usage_error(cli("compare", a, a, "--command", "nope"), "unknown command")
    assert_usage_error(cli("compare", "-", "-"), "standard input")


def test_command_option_names_the_command_for_plain_files(cli, files):
    x = files("x.yaml", "model: llama-3.1-70b\ncontext: 8k\n")
    y = files("y.yaml", "model: llama-3.1-70b\ncontext: 16k\n")
    doc = cli("compare", x, y, "--command", "kv-cache", "-f", "json").json()
    assert doc["compared"] == "kv-cache" and doc["differences"][0]["inputs"] == ["context_tokens"]


def test_same_file_name_in_two_folders_gets_its_path(cli, tmp_path):
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "run.yaml").write_text(A)
    doc = cli("compare", str(tmp_path / "one" / "run.yaml"), str(tmp_path / "two" / "run.yaml"), "-f", "json").json()
    names = [s["name"] for s in doc["scenarios"]]
    assert len(set(names)) == 2 and all(n.endswith("run.yaml") for n in names)


def test_config_reads_a_scenario_that_names_its_command(cli, files):
    path = files("a.yaml", A)
    assert cli("train-cost", "--config", path, "-f", "json").code == 0
    assert_usage_error(cli("kv-cache", "--config", path), "is a scenario for 'train-cost'")


ROUND_TRIPS = {
    "kv-cache": ["--model", "llama-3.1-70b", "--context", "128k"],
    "inference-throughput": ["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "8", "--batch", "64"],
    "allreduce-time": ["--system", "dgx-h100", "--inter", "ib-ndr", "--gpus", "64", "--size", "1GB"],
    "fab-cost": ["--node", "n4", "--die-area", "800"],
    "train-cost": ["--model", "llama-3.1-70b", "--tokens", "15T", "--gpu", "h100-sxm", "--gpus", "1024"],
    "cluster-power": ["--gpu", "h100-sxm", "--gpus", "1024"],
}
# A saved cluster-power output does not read back on main (its resolved gpus_per_system etc. read back
# as a custom build beside --system): #17 owns the fix; strict, so the marker goes when it lands.
BROKEN: dict[str, str] = {}  # commands whose saved outputs do not read back yet (none)


@pytest.mark.parametrize("command", [
    pytest.param(c, marks=pytest.mark.xfail(strict=True, reason=BROKEN[c])) if c in BROKEN else c
    for c in ROUND_TRIPS])
def test_saved_outputs_compare_against_themselves(cli, files, command):
    saved = cli(command, *ROUND_TRIPS[command], "-f", "yaml").out
    doc = cli("compare", files("one.yaml", saved), files("two.yaml", saved), "-f", "json")
    assert doc.code == 0, doc.err
    assert all(d["same"] for d in doc.json()["differences"][0]["results"].values())

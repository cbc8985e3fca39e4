"""Drive the installed CLI as separate processes with hostile input, and count what breaks.

    python benchmarks/fuzz.py                  # 10,000 invocations, 2 at a time, seed 0
    python benchmarks/fuzz.py --runs 200 --seed 7

Every subcommand starts from realistic options (its --help examples), then one to three of its
options get a mutated value (tiny, huge, subnormal, non-finite, unicode, empty, path-like, lists,
ranges, newlines, long strings), and each run may add a generated scenario file, a generated user
sheet, an environment (AISTACK_SPECS, COLUMNS, NO_COLOR, PYTHONIOENCODING) or a reader that closes
the pipe after one byte. A run passes when it exits 0, 1 or 2, writes valid machine output (json,
yaml, toml, csv) when it exits 0 or 1, writes at most one stderr line when it exits 0 or 2, and
ends within 10 s and 500 MB of address space. Failures are printed with the command that
reproduces them; the counts end the output. tests/test_fuzz_processes.py runs a short seeded slice.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 10.0
MEMORY_BYTES = 500 * 2**20
BASES = {
    "kv-cache": [["--model", "llama-3.1-70b", "--context", "128k", "--gpu", "h100-sxm", "--gpus", "4"],
                 ["--layers", "61", "--kv-lora-rank", "512", "--qk-rope-head-dim", "64", "--context", "32k"]],
    "train-cost": [["--model", "llama-3.1-405b", "--tokens", "15.6T", "--gpu", "h100-sxm", "--gpus", "16384"],
                   ["--model", "llama-3.1-70b", "--tokens", "15T", "--gpu", "h100-sxm", "--target-days", "30"]],
    "inference-throughput": [["--model", "llama-3.1-70b", "--gpu", "h100-sxm", "--gpus", "4", "--batch", "32"],
                             ["--model", "mixtral-8x7b", "--gpu", "h100-sxm,h200", "--target-itl", "50ms"]],
    "cluster-power": [["--gpu", "gb200", "--gpus", "100000", "--pue", "1.15"], ["--system", "dgx-h100", "--gpus", "1024"]],
    "allreduce-time": [["--size", "1GiB", "--gpus", "1024", "--system", "dgx-h100", "--inter", "ib-ndr"],
                       ["--sizes", "8:1G:4", "--gpus", "8", "--system", "dgx-h100"]],
    "fab-cost": [["--node", "n4", "--die-area", "814", "--defect-density", "0.1"],
                 ["--node", "n4", "--die-size", "26x31.3", "--hbm-stacks", "5", "--hbm-stack-cost", "300"]],
    "specs": [["list"], ["show", "h100-sxm"], ["list", "--kind", "model"]],
    "schema": [["kv-cache"], []],
}
VALUES = ["0", "-1", "1", "2", "3.5", "1e-300", "5e-324", "1e-320", "1e-400", "1e30", "1e400", "nan", "inf",
          "-inf", "", " ", "ü", "🙂", "\u202e1", "１２８k", "80GB", "12XB", "80GiB", "400Gb/s", "700W", "2.5ms",
          "10min", "3mo", "$60/MWh", "6c/kWh", "40%", "150%", "1k", "128k", "16,384", "1,8,64", "8, 256",
          "1:8:2", "1000:4000:+1000", "1:1024:x2", "8:1:2", "1:8:1", "1:1e9:1.0000001", "1:16:+0", ",", "a,b",
          "h100-sxm", "llama-3.1-70b", "gb200", "n4", "ib-ndr", "dgx-h100", "bf16", "fp8", "ring", "auto",
          "true", "none", "full", "$5M", "0x10", "1_000", "∞", "null", "/dev/zero", "/etc/shadow",
          "../../etc/passwd", "x\ny", "a" * 5000, "1," * 3000 + "1", "[/x]"]
FORMATS = ["json", "yaml", "toml", "csv", "table"]
# Environment a user may set (Python itself refuses an unknown PYTHONIOENCODING before aistack runs).
ENVIRONMENTS = [("COLUMNS", ["0", "1", "20", "80", "200", "x", "-5"]), ("NO_COLOR", ["1", ""]),
                ("FORCE_COLOR", ["1", "0"]), ("PYTHONIOENCODING", ["ascii", "latin-1", "utf-8", "ascii:strict"]),
                ("AISTACK_SPECS", ["", "/", "/dev/null", "/nonexistent", ":::"])]
SHEET = """id: fuzz-gpu
kind: accelerator
name: {name}
vendor: x
release: {{year: 2025, source: "made up for a fuzz run"}}
compute: {{source: "made up for a fuzz run", dense: {{bf16: "{flops}"}}}}
memory: {{source: "made up for a fuzz run", capacity: "80 GB", bandwidth: "{bandwidth}"}}
"""


@dataclass
class Outcome:
    argv: list[str]
    env: dict
    piped: bool
    code: int
    seconds: float
    problem: str

    def reproduce(self) -> str:
        env = " ".join(f"{k}={shlex.quote(v)}" for k, v in self.env.items())
        command = " ".join(shlex.quote(a[:200]) for a in self.argv)
        return f"{env} {command}{' | head -c 1' if self.piped else ''}".strip()


def _options(command: str) -> list[tuple[str, str]]:
    """(flag, kind) of every option of a calculator, from its declaration."""
    from aistack_cli import commands, runner

    commands.load([command])
    calc = runner.REGISTRY.get(command)
    return [(opt.flag, opt.kind) for opt in calc.options] if calc else []


def generate(rng: random.Random, workdir: Path, aistack: list[str]) -> tuple[list[str], dict, bool, str]:
    command = rng.choice(list(BASES))
    argv = [*aistack, command, *rng.choice(BASES[command])]
    options = _options(command)
    for _ in range(rng.choice([0, 1, 1, 1, 2, 3]) if options else 0):
        flag, kind = rng.choice(options)
        argv += [flag] if kind == "flag" else [flag, rng.choice(VALUES)]
    fmt = rng.choice(FORMATS)
    argv += ["--format", fmt]
    env: dict[str, str] = {}
    roll = rng.random()
    if roll < 0.08:
        scenario = workdir / f"s{rng.randrange(10**9)}.{rng.choice(['yaml', 'toml'])}"
        key = rng.choice([flag for flag, _ in options] or ["--x"]).lstrip("-")
        value = rng.choice(VALUES).replace('"', "").replace("\n", " ")
        text = f'{key} = "{value}"\n' if scenario.suffix == ".toml" else f"{key}: {value}\n"
        scenario.write_text(text, encoding="utf-8", errors="replace")
        argv += ["--config", str(scenario)]
    elif roll < 0.14:
        sheet = workdir / f"g{rng.randrange(10**9)}.yaml"
        sheet.write_text(SHEET.format(name=rng.choice(["Fuzz", "GPU [/x]", "é"]), flops=rng.choice(VALUES + ["100 TFLOP/s"]),
                                      bandwidth=rng.choice(VALUES + ["3 TB/s"])), encoding="utf-8", errors="replace")
        env["AISTACK_SPECS"] = str(sheet)
    elif roll < 0.22:
        key, values = rng.choice(ENVIRONMENTS)
        env[key] = rng.choice(values)
    piped = rng.random() < 0.05
    return argv, env, piped, fmt


def _limit() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))


def run_one(argv: list[str], env: dict, piped: bool, fmt: str) -> Outcome:
    full_env = {**os.environ, **env}
    start = time.perf_counter()
    try:
        if piped:
            shell = " ".join(shlex.quote(a) for a in argv) + " | head -c 1 >/dev/null; exit ${PIPESTATUS[0]}"
            proc = subprocess.run(["bash", "-c", shell], capture_output=True, env=full_env, timeout=TIMEOUT_S,
                                  preexec_fn=_limit)
        else:
            proc = subprocess.run(argv, capture_output=True, env=full_env, timeout=TIMEOUT_S, preexec_fn=_limit)
    except subprocess.TimeoutExpired:
        return Outcome(argv, env, piped, -1, TIMEOUT_S, "timed out")
    seconds = time.perf_counter() - start
    return Outcome(argv, env, piped, proc.returncode, seconds,
                   judge(proc.returncode, proc.stdout, proc.stderr, fmt, piped, env))


def judge(code: int, out: bytes, err: bytes, fmt: str, piped: bool, env: dict) -> str:
    """What is wrong with one run ('' when nothing)."""
    text_err = err.decode("utf-8", "replace")
    if code not in (0, 1, 2):
        return f"exit {code}: {text_err.strip()[:200]}"
    if "Traceback" in text_err:
        return "traceback"
    if code in (0, 2) and len(text_err.strip().splitlines()) > 1:
        return f"{len(text_err.strip().splitlines())} stderr lines"
    if code == 2 or piped or fmt == "table":
        return ""
    encoding = "ascii" if env.get("PYTHONIOENCODING", "").startswith("ascii") else (
        "latin-1" if env.get("PYTHONIOENCODING", "").startswith("latin") else "utf-8")
    text = out.decode(encoding, "replace")
    try:
        if fmt == "json":
            json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(f"non-finite {c}")))
        elif fmt == "yaml":
            import yaml

            yaml.safe_load(text)
        elif fmt == "toml":
            tomllib.loads(text)
        elif fmt == "csv":
            rows = list(csv.reader(io.StringIO(text)))
            if rows and any(len(r) != len(rows[0]) for r in rows):
                return "csv rows of different widths"
    except Exception as exc:  # noqa: BLE001  (any parse failure is a finding)
        return f"invalid {fmt}: {type(exc).__name__}: {str(exc)[:120]}"
    return ""


def aistack_command() -> list[str]:
    found = shutil.which("aistack")
    return [found] if found else [sys.executable, "-m", "aistack_cli"]


def fuzz(runs: int, seed: int, workers: int = 2, show: int = 20) -> dict:
    rng = random.Random(seed)
    counts = {"runs": 0, "failures": 0, "exit_0": 0, "exit_1": 0, "exit_2": 0, "slowest_s": 0.0}
    failures: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        jobs = [generate(rng, Path(tmp), aistack_command()) for _ in range(runs)]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for outcome in pool.map(lambda job: run_one(*job), jobs):
                counts["runs"] += 1
                counts[f"exit_{outcome.code}"] = counts.get(f"exit_{outcome.code}", 0) + 1
                counts["slowest_s"] = max(counts["slowest_s"], round(outcome.seconds, 2))
                if outcome.problem:
                    counts["failures"] += 1
                    failures.append(outcome)
    for outcome in failures[:show]:
        print(f"FAIL ({outcome.problem}): {outcome.reproduce()}")
    counts["failure_list"] = [f"{o.problem}: {o.reproduce()}" for o in failures]
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description="process-level fuzzing of the installed aistack CLI")
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    counts = fuzz(args.runs, args.seed, args.workers)
    counts.pop("failure_list")
    print(json.dumps({**counts, "wall_s": round(time.perf_counter() - start, 1)}))
    return 1 if counts["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Before/after measurements by hand: runs `sluice run` with several builds (or jobs) alternately, round
after round, and prints the minimum, median and maximum wall time of each, with the median phases from
`--json`. Alternating keeps slow spells of a shared machine from landing on one side only.

  Benchmarks/alternate.py --window day --rounds 4 --job discard.yaml OLD/sluice NEW/sluice
  Benchmarks/alternate.py --window day --rounds 4 NEW/sluice:t4k/sqlite.yaml NEW/sluice:t16k/sqlite.yaml
  Benchmarks/alternate.py --starts 30 OLD/sluice NEW/sluice      # process start-up: `sluice --version`

Each variant is BINARY or BINARY:JOB (JOB defaults to --job). The jobs are the harness's
(`Benchmarks/run.py` `write_job`) against a broker started by hand: `sluice dev-kafka --port 0 --topic
events:3`, loaded with `sluice loadgen --bootstrap-servers HOST:PORT --topic events --records 1000000
--span 24h`. Each variant keeps its own ledger next to its job (`.alternate-state-N`), and runs with
`--replan --create-table`, so every round overwrites the same partition.
"""
import argparse
import json
import os
import statistics
import subprocess
import time

WINDOWS = {
    "hour": ("20221122100000", "20221122110000", "2022112210"),
    "day": ("20221122000000", "20221123000000", "2022112200"),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("variants", nargs="+", help="BINARY or BINARY:JOB")
    ap.add_argument("--job", help="the job file of variants that name none")
    ap.add_argument("--window", choices=sorted(WINDOWS), default="day")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--starts", type=int, help="instead of runs, time this many `BINARY --version` starts")
    a = ap.parse_args()

    variants = []
    for i, v in enumerate(a.variants):
        binary, _, job = v.partition(":")
        job = job or a.job
        if not a.starts and not job:
            raise SystemExit(f"{v}: no job (give BINARY:JOB or --job)")
        state = os.path.join(os.path.dirname(os.path.abspath(job)), f".alternate-state-{i}") if job else None
        variants.append((v, binary, job, state))

    start, end, partition = WINDOWS[a.window]
    samples = {v[0]: [] for v in variants}
    for _ in range(a.starts or a.rounds):
        for name, binary, job, state in variants:
            if a.starts:
                argv = [binary, "--version"]
            else:
                argv = [binary, "run", job, "--json", "--state-dir", state, "--replan", "--create-table",
                        "--param", f"startTime={start}", "--param", f"endTime={end}", "--param", f"partition={partition}"]
            t0 = time.monotonic()
            done = subprocess.run(argv, capture_output=True, text=True)
            wall = time.monotonic() - t0
            if done.returncode != 0:
                raise SystemExit(f"{' '.join(argv)} failed (exit {done.returncode}):\n{done.stderr}")
            phases = {} if a.starts else json.loads(done.stdout).get("phases", {})
            samples[name].append((wall, phases))

    unit, scale = ("ms", 1000) if a.starts else ("s", 1)
    for name, runs in samples.items():
        walls = sorted(w for w, _ in runs)
        line = (f"{name}: min {walls[0] * scale:.3f} {unit}, median {statistics.median(walls) * scale:.3f} {unit}, "
                f"max {walls[-1] * scale:.3f} {unit} ({len(walls)} samples)")
        keys = sorted({k for _, p in runs for k in p})
        if keys:
            line += "; median phases: " + ", ".join(
                f"{k} {statistics.median(p.get(k, 0) for _, p in runs):.3f}" for k in keys)
        print(line)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Sluice side by side with kcat and a hand-written Python sync, in one run, on this machine.

Starts `sluice dev-kafka`, loads N records (3 partitions, ~200-byte JSON values with keys, headers,
timestamps spread over 24 hours) with `sluice loadgen`, then measures for a one-hour and the 24-hour
window, alternating the commands:

  kcat            reading the window (-o s@… -o e@…) to /dev/null: the floor
  python          confluent-kafka + json + sqlite3 doing the same job (Benchmarks/baseline_sync.py)
  sluice→sqlite   `sluice run` into the SQLite warehouse (overwrite)
  sluice→discard  `sluice run` into `destination: {type: discard}` (read + map only)

and reports wall time, CPU time, records/s, MB/s, peak RSS and the ratio to kcat as a Markdown table
appended to Benchmarks/RESULTS.md. `--scale` also runs the 24-hour window at 1M and 10M records to
check that time grows linearly and memory stays flat.

Usage: Benchmarks/run.py [--records 1000000] [--repeat 3] [--scale] [--no-python]
"""
import argparse
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAY_START_MS = 1669075200000  # 2022-11-22T00:00:00Z
HOUR_MS = 3600 * 1000


def measure(argv, **kw):
    """Runs argv; returns (wall s, cpu s, peak RSS MB) from wait4."""
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=kw.get("stdout", subprocess.DEVNULL), stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({status}):\n{err}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def start_broker(sluice):
    p = subprocess.Popen([sluice, "dev-kafka", "--port", "0", "--topic", "events:3"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.match(r"ready (\S+):(\d+)", line)
    if not m:
        p.kill()
        raise SystemExit(f"dev-kafka did not start: {line}{p.stderr.read()}")
    return p, f"{m.group(1)}:{m.group(2)}"


def write_job(path, servers, dest):
    destination = {
        "sqlite": "  type: sqlite\n  path: warehouse.db\n",
        "discard": "  type: discard\n",
    }[dest]
    with open(path, "w") as f:
        f.write(f"""name: bench_{dest}
source:
  bootstrapServers: {servers}
  topic: events
  timeZone: UTC
columns: [__key__, __partition__, __offset__, __timestamp__, __headers__, event_id, a.a1, "c[1]", "d[0].AA", amount]
destination:
{destination}  table: ods_events
  partition: "ds=${{partition}}"
  columns: [k, kafka_partition, kafka_offset, kafka_ts, headers, event_id, a1, c1, d0aa, amount]
  columnTypes: {{ kafka_partition: BIGINT, kafka_offset: BIGINT, kafka_ts: BIGINT, amount: DOUBLE }}
""")


def ms_to_compact(ms):
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).strftime("%Y%m%d%H%M%S")


def count_window(servers, start_ms, end_ms):
    """Records and value bytes in the window, by a kcat pass (used for records/s and MB/s)."""
    out = subprocess.run(["kcat", "-C", "-b", servers, "-t", "events", "-o", f"s@{start_ms}", "-o", f"e@{end_ms}",
                          "-e", "-q", "-f", "%S\n"], capture_output=True, text=True, check=True).stdout.split()
    return len(out), sum(int(x) for x in out if x.lstrip("-").isdigit())


def run_suite(sluice, servers, work, records, repeat, python):
    windows = [("1 hour", DAY_START_MS + 10 * HOUR_MS, DAY_START_MS + 11 * HOUR_MS),
               ("24 hours", DAY_START_MS, DAY_START_MS + 24 * HOUR_MS)]
    for dest in ("sqlite", "discard"):
        write_job(os.path.join(work, f"{dest}.yaml"), servers, dest)
    results = []
    for label, s, e in windows:
        n, value_bytes = count_window(servers, s, e)
        params = ["--param", f"startTime={ms_to_compact(s)}", "--param", f"endTime={ms_to_compact(e)}",
                  "--param", f"partition={ms_to_compact(s)[:10]}"]
        commands = [
            ("kcat", ["kcat", "-C", "-b", servers, "-t", "events", "-o", f"s@{s}", "-o", f"e@{e}", "-e", "-q",
                      "-f", "%k %s %h\n"]),
            ("sluice → discard", [sluice, "run", os.path.join(work, "discard.yaml"), "--json",
                                  "--state-dir", os.path.join(work, "state-discard"), "--replan"] + params),
            ("sluice → sqlite", [sluice, "run", os.path.join(work, "sqlite.yaml"), "--json", "--create-table",
                                 "--state-dir", os.path.join(work, "state-sqlite"), "--replan"] + params),
        ]
        if python:
            commands.append(("python baseline", [sys.executable, os.path.join(ROOT, "Benchmarks", "baseline_sync.py"),
                                                 "--bootstrap", servers, "--topic", "events", "--start-ms", str(s),
                                                 "--end-ms", str(e), "--db", os.path.join(work, "baseline.db"),
                                                 "--partition", ms_to_compact(s)[:10]]))
        samples = {name: [] for name, _ in commands}
        for _ in range(repeat):  # alternate the commands in each round
            for name, argv in commands:
                samples[name].append(measure(argv))
        for name, _ in commands:
            best = min(samples[name], key=lambda x: x[0])
            results.append((records, label, n, value_bytes, name, best))
    return results


def table(results):
    lines = ["| records loaded | window | records in window | command | wall s | CPU s | records/s | MB/s | peak RSS MB | × kcat wall |",
             "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    kcat = {(r[0], r[1]): r[5][0] for r in results if r[4] == "kcat"}
    for records, label, n, vbytes, name, (wall, cpu, rss) in results:
        ratio = wall / kcat[(records, label)] if kcat.get((records, label)) else float("nan")
        lines.append(f"| {records:,} | {label} | {n:,} | {name} | {wall:.2f} | {cpu:.2f} | {n / wall:,.0f} | "
                     f"{vbytes / wall / 1e6:.1f} | {rss:.0f} | {ratio:.2f} |")
    return "\n".join(lines)


def machine():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), "")
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.platform()}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--scale", action="store_true", help="also run 1M vs 10M records (24-hour window)")
    ap.add_argument("--no-python", action="store_true", help="skip the Python baseline")
    ap.add_argument("--sluice", default=os.path.join(ROOT, ".build", "release", "sluice"))
    ap.add_argument("--results", default=os.path.join(ROOT, "Benchmarks", "RESULTS.md"))
    a = ap.parse_args()
    if not shutil.which("kcat"):
        raise SystemExit("kcat is not installed: run scripts/install-deps")
    if not os.path.exists(a.sluice):
        subprocess.run(["swift", "build", "-c", "release", "--product", "sluice"], cwd=ROOT, check=True)

    sizes = [a.records] + ([10_000_000] if a.scale and a.records != 10_000_000 else [])
    all_results = []
    for n in sizes:
        broker, servers = start_broker(a.sluice)
        work = tempfile.mkdtemp(prefix="sluice-bench-")
        try:
            subprocess.run([a.sluice, "loadgen", "--bootstrap-servers", servers, "--topic", "events",
                            "--records", str(n), "--span", "24h"], check=True)
            all_results += run_suite(a.sluice, servers, work, n, a.repeat, not a.no_python and n <= 1_000_000)
        finally:
            broker.terminate()
            broker.wait()
            shutil.rmtree(work, ignore_errors=True)

    report = [f"\n## {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} — {machine()}\n",
              f"`Benchmarks/run.py --records {a.records} --repeat {a.repeat}{' --scale' if a.scale else ''}`"
              f" (best of {a.repeat}, commands alternated)\n", table(all_results), ""]
    text = "\n".join(report)
    print(text)
    with open(a.results, "a") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()

"""Sluice side by side with kcat and a hand-written Python sync, in one run, on this machine.

Starts `sluice dev-kafka`, loads N records (3 partitions, ~200-byte JSON values with keys, headers,
timestamps spread over 24 hours) with `sluice loadgen`, then measures for a one-hour and the 24-hour
window, alternating the commands:

  kcat            reading the window (-o s@… -o e@…) to /dev/null: the floor
  python          confluent-kafka + json + sqlite3 doing the same job (Benchmarks/baseline_sync.py)
  sluice→sqlite   `sluice run` into the SQLite warehouse (overwrite)
  sluice→discard  `sluice run` into `destination: {type: discard}` (read + map only)

  field program   the job's field program alone over N loadgen-shaped records (sluice-bench-mapping --window)
  MaxCompute enc. tunnel block encoding alone of N 10-column rows (maxcompute-encode-bench --once)

and reports wall time, CPU time, records/s, MB/s, peak RSS, the 1-minute load average and the ratio to
kcat as a Markdown table appended to Benchmarks/RESULTS.md, with the machine, the date, the verdict per
target and (with --scale) the scale check: the same job at N and 10M records, where time must grow
linearly and peak RSS stay flat.

Every command is checked to process the whole window: kcat's record count (a counting kcat pass) must
equal `sluice run --json`'s read and written counts and the rows the Python baseline wrote; any
mismatch aborts the run.

Run it as `scripts/bench` or `scripts/bench harness` (Benchmarks/bench.py builds the binaries and calls
`harness` here): [--records 1000000] [--repeat 3] [--scale [--scale-repeat R]] [--no-python] [--quick].
"""
import datetime
import json
import os
import platform
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAY_START_MS = 1669075200000  # 2022-11-22T00:00:00Z
HOUR_MS = 3600 * 1000


def measure(argv, capture=False):
    """Runs argv; returns (wall s, cpu s, peak RSS MB, 1-min load before, stdout) from wait4.
    stdout goes to /dev/null unless captured (into a temporary file, so a full pipe never stalls it)."""
    load = os.getloadavg()[0]
    out = tempfile.TemporaryFile() if capture else subprocess.DEVNULL
    err = tempfile.TemporaryFile()
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdout=out, stderr=err)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err.seek(0)
    if p.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {p.returncode}):\n{err.read().decode(errors='replace')}")
    text = ""
    if capture:
        out.seek(0)
        text = out.read().decode(errors="replace")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0, load, text


def check(name, what, got, want):
    if got != want:
        raise SystemExit(f"VERIFICATION FAILED: {name}: {what} = {got}, expected {want} (kcat's count of the window)")


def verify_sluice(name, text, n):
    """`sluice run --json` must have read and written exactly the window kcat counted. Returns the
    run's phases (seconds of set-up, destination check, plan, open, read, commit, finish)."""
    try:
        report = json.loads(text)
    except ValueError:
        raise SystemExit(f"VERIFICATION FAILED: {name}: `sluice run --json` printed no JSON:\n{text[:2000]}")
    check(name, "status", report.get("status"), "succeeded")
    check(name, "records.read", report["records"]["read"], n)
    check(name, "records.written", report["records"]["written"], n)
    check(name, "records.dirty", report["records"]["dirty"], 0)
    return report.get("phases") or {}


def verify_baseline(db, partition, n):
    c = sqlite3.connect(db)
    try:
        got = c.execute("SELECT count(*) FROM ods_events WHERE ds = ?", (partition,)).fetchone()[0]
    finally:
        c.close()
    check("python baseline", "rows in its partition", got, n)


def component(argv, name):
    """A component benchmark that prints `records=N bytes=B wall=S cpu=S`: its own timing of the work
    (without data set-up), peak RSS from wait4."""
    _, _, rss, load, text = measure(argv, capture=True)
    m = re.search(r"records=(\d+) bytes=(\d+) wall=([\d.e+-]+) cpu=([\d.e+-]+)", text)
    if not m:
        raise SystemExit(f"{name}: unexpected output {text!r}")
    return int(m.group(1)), int(m.group(2)), (float(m.group(3)), float(m.group(4)), rss, load)


def start_broker(sluice, work, topic="events:3", kafka_version=None):
    """`sluice dev-kafka` on a free port with `topic` (NAME:PARTITIONS); returns (process, HOST:PORT)."""
    # stderr to a file: an unread pipe would stall the broker once it fills.
    log = open(os.path.join(work, "broker.log"), "w+")
    version = ["--kafka-version", kafka_version] if kafka_version else []
    p = subprocess.Popen([sluice, "dev-kafka", "--port", "0", "--topic", topic] + version,
                         stdout=subprocess.PIPE, stderr=log, text=True)
    line = p.stdout.readline()
    m = re.match(r"ready (\S+):(\d+)", line)
    if not m:
        p.kill()
        log.seek(0)
        raise SystemExit(f"dev-kafka did not start: {line}{log.read()}")
    return p, f"{m.group(1)}:{m.group(2)}"


def stop_broker(p):
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def write_job(path, servers, dest, url=None):
    destination = {
        "sqlite": "  type: sqlite\n  path: warehouse.db\n",
        "discard": "  type: discard\n",
        "postgresql": f"  type: postgresql\n  url: {url}\n",
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
    # Streamed, never held: the harness must stay small, because a child's ru_maxrss (wait4) starts
    # from the RSS of the process that forked it.
    p = subprocess.Popen(["kcat", "-C", "-b", servers, "-t", "events", "-o", f"s@{start_ms}", "-o", f"e@{end_ms}",
                          "-e", "-q", "-f", "%S\n"], stdout=subprocess.PIPE)
    n = total = 0
    for line in p.stdout:
        n += 1
        if line[:1] != b"-":
            total += int(line)
    if p.wait() != 0:
        raise SystemExit("kcat could not count the window")
    return n, total


def run_suite(sluice, servers, work, records, repeat, python):
    """The window commands, alternated, best of `repeat` by wall time; each sample verified."""
    windows = [("1 hour", DAY_START_MS + 10 * HOUR_MS, DAY_START_MS + 11 * HOUR_MS),
               ("24 hours", DAY_START_MS, DAY_START_MS + 24 * HOUR_MS)]
    for dest in ("sqlite", "discard"):
        write_job(os.path.join(work, f"{dest}.yaml"), servers, dest)
    results = []
    for label, s, e in windows:
        n, value_bytes = count_window(servers, s, e)
        expected = records if label == "24 hours" else records // 24
        if n == 0 or abs(n - expected) > max(3, expected // 100):
            raise SystemExit(f"VERIFICATION FAILED: kcat counts {n} records in the {label} window, expected about {expected}")
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
                if name == "python baseline" and os.path.exists(os.path.join(work, "baseline.db")):
                    os.remove(os.path.join(work, "baseline.db"))
                wall, cpu, rss, load, text = measure(argv, capture=name.startswith("sluice"))
                phases = None
                if name.startswith("sluice"):
                    phases = verify_sluice(f"{name} ({label})", text, n)
                elif name == "python baseline":
                    verify_baseline(os.path.join(work, "baseline.db"), ms_to_compact(s)[:10], n)
                samples[name].append((wall, cpu, rss, load, phases))
                print(f"  {records:,} {label:8} {name:18} {wall:7.2f}s wall {cpu:7.2f}s CPU {rss:6.0f} MB  load {load:.2f}",
                      file=sys.stderr, flush=True)
        for name, _ in commands:
            best = min(samples[name], key=lambda x: x[0])
            results.append((records, label, n, value_bytes, name, best))
    return results


def run_components(bins, records, repeat):
    """The field program alone and MaxCompute block encoding alone, N records each, best of `repeat`."""
    results = []
    for name, argv in (("field program", [bins["mapping"], "--window", str(records)]),
                       ("MaxCompute encoding", [bins["maxcompute"], str(records), "--once"])):
        samples = []
        for _ in range(repeat):
            n, nbytes, sample = component(argv, name)
            samples.append((n, nbytes, sample))
            print(f"  {records:,} {'—':8} {name:18} {sample[0]:7.2f}s wall {sample[1]:7.2f}s CPU {sample[2]:6.0f} MB",
                  file=sys.stderr, flush=True)
        n, nbytes, best = min(samples, key=lambda x: x[2][0])
        results.append((records, "— (component)", n, nbytes, name, best))
    return results


def table(results):
    lines = ["| records loaded | window | records | command | wall s | CPU s | records/s | MB/s | peak RSS MB | load 1m | × kcat wall |",
             "|---:|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    kcat = {(r[0], r[1]): r[5][0] for r in results if r[4] == "kcat"}
    for records, label, n, vbytes, name, (wall, cpu, rss, load, *_) in results:
        # Components are compared with kcat reading the 24-hour window (all N records).
        base = kcat.get((records, "24 hours" if label.startswith("—") else label))
        ratio = f"{wall / base:.2f}" if base else "—"
        lines.append(f"| {records:,} | {label} | {n:,} | {name} | {wall:.2f} | {cpu:.2f} | {n / wall:,.0f} | "
                     f"{vbytes / wall / 1e6:.1f} | {rss:.0f} | {load:.2f} | {ratio} |")
    return "\n".join(lines)


PHASES = ("setup", "destination", "plan", "open", "read", "commit", "finish")


def phase_table(results):
    """Where the best `sluice run` samples spent their time, from `sluice run --json`'s `phases`.
    `open` overlaps `read` (the partition is opened while the first records are read)."""
    rows = [r for r in results if r[4].startswith("sluice") and len(r[5]) > 4 and r[5][4]]
    if not rows:
        return ""
    lines = ["| records loaded | window | command | " + " | ".join(f"{p} s" for p in PHASES) + " |",
             "|---:|---|---|" + "---:|" * len(PHASES)]
    for records, label, _, _, name, sample in rows:
        ph = sample[4]
        lines.append(f"| {records:,} | {label} | {name} | "
                     + " | ".join(f"{ph[p]:.3f}" if p in ph else "—" for p in PHASES) + " |")
    return "\n".join(lines)


def verdicts(results, records, scale_size):
    """One line per target, from the measured rows."""
    get = {(r[0], r[1], r[4]): r for r in results}
    lines = []

    def wall(size, label, name):
        r = get.get((size, label, name))
        return r[5][0] if r else None

    for label in ("1 hour", "24 hours"):
        k = wall(records, label, "kcat")
        for name, limit in (("sluice → discard", 1.2), ("sluice → sqlite", 2.0)):
            w = wall(records, label, name)
            if k and w:
                ok = w <= limit * k
                lines.append(f"- {'MET' if ok else 'MISSED'}: {name} ≤ {limit}× kcat wall ({label}, {records:,} records): "
                             f"{w / k:.2f}× ({w:.2f} s vs {k:.2f} s)")
        p = get.get((records, label, "python baseline"))
        q = get.get((records, label, "sluice → sqlite"))
        if p and q:
            ratio = p[5][0] / q[5][0]
            lines.append(f"- {'MET' if ratio >= 10 else 'MISSED'}: sluice → sqlite ≥ 10× the Python baseline's records/s "
                         f"({label}): {ratio:.1f}×")
    big = scale_size if scale_size else (records if records >= 10_000_000 else None)
    if big:
        rss = max((r[5][2] for r in results if r[0] == big and r[4].startswith("sluice")), default=None)
        if rss is not None:
            lines.append(f"- {'MET' if rss <= 150 else 'MISSED'}: peak RSS of sluice run ≤ 150 MB at {big:,} records: {rss:.0f} MB")
    else:
        lines.append("- peak RSS at 10M records: not measured in this run (use --scale or --records 10000000)")
    if scale_size:
        for name in ("sluice → discard", "sluice → sqlite"):
            a, b = get.get((records, "24 hours", name)), get.get((scale_size, "24 hours", name))
            if not (a and b):
                continue
            per_a, per_b = a[5][0] / a[2], b[5][0] / b[2]
            time_ratio = per_b / per_a
            rss_a, rss_b = a[5][2], b[5][2]
            linear = time_ratio <= 1.25
            flat = rss_b <= rss_a * 1.25 + 10
            lines.append(f"- scale check {name} ({records:,} → {scale_size:,} records, 24-hour window): time per record "
                         f"×{time_ratio:.2f} ({'linear' if linear else 'NOT linear'}, limit ×1.25); peak RSS "
                         f"{rss_a:.0f} → {rss_b:.0f} MB ({'flat' if flat else 'NOT flat'}, limit ×1.25 + 10 MB): "
                         f"{'PASS' if linear and flat else 'FAIL'}")
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


def cpu_times():
    """The machine's aggregate CPU counters from /proc/stat (user … steal), or None."""
    try:
        with open("/proc/stat") as f:
            return [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None


def steal_percent(before, after):
    """Share of CPU time the hypervisor gave to other guests between two `cpu_times()` readings: on a
    virtual machine, a CPU-bound command slows by about that much, so runs on different days compare
    only at similar steal."""
    if not before or not after:
        return None
    delta = [b - a for a, b in zip(before, after)]
    return 100.0 * delta[7] / sum(delta) if sum(delta) > 0 else None


def uptime():
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def harness(o, sluice, bins):
    """Runs the suite (and with `o.scale` again at 10M records) and reports it. `o` holds records, repeat,
    scale, scale_repeat, no_python, results and quick; `bins` the paths of sluice-bench-mapping and
    maxcompute-encode-bench. A --quick run is printed, not appended to the results."""
    if not shutil.which("kcat"):
        raise SystemExit("kcat is not installed: run scripts/install-deps")
    scale_size = 10_000_000 if o.scale and o.records != 10_000_000 else None
    sizes = [o.records] + ([scale_size] if scale_size else [])
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = uptime()
    cpu_before = cpu_times()
    all_results = []
    for n in sizes:
        repeat = o.repeat if n == o.records else (o.scale_repeat or o.repeat)
        work = tempfile.mkdtemp(prefix="sluice-bench-")
        broker, servers = start_broker(sluice, work)
        try:
            subprocess.run([sluice, "loadgen", "--bootstrap-servers", servers, "--topic", "events",
                            "--records", str(n), "--span", "24h"], check=True, stdout=sys.stderr)
            all_results += run_suite(sluice, servers, work, n, repeat, not o.no_python and n <= 1_000_000)
        finally:
            stop_broker(broker)
            shutil.rmtree(work, ignore_errors=True)
        all_results += run_components(bins, n, repeat)

    flags = f"--records {o.records} --repeat {o.repeat}" + (" --scale" if o.scale else "") \
        + (f" --scale-repeat {o.scale_repeat}" if o.scale and o.scale_repeat else "") + (" --no-python" if o.no_python else "")
    steal = steal_percent(cpu_before, cpu_times())
    stolen = f"CPU time stolen by the hypervisor during the run: {steal:.0f}%. " if steal is not None else ""
    report = [f"\n## {started.strftime('%Y-%m-%d %H:%M')} UTC — {machine()}\n",
              f"`scripts/bench {flags}` (best of the rounds by wall time, window commands alternated; every "
              f"command verified to process the whole window). Load before: `{load_before}`; after: `{uptime()}`. "
              f"{stolen}"
              f"Harness peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB (a floor under "
              f"every peak RSS below: wait4 counts the forked copy).\n",
              table(all_results), "",
              "Phases of the best `sluice run` samples (from `--json`; `open` overlaps `read`):", "",
              phase_table(all_results), "", "Targets:", "", verdicts(all_results, o.records, scale_size), ""]
    text = "\n".join(report)
    print(text)
    if o.quick:
        print(f"(--quick: not appended to {os.path.relpath(o.results)})")
        return
    with open(o.results, "a") as f:
        f.write(text + "\n")

"""The component benchmarks `scripts/bench` runs besides the harness (Benchmarks/run.py). Each prints its
figures and, where it has one, the ratio to a baseline measured in the same run; each exits with an
error when a check fails (a wrong record count, a failed command).

Every function takes the parsed options `o`, the built binaries `bins` (name → path; "sluice" among them)
and the extra arguments for the benchmark executable (after `--`)."""
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

from run import measure, start_broker, stop_broker, verify_sluice, write_job

HERE = os.path.dirname(os.path.abspath(__file__))
VALUE_SIZE = 200  # bytes per record value in the Kafka benchmarks


def need_kcat():
    if not shutil.which("kcat"):
        raise SystemExit("kcat is not installed: run scripts/install-deps")


def produce(servers, topic, records, size, partition=None):
    """Loads `records` values of `size` bytes ("%010d" then x's) with kcat, in batches of up to 10,000."""
    where = ["-p", str(partition)] if partition is not None else []
    kcat = subprocess.Popen(["kcat", "-b", servers, "-P", "-t", topic] + where
                            + ["-X", "linger.ms=50", "-X", "batch.num.messages=10000",
                               "-X", "queue.buffering.max.messages=1000000"], stdin=subprocess.PIPE)
    pad = "x" * size
    for first in range(0, records, 100_000):
        chunk = "".join(f"{i:010d}{pad[10:]}\n" for i in range(first, min(first + 100_000, records)))
        kcat.stdin.write(chunk.encode())
    kcat.stdin.close()
    if kcat.wait() != 0:
        raise SystemExit(f"kcat could not load {records} records into {topic}")


def count(argv):
    """Lines printed by a kcat consumer (streamed, never held)."""
    p = subprocess.Popen(argv, stdout=subprocess.PIPE)
    n = sum(1 for _ in p.stdout)
    if p.wait() != 0:
        raise SystemExit(f"{' '.join(argv)} failed")
    return n


def reader(o, bins, extra):
    """The Kafka window reader (sluice-reader-bench, into a counter) against kcat reading the same window
    to /dev/null, alternating, from the same `sluice dev-kafka`. Goal: reader ≤ 1.1 × kcat wall."""
    need_kcat()
    records = o.records or (200_000 if o.quick else 10_000_000)
    rounds = o.repeat or (1 if o.quick else 5)
    version = o.kafka_version or "2.2"
    work = tempfile.mkdtemp(prefix="sluice-bench-reader-")
    broker, servers = start_broker(bins["sluice"], work, topic="bench:3", kafka_version=version)
    try:
        start = int(time.time() * 1000) - 1
        produce(servers, "bench", records, VALUE_SIZE)
        end = int(time.time() * 1000) + 1
        window = ["-o", f"s@{start}", "-o", f"e@{end}", "-e", "-q"]
        counted = count(["kcat", "-b", servers, "-C", "-t", "bench"] + window + ["-f", "%p\n"])
        if counted != records:
            raise SystemExit(f"VERIFICATION FAILED: kcat reads {counted} records of the window, expected {records}")
        samples = []
        for r in range(1, rounds + 1):
            k, kcpu, *_ = measure(["kcat", "-b", servers, "-C", "-t", "bench"] + window + ["-f", "%s\n"])
            w, wcpu, _, _, text = measure([bins["sluice-reader-bench"], "--bootstrap", servers, "--topic", "bench",
                                           "--start", str(start), "--end", str(end)] + extra, capture=True)
            got = int(re.search(r'"records":(\d+)', text).group(1))
            if got != records:
                raise SystemExit(f"VERIFICATION FAILED: the reader read {got} records, expected {records}")
            print(f"round {r}: wall kcat {k:.2f} s, reader {w:.2f} s (process start to exit), ratio {w / k:.3f}; "
                  f"CPU kcat {kcpu:.2f} s, reader {wcpu:.2f} s\n  {text.strip()}", flush=True)
            samples.append((k, w, kcpu, wcpu))
    finally:
        stop_broker(broker)
        shutil.rmtree(work, ignore_errors=True)
    k, w = min(s[0] for s in samples), min(s[1] for s in samples)
    print(f"dev-kafka {version}, {records:,} records of {VALUE_SIZE} bytes in 3 partitions, {rounds} rounds:")
    print(f"  kcat   best {k:.2f} s  {records / k:,.0f} records/s   median CPU {statistics.median(s[2] for s in samples):.2f} s")
    print(f"  reader best {w:.2f} s  {records / w:,.0f} records/s   median CPU {statistics.median(s[3] for s in samples):.2f} s")
    print(f"  reader/kcat wall: best/best {w / k:.3f}, median of rounds "
          f"{statistics.median(s[1] / s[0] for s in samples):.3f}  (goal <= 1.1)")


def process_cpu(pid):
    """User + system CPU seconds of a running process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def dev_kafka(o, bins, extra):
    """kcat consuming N records of 200 bytes from one partition of `sluice dev-kafka`: records/s, MB/s, and
    the broker's CPU seconds against kcat's in the same run (stored batches are served as they are)."""
    need_kcat()
    records = o.records or (100_000 if o.quick else 1_000_000)
    version = o.kafka_version or "2.2"
    work = tempfile.mkdtemp(prefix="sluice-bench-dev-kafka-")
    broker, servers = start_broker(bins["sluice"], work, topic="bench:1", kafka_version=version)
    try:
        produce(servers, "bench", records, VALUE_SIZE, partition=0)
        consume = ["kcat", "-b", servers, "-C", "-t", "bench", "-p", "0", "-o", "beginning", "-e", "-q", "-f", "%s\n"]
        before = process_cpu(broker.pid)
        wall, kcat_cpu, *_ = measure(consume)
        broker_cpu = process_cpu(broker.pid) - before
        counted = count(consume)  # not timed: the figures are for the whole log
    finally:
        stop_broker(broker)
        shutil.rmtree(work, ignore_errors=True)
    if counted != records:
        raise SystemExit(f"VERIFICATION FAILED: kcat read {counted} records, expected {records}")
    print(f"dev-kafka {version}: kcat consumed {records:,} records of {VALUE_SIZE} bytes ({counted:,} counted)")
    print(f"  wall {wall:.2f} s, {records / wall:,.0f} records/s, {records * VALUE_SIZE / wall / 1e6:.1f} MB/s")
    ratio = f"{broker_cpu / kcat_cpu:.2f}" if kcat_cpu > 0 else "—"
    print(f"  CPU seconds: broker {broker_cpu:.2f}, kcat {kcat_cpu:.2f}; broker/kcat CPU {ratio}")


def output(argv):
    """stdout of a command that must succeed."""
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed (exit {r.returncode}):\n{r.stderr}")
    return r.stdout.strip()


def maxcompute(o, bins, extra):
    """MaxCompute tunnel record-stream encoding of a 10-column row (and with deflate), best of 3, against
    pyodps's Cython record writer on the same rows (a tenth as many: it is slower) in the same run."""
    rows = o.records or (100_000 if o.quick else 2_000_000)
    bench = bins["maxcompute-encode-bench"]
    ours = output([bench, str(rows)] + extra)
    print(f"sluice encoder:            {ours}")
    print(f"sluice encoder + deflate:  {output([bench, str(rows), '--deflate'] + extra)}")
    if subprocess.run([sys.executable, "-c", "import odps"], capture_output=True).returncode != 0:
        print("pyodps is not installed (scripts/install-deps): no baseline in this run")
        return
    theirs = output([sys.executable, os.path.join(HERE, "pyodps_writer_bench.py"), str(max(rows // 10, 10_000))])
    print(f"pyodps RecordWriter:       {theirs}")
    rate = lambda text: float(re.search(r"([\d.]+) MB/s of record stream", text).group(1))
    print(f"ratio: the sluice encoder is {rate(ours) / rate(theirs):.1f}x pyodps's record writer (MB/s of record stream)")


def scheduling(o, bins, extra):
    """Compiled scheduling expressions against Foundation's DateFormatter, and listing one year of
    1-minute instances (the executable prints the ratio)."""
    argv = [bins["scheduling-benchmark"], o.zone or "Asia/Shanghai"] + (["--quick"] if o.quick else []) + extra
    print(output(argv))


def mapping(o, bins, extra):
    """The field program against Foundation's JSONSerialization doing the same extraction (the executable
    prints the ratio), then JSON against Avro and Protobuf values of the same records (`--formats`); options of the
    executable after `--` (--breakdown, --variant NAME, --only …, --formats [paths])."""
    argv = [bins["sluice-bench-mapping"]]
    if o.seconds:
        argv += ["--seconds", str(o.seconds)]
    elif o.quick:
        argv += ["--seconds", "0.2"]
    if o.quick:
        argv += ["--records", "2000"]
    print(output(argv + extra))
    if not extra:
        # The same logical records as JSON, Avro and Protobuf (the target: each ≥ 0.5× JSON's records/s).
        print(output(argv + ["--formats"]))


def warehouse(o, bins, extra):
    """SQLite warehouse insert throughput: three overwrites of N demo-shaped rows (no baseline)."""
    rows = o.records or (100_000 if o.quick else 1_000_000)
    print(output([bins["warehouse-insert-bench"], str(rows)] + extra))


def start_postgres(work):
    """A private PostgreSQL server (Debian's, as the `postgres` user) on a free port under `work`;
    returns (process, URL). Waits for its readiness line, no sleeps."""
    import glob
    import socket
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    if not bins:
        raise SystemExit("PostgreSQL is not installed: run scripts/install-deps")
    bindir = os.path.dirname(bins[-1])
    root = os.path.join(work, "pg")
    os.makedirs(root)
    with open(os.path.join(root, "pw"), "w") as f:
        f.write("bench")
    subprocess.run(["chown", "-R", "postgres:postgres", work], check=True)
    subprocess.run(["runuser", "-u", "postgres", "--", os.path.join(bindir, "initdb"), "-D", root + "/data",
                    "-U", "bench", "--pwfile", root + "/pw", "--auth=scram-sha-256", "-E", "UTF8", "--no-locale",
                    "--no-sync"], check=True, capture_output=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    p = subprocess.Popen(["runuser", "-u", "postgres", "--", os.path.join(bindir, "postgres"), "-D", root + "/data",
                          "-p", str(port), "-k", root, "-c", "listen_addresses=127.0.0.1", "-c", "max_connections=200"],
                         stderr=subprocess.PIPE, text=True)
    for line in p.stderr:
        if "ready to accept connections" in line:
            break
    else:
        raise SystemExit("PostgreSQL did not start")
    p.stderr.close()
    return p, f"postgresql://bench:bench@127.0.0.1:{port}/postgres"


def bench_postgres(work):
    """`start_postgres` with a database `bench`, the password moved to PGPASSWORD (as a job would have
    it: the URLs carry none). Returns (process, base URL without the database, psql(sql, db="bench") → its
    unaligned output, the psql binary)."""
    server, admin = start_postgres(work)
    os.environ["PGPASSWORD"] = re.match(r"postgresql://[^:]+:([^@]+)@", admin).group(1)
    base = re.sub(r"//([^:]+):[^@]+@", r"//\1@", admin).rsplit("/", 1)[0]
    psql_bin = shutil.which("psql") or "/usr/bin/psql"

    def psql(sql, db="bench"):
        return output([psql_bin, f"{base}/{db}", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-q", "-c", sql])

    psql("CREATE DATABASE bench", db="postgres")
    return server, base, psql, psql_bin


def stop_postgres(p):
    p.terminate()
    p.wait(timeout=30)


def ledger(o, bins, extra):
    """The ledger's cost per instance on SQLite and PostgreSQL, with one and three clients (ledger-bench);
    then three `sluice scheduler` processes sharing a PostgreSQL ledger catching up a minute job of N
    instances against one scheduler doing the same: wall seconds per instance."""
    instances = o.records or (200 if o.quick else 2000)
    work = tempfile.mkdtemp(prefix="sluice-bench-ledger-")
    pg, url = start_postgres(work)
    try:
        subprocess.run([bins["ledger-bench"], "--state-dir", os.path.join(work, "state"), "--postgres", url,
                        "--instances", str(instances)] + extra, check=True)
        catch_up = 10 if o.quick else 60
        one = schedulers_catch_up(bins["sluice"], work, url, catch_up, count=1)
        three = schedulers_catch_up(bins["sluice"], work, url, catch_up, count=3)
        print(f"scheduler catch-up of {catch_up + 1} minute instances into discard (PostgreSQL ledger):")
        print(f"  1 scheduler:  {one:.2f} s ({one / (catch_up + 1) * 1000:.0f} ms/instance)")
        print(f"  3 schedulers: {three:.2f} s ({three / (catch_up + 1) * 1000:.0f} ms/instance); 3 / 1: {three / one:.2f}x")
    finally:
        stop_postgres(pg)
        shutil.rmtree(work, ignore_errors=True)


def schedulers_catch_up(sluice, work, url, minutes, count):
    """Seconds until `count` schedulers on a fresh database of `url` have run every instance of a
    minute job first seen `minutes` minutes ago (an empty window each, into the discard destination)."""
    db = f"catchup{count}"
    base = url.rsplit("/", 1)[0]
    output(["psql", url, "-q", "-c", f"CREATE DATABASE {db}"])
    ledger_url = f"{base}/{db}"
    run_dir = tempfile.mkdtemp(prefix=f"sched{count}-", dir=work)
    broker, servers = start_broker(sluice, run_dir, topic="events:1")
    job = os.path.join(run_dir, "minutely.yaml")
    with open(job, "w") as f:
        f.write(f"""name: minutely
source: {{ bootstrapServers: "{servers}", topic: events, timeZone: UTC }}
columns: [__offset__]
destination: {{ type: discard, table: t, partition: "ds=${{partition}}", columns: [o] }}
schedule:
  cycle: minute
  timeZone: UTC
  parameters: {{ startTime: "$[yyyymmddhh24mi-1/24/60]00", endTime: "$[yyyymmddhh24mi]00", partition: "$[yyyymmddhh24mi]" }}
""")
    env = dict(os.environ, SLUICE_LEDGER=ledger_url)
    subprocess.run([sluice, "instance", "list", "--state-dir", run_dir], env=env, check=True,
                   capture_output=True)  # creates the schema
    first_ms = (int(time.time()) // 60 - minutes) * 60_000
    output(["psql", ledger_url, "-q", "-c",
            f"INSERT INTO jobs (job, path, first_seen_ms, updated_at_ms) VALUES ('minutely', '{job}', {first_ms}, {first_ms})"])
    start = time.monotonic()
    procs = [subprocess.Popen([sluice, "scheduler", job, "--state-dir", os.path.join(run_dir, f"s{i}"), "--poll-interval",
                               "0.2", "--max-parallel", "4"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
             for i in range(count)]
    try:
        while True:
            done = int(output(["psql", ledger_url, "-Atq", "-c", "SELECT count(*) FROM instances WHERE status = 'succeeded'"]))
            if done >= minutes + 1:
                break
            if time.monotonic() - start > 600:
                raise SystemExit(f"{count} scheduler(s) ran {done} of {minutes + 1} instances in 600 s")
            time.sleep(0.2)
        return time.monotonic() - start
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(timeout=60)
        stop_broker(broker)


def console(o, bins, extra):
    """`sluice serve` under 200 concurrent wrk clients on the instances page of a ledger of N instances
    (default 100,000): p50/p99 latency, requests/s and errors, per page; appended to RESULTS.md."""
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed: run scripts/install-deps")
    instances = o.records or (10_000 if o.quick else 100_000)
    seconds = int(o.seconds or (5 if o.quick else 20))
    work = tempfile.mkdtemp(prefix="sluice-bench-console-")
    try:
        state = console_ledger(bins["sluice"], work, instances)
        rows = []
        for cache in ("1", "0"):
            serve, base = start_console(bins["sluice"], state, cache)
            try:
                paths = ["/instances", "/instances?page=500", "/instances?job=job_3&status=failed", "/api/instances"]
                for path in paths if cache == "1" else paths[:1]:
                    rows.append((path, cache) + wrk(base + path, seconds))
                if cache == "0":
                    metrics_ms = scrape_ms(base + "/metrics")
            finally:
                serve.terminate()
                serve.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report_console(o, instances, seconds, rows, metrics_ms)


def scrape_ms(url, rounds=3):
    """The median milliseconds of a GET of `url` (each one computed: the server reuses nothing)."""
    import urllib.request
    times = []
    for _ in range(rounds):
        started = time.monotonic()
        with urllib.request.urlopen(url, timeout=60) as r:
            if r.status != 200 or b"sluice_instances" not in r.read():
                raise SystemExit(f"VERIFICATION FAILED: {url} did not answer the metrics")
        times.append((time.monotonic() - started) * 1000)
    return statistics.median(times)


def console_ledger(sluice, work, instances):
    """A ledger made by `sluice run` (a job whose password file is missing fails at once and is recorded),
    then filled with `instances` instances of five jobs and their attempts straight through SQLite."""
    import sqlite3
    job = os.path.join(work, "fails.yaml")
    with open(job, "w") as f:
        f.write("name: job_0\nsource:\n  bootstrapServers: 127.0.0.1:1\n  topic: events\n  timeZone: UTC\n"
                "  kafkaConfig: { security.protocol: SASL_PLAINTEXT, sasl.mechanism: PLAIN, sasl.username: u,"
                " sasl.password: \"${file:missing}\" }\ncolumns: [__key__]\ndestination:\n  path: w.db\n  table: t\n"
                "  partition: \"ds=${partition}\"\n  columns: [k]\nschedule:\n  cycle: hour\n  start: \"00:05\"\n"
                "  parameters:\n    startTime: \"$[yyyymmddhh24-1/24]0000\"\n    endTime: \"$[yyyymmddhh24]0000\"\n"
                "    partition: \"$[yyyymmddhh24]\"\n")
    subprocess.run([sluice, "run", job, "--at", "2020-01-01 00:05"], capture_output=True)
    state = os.path.join(work, ".sluice")
    db = sqlite3.connect(os.path.join(state, "ledger.db"))
    start = 1_577_840_400_000  # 2020-01-01 01:00 UTC
    statuses = ["succeeded"] * 18 + ["failed", "dryRun"]
    def row(i):
        at = start + (i // 5) * 3_600_000
        status = statuses[i % len(statuses)]
        return (f"job_{i % 5}", at, "20200101", '{"partition":"x"}', at - 3_600_000, at, f"ds={i}", status, 1, at, at,
                at + 4_000, 1000, 998, 2, 3, None if status != "failed" else "kafka: the brokers did not answer")
    db.executemany("INSERT INTO instances (job, scheduled_at_ms, business_date, parameters, window_start_ms, window_end_ms,"
                   " partition, status, attempts, created_at_ms, started_at_ms, finished_at_ms, records_read,"
                   " records_written, records_dirty, records_late, error) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                   (row(i) for i in range(instances)))
    db.execute("INSERT INTO attempts (instance_id, attempt, launched_by, host, pid, started_at_ms, finished_at_ms, status,"
               " records_read, records_written, records_dirty, records_late) SELECT id, 1, 'bench', 'localhost', 1,"
               " started_at_ms, finished_at_ms, status, records_read, records_written, records_dirty, records_late"
               " FROM instances WHERE id NOT IN (SELECT instance_id FROM attempts)")
    db.commit()
    count = db.execute("SELECT COUNT(*) FROM instances").fetchone()[0]
    db.close()
    if count != instances + 1:
        raise SystemExit(f"VERIFICATION FAILED: the ledger holds {count} instances, expected {instances + 1}")
    return state


def start_console(sluice, state, cache):
    """`sluice serve` on a free loopback port; returns the process and its base URL."""
    serve = subprocess.Popen([sluice, "serve", "--state-dir", state, "--listen", "127.0.0.1:0", "--tz", "UTC",
                              "--cache-seconds", cache], stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = serve.stderr.readline()
        m = re.search(r"listening on (http://[0-9.]+:\d+)/", line)
        if m:
            threading_drain(serve.stderr)
            return serve, m.group(1)
        if not line and serve.poll() is not None:
            break
    serve.kill()
    raise SystemExit("sluice serve did not say where it listens")


def threading_drain(stream):
    """Reads a child's remaining output in the background, so that it never blocks on a full pipe."""
    import threading
    threading.Thread(target=lambda: [None for _ in stream], daemon=True).start()


def wrk(url, seconds):
    """wrk with 200 connections on 2 threads: (p50 ms, p99 ms, requests/s, errors)."""
    out = output(["wrk", "-t2", "-c200", f"-d{seconds}s", "--latency", "--timeout", "10s", url])
    def ms(label):
        m = re.search(rf"^\s*{label}%\s+([0-9.]+)(us|ms|s)\s*$", out, re.M)
        if not m:
            raise SystemExit(f"wrk printed no {label}% latency:\n{out}")
        return float(m.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[m.group(2)]
    rate = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))
    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return ms("50"), ms("99"), rate, errors + (int(non2xx.group(1)) if non2xx else 0)


def report_console(o, instances, seconds, rows, metrics_ms):
    print(f"console: {instances:,} instances (+1), 200 connections, {seconds} s per page")
    print(f"  /metrics computed from the ledger: {metrics_ms:.0f} ms (median of 3, no load)")
    lines = ["| page | answers reused | p50 ms | p99 ms | requests/s | errors |", "|---|---|---:|---:|---:|---:|"]
    for path, cache, p50, p99, rate, errors in rows:
        print(f"  {path:40} cache {cache}s  p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  {rate:8.0f} req/s  errors {errors}")
        reuse = f"up to {cache} s" if cache != "0" else "no (requests in flight at once share one computation)"
        lines.append(f"| `{path}` | {reuse} | {p50:.2f} | {p99:.2f} | {rate:,.0f} | {errors} |")
    target = rows[0][3] < 100 and all(r[5] == 0 for r in rows)
    verdict = f"{'MET' if target else 'MISSED'}: the instances page p99 under 100 ms with no errors ({rows[0][3]:.1f} ms)"
    print("  " + verdict)
    if o.quick:
        return
    load = output(["uptime"])
    with open(o.results, "a") as f:
        f.write(f"\n\n## {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} — console load, {os.cpu_count()} cores\n\n"
                f"`scripts/bench console` (wrk -t2 -c200 -d{seconds}s on the same machine as `sluice serve`, release build; "
                f"a ledger of {instances:,} instances of 5 jobs in SQLite). Load after: `{load}`.\n\n"
                + "\n".join(lines) + f"\n\n- {verdict}\n- `/metrics` computed from the ledger of {instances:,} instances: "
                f"{metrics_ms:.0f} ms (median of 3 scrapes, no load; a scrape's answer is reused for 5 s)\n")
def server_cpu(postmaster):
    """CPU seconds of the server's postmaster and its ended children (the backends of finished
    connections), from /proc, once the backends of closed connections have been reaped."""
    time.sleep(0.3)
    with open(f"/proc/{postmaster}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def postgresql(o, bins, extra):
    """The PostgreSQL destination: (1) its writer's binary COPY of N demo-shaped rows
    (postgres-copy-bench) against `psql \\copy` of the same rows, exported from the table, in binary and
    in CSV: the floor; (2) `sluice run` of the 24-hour window of N loadgen records into PostgreSQL
    against the same run into the discard destination, alternating. Every load is counted. The server
    (`start_postgres`) keeps PostgreSQL's default settings (fsync on)."""
    rows = o.records or (50_000 if o.quick else 1_000_000)
    rounds = o.repeat or (1 if o.quick else 3)
    work = tempfile.mkdtemp(prefix="sluice-bench-postgresql-")
    server = broker = None
    load = os.getloadavg()
    try:
        server, base, psql, psql_bin = bench_postgres(work)
        url = base + "/bench"
        with open(os.path.join(work, "pg", "data", "postmaster.pid")) as f:
            postmaster = int(f.readline())
        copy = copy_against_psql(bins, url, psql, psql_bin, postmaster, work, rows, rounds)
        broker, servers = start_broker(bins["sluice"], work)
        runs = run_into_postgres(bins, url, psql, postmaster, servers, work, rows, rounds)
    finally:
        if broker:
            stop_broker(broker)
        if server:
            stop_postgres(server)
        shutil.rmtree(work, ignore_errors=True)
    version = re.search(r"\d+\.\d+", output([psql_bin, "--version"])).group(0)
    print(f"\nPostgreSQL {version} (default settings, fsync on), {rows:,} rows, best of {rounds} by wall time; CPU: the "
          f"client's, and the server's backends' (ended connections); load average before {load[0]:.2f}, after "
          f"{os.getloadavg()[0]:.2f}")
    print("\n| what | rows | wall s | client CPU s | server CPU s | rows/s | × floor |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    floor = copy["psql \\copy, binary (floor)"][0]
    for name, (wall, cpu, scpu) in list(copy.items()) + list(runs.items()):
        ratio = f"{wall / floor:.2f}" if not name.startswith("sluice run") else "—"
        print(f"| {name} | {rows:,} | {wall:.2f} | {cpu:.2f} | {scpu:.2f} | {rows / wall:,.0f} | {ratio} |")
    pg, discard = runs["sluice run → postgresql"][0], runs["sluice run → discard"][0]
    print(f"\nsluice run → postgresql: {rows / pg:,.0f} records/s, {pg / discard:.2f}× the wall of → discard "
          f"({rows / discard:,.0f} records/s) on the same window")


def copy_against_psql(bins, url, psql, psql_bin, postmaster, work, rows, rounds):
    """The writer's COPY (a new partition, as `sluice run` fills one) and psql \\copy of the same rows
    into a table like it (its index included), each best of `rounds`: name → (wall, client CPU, server CPU)."""
    best = {}

    def keep(name, sample):
        if name not in best or sample[0] < best[name][0]:
            best[name] = sample

    exported = False
    for r in range(1, rounds + 1):
        psql("DROP TABLE IF EXISTS bench_events; DROP TABLE IF EXISTS _sluice_partitions; DROP TABLE IF EXISTS floor_events")
        before = server_cpu(postmaster)
        text = output([bins["postgres-copy-bench"], url, str(rows)])
        print(text, flush=True)
        m = re.search(r"\(overwrite, new partition\): (\d+) rows in ([\d.]+) s \(commit [\d.]+ s, CPU ([\d.]+) s\)", text)
        if not m or int(m.group(1)) != rows:
            raise SystemExit(f"VERIFICATION FAILED: postgres-copy-bench: {text}")
        # Three writes ran; the server's share of the first is taken as a third.
        keep("writer's binary COPY (postgres-copy-bench)", (float(m.group(2)), float(m.group(3)),
                                                           (server_cpu(postmaster) - before) / 3))
        if not exported:
            for fmt in ("binary", "csv"):
                psql(f"\\copy (SELECT * FROM bench_events WHERE ds = '2022112210') TO '{work}/rows.{fmt}' WITH (FORMAT {fmt})")
            exported = True
        psql("CREATE TABLE floor_events (LIKE bench_events INCLUDING ALL)")
        for fmt in (("binary", "csv") if r % 2 else ("csv", "binary")):
            psql("TRUNCATE floor_events")
            before = server_cpu(postmaster)
            wall, cpu, *_ = measure([psql_bin, url, "-v", "ON_ERROR_STOP=1", "-q",
                                     "-c", f"\\copy floor_events FROM '{work}/rows.{fmt}' WITH (FORMAT {fmt})"])
            scpu = server_cpu(postmaster) - before
            got = int(psql("SELECT count(*) FROM floor_events"))
            if got != rows:
                raise SystemExit(f"VERIFICATION FAILED: psql \\copy ({fmt}) loaded {got} rows, expected {rows}")
            keep(f"psql \\copy, {fmt}" + (" (floor)" if fmt == "binary" else ""), (wall, cpu, scpu))
            print(f"round {r}: psql \\copy {fmt}: {wall:.2f} s wall, {rows / wall:,.0f} rows/s", flush=True)
    return best


def run_into_postgres(bins, url, psql, postmaster, servers, work, rows, rounds):
    """`sluice run` over the 24-hour window of `rows` loadgen records into PostgreSQL (overwrite, a new
    table's partition) and into discard, alternating: name → best (wall, client CPU, server CPU)."""
    subprocess.run([bins["sluice"], "loadgen", "--bootstrap-servers", servers, "--topic", "events",
                    "--records", str(rows), "--span", "24h"], check=True, stdout=sys.stderr)
    params = ["--param", "startTime=20221122000000", "--param", "endTime=20221123000000", "--param", "partition=20221122"]
    best = {}
    for dest in ("discard", "postgresql"):
        write_job(os.path.join(work, f"{dest}.yaml"), servers, dest, url=url)
    for r in range(1, rounds + 1):
        for dest in ("discard", "postgresql"):
            name = f"sluice run → {dest}"
            # Every round the same work: a new table (created by the run), its partition filled.
            psql("DROP TABLE IF EXISTS ods_events")
            before = server_cpu(postmaster)
            wall, cpu, _, _, text = measure([bins["sluice"], "run", os.path.join(work, f"{dest}.yaml"), "--json",
                                             "--create-table", "--replan", "--state-dir", os.path.join(work, f"state-{dest}")]
                                            + params, capture=True)
            phases = verify_sluice(name, text, rows)
            scpu = server_cpu(postmaster) - before if dest == "postgresql" else 0.0
            if dest == "postgresql":
                got = int(psql("SELECT count(*) FROM ods_events WHERE ds = '20221122'"))
                if got != rows:
                    raise SystemExit(f"VERIFICATION FAILED: {name}: the partition holds {got} rows, expected {rows}")
            if name not in best or wall < best[name][0]:
                best[name] = (wall, cpu, scpu)
            shown = ", ".join(f"{k} {v:.2f}" for k, v in phases.items() if k in ("destination", "open", "read", "commit"))
            print(f"round {r}: {name}: {wall:.2f} s wall, {cpu:.2f} s CPU, {rows / wall:,.0f} records/s ({shown})", flush=True)
    return best


def shards(o, bins, extra):
    """Sharded instances: `sluice run` of a 24-hour window of N loadgen records into PostgreSQL and into
    discard, as one process and split into 4 shards run by 1, 2 and 4 `sluice worker` processes (a
    PostgreSQL ledger); then `psql \\copy` (binary) of the partition's rows into a copy of the table: the
    floor. Wall, records/s, and CPU seconds per million records (the coordinator's and the workers'),
    best of `--repeat` rounds; every load is counted."""
    rows = o.records or (100_000 if o.quick else 1_000_000)
    rounds = o.repeat or (1 if o.quick else 2)
    work = tempfile.mkdtemp(prefix="sluice-bench-shards-")
    server = broker = None
    load = os.getloadavg()
    try:
        server, base, psql, psql_bin = bench_postgres(work)
        psql("CREATE DATABASE ledger", db="postgres")
        broker, servers = start_broker(bins["sluice"], work, topic="events:4")
        subprocess.run([bins["sluice"], "loadgen", "--bootstrap-servers", servers, "--topic", "events",
                        "--records", str(rows), "--span", "24h"], check=True, stdout=sys.stderr)
        best = sharded_runs(bins["sluice"], base, psql, servers, work, rows, rounds)
        floor = copy_floor(psql, psql_bin, base, work, rows, rounds)
    finally:
        if broker:
            stop_broker(broker)
        if server:
            stop_postgres(server)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{rows:,} records, 24-hour window, 4 Kafka partitions; best of {rounds} by wall; CPU: sluice run and its "
          f"workers (not the server's); load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}; "
          f"{os.cpu_count()} cores")
    print("\n| destination | processes | wall s | records/s | CPU s per 1M records | wall × one process |")
    print("|---|---|---:|---:|---:|---:|")
    for dest in ("discard", "postgresql"):
        one = best[(dest, 0)][0]
        for workers in (0, 1, 2, 4):
            wall, cpu = best[(dest, workers)]
            who = "one process" if workers == 0 else f"4 shards, {workers} worker(s)"
            print(f"| {dest} | {who} | {wall:.2f} | {rows / wall:,.0f} | {cpu / rows * 1e6:.2f} | {wall / one:.2f} |")
    print(f"| postgresql | psql \\copy binary of the same rows (floor) | {floor:.2f} | {rows / floor:,.0f} | — | {floor / best[('postgresql', 0)][0]:.2f} |")


def sharded_runs(sluice, base, psql, servers, work, rows, rounds):
    """(destination, workers) → best (wall, CPU) of `sluice run`; workers 0 is one process, no shards."""
    params = ["--param", "startTime=20221122000000", "--param", "endTime=20221123000000", "--param", "partition=20221122"]
    for dest in ("discard", "postgresql"):
        write_job(os.path.join(work, f"{dest}.yaml"), servers, dest, url=f"{base}/bench")
    best = {}
    for r in range(1, rounds + 1):
        for dest in ("discard", "postgresql"):
            for workers in (0, 1, 2, 4):
                psql("DROP TABLE IF EXISTS ods_events")
                procs = [subprocess.Popen([sluice, "worker", "--ledger", f"{base}/ledger", "--id", f"w{i}", "--poll-interval", "0.05"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for i in range(workers)]
                try:
                    shard = ["--ledger", f"{base}/ledger", "--shards", "4", "--worker-wait", "60"] if workers else \
                        ["--state-dir", os.path.join(work, "state")]
                    before = sum(process_cpu(p.pid) for p in procs)
                    wall, cpu, _, _, text = measure([sluice, "run", os.path.join(work, f"{dest}.yaml"), "--json", "--replan",
                                                     "--create-table"] + shard + params, capture=True)
                    cpu += sum(process_cpu(p.pid) for p in procs) - before
                finally:
                    for p in procs:
                        p.terminate()
                        p.wait(timeout=60)
                verify_sluice(f"{dest}, {workers} workers", text, rows)
                if dest == "postgresql":
                    got = int(psql("SELECT count(*) || '' FROM ods_events WHERE ds = '20221122'"))
                    if got != rows:
                        raise SystemExit(f"VERIFICATION FAILED: {dest}, {workers} workers: {got} rows, expected {rows}")
                key = (dest, workers)
                if key not in best or wall < best[key][0]:
                    best[key] = (wall, cpu)
                print(f"round {r}: {dest}, {workers or 'no'} worker(s): {wall:.2f} s wall, {cpu:.2f} s CPU, "
                      f"{rows / wall:,.0f} records/s", flush=True)
    return best


def copy_floor(psql, psql_bin, base, work, rows, rounds):
    """psql \\copy (binary) of the partition's rows, exported from the table, into a copy of it: best wall."""
    psql(f"\\copy (SELECT * FROM ods_events WHERE ds = '20221122') TO '{work}/rows.bin' WITH (FORMAT binary)")
    best = None
    for _ in range(rounds):
        psql("DROP TABLE IF EXISTS floor_events; CREATE TABLE floor_events (LIKE ods_events INCLUDING ALL)")
        wall, *_ = measure([psql_bin, f"{base}/bench", "-v", "ON_ERROR_STOP=1", "-q",
                            "-c", f"\\copy floor_events FROM '{work}/rows.bin' WITH (FORMAT binary)"])
        got = int(psql("SELECT count(*) FROM floor_events"))
        if got != rows:
            raise SystemExit(f"VERIFICATION FAILED: psql \\copy loaded {got} rows, expected {rows}")
        best = wall if best is None else min(best, wall)
    return best


def shard_faults(o, bins, extra):
    """The sharded-instance acceptance at scale: a 24-hour window of N records (default 5,000,000) into
    PostgreSQL split into 12 shards over 3 `sluice worker` processes, three times: undisturbed; with one
    worker SIGKILLed 5 times at random moments and restarted; with the coordinator SIGKILLed before its
    commit (the partition must be unchanged), then run again. After each, the partition must hold
    exactly the window's records, each (Kafka partition, offset) once, and no staging table."""
    import random
    rows = o.records or (300_000 if o.quick else 5_000_000)
    work = tempfile.mkdtemp(prefix="sluice-bench-shard-faults-")
    server = broker = None
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    try:
        server, base, psql, psql_bin = bench_postgres(work)
        broker, servers = start_broker(bins["sluice"], work, topic="events:4")
        subprocess.run([bins["sluice"], "loadgen", "--bootstrap-servers", servers, "--topic", "events",
                        "--records", str(rows), "--span", "24h"], check=True, stdout=sys.stderr)
        job = os.path.join(work, "postgresql.yaml")
        write_job(job, servers, "postgresql", url=f"{base}/bench")
        # One instance (a fixed scheduled time), run again in each phase.
        run = [bins["sluice"], "run", job, "--json", "--create-table", "--ledger", f"{base}/bench", "--shards", "12",
               "--at-epoch", "1669161600",
               "--worker-wait", "120", "--param", "startTime=20221122000000", "--param", "endTime=20221123000000",
               "--param", "partition=20221122"]

        def worker(name):
            return subprocess.Popen([bins["sluice"], "worker", "--ledger", f"{base}/bench", "--id", name, "--lease", "3",
                                     "--poll-interval", "0.1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def landed():
            got = psql("SELECT count(*) || ' ' || count(DISTINCT (kafka_partition, kafka_offset)) FROM ods_events WHERE ds = '20221122'")
            staging = int(psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '\\_sluice\\_shard\\_%'"))
            return tuple(int(x) for x in got.split()) + (staging,)

        def check(what, expect_rows):
            total, distinct, staging = landed()
            ok = total == expect_rows and distinct == expect_rows and staging == 0
            print(f"{what}: {total:,} rows, {distinct:,} distinct (partition, offset), {staging} staging tables: "
                  f"{'ok' if ok else 'WRONG'}", flush=True)
            if not ok:
                left = psql("SELECT string_agg(tablename, ' ') FROM pg_tables WHERE tablename LIKE '\\_sluice\\_shard\\_%'")
                shards = psql("SELECT string_agg(instance_id || '/' || attempt || '/' || shard || ':' || status || '@' || fence, ' ') FROM shards")
                raise SystemExit(f"VERIFICATION FAILED: {what}; staging tables: {left}; shards: {shards}")

        workers = [worker(f"w{i}") for i in range(3)]
        try:
            t0 = time.monotonic()
            subprocess.run(run + ["--replan"], check=True, stdout=subprocess.DEVNULL)
            check(f"3 workers, undisturbed ({time.monotonic() - t0:.1f} s)", rows)

            t0 = time.monotonic()
            coordinator = subprocess.Popen(run + ["--replan"], stdout=subprocess.DEVNULL)
            kills = 0
            while kills < 5 and coordinator.poll() is None:
                time.sleep(rng.uniform(0.3, 1.5))
                victim = workers.pop(0)
                victim.kill()
                victim.wait()
                kills += 1
                workers.append(worker(f"w{kills + 2}"))
            if coordinator.wait() != 0:
                raise SystemExit("VERIFICATION FAILED: the run with killed workers failed")
            check(f"a worker SIGKILLed {kills} times (seed {seed}; {time.monotonic() - t0:.1f} s)", rows)
            if kills < 5:
                raise SystemExit(f"VERIFICATION FAILED: the run ended after {kills} kills; use more --records")

            psql("TRUNCATE ods_events")
            env = dict(os.environ, SLUICE_TEST_KILL_AT="before-commit")
            killed = subprocess.run(run + ["--replan"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if killed.returncode == 0:
                raise SystemExit("VERIFICATION FAILED: the coordinator was not killed before its commit")
            total = int(psql("SELECT count(*) FROM ods_events"))
            print(f"coordinator SIGKILLed before its commit: the partition holds {total} rows "
                  f"({'unchanged' if total == 0 else 'CHANGED'})", flush=True)
            if total != 0:
                raise SystemExit("VERIFICATION FAILED: the partition changed")
            subprocess.run(run, check=True, stdout=subprocess.DEVNULL)
            check("run again after the coordinator's kill", rows)
        finally:
            for w in workers:
                w.terminate()
                w.wait(timeout=60)
    finally:
        if broker:
            stop_broker(broker)
        if server:
            stop_postgres(server)
        shutil.rmtree(work, ignore_errors=True)


def tls(o, bins, extra):
    """Reading over TLS against plaintext: `sluice run` of a window of N records into discard, and kcat
    reading the same window, each through a PLAINTEXT and an SSL listener of the same `sluice dev-kafka`
    (certificates made with openssl here), alternating; best of `--repeat` by wall."""
    need_kcat()
    records = o.records or (200_000 if o.quick else 2_000_000)
    rounds = o.repeat or (1 if o.quick else 3)
    work = tempfile.mkdtemp(prefix="sluice-bench-tls-")
    broker = None
    try:
        certificates(work)
        log = open(os.path.join(work, "broker.log"), "w+")
        broker = subprocess.Popen([bins["sluice"], "dev-kafka", "--topic", "events:3", "--listener", "PLAINTEXT://127.0.0.1:0",
                                   "--listener", "SSL://127.0.0.1:0", "--tls-cert", f"{work}/server.pem", "--tls-key", f"{work}/server.key"],
                                  stdout=subprocess.PIPE, stderr=log, text=True)
        plain = re.match(r"ready (\S+)", broker.stdout.readline()).group(1)
        log.seek(0)
        secure = re.search(r"listener SSL (\S+)", log.read()).group(1)
        start = int(time.time() * 1000) - 1
        produce(plain, "events", records, VALUE_SIZE)
        end = int(time.time() * 1000) + 1
        kcat_tls = ["-X", "security.protocol=ssl", "-X", f"ssl.ca.location={work}/ca.pem"]
        window = ["-C", "-t", "events", "-o", f"s@{start}", "-o", f"e@{end}", "-e", "-q", "-f", "%p\n"]
        for name, servers, security in (("plain", plain, ""), ("tls", secure, f"  security: {{ protocol: SSL, caFile: {work}/ca.pem }}\n")):
            with open(os.path.join(work, f"{name}.yaml"), "w") as f:
                f.write(f"name: tls_{name}\nsource:\n  bootstrapServers: {servers}\n  topic: events\n"
                        f"  begin: {{ timestampMillis: {start} }}\n  end: {{ timestampMillis: {end} }}\n{security}"
                        f"columns: [__partition__, __offset__, __value__]\ndestination: {{ type: discard, table: t, columns: [p, o, v] }}\n")
        best = {}
        for r in range(1, rounds + 1):
            for what, argv in (("kcat, PLAINTEXT", ["kcat", "-b", plain] + window),
                               ("kcat, SSL", ["kcat", "-b", secure] + kcat_tls + window),
                               ("sluice run → discard, PLAINTEXT", [bins["sluice"], "run", f"{work}/plain.yaml", "--json", "--replan", "--state-dir", f"{work}/s"]),
                               ("sluice run → discard, SSL", [bins["sluice"], "run", f"{work}/tls.yaml", "--json", "--replan", "--state-dir", f"{work}/s"])):
                wall, cpu, _, _, text = measure(argv, capture=True)
                got = text.count("\n") if what.startswith("kcat") else json_read(text)
                if got != records:
                    raise SystemExit(f"VERIFICATION FAILED: {what} read {got} records, expected {records}")
                if what not in best or wall < best[what][0]:
                    best[what] = (wall, cpu)
                print(f"round {r}: {what}: {wall:.2f} s wall, {cpu:.2f} s CPU", flush=True)
    finally:
        if broker:
            broker.terminate()
            broker.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\n{records:,} records of {VALUE_SIZE} bytes in 3 partitions, best of {rounds} by wall; TLS 1.3 to sluice dev-kafka on loopback")
    print("\n| reader | listener | wall s | records/s | CPU s | wall × PLAINTEXT | wall × kcat (same listener) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for who in ("kcat", "sluice run → discard"):
        for listener in ("PLAINTEXT", "SSL"):
            wall, cpu = best[f"{who}, {listener}"]
            print(f"| {who} | {listener} | {wall:.2f} | {records / wall:,.0f} | {cpu:.2f} | {wall / best[f'{who}, PLAINTEXT'][0]:.2f} "
                  f"| {wall / best[f'kcat, {listener}'][0]:.2f} |")


def json_read(text):
    import json
    return json.loads(text)["records"]["read"]


def certificates(work):
    """A CA and a server certificate for 127.0.0.1 and localhost, with openssl."""
    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", f"{work}/ca.key", "-out", f"{work}/ca.pem", "-days", "2", "-subj", "/CN=bench CA",
            "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    with open(f"{work}/server.ext", "w") as f:
        f.write("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    openssl("req", *ec, "-keyout", f"{work}/server.key", "-out", f"{work}/server.csr", "-subj", "/CN=127.0.0.1")
    openssl("x509", "-req", "-in", f"{work}/server.csr", "-CA", f"{work}/ca.pem", "-CAkey", f"{work}/ca.key", "-set_serial", "2",
            "-out", f"{work}/server.pem", "-days", "2", "-extfile", f"{work}/server.ext")

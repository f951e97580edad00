"""The component benchmarks `scripts/bench` runs besides the harness (Benchmarks/run.py). Each prints its
figures and, where it has one, the ratio to a baseline measured in the same run; each exits with an
error when a check fails (a wrong record count, a failed command).

Every function takes the parsed options `o`, the built binaries `bins` (name → path; "sluice" among them)
and the extra arguments for the benchmark executable (after `--`)."""
import glob
import os
import re
import shutil
import signal
import socket
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
    prints the ratio); options of the executable after `--` (--breakdown, --variant NAME, --only …)."""
    argv = [bins["sluice-bench-mapping"]]
    if o.seconds:
        argv += ["--seconds", str(o.seconds)]
    elif o.quick:
        argv += ["--seconds", "0.2"]
    if o.quick:
        argv += ["--records", "2000"]
    print(output(argv + extra))


def warehouse(o, bins, extra):
    """SQLite warehouse insert throughput: three overwrites of N demo-shaped rows (no baseline)."""
    rows = o.records or (100_000 if o.quick else 1_000_000)
    print(output([bins["warehouse-insert-bench"], str(rows)] + extra))


def start_postgres(work):
    """A private PostgreSQL server (Debian's, as the tests start one) on a free port of 127.0.0.1, with
    PostgreSQL's default settings (fsync on) and trust authentication; as the `postgres` user when run
    as root. Returns (process, port, bin directory, postmaster pid)."""
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                      key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0)
    if not versions:
        raise SystemExit("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/pg_ctl): run scripts/install-deps")
    pgbin = os.path.dirname(versions[-1])
    as_user = []
    if os.geteuid() == 0:
        as_user = ["runuser", "-u", "postgres", "--"]
        shutil.chown(work, "postgres", "postgres")
    data = os.path.join(work, "pgdata")
    subprocess.run(as_user + [os.path.join(pgbin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust",
                              "-E", "UTF8", "--no-locale"], check=True, stdout=subprocess.DEVNULL)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(os.path.join(work, "postgres.log"), "w")
    p = subprocess.Popen(as_user + [os.path.join(pgbin, "postgres"), "-D", data, "-p", str(port), "-k", work,
                                    "-c", "listen_addresses=127.0.0.1"], stdout=log, stderr=log)
    deadline = time.monotonic() + 60
    while subprocess.run([os.path.join(pgbin, "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                         capture_output=True).returncode != 0:
        if time.monotonic() > deadline or p.poll() is not None:
            p.kill()
            raise SystemExit(f"postgres did not start; see {log.name}")
        time.sleep(0.2)
    with open(os.path.join(data, "postmaster.pid")) as f:
        postmaster = int(f.readline())
    return p, port, pgbin, postmaster


def stop_postgres(p):
    p.send_signal(signal.SIGINT)  # fast shutdown
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


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
    against the same run into the discard destination, alternating. Every load is counted."""
    rows = o.records or (50_000 if o.quick else 1_000_000)
    rounds = o.repeat or (1 if o.quick else 3)
    work = tempfile.mkdtemp(prefix="sluice-bench-postgresql-")
    server = broker = None
    load = os.getloadavg()
    try:
        server, port, pgbin, postmaster = start_postgres(work)
        url = f"postgresql://postgres@127.0.0.1:{port}/bench"

        def psql(sql, db="bench"):
            return output([os.path.join(pgbin, "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-d", db,
                           "-v", "ON_ERROR_STOP=1", "-A", "-t", "-q", "-c", sql])

        psql("CREATE DATABASE bench", db="postgres")
        copy = copy_against_psql(o, bins, extra, url, psql, pgbin, port, postmaster, work, rows, rounds)
        broker, servers = start_broker(bins["sluice"], work)
        runs = run_into_postgres(bins, url, psql, postmaster, servers, work, rows, rounds)
    finally:
        if broker:
            stop_broker(broker)
        if server:
            stop_postgres(server)
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nPostgreSQL {os.path.basename(os.path.dirname(pgbin))} (default settings, fsync on), {rows:,} rows, "
          f"best of {rounds} by wall time; CPU: the client's, and the server's backends' (ended connections); "
          f"load average before {load[0]:.2f}, after {os.getloadavg()[0]:.2f}")
    print("\n| what | rows | wall s | client CPU s | server CPU s | rows/s | × floor |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    floor = copy["psql \\copy, binary (floor)"][0]
    for name, (wall, cpu, scpu) in list(copy.items()) + list(runs.items()):
        ratio = f"{wall / floor:.2f}" if not name.startswith("sluice run") else "—"
        print(f"| {name} | {rows:,} | {wall:.2f} | {cpu:.2f} | {scpu:.2f} | {rows / wall:,.0f} | {ratio} |")
    pg, discard = runs["sluice run → postgresql"][0], runs["sluice run → discard"][0]
    print(f"\nsluice run → postgresql: {rows / pg:,.0f} records/s, {pg / discard:.2f}× the wall of → discard "
          f"({rows / discard:,.0f} records/s) on the same window")


def copy_against_psql(o, bins, extra, url, psql, pgbin, port, postmaster, work, rows, rounds):
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
            wall, cpu, *_ = measure([os.path.join(pgbin, "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                                     "-d", "bench", "-v", "ON_ERROR_STOP=1", "-q",
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

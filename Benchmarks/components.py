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

from run import measure, start_broker, stop_broker

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

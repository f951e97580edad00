"""Every Sluice benchmark, from one entry point: scripts/bench [NAME...] [options] [-- ARGS]

Without a NAME it runs the harness, as it always did: `scripts/bench --records 10000000` is the large
harness run. `scripts/bench --list` lists the benchmarks, `scripts/bench all` runs every one, and
`scripts/bench all --quick` runs each briefly, to check that they work.

Each run first builds what it needs in release mode (`swift build -c release --static-swift-stdlib`)
from the benchmark package (Benchmarks/Package.swift: the Swift benchmark executables and, through its
path dependency on the root package, `sluice`), into Benchmarks/.build. The first build takes several
minutes; `--sluice PATH` uses an existing `sluice` instead of building one.

Options go to the benchmarks that use them (an option none of the named benchmarks uses is an error).
Arguments after `--` go to the benchmark executable (one NAME only: mapping, maxcompute, scheduling,
reader or warehouse), e.g. `scripts/bench mapping -- --breakdown`.
"""
import argparse
import os
import subprocess
import sys
import time

import components
import run

HERE = os.path.dirname(os.path.abspath(__file__))


class Benchmark:
    def __init__(self, name, summary, run, binaries, options, passes_args=False):
        self.name, self.summary, self.run = name, summary, run
        self.binaries = binaries    # products to build ("sluice" unless --sluice)
        self.options = options      # the option destinations it reads
        self.passes_args = passes_args


def run_harness(o, bins, extra):
    h = argparse.Namespace(**vars(o))  # its defaults are its own: the other benchmarks keep theirs
    h.records = o.records or (48_000 if o.quick else 1_000_000)
    h.repeat = o.repeat or (1 if o.quick else 3)
    run.harness(h, bins["sluice"], {"mapping": bins["sluice-bench-mapping"],
                                    "maxcompute": bins["maxcompute-encode-bench"]})


KAFKA = {"records", "repeat", "kafka_version", "sluice"}
BENCHMARKS = [
    Benchmark("harness", "sluice run → discard and → SQLite against kcat and the Python baseline (one-hour "
              "and 24-hour windows of N records), the field program and MaxCompute encoding alone; verified, "
              "appended to Benchmarks/RESULTS.md", run_harness,
              ["sluice", "sluice-bench-mapping", "maxcompute-encode-bench"],
              {"records", "repeat", "scale", "scale_repeat", "no_python", "results", "sluice"}),
    Benchmark("mapping", "the field program against Foundation's JSONSerialization (records/s per CPU-second)",
              components.mapping, ["sluice-bench-mapping"], {"seconds"}, passes_args=True),
    Benchmark("reader", "the Kafka window reader (SluiceKafka) against kcat reading the same window of "
              "sluice dev-kafka (default 10,000,000 records, 5 rounds)", components.reader,
              ["sluice", "sluice-reader-bench"], KAFKA, passes_args=True),
    Benchmark("scheduling", "compiled scheduling expressions against Foundation's DateFormatter; listing a "
              "year of 1-minute instances", components.scheduling, ["scheduling-benchmark"], {"zone"},
              passes_args=True),
    Benchmark("maxcompute", "MaxCompute record-stream encoding (and deflate) against pyodps's record writer "
              "(default 2,000,000 rows)", components.maxcompute, ["maxcompute-encode-bench"], {"records"},
              passes_args=True),
    Benchmark("warehouse", "SQLite warehouse insert throughput: three overwrites of N demo-shaped rows "
              "(default 1,000,000)", components.warehouse, ["warehouse-insert-bench"], {"records"},
              passes_args=True),
    Benchmark("ledger", "the ledger's cost per instance on SQLite and PostgreSQL (1 and 3 clients), and three "
              "schedulers on one PostgreSQL ledger against one (default 2,000 instances)", components.ledger,
              ["sluice", "ledger-bench"], {"records", "sluice"}, passes_args=True),
    Benchmark("console", "sluice serve under 200 concurrent wrk clients on the instances page of a ledger of N "
              "instances (default 100,000): p50/p99 latency and errors per page, appended to RESULTS.md",
              components.console, ["sluice"], {"records", "seconds", "sluice", "results"}),
    Benchmark("postgresql", "the PostgreSQL destination: its binary COPY of N rows against psql \\copy of the same rows "
              "(the floor), and sluice run of a 24-hour window into PostgreSQL against → discard "
              "(default 1,000,000 records; a private PostgreSQL server)", components.postgresql,
              ["sluice", "postgres-copy-bench"], {"records", "repeat", "sluice"}),
    Benchmark("shards", "sharded instances: sluice run of a 24-hour window into PostgreSQL and discard as one "
              "process and as 4 shards over 1, 2 and 4 sluice worker processes, with psql \\copy as the floor "
              "(default 1,000,000 records; a private PostgreSQL server)", components.shards, ["sluice"],
              {"records", "repeat", "sluice"}),
    Benchmark("shard-faults", "sharded instances at scale: a 24-hour window of N records (default 5,000,000) into "
              "PostgreSQL over 3 sluice worker processes, undisturbed, with a worker SIGKILLed 5 times, and with the "
              "coordinator SIGKILLed before its commit; every record must land once", components.shard_faults,
              ["sluice"], {"records", "sluice"}),
    Benchmark("tls", "reading over TLS against plaintext: sluice run → discard and kcat through a PLAINTEXT and an "
              "SSL listener of the same dev-kafka (default 2,000,000 records)", components.tls, ["sluice"],
              {"records", "repeat", "sluice"}),
    Benchmark("dev-kafka", "sluice dev-kafka serving kcat: records/s and the broker's CPU against kcat's "
              "(default 1,000,000 records)", components.dev_kafka, ["sluice"], KAFKA - {"repeat"}),
]
BY_NAME = {b.name: b for b in BENCHMARKS}


def parser():
    ap = argparse.ArgumentParser(prog="scripts/bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: harness; all: every one)")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    ap.add_argument("--quick", action="store_true",
                    help="a short run of each (small data, one round); the harness does not append to RESULTS.md")
    ap.add_argument("--records", type=int, help="data size: records (harness, reader, dev-kafka), rows "
                    "(maxcompute, warehouse) or ledger instances (console); each has its own default")
    ap.add_argument("--repeat", "--rounds", type=int, help="rounds (harness: 3, reader: 5)")
    ap.add_argument("--sluice", help="use this sluice binary instead of building one (harness, reader, dev-kafka)")
    ap.add_argument("--scale", action="store_true", help="harness: also at 10M records (linear time, flat RSS)")
    ap.add_argument("--scale-repeat", type=int, help="harness: rounds at 10M records (default: --repeat)")
    ap.add_argument("--no-python", action="store_true", help="harness: leave out the Python baseline")
    ap.add_argument("--results", help="harness: the file the report is appended to (default Benchmarks/RESULTS.md)")
    ap.add_argument("--kafka-version", choices=["2.2", "0.10.2"], help="reader, dev-kafka: the broker's personality")
    ap.add_argument("--zone", help="scheduling: an IANA zone (default Asia/Shanghai)")
    ap.add_argument("--seconds", type=float, help="mapping: CPU seconds per measurement (default 2); console: seconds of "
                    "load per page (default 20)")
    return ap


def check(o, selected, extra):
    """Every option given explicitly must be used by a selected benchmark."""
    for option in ("records", "repeat", "sluice", "scale", "scale_repeat", "no_python", "results",
                   "kafka_version", "zone", "seconds"):
        value = getattr(o, option)
        if value in (None, False) or any(option in b.options for b in selected):
            continue
        users = ", ".join(b.name for b in BENCHMARKS if option in b.options)
        raise SystemExit(f"scripts/bench: --{option.replace('_', '-')} is an option of {users}, "
                         f"not of {', '.join(b.name for b in selected)}")
    if extra and (len(selected) != 1 or not selected[0].passes_args):
        raise SystemExit("scripts/bench: arguments after -- go to one benchmark's executable: name exactly one of "
                         + ", ".join(b.name for b in BENCHMARKS if b.passes_args))


def swift_build(product):
    subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--package-path", HERE,
                    "--product", product], check=True, stdout=sys.stderr)


def build(selected, o):
    """Builds the products the selected benchmarks need; returns name → path."""
    products = sorted({p for b in selected for p in b.binaries if not (p == "sluice" and o.sluice)})
    bins = {}
    if products:
        started = time.monotonic()
        print(f"bench: building {', '.join(products)} (release)", file=sys.stderr, flush=True)
        for p in products:
            swift_build(p)
        print(f"bench: built in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
        path = subprocess.run(["swift", "build", "-c", "release", "--static-swift-stdlib", "--package-path", HERE,
                               "--show-bin-path"], check=True, capture_output=True, text=True).stdout.strip()
        bins = {p: os.path.join(path, p) for p in products}
    if o.sluice:
        bins["sluice"] = os.path.abspath(o.sluice)
    return bins


def main(argv):
    extra = []
    if "--" in argv:
        argv, extra = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    o = parser().parse_intermixed_args(argv)
    if o.list:
        width = max(len(b.name) for b in BENCHMARKS)
        for b in BENCHMARKS:
            print(f"{b.name:{width}}  {b.summary}")
        return
    names = o.names or ["harness"]
    if "all" in names:
        names = [b.name for b in BENCHMARKS]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise SystemExit(f"scripts/bench: no benchmark named {', '.join(unknown)}; "
                         f"there are {', '.join(BY_NAME)} (and all)")
    selected = [BY_NAME[n] for n in dict.fromkeys(names)]
    check(o, selected, extra)
    o.results = o.results or os.path.join(HERE, "RESULTS.md")
    bins = build(selected, o)
    for b in selected:
        started = time.monotonic()
        print(f"\n== {b.name}: {b.summary}", flush=True)
        b.run(o, bins, extra)
        print(f"== {b.name}: {time.monotonic() - started:.0f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])

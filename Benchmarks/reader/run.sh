#!/usr/bin/env bash
# Benchmark: the Kafka window reader (SluiceKafka, into a counter) against kcat reading the same window
# to /dev/null, in the same run, from the same `sluice dev-kafka` broker.
# Default load: 10,000,000 records of 200 bytes over 3 partitions. Goal: reader time ≤ 1.1 × kcat time.
# Usage: Benchmarks/reader/run.sh [--records N] [--rounds R] [--kafka-version 2.2|0.10.2]
# Set SLUICE_BIN to use an existing (release) sluice binary for the broker.
set -euo pipefail
cd "$(dirname "$0")/../.."
RECORDS=10000000
ROUNDS=5
VERSION=2.2
SIZE=200
while [ $# -gt 0 ]; do
  case "$1" in
    --records) RECORDS="$2"; shift 2 ;;
    --rounds) ROUNDS="$2"; shift 2 ;;
    --kafka-version) VERSION="$2"; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
swift build -c release --static-swift-stdlib --product sluice-reader-bench >/dev/null
BENCH="$(swift build -c release --show-bin-path)/sluice-reader-bench"
if [ -n "${SLUICE_BIN:-}" ]; then BIN="$SLUICE_BIN"; else
  swift build -c release --static-swift-stdlib --product sluice >/dev/null
  BIN="$(swift build -c release --show-bin-path)/sluice"
fi
WORK="$(mktemp -d)"
BROKER_PID=""
trap '[ -n "$BROKER_PID" ] && { kill "$BROKER_PID" 2>/dev/null; sleep 1; kill -9 "$BROKER_PID" 2>/dev/null || true; }; rm -rf "$WORK"' EXIT

"$BIN" dev-kafka --port 0 --kafka-version "$VERSION" --topic bench:3 >"$WORK/ready" 2>"$WORK/broker.err" &
BROKER_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
ADDR="$(awk '/^ready /{print $2}' "$WORK/ready")"
[ -n "$ADDR" ] || { echo "broker did not start: $(cat "$WORK/broker.err")" >&2; exit 1; }

now_ms() { python3 -c 'import time; print(int(time.time()*1000))'; }
START=$(( $(now_ms) - 1 ))
# RECORDS values of SIZE bytes (kcat strips the newline), spread over the 3 partitions.
python3 - "$RECORDS" "$SIZE" <<'PY' | kcat -b "$ADDR" -P -t bench -X linger.ms=50 -X batch.num.messages=10000 \
    -X queue.buffering.max.messages=1000000
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
pad = "x" * size
chunk = []
for i in range(n):
    s = "%010d" % i
    chunk.append(s + pad[len(s):])
    if len(chunk) == 100000:
        out.write("\n".join(chunk) + "\n"); chunk = []
if chunk: out.write("\n".join(chunk) + "\n")
PY
END=$(( $(now_ms) + 1 ))

# Untimed check that kcat reads the whole window.
KCAT_COUNT="$(kcat -b "$ADDR" -C -t bench -o "s@$START" -o "e@$END" -e -q -f '%p\n' | wc -l)"
[ "$KCAT_COUNT" -eq "$RECORDS" ] || { echo "kcat read $KCAT_COUNT records of the window, expected $RECORDS" >&2; exit 1; }

secs() { python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$1" "$2"; }
: >"$WORK/rounds"
for round in $(seq 1 "$ROUNDS"); do
  T0="$(date +%s.%N)"
  /usr/bin/env time -f "%U %S" -o "$WORK/kcat.cpu" \
    kcat -b "$ADDR" -C -t bench -o "s@$START" -o "e@$END" -e -q -f '%s\n' >/dev/null
  T1="$(date +%s.%N)"
  OUT="$(/usr/bin/env time -f "%U %S" -o "$WORK/reader.cpu" "$BENCH" --bootstrap "$ADDR" --topic bench --start "$START" --end "$END")"
  T2="$(date +%s.%N)"
  KCPU="$(awk '{print $1 + $2}' "$WORK/kcat.cpu")"; RCPU="$(awk '{print $1 + $2}' "$WORK/reader.cpu")"
  K="$(secs "$T0" "$T1")"; R="$(secs "$T1" "$T2")"
  N="$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["records"])' "$OUT")"
  [ "$N" -eq "$RECORDS" ] || { echo "the reader read $N records, expected $RECORDS" >&2; exit 1; }
  printf 'round %d: wall kcat %.2f s, reader %.2f s (process start to exit), ratio %.3f; CPU kcat %.2f s, reader %.2f s\n  %s\n' \
    "$round" "$K" "$R" "$(python3 -c "print($R/$K)")" "$KCPU" "$RCPU" "$OUT"
  echo "$K $R $KCPU $RCPU" >>"$WORK/rounds"
done
python3 - "$RECORDS" "$SIZE" "$VERSION" "$WORK/rounds" <<'PY'
import statistics, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
rounds = [tuple(map(float, l.split())) for l in open(sys.argv[4]) if l.strip()]
k = min(r[0] for r in rounds); r = min(r[1] for r in rounds)
median = statistics.median(x[1] / x[0] for x in rounds)
kc = statistics.median(x[2] for x in rounds); rc = statistics.median(x[3] for x in rounds)
print(f"dev-kafka {sys.argv[3]}, {n:,} records of {size} bytes in 3 partitions, {len(rounds)} rounds:")
print(f"  kcat   best {k:.2f} s  {n/k:,.0f} records/s   median CPU {kc:.2f} s")
print(f"  reader best {r:.2f} s  {n/r:,.0f} records/s   median CPU {rc:.2f} s")
print(f"  reader/kcat wall: best/best {r/k:.3f}, median of rounds {median:.3f}  (goal <= 1.1)")
PY

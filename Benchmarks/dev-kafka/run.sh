#!/usr/bin/env bash
# Benchmark: kcat consumes 1,000,000 records of 200 bytes from `sluice dev-kafka`.
# Reports records/s, MB/s, and the CPU seconds of the broker next to kcat's, measured in the same run.
# Usage: Benchmarks/dev-kafka/run.sh [--kafka-version 2.2|0.10.2] [--records N] [--debug]
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=2.2
RECORDS=1000000
CONFIG=release
while [ $# -gt 0 ]; do
  case "$1" in
    --kafka-version) VERSION="$2"; shift 2 ;;
    --records) RECORDS="$2"; shift 2 ;;
    --debug) CONFIG=debug; shift ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
SIZE=200
if [ -n "${SLUICE_BIN:-}" ]; then BIN="$SLUICE_BIN"; else
  swift build -c "$CONFIG" --static-swift-stdlib --product sluice >/dev/null
  BIN="$(swift build -c "$CONFIG" --show-bin-path)/sluice"
fi
WORK="$(mktemp -d)"
trap 'kill "$BROKER_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT

"$BIN" dev-kafka --port 0 --kafka-version "$VERSION" --topic bench:1 >"$WORK/ready" 2>"$WORK/broker.err" &
BROKER_PID=$!
for _ in $(seq 1 100); do [ -s "$WORK/ready" ] && break; sleep 0.1; done
ADDR="$(awk '/^ready /{print $2}' "$WORK/ready")"
[ -n "$ADDR" ] || { echo "broker did not start: $(cat "$WORK/broker.err")" >&2; exit 1; }

# Load: RECORDS lines of SIZE characters (kcat strips the newline, so each value is SIZE bytes),
# produced in batches of up to 10,000 records.
python3 - "$RECORDS" "$SIZE" >"$WORK/records.txt" <<'PY'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
out = sys.stdout
pad = "x" * size
for i in range(n):
    s = "%010d" % i
    out.write(s + pad[len(s):] + "\n")
PY
kcat -b "$ADDR" -P -t bench -p 0 -X linger.ms=50 -X batch.num.messages=10000 -X queue.buffering.max.messages=1000000 \
  -l "$WORK/records.txt"

cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
BEFORE="$(cpu "$BROKER_PID")"
START="$(date +%s.%N)"
/usr/bin/env time -f "%U %S" -o "$WORK/kcat.time" \
  kcat -b "$ADDR" -C -t bench -p 0 -o beginning -e -q -f '%s\n' >/dev/null
END="$(date +%s.%N)"
AFTER="$(cpu "$BROKER_PID")"
# Not timed: the same consumption counted, so the figures are for the whole log.
COUNT_CHECK="$(kcat -b "$ADDR" -C -t bench -p 0 -o beginning -e -q -f '%s\n' | wc -l)"
[ "$COUNT_CHECK" -eq "$RECORDS" ] || { echo "kcat read $COUNT_CHECK records, expected $RECORDS" >&2; exit 1; }

python3 - "$RECORDS" "$SIZE" "$START" "$END" "$BEFORE" "$AFTER" "$(cat "$WORK/kcat.time")" "$COUNT_CHECK" "$VERSION" <<'PY'
import sys
n, size = int(sys.argv[1]), int(sys.argv[2])
start, end, before, after = map(float, sys.argv[3:7])
ku, ks = map(float, sys.argv[7].split())
secs = end - start
print(f"dev-kafka {sys.argv[9]}: kcat consumed {n} records of {size} bytes ({sys.argv[8]} counted)")
print(f"  wall {secs:.2f} s, {n/secs:,.0f} records/s, {n*size/secs/1e6:.1f} MB/s")
print(f"  CPU seconds: broker {after-before:.2f}, kcat {ku+ks:.2f} (user {ku:.2f} + sys {ks:.2f})")
PY

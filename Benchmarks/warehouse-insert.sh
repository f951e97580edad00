#!/usr/bin/env bash
# Insert throughput of the SQLite warehouse writer (1,000,000 demo-shaped rows per write, release build).
# Usage: Benchmarks/warehouse-insert.sh [ROWS]
set -euo pipefail
cd "$(dirname "$0")/.."
swift build -c release --build-tests -Xswiftc -enable-testing
SLUICE_BENCH=1 SLUICE_BENCH_ROWS="${1:-1000000}" \
  swift test -c release -Xswiftc -enable-testing --skip-build --filter WarehouseBenchmarkTests 2>&1 \
  | grep -E "warehouse insert|passed|failed"

#!/bin/sh
# Builds and runs the scheduling benchmark in release mode. Optional argument: an IANA zone.
set -e
cd "$(dirname "$0")/../.."
swift build -c release --static-swift-stdlib --product scheduling-benchmark
.build/release/scheduling-benchmark "${1:-Asia/Shanghai}"

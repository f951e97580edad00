// Encoding throughput of the MaxCompute tunnel record stream for a 10-column row.
// Usage: maxcompute-encode-bench [rows] [--deflate] [--once]
// --once: a single run without warm-up, printed as `records=N bytes=B wall=S cpu=S` (Benchmarks/run.py).
import Foundation
import SluiceCore
import SluiceMaxComputeWire

let args = CommandLine.arguments.dropFirst()
let rowCount = args.first.flatMap { Int($0) } ?? 2_000_000
let deflate = args.contains("--deflate")
let once = args.contains("--once")

let columns: [ColumnSpec] = [
    ColumnSpec(name: "id", type: .bigint), ColumnSpec(name: "partition", type: .int),
    ColumnSpec(name: "offset", type: .bigint), ColumnSpec(name: "key", type: .string),
    ColumnSpec(name: "value", type: .string), ColumnSpec(name: "price", type: .double),
    ColumnSpec(name: "ok", type: .boolean), ColumnSpec(name: "event_time", type: .datetime),
    ColumnSpec(name: "amount", type: .decimal(precision: 18, scale: 2)), ColumnSpec(name: "day", type: .date),
]

// 10 000 distinct rows, reused: the benchmark measures encoding, not row generation.
func makeTemplate() -> RowBatch {
var template = RowBatch(columns: columns, reservingRows: 10_000)
for i in 0..<10_000 {
    template.append(row: [
        .int(Int64(i) * 7919), .int(Int64(i % 12)), .int(1_000_000 + Int64(i)),
        .string("user-\(i % 997)"), .string("{\"event\":\"click\",\"page\":\"/p/\(i)\",\"n\":\(i % 100)}"),
        .double(Double(i) * 0.37), .bool(i % 3 == 0), .datetime(1_704_164_645_000 + Int64(i) * 1000),
        .decimal("\(i % 100000).\(i % 100 < 10 ? "0" : "")\(i % 100)"), .date(Int32(19_724 + i % 30)),
    ])
}
return template
}
let template = makeTemplate()

func run() throws -> (seconds: Double, bytes: Int, wire: Int, blocks: Int) {
    let encoder = try TunnelRecordEncoder(tableColumns: columns, writeColumns: columns)
    var builder = TunnelBlockBuilder(encoder: encoder)
    var bytes = 0, wire = 0, blocks = 0
    let clock = ContinuousClock()
    let start = clock.now
    var done = 0
    func take(_ block: EncodedBlock) throws {
        bytes += block.bytes.count
        wire += deflate ? try Zlib.compress(block.bytes).count : block.bytes.count
        blocks += 1
    }
    while done < rowCount {
        for block in try builder.add(template) { try take(block) }
        done += template.rowCount
    }
    if let last = builder.flush() { try take(last) }
    let elapsed = clock.now - start
    let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
    return (seconds, bytes, wire, blocks)
}

/// Process CPU time (user + system), in seconds.
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

if once {
    let cpuStart = processCPUSeconds()
    let r = try run()
    let rows = (rowCount + 9_999) / 10_000 * 10_000
    print("records=\(rows) bytes=\(r.wire) wall=\(r.seconds) cpu=\(processCPUSeconds() - cpuStart)")
    exit(0)
}

_ = try run() // warm-up
var best: (seconds: Double, bytes: Int, wire: Int, blocks: Int)?
for _ in 0..<3 {
    let r = try run()
    if best == nil || r.seconds < best!.seconds { best = r }
}
let r = best!
let rows = Double((rowCount + 9_999) / 10_000 * 10_000)
func f(_ v: Double, _ digits: Int) -> String { String(format: "%.\(digits)f", v) }
let deflated = deflate ? " deflated=\(f(Double(r.wire) / 1e6, 1)) MB" : ""
print("rows=\(Int(rows)) blocks=\(r.blocks) stream=\(f(Double(r.bytes) / 1e6, 1)) MB\(deflated) best of 3: \(f(r.seconds, 3)) s  "
      + "\(f(Double(r.bytes) / 1e6 / r.seconds, 1)) MB/s of record stream  \(f(rows / 1e6 / r.seconds, 2)) M rows/s")

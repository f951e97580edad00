// Field-program throughput: 6 built-ins + 3 JSON paths over 200-byte and 2 KB JSON values, next to
// Foundation's JSONSerialization doing the same extraction and conversions in the same run.
//
//   scripts/bench mapping [-- OPTIONS]   (or Benchmarks/.build/release/sluice-bench-mapping, see Benchmarks/README.md)
//
// Options: --seconds S (per measurement, default 2), --records N (distinct records, default 20000).
// `--formats [paths]` compares JSON, Avro and Protobuf values of the same logical records (AvroComparison.swift).
// `--window N` maps N records shaped like `sluice loadgen`'s through the field program of the
// Benchmarks/run.py job once and prints one machine-readable line (used by the harness).
import Foundation
import SluiceCore
import SluiceMapping

/// Process CPU time (user + system), in seconds.
func processCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// `--window N`: the field program of the end-to-end benchmark job (10 columns: 5 built-ins, 5 JSON
/// paths) over N records like `sluice loadgen` produces, in batches of 8192 rows reused as the runner
/// reuses them. Prints `records=N bytes=B wall=S cpu=S`.
func windowMode(records total: Int) throws {
    let users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
    let filler = String(repeating: "x", count: 30)
    let distinct = 8192
    let batch = OwnedRecordBatch((0..<distinct).map { i in
        let user = users[i % users.count]
        let value = #"{"event_id":"e-\#(i)","user":"\#(user)","a":{"a1":"hello-\#(i % 1000)"},"b":"world","c":["x","y\#(i % 7)"],"d":[{"AA":"this","BB":"is_data"}],"amount":\#(Double(i * 7919 % 100_000) / 100),"pad":"\#(filler)"}"#
        return OwnedRecord(partition: Int32(i % 3), offset: Int64(i), timestamp: 1_669_075_200_000 + Int64(i) * 86,
                           key: Array(user.utf8), value: Array(value.utf8),
                           headers: [KafkaHeader(name: "source", value: Array("loadgen".utf8)),
                                     KafkaHeader(name: "seq", value: Array(String(i).utf8))])
    })
    let definitions = ["__key__", "__partition__", "__offset__", "__timestamp__", "__headers__",
                       "event_id", "a.a1", "c[1]", "d[0].AA", "amount"]
    let columns = [
        ColumnSpec(name: "k", type: .string), ColumnSpec(name: "kafka_partition", type: .bigint),
        ColumnSpec(name: "kafka_offset", type: .bigint), ColumnSpec(name: "kafka_ts", type: .bigint),
        ColumnSpec(name: "headers", type: .string), ColumnSpec(name: "event_id", type: .string),
        ColumnSpec(name: "a1", type: .string), ColumnSpec(name: "c1", type: .string),
        ColumnSpec(name: "d0aa", type: .string), ColumnSpec(name: "amount", type: .double),
    ]
    let program = try FieldProgram(mapping: Array(zip(definitions, columns)))
    let batchBytes = batch.records.reduce(0) { $0 + $1.value!.count }
    var rows = RowBatch(columns: columns, reservingRows: distinct)
    var done = 0, bytes = 0
    let clock = ContinuousClock()
    let start = clock.now
    let cpuStart = processCPUSeconds()
    while done < total {
        rows.removeAll(keepingCapacity: true)
        var dirty = DirtyCollector()
        if total - done >= distinct {
            try program.run(batch, into: &rows, dirty: &dirty)
            bytes += batchBytes
        } else {
            let part = OwnedRecordBatch(Array(batch.records.prefix(total - done)))
            try program.run(part, into: &rows, dirty: &dirty)
            bytes += part.records.reduce(0) { $0 + $1.value!.count }
        }
        precondition(dirty.dirtyCount == 0 && rows[0, 6] == .string("hello-0"), "unexpected row \(rows.row(0))")
        done += rows.rowCount
    }
    let wall = clock.now - start
    let seconds = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
    print("records=\(done) bytes=\(bytes) wall=\(seconds) cpu=\(processCPUSeconds() - cpuStart)")
}

/// The command line of the comparison (`--window` runs `windowMode` instead).
struct Options {
    var seconds = 2.0
    var distinct = 20_000
    var only: String? = nil
    var sizes = [200, 2048]
    var breakdown = false
    var variant: String? = nil
    /// `--formats`: JSON against Avro and Protobuf on the same logical records (`--formats paths`: the paths only).
    var formats: String? = nil

    /// Parses the arguments; nil after running `--window N`.
    static func parse() throws -> Options? {
        var o = Options()
        var args = CommandLine.arguments.dropFirst()
        while let a = args.popFirst() {
            switch a {
            case "--seconds": o.seconds = Double(args.popFirst() ?? "") ?? o.seconds
            case "--records": o.distinct = Int(args.popFirst() ?? "") ?? o.distinct
            case "--only": o.only = args.popFirst()
            case "--size": o.sizes = [Int(args.popFirst() ?? "") ?? 200]
            case "--breakdown": o.breakdown = true
            case "--variant": o.variant = args.popFirst(); o.breakdown = true
            case "--formats": o.formats = args.first?.hasPrefix("--") == false ? args.popFirst()! : "all"
            case "--window":
                try windowMode(records: Int(args.popFirst() ?? "") ?? 1_000_000)
                return nil
            default:
                print("usage: sluice-bench-mapping [--seconds S] [--records N] [--only sluice|foundation] [--size BYTES] "
                      + "[--breakdown] [--variant NAME] [--formats [all|paths]] | --window N")
                exit(2)
            }
        }
        return o
    }
}

/// Deterministic data: the same documents on every run.
struct Documents {
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
    var rng = SplitMix(state: 42)

    mutating func word(_ n: Int) -> String {
        String((0..<n).map { _ in "abcdefghijklmnopqrstuvwxyz".randomElement(using: &rng)! })
    }

    /// A JSON object of about `size` bytes with the three extracted members spread through it:
    /// `id` first, `user.name` in the middle, `amount` last.
    mutating func document(size: Int, index: Int) -> String {
        var members: [String] = [
            "\"id\":\(100_000 + index)",
            "\"event\":\"\(["click", "view", "purchase"].randomElement(using: &rng)!)\"",
            "\"ts\":\"2024-01-02 03:04:\(String(format: "%02d", index % 60))\"",
        ]
        var filler: [String] = []
        var k = 0
        var length = members.joined(separator: ",").utf8.count + 70
        while length < size {
            switch k % 4 {
            case 0: filler.append("\"f\(k)\":\"\(word(12))\"")
            case 1: filler.append("\"n\(k)\":\(Int.random(in: 0..<1_000_000, using: &rng))")
            case 2: filler.append("\"b\(k)\":\(Bool.random(using: &rng))")
            default: filler.append("\"o\(k)\":{\"x\":\(k),\"y\":[1,2,3]}")
            }
            length += filler.last!.utf8.count + 1
            k += 1
        }
        let half = filler.count / 2
        members += filler[..<half]
        members.append("\"user\":{\"name\":\"user-\(String(format: "%06d", index))\",\"tier\":\(index % 5)}")
        members += filler[half...]
        members.append("\"amount\":\(Double(index % 10_000) / 100)")
        return "{" + members.joined(separator: ",") + "}"
    }

    mutating func records(size: Int, distinct: Int) -> OwnedRecordBatch {
        OwnedRecordBatch((0..<distinct).map { i in
            OwnedRecord(partition: Int32(i % 12), offset: Int64(i), timestamp: 1_700_000_000_000 + Int64(i),
                        key: Array("key-\(i)".utf8), value: Array(document(size: size, index: i).utf8),
                        headers: [KafkaHeader(name: "trace", value: Array("t-\(i % 997)".utf8))])
        })
    }
}

let columns = [
    ColumnSpec(name: "k", type: .string), ColumnSpec(name: "v", type: .string),
    ColumnSpec(name: "p", type: .bigint), ColumnSpec(name: "h", type: .string),
    ColumnSpec(name: "o", type: .bigint), ColumnSpec(name: "t", type: .datetime),
    ColumnSpec(name: "id", type: .bigint), ColumnSpec(name: "name", type: .string),
    ColumnSpec(name: "amount", type: .double),
]
let definitions = ["__key__", "__value__", "__partition__", "__headers__", "__offset__", "__timestamp__",
                   "id", "user.name", "amount"]

/// CPU time of this thread, in seconds: the machine is shared, so rates per core come from it.
func threadCPUSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// Runs `body` over the whole batch repeatedly for about `seconds` of CPU time; returns records
/// per CPU second and per wall-clock second.
func measure(seconds: Double, _ batch: OwnedRecordBatch, _ body: (OwnedRecordBatch) throws -> Int) rethrows
    -> (cpu: Double, wall: Double) {
    _ = try body(batch)   // warm-up
    let clock = ContinuousClock()
    var done = 0
    let start = clock.now
    let cpuStart = threadCPUSeconds()
    var cpu = 0.0
    repeat {
        done += try body(batch)
        cpu = threadCPUSeconds() - cpuStart
    } while cpu < seconds
    let wall = clock.now - start
    let w = Double(wall.components.seconds) + Double(wall.components.attoseconds) / 1e18
    return (Double(done) / cpu, Double(done) / w)
}

/// The field program over a batch, into rows reused across batches as a reader → sink loop would.
struct FieldProgramRunner {
    let program: FieldProgram
    var rows = RowBatch(columns: columns)

    init() throws { program = try FieldProgram(mapping: Array(zip(definitions, columns))) }

    mutating func run(_ batch: OwnedRecordBatch) throws -> Int {
        rows.removeAll(keepingCapacity: true)
        var dirty = DirtyCollector()
        try program.run(batch, into: &rows, dirty: &dirty)
        precondition(rows.rowCount == batch.count && dirty.dirtyCount == 0)
        return rows.rowCount
    }
}

/// The same extraction with JSONSerialization: parse the value into a tree, walk the three paths,
/// build the same nine Values.
func foundation(_ batch: OwnedRecordBatch) throws -> Int {
    var values: [Value] = []
    values.reserveCapacity(batch.count * columns.count)
    for r in batch.records {
        let value = r.value!
        let tree = try JSONSerialization.jsonObject(with: Data(value)) as! [String: Any]
        let id = (tree["id"] as? NSNumber)?.int64Value
        let name = (tree["user"] as? [String: Any])?["name"] as? String
        let amount = (tree["amount"] as? NSNumber)?.doubleValue
        values.append(.string(String(decoding: r.key!, as: UTF8.self)))
        values.append(.string(String(decoding: value, as: UTF8.self)))
        values.append(.int(Int64(r.partition)))
        values.append(.string(HeadersJSON.render(r.headers)))
        values.append(.int(r.offset))
        values.append(.datetime(r.timestamp))
        values.append(id.map(Value.int) ?? .null)
        values.append(name.map(Value.string) ?? .null)
        values.append(amount.map(Value.double) ?? .null)
    }
    return batch.count
}

/// One line of the table: value size, implementation, rates, and the ratio to `base`.
func line(_ bytes: Double, _ name: String, _ r: (cpu: Double, wall: Double), base: (cpu: Double, wall: Double)) -> String {
    let pad = { (s: String, n: Int) in s.padding(toLength: n, withPad: " ", startingAt: 0) }
    return pad(String(format: "%6.0f B", bytes), 12) + pad(name, 22)
        + pad(String(format: "%11.0f", r.cpu), 13) + pad(String(format: "%9.1f", r.cpu * bytes / 1e6), 11)
        + pad(String(format: "%6.1fx", r.cpu / base.cpu), 9)
        + String(format: "%11.0f", r.wall)
}

/// `--breakdown`: where the time goes, subsets of the mapping and the bare scan.
func breakdown(_ batch: OwnedRecordBatch, bytes: Double, base: (cpu: Double, wall: Double), _ o: Options) throws {
    for (label, picks) in [("  3 paths only", [6, 7, 8]), ("  6 built-ins only", [0, 1, 2, 3, 4, 5]),
                           ("  built-ins w/o headers", [0, 1, 2, 4, 5]), ("  headers only", [3]), ("  paths as STRING", [6, 7, 8])] {
        if let variant = o.variant, !label.contains(variant) { continue }
        let cols = picks.map { label.contains("STRING") ? ColumnSpec(name: columns[$0].name, type: .string) : columns[$0] }
        let sub = try FieldProgram(mapping: picks.indices.map { (definitions[picks[$0]], cols[$0]) })
        var rows = RowBatch(columns: cols, reservingRows: batch.count)
        let r = try measure(seconds: o.seconds, batch) { b in
            rows.removeAll(keepingCapacity: true)
            var dirty = DirtyCollector()
            try sub.run(b, into: &rows, dirty: &dirty)
            return rows.rowCount
        }
        print(line(bytes, label, r, base: base))
    }
    if let variant = o.variant, !"scan only".contains(variant) { return }
    var scanner = JSONPathScanner(paths: [[.member("id")], [.member("user"), .member("name")], [.member("amount")]])
    let r = measure(seconds: o.seconds, batch) { b in
        for rec in b.records { _ = rec.value!.withUnsafeBytes { scanner.scan($0) } }
        return b.count
    }
    print(line(bytes, "  scan only", r, base: base))
}

func benchmark() async throws {
    guard let o = try Options.parse() else { return }
    if let formats = o.formats {
        try await FormatComparison.run(o, paths: formats == "paths")
        return
    }
    var documents = Documents()
    var ours = try FieldProgramRunner()
    print("sluice-bench-mapping: 6 built-ins + 3 JSON paths (id, user.name, amount), \(o.distinct) distinct records, \(o.seconds) CPU-s per run, 1 thread")
    print("rates per CPU-second of the benchmark thread (the machine is shared); last column: per wall-clock second")
    print("value size  implementation        records/s    MB/s       vs JSONSer.  records/s (wall)")
    for size in o.sizes {
        let batch = documents.records(size: size, distinct: o.distinct)
        let bytes = Double(batch.records.reduce(0) { $0 + $1.value!.count }) / Double(batch.count)
        // Check that the program produces the expected rows before timing.
        var rows = RowBatch(columns: columns)
        var dirty = DirtyCollector()
        try ours.program.run(OwnedRecordBatch(Array(batch.records.prefix(3))), into: &rows, dirty: &dirty)
        precondition(rows[0, 7] == .string("user-000000") && rows[0, 6] == .int(100_000), "unexpected row \(rows.row(0))")
        let skip = (cpu: 1.0, wall: 1.0)
        let base = o.only == "sluice" || o.variant != nil ? skip : try measure(seconds: o.seconds, batch, foundation)
        let sluice = o.only == "foundation" || o.variant != nil ? skip : try measure(seconds: o.seconds, batch) { try ours.run($0) }
        if o.variant == nil {
            print(line(bytes, "JSONSerialization", base, base: base))
            print(line(bytes, "sluice FieldProgram", sluice, base: base))
        }
        if o.breakdown { try breakdown(batch, bytes: bytes, base: base, o) }
    }
}

try await benchmark()

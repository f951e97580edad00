// Load throughput of the PostgreSQL destination's writer: three overwrites of N demo-shaped rows
// (a new partition, the same partition again, a second partition) into table `bench_events`, each
// timed from `open` to the end of `commit` (binary COPY of 10,000-row batches in one transaction,
// as `sluice run` writes). Exits 1 if a write or the final partition list does not hold exactly N
// rows. `scripts/bench postgresql` times `psql \copy` of the same rows as the floor.
//
//   postgres-copy-bench URL [ROWS]     (default 1,000,000)
import Foundation
import SluiceCore
import SluicePostgres

let columns = [
    ColumnSpec(name: "k", type: .string), ColumnSpec(name: "v", type: .string),
    ColumnSpec(name: "kafka_partition", type: .bigint), ColumnSpec(name: "kafka_offset", type: .bigint),
    ColumnSpec(name: "kafka_ts", type: .bigint), ColumnSpec(name: "event_time", type: .datetime),
]

/// Rows shaped like the demo's events (as `warehouse-insert-bench` writes them): a short key, a
/// ~150-byte JSON value, three integers, a time. Returns the batches and the bytes of keys and values.
func batches(rows: Int, batchSize: Int) -> (batches: [RowBatch], bytes: Int) {
    var out: [RowBatch] = []
    var bytes = 0
    var b = RowBatch(columns: columns, reservingRows: batchSize)
    for i in 0..<rows {
        let key = "key-\(i % 100_000)"
        let value = #"{"user":"u\#(i % 9973)","event":"click","page":"/items/\#(i % 1000)","amount":\#(i % 500).25,"ts":\#(1_669_107_600_000 + i)}"#
        bytes += key.utf8.count + value.utf8.count
        b.append(row: [.string(key), .string(value), .int(Int64(i % 3)), .int(Int64(i / 3)),
                       .int(1_669_107_600_000 + Int64(i)), .datetime(1_669_107_600_000 + Int64(i))])
        if b.rowCount == batchSize { out.append(b); b = RowBatch(columns: columns, reservingRows: batchSize) }
    }
    if b.rowCount > 0 { out.append(b) }
    return (out, bytes)
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

/// CPU seconds of this process (every thread).
func cpuSeconds() -> Double {
    var t = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t)
    return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
}

struct Failure: Error, CustomStringConvertible {
    var description: String
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard (1...2).contains(arguments.count), let rows = Int(arguments.count == 2 ? arguments[1] : "1000000"), rows > 0 else {
    FileHandle.standardError.write(Data("usage: postgres-copy-bench URL [ROWS]\n".utf8))
    exit(2)
}
var status: Int32 = 0
do {
    let sink = PostgresSink(url: try PostgresURL(parsing: arguments[0]), table: "bench_events", partitionKeys: ["ds"],
                            createTable: true)
    try await sink.prepare(columns: columns, partitionKeys: ["ds"])
    let (data, bytes) = batches(rows: rows, batchSize: 10_000)
    for (label, partition) in [("overwrite, new partition", "ds=2022112210"),
                               ("overwrite, replacing it", "ds=2022112210"),
                               ("overwrite, second partition", "ds=2022112211")] {
        let clock = ContinuousClock()
        let start = clock.now, cpu = cpuSeconds()
        let writer = try await sink.open(partition: try PartitionSpec(parsing: partition), mode: .overwrite, columns: columns,
                                         provenance: WriteProvenance(job: "bench", instanceId: "1", topic: "events"))
        for b in data { try await writer.write(b) }
        let written = clock.now
        let result = try await writer.commit()
        let end = clock.now
        guard result.rowsWritten == Int64(rows) else {
            throw Failure(description: "\(label): \(result.rowsWritten) rows written, expected \(rows)")
        }
        let total = seconds(end - start)
        print(String(format: "postgresql copy (%@): %d rows in %.2f s (commit %.2f s, CPU %.2f s) = %.0f rows/s, %.1f MB/s of key+value",
                     label, rows, total, seconds(end - written), cpuSeconds() - cpu, Double(rows) / total, Double(bytes) / total / 1e6))
    }
    let partitions = try await PostgresDestination(sink).partitions()
    guard partitions.map(\.rows) == [Int64(rows), Int64(rows)] else {
        throw Failure(description: "the partitions hold \(partitions.map(\.rows)) rows, expected [\(rows), \(rows)]")
    }
} catch {
    FileHandle.standardError.write(Data("postgres-copy-bench: \(error)\n".utf8))
    status = 1
}
exit(status)

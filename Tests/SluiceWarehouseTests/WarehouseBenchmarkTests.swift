import Foundation
import SluiceCore
import SluiceWarehouse
import Testing

/// Insert throughput of the warehouse writer. Runs only with SLUICE_BENCH set (see
/// Benchmarks/warehouse-insert.sh, which builds in release mode); prints figures, asserts only the
/// row counts.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["SLUICE_BENCH"] != nil))
struct WarehouseBenchmarkTests {
    static let columns = [
        ColumnSpec(name: "k", type: .string), ColumnSpec(name: "v", type: .string),
        ColumnSpec(name: "kafka_partition", type: .bigint), ColumnSpec(name: "kafka_offset", type: .bigint),
        ColumnSpec(name: "kafka_ts", type: .bigint), ColumnSpec(name: "event_time", type: .datetime),
    ]

    /// Rows shaped like the demo's events: a short key, a ~150-byte JSON value, three integers, a time.
    static func batches(rows: Int, batchSize: Int) -> [RowBatch] {
        var out: [RowBatch] = []
        var b = RowBatch(columns: columns, reservingRows: batchSize)
        for i in 0..<rows {
            let value = #"{"user":"u\#(i % 9973)","event":"click","page":"/items/\#(i % 1000)","amount":\#(i % 500).25,"ts":\#(1_669_107_600_000 + i)}"#
            b.append(row: [.string("key-\(i % 100_000)"), .string(value), .int(Int64(i % 3)), .int(Int64(i / 3)),
                           .int(1_669_107_600_000 + Int64(i)), .datetime(1_669_107_600_000 + Int64(i))])
            if b.rowCount == batchSize { out.append(b); b = RowBatch(columns: columns, reservingRows: batchSize) }
        }
        if b.rowCount > 0 { out.append(b) }
        return out
    }

    @Test func insertOneMillionRows() async throws {
        let rows = Int(ProcessInfo.processInfo.environment["SLUICE_BENCH_ROWS"] ?? "") ?? 1_000_000
        let dir = try TempDir()
        let sink = WarehouseSink(path: dir.file("bench.db"), table: "ods_events", createTable: true)
        try await sink.prepare(columns: Self.columns, partitionKeys: ["ds"])
        let batches = Self.batches(rows: rows, batchSize: 10_000)
        let bytes = batches.reduce(0) { acc, b in
            acc + (0..<b.rowCount).reduce(0) { a, r in
                if case .string(let v) = b[r, 1], case .string(let k) = b[r, 0] { a + v.utf8.count + k.utf8.count } else { a }
            }
        }
        for (label, partition) in [("overwrite, new partition", "ds=2022112210"),
                                   ("overwrite, replacing it", "ds=2022112210"),
                                   ("overwrite, second partition", "ds=2022112211")] {
            let clock = ContinuousClock()
            let start = clock.now
            let w = try await sink.open(partition: try PartitionSpec(parsing: partition), mode: .overwrite,
                                        columns: Self.columns,
                                        provenance: WriteProvenance(job: "bench", instanceId: "1", topic: "events"))
            for b in batches { try await w.write(b) }
            let written = clock.now
            let result = try await w.commit()
            let end = clock.now
            func secs(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
            let seconds = secs(end - start)
            #expect(result.rowsWritten == Int64(rows))
            print(String(format: "warehouse insert (%@): %d rows in %.2f s (commit %.2f s) = %.0f rows/s, %.1f MB/s of key+value",
                         label, rows, seconds, secs(end - written), Double(rows) / seconds, Double(bytes) / seconds / 1e6))
        }
        let parts = try await Warehouse(path: sink.path).partitions(table: "ods_events")
        #expect(parts.map(\.rows) == [Int64(rows), Int64(rows)])
    }
}

import Foundation
import SluiceTestSupport
import SluiceCore
@testable import SluiceWarehouse
import SluiceSQLite

/// A fresh temporary directory, removed when the value is released by the test.
typealias TempDir = TemporaryDirectory

let eventColumns = [
    ColumnSpec(name: "id", type: .bigint),
    ColumnSpec(name: "payload", type: .string),
]

func eventBatch(_ ids: some Sequence<Int>, tag: String = "v") -> RowBatch {
    var b = RowBatch(columns: eventColumns)
    for i in ids { b.append(row: [.int(Int64(i)), .string("\(tag)\(i)")]) }
    return b
}

func provenance(_ instance: String = "1", attempt: Int = 1, offsets: [PartitionOffsets] = []) -> WriteProvenance {
    WriteProvenance(job: "events_hourly", instanceId: instance, attempt: attempt, ledgerId: "L1", windowStartMillis: 1_669_107_600_000,
                    windowEndMillis: 1_669_111_200_000, topic: "events", offsets: offsets)
}

/// Writes `batches` into `partition` and commits.
@discardableResult
func writePartition(_ sink: WarehouseSink, _ partition: String, mode: WriteMode = .overwrite,
                    _ batches: [RowBatch], instance: String = "1", attempt: Int = 1,
                    offsets: [PartitionOffsets] = []) async throws -> CommitResult {
    let w = try await sink.open(partition: try PartitionSpec(parsing: partition), mode: mode,
                                columns: eventColumns, provenance: provenance(instance, attempt: attempt, offsets: offsets))
    for b in batches { try await w.write(b) }
    return try await w.commit()
}

/// Rows of a query through a separate plain connection.
func rows(_ path: String, _ sql: String) throws -> [[SQLiteValue]] {
    let c = try SQLiteConnection(path: path, options: SQLiteOpenOptions(mode: .readOnly, walMode: false))
    return try c.query(sql)
}

func count(_ path: String, _ sql: String) throws -> Int64 {
    guard case .integer(let n)? = try rows(path, sql).first?.first else { return -1 }
    return n
}

/// Collects emitted text across the connection queue.
final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [String] = []
    func add(_ s: String) { lock.lock(); parts.append(s); lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return parts.joined() }
}

func queryText(_ path: String, _ sql: String, _ format: ResultFormat) async throws -> String {
    let out = Collected()
    try await Warehouse(path: path).query(sql, format: format) { out.add($0) }
    return out.text
}

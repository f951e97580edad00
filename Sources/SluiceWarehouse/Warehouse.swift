import Foundation
import SluiceCore
import SluiceJob
import SluiceSQLite

/// Read access to a warehouse file: read-only queries and partition listings.
public struct Warehouse: Sendable {
    public var path: String

    public init(path: String) { self.path = path }

    /// Opens the file read-only, with `query_only` set and ATTACH disabled.
    func openReadOnly() async throws -> SQLiteDatabase {
        guard FileManager.default.fileExists(atPath: path) else {
            throw SluiceError.invalid("no warehouse file at \(path)",
                                      hint: "give the path of a warehouse .db file, or a job file whose destination is the warehouse")
        }
        do {
            let db = try await SQLiteDatabase.open(path: path, options: SQLiteOpenOptions(mode: .readOnly, walMode: false))
            try await db.perform { c in
                try c.execute("PRAGMA query_only = 1")
                c.disallowAttach()
            }
            return db
        } catch {
            throw SluiceError(.destination, "cannot open warehouse \(path) read-only: \(error)")
        }
    }

    /// Runs one read-only statement and sends its rows, formatted, to `emit` (in chunks). Returns
    /// the number of rows. Statements that would write are refused before they run.
    @discardableResult
    public func query(_ sql: String, format: ResultFormat,
                      emit: @escaping @Sendable (String) -> Void) async throws -> Int {
        let db = try await openReadOnly()
        let path = self.path
        return try await db.perform { c in
            let stmt: SQLiteStatement
            do {
                stmt = try c.prepare(sql)
            } catch let e as SQLiteError {
                throw SluiceError.invalid("query on \(path): \(e.message)")
            }
            guard stmt.isReadOnly else {
                throw SluiceError.invalid("`sluice sql` runs read-only queries; this statement would change \(path)",
                                          hint: "use SELECT (or WITH … SELECT, EXPLAIN, read-only PRAGMAs)")
            }
            let formatter = ResultFormatter(format: format, emit: emit)
            formatter.begin(columns: (0..<stmt.columnCount).map { stmt.columnName($0) })
            do {
                var row: [ResultCell] = []
                while try stmt.step() {
                    row.removeAll(keepingCapacity: true)
                    for i in 0..<stmt.columnCount { row.append(ResultCell(stmt.value(at: i))) }
                    formatter.row(row)
                }
            } catch let e as SQLiteError {
                throw SluiceError(.destination, "query on \(path) failed: \(e.message)")
            }
            formatter.end()
            return formatter.rowCount
        }
    }

    /// The partitions of `table` with live row counts and their provenance, sorted by partition.
    public func partitions(table: String) async throws -> [PartitionInfo] {
        let db = try await openReadOnly()
        let path = self.path
        return try await db.perform { c in
            guard try WarehouseMeta.tableExists(c, table) else {
                throw SluiceError.invalid("table '\(table)' does not exist in warehouse \(path)")
            }
            let hasMeta = try WarehouseMeta.tableExists(c, WarehouseMeta.partitions)
            var writes: [String: [PartitionWrite]] = [:]
            var keys = try WarehouseMeta.registeredPartitionKeys(c, table: table)
            if hasMeta {
                // Warehouses of older versions lack the later columns: they read as NULL.
                let have = try WarehouseMeta.partitionColumnNames(c)
                let added = WarehouseMeta.addedPartitionColumns.map { have.contains($0.0) ? $0.0 : "NULL" }
                let rows = try c.query("""
                    SELECT partition, job, instance_id, mode, window_start_ms, window_end_ms, topic, offsets, rows,
                           written_at_ms, id, \(added.joined(separator: ", "))
                    FROM _sluice_partitions WHERE table_name = ?1 ORDER BY id
                    """, [.text(table)])
                for r in rows {
                    func text(_ i: Int) -> String { if case .text(let t) = r[i] { t } else { "" } }
                    func int(_ i: Int) -> Int64? { if case .integer(let v) = r[i] { v } else { nil } }
                    let offsets = (try? JSONDecoder().decode([PartitionOffsets].self, from: Data(text(7).utf8))) ?? []
                    writes[text(0), default: []].append(PartitionWrite(
                        id: int(10) ?? 0, job: text(1), instanceId: text(2), attempt: int(11).map(Int.init), mode: text(3),
                        windowStartMillis: int(4), windowEndMillis: int(5), topic: text(6), offsets: offsets,
                        rows: int(8) ?? 0, writtenAtMillis: int(9) ?? 0,
                        outcome: try? JSONDecoder().decode(WriteOutcome.self, from: Data(text(13).utf8)),
                        replacedBy: int(14)))
                }
                if keys == nil, let some = writes.keys.first, let spec = try? PartitionSpec(parsing: some) {
                    keys = spec.keys
                }
            }
            let partitionKeys = keys ?? []
            var counts: [String: Int64] = [:]
            let q = TableDDL.quoteSQLite
            if partitionKeys.isEmpty {
                if case .integer(let n)? = try c.scalar("SELECT COUNT(*) FROM \(q(table))") { counts[""] = n }
            } else {
                let cols = partitionKeys.map(q).joined(separator: ", ")
                for r in try c.query("SELECT \(cols), COUNT(*) FROM \(q(table)) GROUP BY \(cols)") {
                    let spec = PartitionSpec(partitionKeys.enumerated().map { i, k in
                        PartitionSpec.Entry(key: k, value: ResultFormatter.plainText(ResultCell(r[i])))
                    })
                    if case .integer(let n) = r[partitionKeys.count] { counts[spec.description] = n }
                }
            }
            let all = Set(counts.keys).union(writes.keys)
            return all.sorted().map { p in
                let all = writes[p] ?? []
                return PartitionInfo(partition: p, rows: counts[p] ?? 0, writes: all.filter { $0.replacedBy == nil },
                                     replaced: all.filter { $0.replacedBy != nil })
            }
        }
    }

    /// `sluice partitions` text output: one line per partition and write whose rows it holds, and
    /// with `history` also the replaced writes (their MODE says by which write).
    public static func renderPartitions(_ partitions: [PartitionInfo], history: Bool = false) -> String {
        func time(_ ms: Int64?) -> String {
            guard let ms else { return "" }
            return TimeText.string { TimeText.datetime(millis: ms, into: $0) }.replacing(/\.000$/, with: "") + "Z"
        }
        var rows: [[String]] = []
        for p in partitions {
            let name = p.partition.isEmpty ? "(unpartitioned)" : p.partition
            if p.writes.isEmpty && (!history || p.replaced.isEmpty) {
                rows.append([name, String(p.rows)] + Array(repeating: "", count: history ? 7 : 6))
            }
            let shown = history ? (p.writes + p.replaced).sorted { $0.id < $1.id } : p.writes
            for (i, w) in shown.enumerated() {
                let window = w.windowStartMillis == nil && w.windowEndMillis == nil
                    ? "" : "[\(time(w.windowStartMillis)), \(time(w.windowEndMillis)))"
                let offsets = w.offsets.sorted { $0.partition < $1.partition }
                    .map { "\($0.partition):\($0.from)-\($0.to)" }.joined(separator: " ")
                let mode = w.replacedBy.map { "\(w.mode), replaced by write \($0)" } ?? w.mode
                var row = [i == 0 ? name : "", i == 0 ? String(p.rows) : "", mode, w.instanceId, w.job, window, w.topic, offsets]
                if history { row.insert(String(w.id), at: 2) }
                rows.append(row)
            }
        }
        var headers = ["PARTITION", "ROWS", "MODE", "INSTANCE", "JOB", "WINDOW", "TOPIC", "OFFSETS [from-to)"]
        if history { headers.insert("WRITE", at: 2) }
        return TextTable.render(headers: headers, rows: rows, rightAligned: [1])
    }
}

extension ResultCell {
    init(_ v: SQLiteValue) {
        switch v {
        case .null: self = .null
        case .integer(let i): self = .integer(i)
        case .real(let d): self = .real(d)
        case .text(let t): self = .text(t)
        case .blob(let b): self = .blob(b)
        }
    }
}

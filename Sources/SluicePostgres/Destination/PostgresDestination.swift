import Foundation
import NIOCore
import PostgresNIO
import SluiceCore

/// A PostgreSQL table as the commands that are not runs see it: `sluice ddl --apply`, `sluice sql`
/// and `sluice partitions`. Its `sink` writes the partitions.
public struct PostgresDestination: Destination {
    public var writer: PostgresSink

    public init(_ writer: PostgresSink) { self.writer = writer }

    public var table: String { writer.table }
    public var dialect: DDLDialect { .postgresql }
    public var sink: any Sink { writer }

    public func createTableDDL(columns: [ColumnSpec], partitionKeys: [String]) -> String {
        TableDDL.createTable(name: table, columns: columns, partitionKeys: partitionKeys, dialect: .postgresql)
    }

    /// Creates the table (and `_sluice_partitions`) unless it exists; an existing table is checked
    /// against the job instead.
    public func createTable(columns: [ColumnSpec], partitionKeys: [String]) async throws -> String {
        var creating = writer
        creating.createTable = true
        let existed = try await creating.tableColumns() != nil
        try await creating.prepare(columns: columns, partitionKeys: partitionKeys)
        return existed ? "table \(table) already exists in PostgreSQL \(writer.url) and matches the job"
            : "created table \(table) in PostgreSQL \(writer.url)"
    }

    /// Runs one statement inside a READ ONLY transaction (a statement that would write fails there,
    /// exit 2) and streams its rows in `format`.
    public func query(_ sql: String, format: ResultFormat, emit: @escaping @Sendable (String) -> Void) async throws {
        let place = writer.place
        let session = try await writer.connect(doing: "running the query")
        do {
            try await session.execute("BEGIN READ ONLY")
            let rows = try await session.connection.query(PostgresQuery(unsafeSQL: sql), logger: session.logger)
            for column in rows.columns where !PostgresResultCell.prints(column.dataType) {
                throw SluiceError.invalid("column '\(column.name)' of the result is \(column.dataType.knownSQLName ?? "of type OID \(column.dataType.rawValue)"), which sluice sql does not print",
                                          hint: "cast it to text in the query: \(column.name)::text")
            }
            let formatter = ResultFormatter(format: format, emit: emit)
            formatter.begin(columns: rows.columns.map(\.name))
            var values: [ResultCell] = []
            for try await row in rows {
                values.removeAll(keepingCapacity: true)
                for cell in row { values.append(try PostgresResultCell.cell(cell)) }
                formatter.row(values)
            }
            formatter.end()
            await session.close(rollback: true)
        } catch {
            await session.close(rollback: true)
            throw Self.queryError(error, place: place)
        }
    }

    /// A statement PostgreSQL refused is invalid input (exit 2), as a SQLite warehouse's: its
    /// syntax, a missing table, a statement that would write; the rest (a lost server) exits 1.
    static func queryError(_ error: any Error, place: PostgresPlace) -> SluiceError {
        let state = PostgresPlace.sqlState(error) ?? ""
        let message = PostgresPlace.serverField(error, .message) ?? ""
        switch state {
        case "25006":
            return SluiceError.invalid("`sluice sql` runs read-only queries; this statement would change \(place.url): \(message)",
                                       hint: "use SELECT (or WITH … SELECT, EXPLAIN, SHOW)")
        case let s where ["42", "22", "0A", "2B", "3F", "3D"].contains(String(s.prefix(2))):
            return SluiceError.invalid("query on PostgreSQL \(place.url): \(message) (SQLSTATE \(s))")
        default:
            return place.error(error, doing: "running the query")
        }
    }

    public func partitions() async throws -> [PartitionInfo] {
        try await writer.transaction(doing: "listing partitions") { session in
            guard let found = try await PostgresTable.resolve(writer.table, on: session) else {
                throw SluiceError.invalid("table \(writer.table) does not exist in PostgreSQL \(writer.url)")
            }
            let writes = try await PostgresPartitions.writes(of: found, on: session)
            let keys = writer.partitionKeys.filter { k in found.columns.contains { $0.name == k } }
            let counts = try await PostgresPartitions.rowCounts(of: found, keys: keys, on: session)
            return Set(counts.keys).union(writes.keys).sorted().map { p in
                let all = writes[p] ?? []
                return PartitionInfo(partition: p, rows: counts[p] ?? 0, writes: all.filter { $0.replacedBy == nil },
                                     replaced: all.filter { $0.replacedBy != nil })
            }
        }
    }
}

/// The reads of `sluice partitions`.
enum PostgresPartitions {
    /// The table's write records by partition, oldest first.
    static func writes(of table: PostgresTable, on session: PostgresSession) async throws -> [String: [PartitionWrite]] {
        guard try await PostgresWriteRecords.exist(table, on: session) else { return [:] }
        var writes: [String: [PartitionWrite]] = [:]
        let decoder = JSONDecoder()
        for r in try await session.rows("""
            SELECT partition, job, instance_id, mode, window_start_ms, window_end_ms, topic, offsets::text, rows,
                   written_at_ms, id, attempt, outcome::text, replaced_by
            FROM \(table.records) WHERE table_name = $1 ORDER BY id
            """, [.text(table.name)]) {
            let offsets = try r.text(7).flatMap { try? decoder.decode([PartitionOffsets].self, from: Data($0.utf8)) } ?? []
            let outcome = try r.text(12).flatMap { try? decoder.decode(WriteOutcome.self, from: Data($0.utf8)) }
            writes[try r.text(0) ?? "", default: []].append(PartitionWrite(
                id: try r.int(10) ?? 0, job: try r.text(1) ?? "", instanceId: try r.text(2) ?? "",
                attempt: try r.int(11).map(Int.init), mode: try r.text(3) ?? "", windowStartMillis: try r.int(4),
                windowEndMillis: try r.int(5), topic: try r.text(6) ?? "", offsets: offsets, rows: try r.int(8) ?? 0,
                writtenAtMillis: try r.int(9) ?? 0, outcome: outcome, replacedBy: try r.int(13)))
        }
        return writes
    }

    /// Live row counts by partition (`ds=…,hh=…`; "" for an unpartitioned table).
    static func rowCounts(of table: PostgresTable, keys: [String], on session: PostgresSession) async throws -> [String: Int64] {
        guard !keys.isEmpty else {
            let n = try await session.rows("SELECT count(*) FROM \(table.qualified)").first?.int(0) ?? 0
            return n > 0 ? ["": n] : [:]
        }
        let columns = keys.map { TableDDL.quotePostgres($0) + "::text" }.joined(separator: ", ")
        var counts: [String: Int64] = [:]
        for r in try await session.rows("SELECT \(columns), count(*) FROM \(table.qualified) GROUP BY \((1...keys.count).map(String.init).joined(separator: ", "))") {
            let spec = PartitionSpec(try keys.indices.map { PartitionSpec.Entry(key: keys[$0], value: try r.text($0) ?? "") })
            counts[spec.description] = try r.int(keys.count) ?? 0
        }
        return counts
    }
}

/// Result cells of `sluice sql`, decoded from PostgreSQL's binary representations.
enum PostgresResultCell {
    /// Whether `cell` decodes values of `type`.
    static func prints(_ type: PostgresDataType) -> Bool {
        [.bool, .int2, .int4, .int8, .oid, .float4, .float8, .numeric, .text, .varchar, .bpchar, .name, .char, .json,
         .jsonb, .bytea, .date, .timestamp, .timestamptz, .uuid, PostgresDataType(705)].contains(type)
    }

    static func cell(_ cell: PostgresCell) throws -> ResultCell {
        guard var bytes = cell.bytes else { return .null }
        switch cell.dataType {
        case .bool: return .text((bytes.readInteger(as: UInt8.self) ?? 0) != 0 ? "true" : "false")
        case .int2: return .integer(Int64(bytes.readInteger(as: Int16.self) ?? 0))
        case .int4: return .integer(Int64(bytes.readInteger(as: Int32.self) ?? 0))
        case .int8: return .integer(bytes.readInteger(as: Int64.self) ?? 0)
        case .oid: return .integer(Int64(bytes.readInteger(as: UInt32.self) ?? 0))
        case .float4:
            // Through the shortest decimal text, so that real 0.1 prints as 0.1.
            let f = Float(bitPattern: bytes.readInteger(as: UInt32.self) ?? 0)
            return .real(Double(f.description) ?? Double(f))
        case .float8: return .real(Double(bitPattern: bytes.readInteger(as: UInt64.self) ?? 0))
        case .numeric: return .text(PostgresBinary.numericText(bytes) ?? "?")
        case .bytea: return .blob(Array(bytes.readableBytesView))
        case .jsonb:
            _ = bytes.readInteger(as: UInt8.self)  // the version byte
            return .text(bytes.readString(length: bytes.readableBytes) ?? "")
        case .date: return .text(PostgresBinary.dateText(days: bytes.readInteger(as: Int32.self) ?? 0))
        case .timestamp: return .text(PostgresBinary.timestampText(microseconds: bytes.readInteger(as: Int64.self) ?? 0))
        case .timestamptz: return .text(PostgresBinary.timestampText(microseconds: bytes.readInteger(as: Int64.self) ?? 0) + "+00")
        case .uuid: return .text(try cell.decode(UUID.self).uuidString.lowercased())
        default: return .text(bytes.readString(length: bytes.readableBytes) ?? "")
        }
    }
}

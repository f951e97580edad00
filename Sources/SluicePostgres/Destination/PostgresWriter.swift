import Foundation
import NIOCore
import PostgresNIO
import SluiceCore
import Synchronization

/// An open partition of a PostgreSQL table: one transaction on its own connection, from `open` to
/// `commit` or `abort`. Each batch is loaded by one binary COPY in that transaction.
final class PostgresWriter: PartitionWriter {
    private let session: PostgresSession
    private let place: PostgresPlace
    private let partition: PartitionSpec
    private let encoder: PostgresCopyEncoder
    /// What `copyFrom` is given as the table (see `copyTarget`).
    private let target: String
    private let kind: Kind
    private let state = Mutex(State())

    /// A write of the partition itself, recorded in `records` under `writeId` (also in `_sluice_write`
    /// of its rows, when the table has it); or of one shard into its staging table.
    enum Kind {
        case partition(records: String, writeId: Int64)
        case staging(shard: Int, table: String)
    }

    /// The schema of the table the rows go to (a shard's staging table is in its table's schema).
    private let stagingSchema: String

    struct State {
        var rows: Int64 = 0
        var finished = false
    }

    /// Bytes of COPY data sent per message.
    static let chunkBytes = 1 << 20

    private init(session: PostgresSession, place: PostgresPlace, partition: PartitionSpec, encoder: PostgresCopyEncoder,
                 target: String, kind: Kind, schema: String) {
        self.stagingSchema = schema
        self.session = session
        self.place = place
        self.partition = partition
        self.encoder = encoder
        self.target = target
        self.kind = kind
    }

    /// Begins the write's transaction on `session`: takes the instance's write lock, checks the
    /// table, records the write and deletes what it replaces.
    static func open(session: PostgresSession, sink: PostgresSink, partition: PartitionSpec, mode: WriteMode,
                     columns: [ColumnSpec], provenance: WriteProvenance) async throws -> PostgresWriter {
        let (table, writeId) = try await begin(session: session, sink: sink, partition: partition, mode: mode,
                                               columns: columns, provenance: provenance)
        let (names, constants) = written(columns: columns, partition: partition, table: table, writeId: writeId)
        let encoder = try PostgresCopyEncoder(columns: columns, tableColumns: table.columns, constants: constants)
        return PostgresWriter(session: session, place: sink.place, partition: partition, encoder: encoder,
                              target: copyTarget(table, columns: names), kind: .partition(records: table.records, writeId: writeId), schema: table.schema)
    }

    /// The columns a write fills (the job's, the partition keys, `_sluice_write` when the table has
    /// it) and the constants after the job's columns.
    static func written(columns: [ColumnSpec], partition: PartitionSpec, table: PostgresTable,
                        writeId: Int64) -> (names: [String], constants: [PostgresCopyEncoder.Constant]) {
        var constants = partition.entries.map { PostgresCopyEncoder.Constant.text($0.value) }
        var names = columns.map(\.name) + partition.keys
        if table.isTagged {
            constants.append(.int8(writeId))
            names.append(PostgresWriteRecords.writeColumn)
        }
        return (names, constants)
    }

    /// Opens a shard's write on `session`: one transaction that creates its staging table (the
    /// columns the write fills, as in the table, without constraints) and loads it; its commit keeps
    /// the rows there for `commitShards`.
    static func openStaging(session: PostgresSession, sink: PostgresSink, stage: String, shard: Int, partition: PartitionSpec,
                            columns: [ColumnSpec]) async throws -> PostgresWriter {
        try await session.execute("BEGIN")
        guard let table = try await PostgresTable.resolve(sink.table, on: session) else { throw sink.missingTable() }
        let problems = PostgresSchema.differences(tableColumns: table.columns, columns: columns, partitionKeys: partition.keys)
        if !problems.isEmpty { throw sink.mismatch(problems) }
        let (names, constants) = written(columns: columns, partition: partition, table: table, writeId: 0)
        let staging = PostgresTable(schema: table.schema, name: stage, columns: table.columns)
        try await session.rows("DROP TABLE IF EXISTS \(staging.qualified)")
        try await session.rows("CREATE UNLOGGED TABLE \(staging.qualified) AS SELECT "
                               + names.map(TableDDL.quotePostgres).joined(separator: ", ") + " FROM \(table.qualified) WITH NO DATA")
        let encoder = try PostgresCopyEncoder(columns: columns, tableColumns: table.columns, constants: constants)
        return PostgresWriter(session: session, place: sink.place, partition: partition, encoder: encoder,
                              target: copyTarget(staging, columns: names), kind: .staging(shard: shard, table: stage), schema: table.schema)
    }

    /// The start of a partition write's transaction on `session`: takes the instance's write lock,
    /// checks the table, records the write and deletes what it replaces. Returns the table and the
    /// write's id.
    static func begin(session: PostgresSession, sink: PostgresSink, partition: PartitionSpec, mode: WriteMode,
                      columns: [ColumnSpec], provenance: WriteProvenance) async throws -> (PostgresTable, Int64) {
        try await session.execute("BEGIN")
        try await session.lockForTransaction(PostgresWriteRecords.instanceLock(
            table: sink.table, partition: partition, ledgerId: provenance.ledgerId, job: provenance.job,
            instanceId: provenance.instanceId))
        guard let table = try await PostgresTable.resolve(sink.table, on: session) else { throw sink.missingTable() }
        let problems = PostgresSchema.differences(tableColumns: table.columns, columns: columns, partitionKeys: partition.keys)
        if !problems.isEmpty { throw sink.mismatch(problems) }
        guard try await PostgresWriteRecords.exist(table, on: session), mode == .overwrite || table.isTagged else {
            throw SluiceError(.destination, "\(sink.place) is not prepared for Sluice's writes (no \(PostgresWriteRecords.table) in schema \(table.schema), or no \(PostgresWriteRecords.writeColumn) column for an append)",
                              hint: "run `sluice ddl JOB --apply` once", code: "destination.schema", retriable: false)
        }
        let writeId = try await record(provenance, mode: mode, partition: partition, table: table, on: session)
        try await removeReplaced(by: writeId, mode: mode, partition: partition, provenance: provenance, table: table, on: session)
        return (table, writeId)
    }

    /// The `table` argument of PostgresNIO's `copyFrom`, which writes `COPY "<table>" FROM STDIN WITH
    /// (FORMAT text)` with the argument as given: the schema, the table, the column list and the
    /// binary format, with what follows commented out. (PostgresNIO 1.33 offers the text format
    /// only; its binary COPY entry point is not released yet.) Identifiers are quoted here, with
    /// their double quotes doubled.
    static func copyTarget(_ table: PostgresTable, columns: [String]) -> String {
        func escaped(_ name: String) -> String { name.replacingOccurrences(of: "\"", with: "\"\"") }
        return escaped(table.schema) + "\".\"" + escaped(table.name) + "\" ("
            + columns.map(TableDDL.quotePostgres).joined(separator: ", ") + ") FROM STDIN WITH (FORMAT binary) --"
    }

    /// Inserts the write's record (its counts are filled in at commit) and returns its id.
    private static func record(_ p: WriteProvenance, mode: WriteMode, partition: PartitionSpec, table: PostgresTable,
                               on session: PostgresSession) async throws -> Int64 {
        let offsets = String(decoding: try JSONEncoder().encode(p.offsets), as: UTF8.self)
        let row = try await session.rows("""
            INSERT INTO \(table.records) (table_name, partition, mode, job, instance_id, attempt, ledger_id,
              window_start_ms, window_end_ms, topic, offsets, rows, written_at_ms)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, 0, 0) RETURNING id
            """, [.text(table.name), .text(partition.description), .text(mode.rawValue), .text(p.job), .text(p.instanceId),
                  .int(Int64(p.attempt)), .text(p.ledgerId), p.windowStartMillis.map(PostgresBind.int) ?? .null,
                  p.windowEndMillis.map(PostgresBind.int) ?? .null, .text(p.topic), .text(offsets)]).first
        guard let id = try row?.int(0) else { throw SluiceError(.destination, "\(table.records): no id for the new write record") }
        return id
    }

    /// An overwrite deletes the partition's rows; an append deletes the rows of the same instance's
    /// earlier writes of the partition. Either marks the writes it removed as replaced by this one.
    private static func removeReplaced(by writeId: Int64, mode: WriteMode, partition: PartitionSpec, provenance p: WriteProvenance,
                                       table: PostgresTable, on session: PostgresSession) async throws {
        let values = partition.entries.map { PostgresBind.text($0.value) }
        var condition = partition.entries.enumerated().map { "\(TableDDL.quotePostgres($1.key)) = $\($0 + 1)" }
        var replaced = "table_name = $1 AND partition = $2 AND replaced_by IS NULL AND id <> $3"
        var binds: [PostgresBind] = [.text(table.name), .text(partition.description), .int(writeId)]
        if mode == .overwrite {
            try await session.rows("DELETE FROM \(table.qualified)"
                                   + (condition.isEmpty ? "" : " WHERE " + condition.joined(separator: " AND ")), values)
        } else {
            replaced += " AND job = $4 AND instance_id = $5 AND ledger_id = $6"
            binds += [.text(p.job), .text(p.instanceId), .text(p.ledgerId)]
            let earlier = try await session.rows("SELECT id FROM \(table.records) WHERE \(replaced)", binds).compactMap { try $0.int(0) }
            guard !earlier.isEmpty else { return }
            condition.append("\(TableDDL.quotePostgres(PostgresWriteRecords.writeColumn)) = ANY($\(values.count + 1))")
            try await session.rows("DELETE FROM \(table.qualified) WHERE " + condition.joined(separator: " AND "),
                                   values + [.ints(earlier)])
        }
        try await session.rows("UPDATE \(table.records) SET replaced_by = $3 WHERE \(replaced)", binds)
    }

    func write(_ batch: RowBatch) async throws {
        let before = try state.withLock { s in
            guard !s.finished else { throw SluiceError(.destination, "\(place): write after commit or abort") }
            return s.rows
        }
        guard batch.rowCount > 0 else { return }
        let encoder = self.encoder
        // A message's bytes: the batch's text and bytes plus about 8 per cell, up to a chunk.
        let capacity = min(Self.chunkBytes + (64 << 10), batch.arenaBytes + batch.rowCount * (batch.columns.count + 4) * 12 + 64)
        do {
            try await session.connection.copyFrom(table: target, logger: session.logger) { writer in
                var row = 0
                while row < batch.rowCount {
                    var buffer = ByteBufferAllocator().buffer(capacity: capacity)
                    if row == 0 { buffer.writeBytes(PostgresBinary.header) }
                    row = try batch.withCells { try encoder.encode($0, from: row, into: &buffer, limit: Self.chunkBytes) }
                    if row == batch.rowCount { buffer.writeBytes(PostgresBinary.trailer) }
                    try await writer.write(buffer)
                }
            }
        } catch {
            throw refused(error, rowsBefore: before)
        }
        state.withLock { $0.rows += Int64(batch.rowCount) }
    }

    /// The error of a COPY the server refused, naming the row (counted over the whole write) and
    /// the column it names.
    private func refused(_ error: any Error, rowsBefore: Int64) -> SluiceError {
        let doing = "loading partition \(partition)"
        guard let context = PostgresPlace.serverField(error, .locationContext) else { return place.error(error, doing: doing) }
        var described = place.error(error, doing: doing)
        if let line = context.firstMatch(of: /line (\d+)/).flatMap({ Int64($0.output.1) }) {
            let column = context.firstMatch(of: /column ([^:]+)/).map { ", column \($0.output.1)" } ?? ""
            described.message += " (row \(rowsBefore + line) of the write\(column))"
        } else {
            described.message += " (\(context))"
        }
        return described
    }

    func commit(_ outcome: WriteOutcome) async throws -> CommitResult {
        let rows = try state.withLock { s in
            guard !s.finished else { throw SluiceError(.destination, "\(place): commit after commit or abort") }
            s.finished = true
            return s.rows
        }
        do {
            if case .partition(let records, let writeId) = kind {
                try await Self.finishRecord(records: records, writeId: writeId, rows: rows, outcome: outcome, on: session)
            }
            try await session.execute("COMMIT")
        } catch {
            await session.close(rollback: true)
            throw place.error(error, doing: "committing partition \(partition)")
        }
        await session.close()
        return CommitResult(rowsWritten: rows)
    }

    /// Fills in the write record's row count and outcome.
    static func finishRecord(records: String, writeId: Int64, rows: Int64, outcome: WriteOutcome,
                             on session: PostgresSession) async throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let now = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        try await session.rows("UPDATE \(records) SET rows = $2, outcome = $3::jsonb, written_at_ms = $4 WHERE id = $1",
                               [.int(writeId), .int(rows), .text(String(decoding: try encoder.encode(outcome), as: UTF8.self)), .int(now)])
    }

    func abort() async {
        let open = state.withLock { s in
            defer { s.finished = true }
            return !s.finished
        }
        if open { await session.close(rollback: true) }
    }
}

extension PostgresWriter: ShardWriter {
    var written: ShardWrite {
        let rows = state.withLock { $0.rows }
        if case .staging(let shard, let table) = kind { return ShardWrite(shard: shard, location: table, rows: rows) }
        return ShardWrite(shard: 0, rows: rows)
    }

    func discard() async {
        guard case .staging(_, let table) = kind, let session = try? await PostgresSession.open(place.url) else { return }
        _ = try? await session.rows("DROP TABLE IF EXISTS \(TableDDL.quotePostgres(stagingSchema)).\(TableDDL.quotePostgres(table))")
        await session.close()
    }
}

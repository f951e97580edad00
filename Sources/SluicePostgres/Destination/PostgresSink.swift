import Foundation
import PostgresNIO
import SluiceCore

/// A PostgreSQL table as a destination (`destination.type: postgresql`).
///
/// A write holds one transaction on its own connection from `open` to `commit`: it records the
/// write in `_sluice_partitions`, deletes what it replaces (an overwrite the partition's rows, an
/// append its instance's earlier rows), loads the rows with binary COPY, and commits. Readers see
/// the old partition until the commit and the new one after it (MVCC: they never wait for the
/// write, nor it for them); a process killed before the commit leaves the old content (the server
/// rolls back the transaction of a connection that closed).
public struct PostgresSink: Sink {
    public var url: PostgresURL
    /// The table as the job names it: `t` (looked up on the search_path) or `schema.t`.
    public var table: String
    /// The table's partition columns, from the job's partition template.
    public var partitionKeys: [String]
    /// The job's write mode: `prepare` adds the write-id column an append needs.
    public var writeMode: WriteMode
    /// The columns the job writes by name; nil when it writes the table's columns in order (`*`).
    /// Columns with a default that the job does not write are left to their default.
    public var writtenColumns: [String]?
    /// Create the table when missing, instead of failing.
    public var createTable: Bool

    public init(url: PostgresURL, table: String, partitionKeys: [String], writeMode: WriteMode = .overwrite,
                writtenColumns: [String]? = nil, createTable: Bool = false) {
        self.url = url
        self.table = table
        self.partitionKeys = partitionKeys
        self.writeMode = writeMode
        self.writtenColumns = writtenColumns
        self.createTable = createTable
    }

    var place: PostgresPlace { PostgresPlace(url: url, table: table) }

    func connect(doing: String) async throws -> PostgresSession {
        do {
            return try await PostgresSession.open(url)
        } catch {
            throw place.error(error, doing: doing)
        }
    }

    /// Runs `body` in a transaction on a connection of its own; rolls back and rethrows (as a
    /// destination error saying what was being done) when it fails.
    func transaction<T: Sendable>(doing: String, _ body: (PostgresSession) async throws -> T) async throws -> T {
        let session = try await connect(doing: doing)
        do {
            try await session.execute("BEGIN")
            let result = try await body(session)
            try await session.execute("COMMIT")
            await session.close()
            return result
        } catch {
            await session.close(rollback: true)
            throw place.error(error, doing: doing)
        }
    }

    func missingTable() -> SluiceError {
        SluiceError(.destination, "\(place) does not exist", hint: "create it with `sluice ddl JOB --apply`, or run with --create-table",
                    code: "destination.schema", retriable: false)
    }

    func mismatch(_ problems: [String]) -> SluiceError {
        SluiceError(.destination, "\(place) does not match the job: " + problems.joined(separator: "; "),
                    hint: "change the table or the job's columns so that they agree (sluice ddl JOB --dialect postgresql shows the table the job expects)",
                    code: "destination.schema", context: ["table": table], retriable: false)
    }

    public func prepare(columns: [ColumnSpec], partitionKeys: [String]) async throws {
        try await transaction(doing: "preparing the table") { session in
            try await session.lockForTransaction(PostgresWriteRecords.setupLock(table: table))
            var resolved = try await PostgresTable.resolve(table, on: session)
            if resolved == nil {
                guard createTable else { throw missingTable() }
                for sql in TableDDL.createPostgresTableStatements(name: table, columns: columns, partitionKeys: partitionKeys) {
                    try await session.rows(sql)
                }
                resolved = try await PostgresTable.resolve(table, on: session)
            }
            guard let found = resolved else { throw missingTable() }
            let problems = PostgresSchema.differences(tableColumns: found.columns, columns: columns, partitionKeys: partitionKeys)
            if !problems.isEmpty { throw mismatch(problems) }
            try await PostgresWriteRecords.ensure(found, on: session)
            if writeMode == .append, !found.isTagged {
                // Metadata only (a nullable column without a default), but it waits for the table's
                // readers: give up after a minute rather than queue everyone behind it.
                try await session.execute("SET LOCAL lock_timeout = '60s'")
                try await session.rows("ALTER TABLE \(found.qualified) ADD COLUMN IF NOT EXISTS \(TableDDL.quotePostgres(PostgresWriteRecords.writeColumn)) bigint")
            }
        }
    }

    public func tableColumns() async throws -> [ColumnSpec]? {
        let found = try await transaction(doing: "reading the table's columns") { session in
            try await PostgresTable.resolve(table, on: session)
        }
        guard let found else { return nil }
        let written = writtenColumns.map { Set($0.map { $0.lowercased() }) }
        return found.columns.filter { c in
            guard !partitionKeys.contains(c.name), c.name != PostgresWriteRecords.writeColumn else { return false }
            // A column with a default that the job does not write keeps its default.
            return !(c.hasDefault && written.map { !$0.contains(c.name.lowercased()) } ?? false)
        }.map { ColumnSpec(name: $0.name, type: $0.columnType ?? .string, nullable: !$0.notNull) }
    }

    public func open(partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
                     provenance: WriteProvenance) async throws -> any PartitionWriter {
        let doing = "opening partition \(partition.description.isEmpty ? "(none)" : partition.description)"
        let session = try await connect(doing: doing)
        do {
            return try await PostgresWriter.open(session: session, sink: self, partition: partition, mode: mode,
                                                 columns: columns, provenance: provenance)
        } catch {
            await session.close(rollback: true)
            throw place.error(error, doing: doing)
        }
    }

    /// Looks the attempt up in `_sluice_partitions`, whose row commits in the same transaction as
    /// the attempt's rows: there, the attempt committed; absent, nothing of it is in the table. The
    /// look-up first takes the instance's write lock, so it waits for a write still open on the
    /// connection of a process that died, and sees how it ended.
    public func commitState(of write: WriteReference) async throws -> CommitState {
        try await transaction(doing: "looking up the write of instance \(write.instanceId), attempt \(write.attempt)") { session in
            try await session.lockForTransaction(PostgresWriteRecords.instanceLock(
                table: table, partition: write.partition, ledgerId: write.ledgerId, job: write.job, instanceId: write.instanceId))
            guard let found = try await PostgresTable.resolve(table, on: session),
                  try await PostgresWriteRecords.exist(found, on: session) else { return .notCommitted }
            let row = try await session.rows("""
                SELECT rows FROM \(found.records) WHERE table_name = $1 AND partition = $2 AND job = $3
                  AND instance_id = $4 AND attempt = $5 AND ledger_id = $6
                """, [.text(found.name), .text(write.partition.description), .text(write.job), .text(write.instanceId),
                      .int(Int64(write.attempt)), .text(write.ledgerId)]).first
            guard let row else { return .notCommitted }
            return .committed(rows: try row.int(0))
        }
    }

    /// An append deletes the rows of its instance's earlier writes of the partition (by
    /// `_sluice_write`) in its own transaction.
    public var replacesEarlierAppends: Bool { true }
}

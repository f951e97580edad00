import Foundation
import SluiceCore

/// Sharded writes into PostgreSQL: each shard loads a staging table of its own (binary COPY, in its
/// own transaction, invisible in the destination table), and the commit inserts every shard's
/// staging table into the table in one transaction that also records the write, deletes what it
/// replaces and drops the staging tables. Readers see the old partition or the new one.
///
/// Staging tables are named `_sluice_shard_<instance key>_<attempt>_<shard>_<fence>`, in the
/// table's schema: a shard written again after its worker died loads a table of its own, so the
/// rows of a worker that lost its claim never reach the commit.
extension PostgresSink: ShardedSink {
    static let stagePrefix = "_sluice_shard_"

    /// 16 hex digits naming the instance (FNV-1a of its ledger, job and id): the staging tables of
    /// all its attempts start with `_sluice_shard_<key>_`.
    static func instanceKey(_ p: WriteProvenance) -> String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in "\(p.ledgerId)\u{1F}\(p.job)\u{1F}\(p.instanceId)".utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    public func beginShards(partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
                            provenance: WriteProvenance) async throws -> String {
        "\(Self.instanceKey(provenance))_\(provenance.attempt)"
    }

    public func openShard(token: String, shard: Int, fence: Int, partition: PartitionSpec,
                          columns: [ColumnSpec]) async throws -> any ShardWriter {
        let doing = "opening shard \(shard) of partition \(partition.description.isEmpty ? "(none)" : partition.description)"
        let session = try await connect(doing: doing)
        do {
            return try await PostgresWriter.openStaging(session: session, sink: self, stage: "\(Self.stagePrefix)\(token)_\(shard)_\(fence)",
                                                        shard: shard, partition: partition, columns: columns)
        } catch {
            await session.close(rollback: true)
            throw place.error(error, doing: doing)
        }
    }

    public func commitShards(token: String, partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
                             provenance: WriteProvenance, shards: [ShardWrite], outcome: WriteOutcome) async throws -> CommitResult {
        let doing = "committing \(shards.count) shard(s) of partition \(partition.description.isEmpty ? "(none)" : partition.description)"
        let session = try await connect(doing: doing)
        do {
            let (table, writeId) = try await PostgresWriter.begin(session: session, sink: self, partition: partition, mode: mode,
                                                                  columns: columns, provenance: provenance)
            let names = PostgresWriter.written(columns: columns, partition: partition, table: table, writeId: writeId).names
            let quoted = names.map(TableDDL.quotePostgres).joined(separator: ", ")
            let selected = names.map { $0 == PostgresWriteRecords.writeColumn ? "\(writeId)::bigint" : TableDDL.quotePostgres($0) }
                .joined(separator: ", ")
            for shard in shards {
                guard let stage = shard.location else { throw SluiceError(.destination, "\(place): shard \(shard.shard) has no staging table") }
                let staging = PostgresTable(schema: table.schema, name: stage, columns: table.columns)
                try await session.rows("INSERT INTO \(table.qualified) (\(quoted)) SELECT \(selected) FROM \(staging.qualified)")
            }
            let rows = shards.reduce(0) { $0 + $1.rows }
            try await PostgresWriter.finishRecord(records: table.records, writeId: writeId, rows: rows, outcome: outcome, on: session)
            try await dropStaging(key: String(token.prefix(16)), schema: table.schema, on: session)
            try await session.execute("COMMIT")
            await session.close()
            return CommitResult(rowsWritten: rows)
        } catch {
            await session.close(rollback: true)
            throw place.error(error, doing: doing)
        }
    }

    public func discardShards(token: String) async {
        _ = try? await transaction(doing: "removing staging tables") { session in
            guard let table = try await PostgresTable.resolve(self.table, on: session) else { return }
            try await dropStaging(key: String(token.prefix(16)), schema: table.schema, on: session)
        }
    }

    /// Drops the staging tables of every attempt of the instance `key` names.
    private func dropStaging(key: String, schema: String, on session: PostgresSession) async throws {
        let prefix = Self.stagePrefix + key + "_"
        let tables = try await session.rows("""
            SELECT tablename::text FROM pg_tables WHERE schemaname = $1 AND left(tablename, $2::int) = $3
            """, [.text(schema), .int(Int64(prefix.count)), .text(prefix)]).compactMap { try $0.text(0) }
        for name in tables {
            try await session.rows("DROP TABLE IF EXISTS \(TableDDL.quotePostgres(schema)).\(TableDDL.quotePostgres(name))")
        }
    }
}

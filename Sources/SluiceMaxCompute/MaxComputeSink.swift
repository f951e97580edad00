import AsyncHTTPClient
import Foundation
import Synchronization
import SluiceCore
import SluiceMaxComputeWire
import SluiceJob

/// The MaxCompute destination: checks the table, creates the partition through SQL, and writes it
/// through one tunnel upload session (with `overwrite=true` for `writeMode: overwrite`, so the old
/// content is replaced atomically at commit).
public final class MaxComputeSink: Sink, Destination {
    public let client: MaxComputeClient
    public let destination: DestinationSpec
    public let settings: JobSettings

    public init(client: MaxComputeClient, destination: DestinationSpec, settings: JobSettings) {
        self.client = client
        self.destination = destination
        self.settings = settings
    }

    /// A sink for `destination` (which must be a MaxCompute destination) with the credentials the
    /// application resolved from the connection's secret references.
    public convenience init(destination: DestinationSpec, settings: JobSettings, credentials: MaxComputeCredentials,
                            httpClient: HTTPClient = MaxComputeClient.defaultHTTPClient) throws {
        guard case .maxcompute(let connection) = destination.kind else {
            throw SluiceError.invalid("destination type is \(destination.kind.typeName), not maxcompute")
        }
        let config = try MaxComputeConfig(connection: connection, credentials: credentials)
        self.init(client: MaxComputeClient(config: config, httpClient: httpClient), destination: destination,
                  settings: settings)
    }

    /// `CREATE TABLE IF NOT EXISTS …` for the destination table (`sluice ddl`).
    public func createTableDDL(columns: [ColumnSpec], partitionKeys: [String]) -> String {
        MaxComputeClient.createTableDDL(project: client.config.project, schema: client.config.schema,
                                        table: destination.table, columns: columns, partitionKeys: partitionKeys)
    }

    /// Creates the destination table if it does not exist (`sluice ddl --apply`).
    public func createTable(columns: [ColumnSpec], partitionKeys: [String]) async throws -> String {
        try await client.createTable(destination.table, columns: columns, partitionKeys: partitionKeys)
        return "created table '\(destination.table)' in MaxCompute (if it did not exist)"
    }

    /// Runs one SQL statement in the destination project; returns the result CSV (`sluice sql`).
    public func runSQL(_ sql: String) async throws -> String {
        try await client.runSQL(sql)
    }

    private var tableName: String {
        let p = client.config.project
        return client.config.schema.map { "\(p).\($0).\(destination.table)" } ?? "\(p).\(destination.table)"
    }

    func schema() async throws -> MaxComputeTableSchema {
        guard let schema = try await client.tableSchema(destination.table) else {
            throw SluiceError(.destination, "MaxCompute table \(tableName) does not exist",
                              hint: "create it with `sluice ddl JOB --apply`, or check project/table")
        }
        return schema
    }

    public func prepare(columns: [ColumnSpec], partitionKeys: [String]) async throws {
        let schema = try await schema()
        let problems = Self.differences(schema: schema, columns: columns, partitionKeys: partitionKeys)
        if !problems.isEmpty {
            throw SluiceError(.destination,
                              "MaxCompute table \(tableName) does not match the job:\n  - " + problems.joined(separator: "\n  - "),
                              hint: "change the job's columns/partition, or the table (sluice ddl JOB shows the table the job expects)",
                              code: "destination.schema", context: ["table": tableName], retriable: false)
        }
    }

    /// Every difference between the table and what the job writes, as sentences.
    public static func differences(schema: MaxComputeTableSchema, columns: [ColumnSpec], partitionKeys: [String]) -> [String] {
        var problems: [String] = []
        let byName = Dictionary(schema.columns.map { ($0.name.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
        for c in columns {
            guard let t = byName[c.name.lowercased()] else {
                if schema.partitionKeys.contains(where: { $0.name.lowercased() == c.name.lowercased() }) {
                    problems.append("column \(c.name) is a partition key of the table, not a data column")
                } else {
                    problems.append("column \(c.name) (\(c.type)) is not in the table")
                }
                continue
            }
            guard let type = t.type else {
                problems.append("column \(c.name) has type \(t.typeName.uppercased()) in the table, which Sluice cannot write")
                continue
            }
            if type != c.type {
                problems.append("column \(c.name) is \(c.type) in the job but \(type) in the table")
            }
        }
        let written = Set(columns.map { $0.name.lowercased() })
        for t in schema.columns where !t.nullable && !written.contains(t.name.lowercased()) {
            problems.append("column \(t.name) is NOT NULL in the table but the job does not write it")
        }
        let tableKeys = schema.partitionKeys.map { $0.name.lowercased() }
        let jobKeys = partitionKeys.map { $0.lowercased() }
        if tableKeys != jobKeys {
            let show = { (k: [String]) in k.isEmpty ? "none" : k.joined(separator: ",") }
            problems.append("partition keys: the job has \(show(partitionKeys)), the table has \(show(schema.partitionKeys.map(\.name)))")
        }
        return problems
    }

    public func tableColumns() async throws -> [ColumnSpec]? {
        guard let schema = try await client.tableSchema(destination.table) else { return nil }
        return try schema.columns.map { c in
            guard let type = c.type else {
                throw SluiceError(.destination, "MaxCompute table \(tableName): column \(c.name) has type \(c.typeName.uppercased()), which Sluice cannot write",
                                  hint: "list the columns to write explicitly instead of \"*\"")
            }
            return ColumnSpec(name: c.name, type: type, nullable: c.nullable)
        }
    }

    public func open(partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
                     provenance: WriteProvenance) async throws -> any PartitionWriter {
        if !partition.isEmpty, try await !client.partitionExists(table: destination.table, partition: partition) {
            try await client.addPartition(table: destination.table, partition: partition)
        }
        let session = try await client.createUploadSession(table: destination.table, partition: partition,
                                                           overwrite: mode == .overwrite)
        return MaxComputePartitionWriter(
            client: client, table: destination.table, partition: partition, uploadId: session.id,
            builder: TunnelBlockBuilder(encoder: try encoder(session, columns: columns), blockSize: destination.blockSizeBytes),
            deflate: destination.compress == .deflate, concurrency: max(1, settings.concurrency))
    }

    /// The record encoder for `columns` into the session's table.
    func encoder(_ session: UploadSessionInfo, columns: [ColumnSpec]) throws -> TunnelRecordEncoder {
        var tableColumns: [ColumnSpec] = []
        for c in session.schema.columns {
            if c.type == nil, columns.contains(where: { $0.name.lowercased() == c.name.lowercased() }) {
                throw SluiceError(.destination, "MaxCompute table \(tableName): column \(c.name) has type \(c.typeName.uppercased()), which Sluice cannot write")
            }
            // Columns of other types are never written (NULL), so their wire type does not matter.
            tableColumns.append(ColumnSpec(name: c.name, type: c.type ?? .binary, nullable: c.nullable))
        }
        let limits = FieldLimits(maxFieldSize: session.maxFieldSize ?? (8 << 20), maxFieldLength: destination.maxFieldLength,
                                 overLengthRule: destination.overLengthRule, emptyAsNull: destination.emptyAsNull)
        return try TunnelRecordEncoder(tableColumns: tableColumns, writeColumns: columns, limits: limits)
    }
}

extension MaxComputeSink {
    /// Asks the tunnel for the state of the attempt's upload session (its id is the write's token,
    /// stored in the ledger before the commit): `CLOSED` is committed; `NORMAL`, `EXPIRED` and
    /// `CANCELED` are not. A session the tunnel no longer knows (sessions expire after 24 hours) or
    /// one still closing cannot tell.
    public func commitState(of write: WriteReference) async throws -> CommitState {
        guard let uploadId = write.token else { return .notCommitted }
        guard let session = try await client.uploadStatusIfKnown(table: destination.table, partition: write.partition,
                                                                  uploadId: uploadId) else {
            return .unknown("MaxCompute no longer knows upload session \(uploadId) (sessions expire after 24 hours)")
        }
        switch session.status.uppercased() {
        case "CLOSED": return .committed(rows: nil)
        case "NORMAL", "EXPIRED", "CANCELED", "CANCELLED": return .notCommitted
        default: return .unknown("MaxCompute upload session \(uploadId) is \(session.status)")
        }
    }

    /// MaxCompute cannot delete rows: a second append of an instance adds them again.
    public var replacesEarlierAppends: Bool { false }
}

/// One upload session. Full blocks are uploaded while later rows are encoded, up to `concurrency`
/// at a time; each block is retried under its own block id.
public actor MaxComputePartitionWriter: PartitionWriter {
    let client: MaxComputeClient
    let table: String
    let partition: PartitionSpec
    /// The tunnel upload session id.
    public nonisolated let uploadId: String
    /// The upload session id: a later run asks the tunnel whether this session committed.
    public nonisolated var commitToken: String? { uploadId }
    let deflate: Bool
    let concurrency: Int
    private var builder: TunnelBlockBuilder
    private var inFlight: [Task<Void, Error>] = []
    private var blockIds: [Int] = []
    private var finished = false
    /// The block ids this writer may use: all of the session's, or one shard's range.
    let blockRange: Range<Int>
    /// The shard this writer writes (its commit then only finishes the uploads), or nil.
    let shard: Int?
    nonisolated let shardWrite = Mutex<ShardWrite?>(nil)

    /// The tunnel's limit on block ids per session.
    public static let maxBlocks = 20_000

    init(client: MaxComputeClient, table: String, partition: PartitionSpec, uploadId: String,
         builder: TunnelBlockBuilder, deflate: Bool, concurrency: Int, shard: Int? = nil,
         blockRange: Range<Int> = 0..<maxBlocks) {
        self.shard = shard
        self.blockRange = blockRange
        self.client = client
        self.table = table
        self.partition = partition
        self.uploadId = uploadId
        self.builder = builder
        self.deflate = deflate
        self.concurrency = concurrency
    }

    /// Values changed by `overLengthRule` so far.
    public var overLengthValues: Int64 { builder.encoder.overLengthValues }

    public func write(_ batch: RowBatch) async throws {
        precondition(!finished, "write after commit/abort")
        for block in try builder.add(batch) { try await submit(block) }
    }

    private func submit(_ block: EncodedBlock) async throws {
        while inFlight.count >= concurrency {
            let oldest = inFlight.removeFirst()
            try await oldest.value
        }
        let id = blockRange.lowerBound + blockIds.count
        guard id < blockRange.upperBound else {
            throw SluiceError(.destination, "MaxCompute upload: more than \(blockRange.count) blocks in one session\(shard.map { " for shard \($0)" } ?? "")",
                              hint: "raise destination blockSizeMB\(shard == nil ? "" : ", or use more shards")")
        }
        blockIds.append(id)
        let client = client, table = table, partition = partition, uploadId = uploadId, deflate = deflate
        inFlight.append(Task {
            let body = deflate ? try Zlib.compress(block.bytes) : block.bytes
            try await client.uploadBlock(table: table, partition: partition, uploadId: uploadId, blockId: id,
                                         body: body, deflated: deflate)
        })
    }

    public func commit(_ outcome: WriteOutcome) async throws -> CommitResult {
        precondition(!finished, "commit after commit/abort")
        finished = true
        do {
            if let last = builder.flush() { try await submit(last) }
            while !inFlight.isEmpty { try await inFlight.removeFirst().value }
        } catch {
            cancelUploads()
            throw error
        }
        if let shard {
            shardWrite.withLock { $0 = ShardWrite(shard: shard, location: blockIds.map(String.init).joined(separator: ","), rows: builder.totalRows) }
            return CommitResult(rowsWritten: builder.totalRows)
        }
        try await Self.commitSession(client: client, table: table, partition: partition, uploadId: uploadId, blocks: Set(blockIds))
        return CommitResult(rowsWritten: builder.totalRows)
    }

    /// Commits the session once the server holds exactly `blocks` (no block missing, none from a
    /// writer that was not meant to write: nothing is committed otherwise).
    static func commitSession(client: MaxComputeClient, table: String, partition: PartitionSpec, uploadId: String,
                              blocks: Set<Int>) async throws {
        let status = try await client.uploadStatus(table: table, partition: partition, uploadId: uploadId)
        let server = Set(status.uploadedBlocks)
        if server != blocks {
            let missing = blocks.subtracting(server).sorted(), extra = server.subtracting(blocks).sorted()
            throw SluiceError(.destination,
                              "MaxCompute upload session \(uploadId): the server's block list does not match: missing \(missing), unexpected \(extra); nothing was committed")
        }
        do {
            try await client.commitUpload(table: table, partition: partition, uploadId: uploadId)
        } catch let error as SluiceError {
            // A commit whose answer was lost and whose retry was refused may still have succeeded.
            guard let after = try? await client.uploadStatus(table: table, partition: partition, uploadId: uploadId),
                  after.status.uppercased() == "CLOSED" else { throw error }
        }
    }

    public func abort() async {
        finished = true
        cancelUploads()
    }

    private func cancelUploads() {
        for t in inFlight { t.cancel() }
        inFlight.removeAll()
    }
}

extension MaxComputePartitionWriter: ShardWriter {
    public nonisolated var written: ShardWrite { shardWrite.withLock { $0 } ?? ShardWrite(shard: shard ?? 0, rows: 0) }

    /// A shard's blocks stay in the session; the commit refuses a session holding blocks that no
    /// finished shard reported.
    public func discard() async {}
}

/// Sharded writes into MaxCompute: one upload session (overwrite for the partition, or append) that
/// the coordinator opens; each shard uploads its blocks under block ids from its own range
/// (`blocksPerShard` ids from `shard × blocksPerShard`), so a shard written again after its worker
/// died re-puts the same ids and replaces its blocks; the coordinator commits the session once,
/// after checking that it holds exactly the finished shards' blocks.
extension MaxComputeSink: ShardedSink {
    /// Block ids per shard: the session's 20,000 over at most `maxShards` shards.
    public static let blocksPerShard = MaxComputePartitionWriter.maxBlocks / 64
    public var maxShards: Int { MaxComputePartitionWriter.maxBlocks / Self.blocksPerShard }

    public func beginShards(partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
                            provenance: WriteProvenance) async throws -> String {
        if !partition.isEmpty, try await !client.partitionExists(table: destination.table, partition: partition) {
            try await client.addPartition(table: destination.table, partition: partition)
        }
        return try await client.createUploadSession(table: destination.table, partition: partition, overwrite: mode == .overwrite).id
    }

    public func openShard(token: String, shard: Int, fence: Int, partition: PartitionSpec,
                          columns: [ColumnSpec]) async throws -> any ShardWriter {
        let session = try await client.uploadStatus(table: destination.table, partition: partition, uploadId: token)
        let first = shard * Self.blocksPerShard
        return MaxComputePartitionWriter(
            client: client, table: destination.table, partition: partition, uploadId: token,
            builder: TunnelBlockBuilder(encoder: try encoder(session, columns: columns), blockSize: destination.blockSizeBytes),
            deflate: destination.compress == .deflate, concurrency: max(1, settings.concurrency), shard: shard,
            blockRange: first..<(first + Self.blocksPerShard))
    }

    public func commitShards(token: String, partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
                             provenance: WriteProvenance, shards: [ShardWrite], outcome: WriteOutcome) async throws -> CommitResult {
        let blocks = Set(shards.flatMap { ($0.location ?? "").split(separator: ",").compactMap { Int($0) } })
        try await MaxComputePartitionWriter.commitSession(client: client, table: destination.table, partition: partition,
                                                          uploadId: token, blocks: blocks)
        return CommitResult(rowsWritten: shards.reduce(0) { $0 + $1.rows })
    }

    /// An upload session that is never committed expires on its own (24 hours); nothing of it is visible.
    public func discardShards(token: String) async {}
}

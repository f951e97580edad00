import Foundation

/// A kind of destination, as the commands that are not runs see it: the table's DDL, read-only
/// queries, and the partitions with their row counts and writes. Its `sink` writes the partitions.
/// A destination is one folder (SQLite warehouse, MaxCompute, discard) implementing this.
public protocol Destination: Sendable {
    /// The job's table.
    var table: String { get }
    /// The SQL dialect of the destination's DDL.
    var dialect: DDLDialect { get }
    /// The sink that writes (and settles) the table's partitions.
    var sink: any Sink { get }
    /// `CREATE TABLE` for the table in the destination's own dialect.
    func createTableDDL(columns: [ColumnSpec], partitionKeys: [String]) -> String
    /// Creates the table unless it exists (`sluice ddl --apply`); returns a sentence saying which
    /// happened.
    func createTable(columns: [ColumnSpec], partitionKeys: [String]) async throws -> String
    /// Runs one query and streams its rows as text in `format` to `emit`.
    func query(_ sql: String, format: ResultFormat, emit: @escaping @Sendable (String) -> Void) async throws
    /// The table's partitions, sorted, with their row counts and the writes whose rows they hold.
    func partitions() async throws -> [PartitionInfo]
}

/// One write of a destination partition (the SQLite warehouse keeps them in `_sluice_partitions`).
public struct PartitionWrite: Sendable, Hashable, Codable {
    /// The write's id in `_sluice_partitions` (and in the `_sluice_write` column of the rows it added).
    public var id: Int64
    public var job: String
    public var instanceId: String
    /// The attempt of the instance that wrote (absent for writes of older versions).
    public var attempt: Int?
    public var mode: String
    public var windowStartMillis: Int64?
    public var windowEndMillis: Int64?
    public var topic: String
    public var offsets: [PartitionOffsets]
    /// Rows this write added.
    public var rows: Int64
    public var writtenAtMillis: Int64
    /// What the run read for these rows (absent for writes of older versions).
    public var outcome: WriteOutcome?
    /// The write that replaced this one: a later overwrite of the partition, or a rerun of the same
    /// instance. Nil while its rows are in the table.
    public var replacedBy: Int64?

    public init(id: Int64, job: String, instanceId: String, attempt: Int?, mode: String, windowStartMillis: Int64?,
                windowEndMillis: Int64?, topic: String, offsets: [PartitionOffsets], rows: Int64, writtenAtMillis: Int64,
                outcome: WriteOutcome?, replacedBy: Int64?) {
        self.id = id
        self.job = job
        self.instanceId = instanceId
        self.attempt = attempt
        self.mode = mode
        self.windowStartMillis = windowStartMillis
        self.windowEndMillis = windowEndMillis
        self.topic = topic
        self.offsets = offsets
        self.rows = rows
        self.writtenAtMillis = writtenAtMillis
        self.outcome = outcome
        self.replacedBy = replacedBy
    }
}

/// A partition of a destination table: its current row count and the writes that made it (one after
/// an overwrite, several after appends; none when written by something other than sluice).
public struct PartitionInfo: Sendable, Hashable, Codable {
    /// `ds=2022112210,hh=10`; empty for an unpartitioned table.
    public var partition: String
    public var rows: Int64
    /// The writes whose rows the partition holds: one after an overwrite, one per instance after
    /// appends (a rerun replaces its instance's earlier write).
    public var writes: [PartitionWrite]
    /// Earlier writes, replaced by later ones, oldest first.
    public var replaced: [PartitionWrite]

    public init(partition: String, rows: Int64, writes: [PartitionWrite], replaced: [PartitionWrite]) {
        self.partition = partition
        self.rows = rows
        self.writes = writes
        self.replaced = replaced
    }
}

/// A destination that can take one instance's rows from several workers: each shard writes its
/// rows where readers do not see them, and the coordinator makes all of them visible in one atomic
/// commit (PostgreSQL: staging tables swapped in by one transaction; discard: nothing to keep).
public protocol ShardedSink: Sink {
    /// Begins the sharded write of one attempt and returns its token, which the ledger stores before
    /// any shard runs and every shard's writer is opened with.
    func beginShards(partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
                     provenance: WriteProvenance) async throws -> String

    /// A writer for shard `shard` of the write `token`, claimed for the `fence`-th time. Its
    /// `commit` keeps the rows where `commitShards` finds them, still invisible to readers; a shard
    /// written again under a later fence writes somewhere else, so a stale worker cannot add rows.
    func openShard(token: String, shard: Int, fence: Int, partition: PartitionSpec,
                   columns: [ColumnSpec]) async throws -> any ShardWriter

    /// Makes the rows of `shards` (one finished write per shard) visible at once, replacing the
    /// partition (overwrite) or the instance's earlier rows (append), and records the write like
    /// `PartitionWriter.commit`; removes what the write's shards left.
    func commitShards(token: String, partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
                      provenance: WriteProvenance, shards: [ShardWrite], outcome: WriteOutcome) async throws -> CommitResult

    /// Removes what the shards of `token` left (after a failed or abandoned attempt).
    func discardShards(token: String) async

    /// The most shards one write may have.
    var maxShards: Int { get }
}

extension ShardedSink {
    public var maxShards: Int { 1024 }
}

/// A shard's writer: a `PartitionWriter` whose `commit` keeps the rows for the coordinator's commit.
public protocol ShardWriter: PartitionWriter {
    /// Where the committed shard's rows are, for `ShardedSink.commitShards`.
    var written: ShardWrite { get }
    /// Removes the committed shard's rows: its claim was taken over, another worker writes it again.
    func discard() async
}

/// Where one shard's rows wait for the coordinator's commit.
public struct ShardWrite: Sendable, Hashable, Codable {
    public var shard: Int
    /// The destination's name for the rows (PostgreSQL: the staging table).
    public var location: String?
    public var rows: Int64

    public init(shard: Int, location: String? = nil, rows: Int64) {
        self.shard = shard
        self.location = location
        self.rows = rows
    }
}

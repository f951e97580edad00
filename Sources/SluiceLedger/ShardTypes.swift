import Foundation
import SluiceCore

/// What a worker needs to run the shards of one attempt: the job file (by path, with a digest of
/// its contents so that a worker with another version of the file refuses it), how the instance was
/// resolved, and the destination's token for the sharded write. Holds no secret: the worker resolves
/// the job's `${env:…}` and `${file:…}` references itself.
public struct ShardSetSpec: Sendable, Hashable, Codable {
    /// The job file's absolute path, the same on every worker's host.
    public var jobPath: String
    /// SHA-256 of the job file's bytes, hex.
    public var jobDigest: String
    /// `--param` definitions the run was given, `name` → expression.
    public var parameters: [String: String]
    /// The `--datasources` file, when the run had one.
    public var datasourcesPath: String?
    /// The instance's scheduled time (epoch seconds) and business date override (`yyyymmdd`).
    public var scheduledTime: Int64
    public var businessDate: String?
    /// The destination partition, `ds=20221122`.
    public var partition: String
    /// The destination's name for the sharded write (`ShardedSink.beginShards`).
    public var token: String
    /// The shard count.
    public var count: Int

    public init(jobPath: String, jobDigest: String, parameters: [String: String], datasourcesPath: String?,
                scheduledTime: Int64, businessDate: String?, partition: String, token: String, count: Int) {
        self.jobPath = jobPath
        self.jobDigest = jobDigest
        self.parameters = parameters
        self.datasourcesPath = datasourcesPath
        self.scheduledTime = scheduledTime
        self.businessDate = businessDate
        self.partition = partition
        self.token = token
        self.count = count
    }
}

public enum ShardStatus: String, Sendable, Hashable, Codable {
    case pending, running, done, failed
}

/// One shard of an attempt as the ledger has it.
public struct ShardRecord: Sendable, Hashable, Codable {
    public var instanceId: Int64
    public var attempt: Int
    public var shard: Int
    public var plan: WindowPlan
    public var status: ShardStatus
    /// The worker that holds or held it.
    public var worker: String?
    /// How many times it was claimed: a worker whose claim was taken over holds an older fence and
    /// can no longer finish the shard.
    public var fence: Int
    public var leaseUntil: Date?
    public var startedAt: Date?
    public var finishedAt: Date?
    public var result: ShardResult?
    public var error: String?
}

/// A shard a worker claimed: the set it belongs to and the shard, with the claim's fence.
public struct ClaimedShard: Sendable {
    public var job: String
    public var set: ShardSetSpec
    public var shard: ShardRecord
}

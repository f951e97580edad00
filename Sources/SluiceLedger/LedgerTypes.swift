import Foundation
import SluiceCore

/// The life of an instance. DataWorks vocabulary: `waiting` = its time has come but a dependency
/// (e.g. the previous cycle) has not succeeded; `dryRun` = marked successful without running.
public enum InstanceStatus: String, Sendable, Hashable, Codable, CaseIterable {
    case pending, waiting, running, succeeded, failed, killed, dryRun

    /// Succeeded, failed, killed or dry-run: no run is in progress.
    public var isFinal: Bool {
        switch self {
        case .succeeded, .failed, .killed, .dryRun: true
        case .pending, .waiting, .running: false
        }
    }
}

/// Record counters of one attempt of an instance.
public struct InstanceCounts: Sendable, Hashable, Codable {
    public var read: Int64
    public var written: Int64
    public var dirty: Int64
    /// Timestamp before the window start.
    public var late: Int64
    /// Timestamp at or after the window end.
    public var early: Int64
    public var skipped: Int64

    public init(read: Int64 = 0, written: Int64 = 0, dirty: Int64 = 0, late: Int64 = 0, early: Int64 = 0,
                skipped: Int64 = 0) {
        self.read = read
        self.written = written
        self.dirty = dirty
        self.late = late
        self.early = early
        self.skipped = skipped
    }
}

/// What identifies and describes an instance when it is created or (re)started.
/// Identity is (`job`, `scheduledAt`): the same pair is always the same instance.
public struct NewInstance: Sendable, Hashable {
    public var job: String
    public var scheduledAt: Date
    /// DataWorks business date `yyyymmdd` (usually the day before the scheduled day).
    public var businessDate: String?
    /// Resolved scheduling parameters.
    public var parameters: [String: String]
    public var windowStart: Date?
    public var windowEnd: Date?
    /// The resolved destination partition, `ds=2022112210`.
    public var partition: String?

    public init(job: String, scheduledAt: Date, businessDate: String? = nil, parameters: [String: String] = [:],
                windowStart: Date? = nil, windowEnd: Date? = nil, partition: String? = nil) {
        self.job = job
        self.scheduledAt = scheduledAt
        self.businessDate = businessDate
        self.parameters = parameters
        self.windowStart = windowStart
        self.windowEnd = windowEnd
        self.partition = partition
    }
}

/// An instance as the ledger stores it.
public struct InstanceRecord: Sendable, Hashable, Codable {
    public var id: Int64
    public var job: String
    public var scheduledAt: Date
    public var businessDate: String?
    public var parameters: [String: String]
    public var windowStart: Date?
    public var windowEnd: Date?
    public var partition: String?
    public var status: InstanceStatus
    /// Runs started so far (0 before the first).
    public var attempts: Int
    public var createdAt: Date
    public var startedAt: Date?
    public var finishedAt: Date?
    public var counts: InstanceCounts
    public var error: String?
    /// Why it was set to success by hand (`sluice instance set-success`), when it was.
    public var successReason: String?
}

/// A record that could not be mapped or written, kept for `sluice instance show`. Key and value
/// are stored truncated to the ledger's byte limit; `keyLength`/`valueLength` are the full sizes.
public struct LedgerDirtyRecord: Sendable, Hashable, Codable {
    public var partition: Int32
    public var offset: Int64
    public var timestampMillis: Int64
    /// The destination column the problem is in, when it is in one.
    public var column: String?
    public var reason: String
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var keyLength: Int?
    public var valueLength: Int?

    public init(partition: Int32, offset: Int64, timestampMillis: Int64, column: String? = nil, reason: String,
                key: [UInt8]? = nil, value: [UInt8]? = nil) {
        self.partition = partition
        self.offset = offset
        self.timestampMillis = timestampMillis
        self.column = column
        self.reason = reason
        self.key = key
        self.value = value
        self.keyLength = key?.count
        self.valueLength = value?.count
    }
}

/// One line of an instance's log.
public struct InstanceLogLine: Sendable, Hashable, Codable {
    public enum Level: String, Sendable, Hashable, Codable, CaseIterable { case info, warning, error }
    public var at: Date
    public var attempt: Int
    public var level: Level
    public var message: String

    public init(at: Date, attempt: Int, level: Level, message: String) {
        self.at = at
        self.attempt = attempt
        self.level = level
        self.message = message
    }
}

/// How much the ledger keeps per instance.
public struct LedgerLimits: Sendable, Hashable {
    /// Dirty records stored per instance (the count in `InstanceCounts.dirty` is never capped).
    public var dirtyRecordsPerInstance: Int = 1000
    /// Bytes kept of each dirty record's key and value.
    public var dirtyBytesPerField: Int = 4096
    /// Log lines kept per instance; the oldest go first.
    public var logLinesPerInstance: Int = 2000
    /// Bytes kept of one log message.
    public var logMessageBytes: Int = 4096
    /// How long one operation on a PostgreSQL ledger may take before it fails (retriable) and the
    /// ledger connects afresh.
    public var operationTimeout: Duration = .seconds(30)

    public init() {}
}

/// An attempt's commit as the ledger records it just before the destination's commit: what the
/// attempt read, and what the destination called the write. When the attempt's process dies between
/// the destination's commit and the ledger's record of the outcome, this is what settles it.
public struct CommitRecord: Sendable, Hashable, Codable {
    public var instanceId: Int64
    public var attempt: Int
    public var mode: WriteMode
    /// `type:table` of the destination, e.g. `sqlite:ods_events`.
    public var destination: String
    /// The destination partition, `ds=2022112210`.
    public var partition: String
    /// The destination's name for the write (MaxCompute: the upload session id).
    public var token: String?
    public var counts: InstanceCounts
    /// Per Kafka partition, the offset after the last record read.
    public var readEnds: [Int32: Int64]
    public var preparedAt: Date
    /// When the ledger learnt that the destination committed; nil until then.
    public var committedAt: Date?

    public init(instanceId: Int64, attempt: Int, mode: WriteMode, destination: String, partition: String,
                token: String?, counts: InstanceCounts, readEnds: [Int32: Int64], preparedAt: Date = Date(),
                committedAt: Date? = nil) {
        self.instanceId = instanceId
        self.attempt = attempt
        self.mode = mode
        self.destination = destination
        self.partition = partition
        self.token = token
        self.counts = counts
        self.readEnds = readEnds
        self.preparedAt = preparedAt
        self.committedAt = committedAt
    }
}

/// What the scheduler keeps about an instance beyond `InstanceRecord`.
public struct InstanceSchedulingState: Sendable, Hashable, Codable {
    /// When an automatic retry after a failure is due; nil when none is.
    public var retryAt: Date?
    /// Why the scheduler skipped the instance (e.g. `catchUp: latest`); such an instance has status
    /// `dryRun` and was never run.
    public var skipReason: String?
    /// The attempt the scheduler launched and has not yet seen end; nil when none is.
    public var claimedAttempt: Int?
    /// For a failed attempt that recorded its error: its code and whether running again may
    /// succeed. Nil when the attempt recorded no error (e.g. it was interrupted).
    public var failure: InstanceFailure?
    /// The scheduler that holds the claim, and until when its lease runs (renewed while it runs
    /// the attempt; another scheduler takes the instance over once it has expired).
    public var claimedBy: String?
    public var leaseUntil: Date?
    /// Why the instance waits (a dependency that has not succeeded), while it does.
    public var waitReason: String?

    public init(retryAt: Date? = nil, skipReason: String? = nil, claimedAttempt: Int? = nil,
                failure: InstanceFailure? = nil, claimedBy: String? = nil, leaseUntil: Date? = nil,
                waitReason: String? = nil) {
        self.retryAt = retryAt
        self.skipReason = skipReason
        self.claimedAttempt = claimedAttempt
        self.failure = failure
        self.claimedBy = claimedBy
        self.leaseUntil = leaseUntil
        self.waitReason = waitReason
    }
}

/// How a failed attempt failed, as its run recorded it.
public struct InstanceFailure: Sendable, Hashable, Codable {
    public var code: String
    public var retriable: Bool

    public init(code: String, retriable: Bool) {
        self.code = code
        self.retriable = retriable
    }
}

/// A job file the scheduler has run, as the ledger remembers it.
public struct RegisteredJob: Sendable, Hashable, Codable {
    public var job: String
    public var path: String
    /// When a scheduler first saw the job: its first instance is the first scheduled at or after it.
    public var firstSeen: Date
}

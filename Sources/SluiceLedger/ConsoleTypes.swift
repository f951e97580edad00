import Foundation
import SluiceCore

/// Something a person did to instances or jobs (through the console or the CLI), as the ledger
/// records it: who, when, what, to which instance or job, and how it went.
public struct LedgerAction: Sendable, Hashable, Codable {
    public var id: Int64
    public var at: Date
    /// Who did it: the console's user name for its token, or `cli` with the host's user.
    public var actor: String
    /// `rerun`, `kill`, `setSuccess` or `backfill`.
    public var action: String
    public var instanceId: Int64?
    public var job: String?
    /// What was asked, e.g. `replan`, the reason of a set-success, a backfill's date range.
    public var detail: String?
    /// `started`, `done`, or `refused: …` with the error.
    public var outcome: String
}

/// What `Ledger.recordAction` records.
public struct NewLedgerAction: Sendable, Hashable {
    public var actor: String
    public var action: String
    public var instanceId: Int64?
    public var job: String?
    public var detail: String?
    public var outcome: String

    public init(actor: String, action: String, instanceId: Int64? = nil, job: String? = nil, detail: String? = nil,
                outcome: String) {
        self.actor = actor
        self.action = action
        self.instanceId = instanceId
        self.job = job
        self.detail = detail
        self.outcome = outcome
    }
}

/// What an attempt measured besides its record counts: where its time went and the bytes it read.
public struct AttemptMetrics: Sendable, Hashable, Codable {
    /// Seconds per phase (`setup`, `destination`, `plan`, `open`, `read`, `commit`, `finish`).
    public var phases: [String: Double]
    /// Key and value bytes of the records read.
    public var bytesRead: Int64

    public init(phases: [String: Double] = [:], bytesRead: Int64 = 0) {
        self.phases = phases
        self.bytesRead = bytesRead
    }

    /// The phases as stored: `name=milliseconds` pairs joined by commas, sorted by name.
    var storedPhases: String {
        phases.keys.sorted().map { "\($0)=\(Int64(((phases[$0] ?? 0) * 1000).rounded()))" }.joined(separator: ",")
    }

    static func phases(stored: String?) -> [String: Double] {
        guard let stored, !stored.isEmpty else { return [:] }
        var out: [String: Double] = [:]
        for pair in stored.split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            if parts.count == 2, let ms = Int64(parts[1]) { out[String(parts[0])] = Double(ms) / 1000 }
        }
        return out
    }
}

/// One finished attempt as /metrics counts it.
public struct FinishedAttempt: Sendable, Hashable {
    public var job: String
    public var status: InstanceStatus
    /// From start to finish.
    public var seconds: Double
    public var phases: [String: Double]
}

/// The ledger's totals that /metrics exposes, each computed by one query.
public struct LedgerTotals: Sendable, Hashable {
    /// Instances per job and current status.
    public var instances: [JobCount] = []
    /// Finished attempts per job and final status.
    public var attempts: [JobCount] = []
    /// Records and bytes per job, summed over finished attempts.
    public var records: [JobRecords] = []
    /// Per job, the latest business date (and scheduled time) of a succeeded instance.
    public var lastSuccess: [JobLastSuccess] = []
    /// Instances due (scheduled at or before now) and pending or waiting: the schedulers' queue.
    public var queued: [JobCount] = []

    public init() {}

    public struct JobCount: Sendable, Hashable {
        public var job: String
        public var status: String
        public var count: Int64
    }

    public struct JobRecords: Sendable, Hashable {
        public var job: String
        public var read: Int64
        public var written: Int64
        public var late: Int64
        public var dirty: Int64
        public var bytes: Int64
    }

    public struct JobLastSuccess: Sendable, Hashable {
        public var job: String
        public var businessDate: String?
        public var scheduledAt: Date
        public var finishedAt: Date?
    }
}

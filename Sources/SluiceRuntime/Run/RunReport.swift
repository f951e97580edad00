import Foundation
import SluiceCore
import SluiceLedger

/// What a run did: the JSON of `sluice run --json` and the summary printed at the end.
public struct RunReport: Sendable, Codable {
    public struct Partition: Sendable, Codable {
        public var partition: Int32
        public var fromOffset: Int64
        public var toOffset: Int64
        public var lowWatermark: Int64
        public var highWatermark: Int64
        public var read: Int64?
        public var late: Int64?
        public var early: Int64?
        public var skipped: Int64?
        /// The offset after the last record read (past `toOffset` under idle completion).
        public var readEnd: Int64?
    }
    public struct Counts: Sendable, Codable {
        public var read: Int64 = 0
        public var written: Int64 = 0
        public var dirty: Int64 = 0
        public var late: Int64 = 0
        public var early: Int64 = 0
        public var skipped: Int64 = 0
        /// Values that `overLengthRule` truncated, set to NULL or kept whole.
        public var overLength: Int64 = 0
    }

    public var instanceId: Int64?
    public var job: String
    public var status: String
    public var scheduledTime: String
    public var businessDate: String
    public var parameters: [String: String]
    public var windowStart: String?
    public var windowEnd: String?
    public var windowMode: String
    public var topic: String
    public var destination: String
    public var partition: String
    public var replayedPlan: Bool
    public var plan: [Partition]
    public var records: Counts
    public var seconds: Double
    /// Where the time went, in seconds: start-up (ledger, instance, destination check, plan), reading
    /// with mapping and writing, the destination's commit, and the ledger's record of the outcome.
    public var phases: Phases?
    public var error: String?
    /// Set when the run found the instance's previous attempt committed to the destination but
    /// unrecorded (its process was killed): it recorded that attempt as succeeded and wrote nothing.
    public var settled: String?
    /// An SQL node's statements, parameters substituted, with the rows each changed once run.
    public var statements: [Statement]?

    /// One statement of an SQL node.
    public struct Statement: Sendable, Codable {
        public var sql: String
        /// Rows it inserted, updated or deleted (nil until it ran, or where the database does not say).
        public var rowsChanged: Int64?
    }

    /// The phases of a run, in seconds (absent when the run did not get that far).
    public struct Phases: Sendable, Codable {
        /// Kafka client, ledger, run lock, instance row.
        public var setup: Double?
        /// The destination's table check (`prepare`) and the field program.
        public var destination: Double?
        /// Planning (or replaying) the window and storing the plan.
        public var plan: Double?
        /// Opening the partition for writing (an overwrite deletes the old rows here). It runs while
        /// the first records are read, so it overlaps `read`.
        public var open: Double?
        /// Reading, mapping and writing the records.
        public var read: Double?
        /// The destination's commit.
        public var commit: Double?
        /// Recording the outcome in the ledger and committing group offsets.
        public var finish: Double?

        /// The phases the run got to, by name (what the ledger keeps with the attempt).
        public var byName: [String: Double] {
            let all: [(String, Double?)] = [("setup", setup), ("destination", destination), ("plan", plan), ("open", open),
                                            ("read", read), ("commit", commit), ("finish", finish)]
            return Dictionary(uniqueKeysWithValues: all.compactMap { name, v in v.map { (name, $0) } })
        }
    }
}

extension RunReport.Counts {
    init(instance k: InstanceCounts) {
        self.init(read: k.read, written: k.written, dirty: k.dirty, late: k.late, early: k.early, skipped: k.skipped)
    }

    var ledgerCounts: InstanceCounts {
        InstanceCounts(read: read, written: written, dirty: dirty, late: late, early: early, skipped: skipped)
    }
}

extension RunReport.Partition {
    init(_ p: PartitionPlan) {
        self.init(partition: p.partition, fromOffset: p.fromOffset, toOffset: p.toOffset,
                  lowWatermark: p.lowWatermark, highWatermark: p.highWatermark)
    }
}

extension RunReport {
    /// Takes in what the transfer read: per partition and in all.
    mutating func record<Source: WindowSource>(_ t: TransferStage<Source>.Transferred) {
        let summary = t.summary
        plan = summary.plan.partitions.map { p in
            var r = Partition(p)
            if let s = summary.partitions.first(where: { $0.partition == p.partition }) {
                r.read = s.delivered
                r.late = s.late
                r.early = s.exceeding
                r.skipped = s.skipped
                r.readEnd = s.position
            }
            return r
        }
        records.read = summary.delivered + summary.skipped
        records.dirty = t.dirty
        records.overLength = t.overLength
        records.late = summary.late
        records.early = summary.exceeding
        records.skipped = summary.skipped
    }
}

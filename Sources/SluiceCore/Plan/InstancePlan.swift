/// One instance as planned: which instance it is (job, scheduled time, business date, resolved
/// parameters, destination partition) and its window plan per Kafka partition. The planner makes
/// it before the first record is read, the ledger stores it as it is, and a rerun replays it.
public struct InstancePlan: Sendable, Hashable, Codable {
    public var job: String
    /// The scheduled time, epoch seconds.
    public var scheduledTime: Int64
    /// DataWorks business date `yyyymmdd`.
    public var businessDate: String
    /// The resolved scheduling parameters.
    public var parameters: [String: String]
    /// The destination partition, `ds=2022112210`.
    public var partition: String
    public var windowMode: WindowMode
    public var window: WindowPlan
    /// Per Kafka partition, the offset after the last record the instance's last read reached (past
    /// the planned `toOffset` under idle completion); empty until a read was recorded.
    public var readEnds: [Int32: Int64]
    /// The resolved window bounds the plan was made for (`time <epoch ms>`, `offset N`, `earliest`,
    /// `latest`, `group offset`): a rerun replays the plan only while the job still resolves to them.
    /// nil in plans stored before they were recorded.
    public var begin: String?
    public var end: String?

    public init(job: String, scheduledTime: Int64, businessDate: String, parameters: [String: String], partition: String,
                windowMode: WindowMode, window: WindowPlan, readEnds: [Int32: Int64] = [:],
                begin: String? = nil, end: String? = nil) {
        self.job = job
        self.scheduledTime = scheduledTime
        self.businessDate = businessDate
        self.parameters = parameters
        self.partition = partition
        self.windowMode = windowMode
        self.window = window
        self.readEnds = readEnds
        self.begin = begin
        self.end = end
    }

    /// The window a rerun reads: the plan, extended to where the earlier read stopped when it went
    /// past the planned end, so that the rerun writes the same records (read by position).
    public var replayWindow: WindowPlan {
        var w = window
        for i in w.partitions.indices {
            if let end = readEnds[w.partitions[i].partition] {
                w.partitions[i].toOffset = max(w.partitions[i].toOffset, end)
            }
        }
        return w
    }
}

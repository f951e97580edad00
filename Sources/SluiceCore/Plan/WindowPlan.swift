/// The offsets one instance reads from one partition: `[fromOffset, toOffset)`, with the partition's
/// retained range when the plan was made.
public struct PartitionPlan: Sendable, Hashable, Codable {
    public var partition: Int32
    /// First offset to read (inclusive).
    public var fromOffset: Int64
    /// End of the read (exclusive): the read of this partition is complete when its position reaches it.
    public var toOffset: Int64
    /// The log start offset when planned.
    public var lowWatermark: Int64
    /// The high watermark (log end visible to consumers) when planned.
    public var highWatermark: Int64
    /// When `autoOffsetReset` moved the start because the wanted offset was outside the retained log:
    /// the offset that was wanted. nil when no reset happened.
    public var resetFromOffset: Int64?

    public init(partition: Int32, fromOffset: Int64, toOffset: Int64, lowWatermark: Int64,
                highWatermark: Int64, resetFromOffset: Int64? = nil) {
        self.partition = partition
        self.fromOffset = fromOffset
        self.toOffset = toOffset
        self.lowWatermark = lowWatermark
        self.highWatermark = highWatermark
        self.resetFromOffset = resetFromOffset
    }

    /// How many offsets the plan spans (records, plus gaps from compaction and transaction markers).
    public var offsetCount: Int64 { max(0, toOffset - fromOffset) }
    public var isEmpty: Bool { toOffset <= fromOffset }
}

/// The plan of one instance's read: the window, when it was planned, and the offsets per partition.
/// Computed and stored (as JSON) before the first record is read; a rerun replays it so the same
/// records come out again.
public struct WindowPlan: Sendable, Hashable, Codable {
    public var topic: String
    /// The window start in epoch ms when the window begins at a time; nil otherwise.
    public var startMillis: Int64?
    /// The window end (exclusive) in epoch ms when the window ends at a time; nil otherwise.
    public var endMillis: Int64?
    /// When the plan was made, epoch ms.
    public var plannedAtMillis: Int64
    /// The topic's partition count when planned (the plan may cover a subset).
    public var topicPartitionCount: Int32
    /// Sorted by partition.
    public var partitions: [PartitionPlan]

    public init(topic: String, startMillis: Int64?, endMillis: Int64?, plannedAtMillis: Int64,
                topicPartitionCount: Int32, partitions: [PartitionPlan]) {
        self.topic = topic
        self.startMillis = startMillis
        self.endMillis = endMillis
        self.plannedAtMillis = plannedAtMillis
        self.topicPartitionCount = topicPartitionCount
        self.partitions = partitions.sorted { $0.partition < $1.partition }
    }

    /// True when either bound is a time: records then must carry timestamps.
    public var isByTime: Bool { startMillis != nil || endMillis != nil }

    public var offsetCount: Int64 { partitions.reduce(0) { $0 + $1.offsetCount } }

    public func partition(_ id: Int32) -> PartitionPlan? { partitions.first { $0.partition == id } }

    /// The plan the next instance of a `contiguous` job starts from: each partition's end offset.
    public var endOffsets: [Int32: Int64] {
        Dictionary(uniqueKeysWithValues: partitions.map { ($0.partition, $0.toOffset) })
    }
}

/// What a read did per partition.
public struct PartitionReadStats: Sendable, Hashable, Codable {
    public var partition: Int32
    /// Records handed to the caller.
    public var delivered: Int64
    /// Records with a timestamp before the window start (delivered: they are inside the offset range).
    public var late: Int64
    /// Records with a timestamp at or after the window end (delivered unless `skipped`).
    public var exceeding: Int64
    /// Exceeding records dropped because of `skipExceedRecord`.
    public var skipped: Int64
    /// The offset after the last record read, or the plan's start when nothing was read.
    public var position: Int64

    public init(partition: Int32, delivered: Int64 = 0, late: Int64 = 0, exceeding: Int64 = 0,
                skipped: Int64 = 0, position: Int64) {
        self.partition = partition
        self.delivered = delivered
        self.late = late
        self.exceeding = exceeding
        self.skipped = skipped
        self.position = position
    }
}

/// The outcome of a completed read.
public struct ReadSummary: Sendable, Hashable, Codable {
    /// The plan as read: equal to the input plan under `endOffset` completion; under `idle` each
    /// partition's `toOffset` is extended to the position actually reached.
    public var plan: WindowPlan
    public var partitions: [PartitionReadStats]

    public init(plan: WindowPlan, partitions: [PartitionReadStats]) {
        self.plan = plan
        self.partitions = partitions.sorted { $0.partition < $1.partition }
    }

    public var delivered: Int64 { partitions.reduce(0) { $0 + $1.delivered } }
    public var late: Int64 { partitions.reduce(0) { $0 + $1.late } }
    public var exceeding: Int64 { partitions.reduce(0) { $0 + $1.exceeding } }
    public var skipped: Int64 { partitions.reduce(0) { $0 + $1.skipped } }
}

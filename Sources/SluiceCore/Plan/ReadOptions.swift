import Foundation

/// How a read ends and what it delivers.
public struct ReadOptions: Sendable, Hashable {
    public var completion: CompletionPolicy
    /// Drop (and count) records whose timestamp is at or after the window end.
    public var skipExceedRecord: Bool
    /// The most records handed to the caller at once.
    public var maxBatchSize: Int
    /// How long a partition that has not reached its planned end may go without a record or an
    /// end-of-log event before the read fails (brokers down, a partition without a leader). Measured
    /// on the clock passed to `read`.
    public var stallTimeout: Duration
    /// Applied when part of the plan was deleted by retention before the read starts.
    public var autoOffsetReset: AutoOffsetReset
    /// Fail when the topic has more partitions than when the plan was made (the window's records in
    /// the new partitions would be missed). Set to false when replaying an old plan on purpose.
    public var failOnNewPartitions: Bool

    public init(completion: CompletionPolicy = .endOffset, skipExceedRecord: Bool = false,
                maxBatchSize: Int = 10_000, stallTimeout: Duration = .seconds(120),
                autoOffsetReset: AutoOffsetReset = .none, failOnNewPartitions: Bool = true) {
        self.completion = completion
        self.skipExceedRecord = skipExceedRecord
        self.maxBatchSize = max(1, maxBatchSize)
        self.stallTimeout = stallTimeout
        self.autoOffsetReset = autoOffsetReset
        self.failOnNewPartitions = failOnNewPartitions
    }
}

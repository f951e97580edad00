/// Where an instance's records come from: plans a window into offsets per partition, reads a plan in
/// batches, and records progress for lag monitors. Kafka implements it (`KafkaSource`); tests can
/// fake it with in-memory batches.
public protocol WindowSource: Sendable {
    associatedtype Batch: RecordBatch & Sendable

    /// Plans `[begin, end)` per partition (`partitions` selects a subset; nil is all of them).
    func plan(begin: PlanBegin, end: PlanEnd, partitions: [Int32]?, autoOffsetReset: AutoOffsetReset,
              plannedAtMillis: Int64) async throws -> WindowPlan

    /// Reads exactly the plan (by position), handing the records to `deliver` in batches, in order
    /// per partition. A batch is valid only until `deliver` returns.
    func read(_ plan: WindowPlan, options: ReadOptions, deliver: (Batch) async throws -> Void) async throws -> ReadSummary

    /// Records the plan's end offsets where monitors look for progress (Kafka: the consumer group).
    /// Never read back as the source of truth.
    func commitGroupOffsets(_ plan: WindowPlan) async throws
}

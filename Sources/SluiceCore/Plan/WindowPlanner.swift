/// Where a window starts, with time bounds already resolved to epoch milliseconds.
public enum PlanBegin: Sendable, Hashable, Codable {
    case timestampMillis(Int64)
    case offset(Int64)
    case earliest
    /// The log end (high watermark) at planning time.
    case latest
    /// The consumer group's committed offset.
    case groupOffset
    /// A start offset per partition (`windowMode: contiguous`: the previous instance's end offsets).
    /// A partition missing from the map (added since) starts at its log start.
    case offsets([Int32: Int64])
}

/// Where a window ends (exclusive), with time bounds already resolved to epoch milliseconds.
public enum PlanEnd: Sendable, Hashable, Codable {
    case timestampMillis(Int64)
    case offset(Int64)
    case latest
}

/// What the broker said about one partition at planning time.
public struct PartitionFacts: Sendable, Hashable {
    public var partition: Int32
    public var lowWatermark: Int64
    public var highWatermark: Int64
    /// Offsets-for-times answer for the window start: the lowest offset whose record timestamp is at
    /// or after it; nil (or negative) when there is no such record.
    public var startLookup: Int64?
    /// Offsets-for-times answer for the window end.
    public var endLookup: Int64?
    /// The group's committed offset; nil when the group has none for this partition.
    public var committedOffset: Int64?
    /// Where the start maps when no record is at or after it: the high watermark read *before* the
    /// start lookup (so records appended meanwhile are not skipped). nil = `highWatermark`.
    public var startFallback: Int64?

    public init(partition: Int32, lowWatermark: Int64, highWatermark: Int64, startLookup: Int64? = nil,
                endLookup: Int64? = nil, committedOffset: Int64? = nil, startFallback: Int64? = nil) {
        self.startFallback = startFallback
        self.partition = partition
        self.lowWatermark = lowWatermark
        self.highWatermark = highWatermark
        self.startLookup = startLookup
        self.endLookup = endLookup
        self.committedOffset = committedOffset
    }
}

/// Computes window plans from bounds and broker answers. Pure: the Kafka module gathers the facts.
///
/// Semantics (Kafka's): a time bound maps to the lowest offset whose record timestamp is at or after
/// it; when no record is, the start maps to the log end and the end to the high watermark at planning
/// time, so a plan always exists and a read of it always ends. An end offset beyond the high watermark
/// is clamped to it. A start outside the retained log `[low, high]` is an error naming the partition and
/// the lost range, unless `autoOffsetReset` is `earliest` (read what is retained) or `latest` (read
/// nothing of this partition for this window).
public enum WindowPlanner {
    public static func plan(topic: String, begin: PlanBegin, end: PlanEnd, topicPartitionCount: Int32,
                            facts: [PartitionFacts], autoOffsetReset: AutoOffsetReset,
                            groupId: String? = nil, plannedAtMillis: Int64) throws -> WindowPlan {
        if case .timestampMillis(let s) = begin, case .timestampMillis(let e) = end, e < s {
            throw SluiceError.invalid("the window of topic \(topic) ends (\(e) ms) before it starts (\(s) ms)")
        }
        if case .offset(let s) = begin, case .offset(let e) = end, e < s {
            throw SluiceError.invalid("the end offset \(e) of topic \(topic) is before the begin offset \(s)")
        }
        var parts: [PartitionPlan] = []
        for f in facts.sorted(by: { $0.partition < $1.partition }) {
            parts.append(try planPartition(topic: topic, begin: begin, end: end, facts: f,
                                           autoOffsetReset: autoOffsetReset, groupId: groupId))
        }
        var startMillis: Int64? = nil
        var endMillis: Int64? = nil
        if case .timestampMillis(let s) = begin { startMillis = s }
        if case .timestampMillis(let e) = end { endMillis = e }
        return WindowPlan(topic: topic, startMillis: startMillis, endMillis: endMillis,
                          plannedAtMillis: plannedAtMillis, topicPartitionCount: topicPartitionCount,
                          partitions: parts)
    }

    static func planPartition(topic: String, begin: PlanBegin, end: PlanEnd, facts f: PartitionFacts,
                              autoOffsetReset: AutoOffsetReset, groupId: String?) throws -> PartitionPlan {
        let low = f.lowWatermark, high = f.highWatermark
        let to: Int64
        switch end {
        case .timestampMillis:
            if let o = f.endLookup, o >= 0 { to = min(o, high) } else { to = high }
        case .offset(let o): to = min(o, high)
        case .latest: to = high
        }
        var from: Int64
        switch begin {
        case .timestampMillis:
            if let o = f.startLookup, o >= 0 { from = min(o, high) } else { from = min(f.startFallback ?? high, high) }
        case .offset(let o): from = o
        case .earliest: from = low
        case .latest: from = high
        case .offsets(let map): from = map[f.partition] ?? low
        case .groupOffset:
            guard let c = f.committedOffset, c >= 0 else {
                switch autoOffsetReset {
                case .earliest: return PartitionPlan(partition: f.partition, fromOffset: low,
                                                     toOffset: max(to, low), lowWatermark: low, highWatermark: high)
                case .latest: return PartitionPlan(partition: f.partition, fromOffset: max(to, low),
                                                   toOffset: max(to, low), lowWatermark: low, highWatermark: high)
                case .none:
                    throw SluiceError(.kafka, "consumer group \(groupId ?? "(none)") has no committed offset for topic \(topic) partition \(f.partition)",
                                      hint: "set autoOffsetReset: earliest or latest, or begin at a time or offset")
                }
            }
            from = c
        }
        var reset: Int64? = nil
        if from < low || from > high {
            switch autoOffsetReset {
            case .none:
                if from < low {
                    let lostEnd = min(low, max(to, from))
                    throw SluiceError(.kafka,
                        "topic \(topic) partition \(f.partition): offsets \(from)..<\(lostEnd) of this window were deleted by retention (the log now starts at \(low))",
                        hint: "the data is gone from Kafka; set autoOffsetReset: earliest to read what is retained, or latest to skip the partition",
                        code: "kafka.retention", context: ["topic": topic, "partition": String(f.partition), "offset": String(from)],
                        retriable: false)
                }
                throw SluiceError(.kafka,
                    "topic \(topic) partition \(f.partition): start offset \(from) is beyond the end of the log (high watermark \(high))",
                    hint: "set autoOffsetReset: earliest or latest, or check the begin offset")
            case .earliest:
                reset = from
                from = low
            case .latest:
                reset = from
                from = max(to, low)
            }
        }
        return PartitionPlan(partition: f.partition, fromOffset: from, toOffset: max(to, from),
                             lowWatermark: low, highWatermark: high, resetFromOffset: reset)
    }

    /// Checks a stored plan against the partitions' current watermarks before it is read (a replay, or
    /// a read that starts a while after planning). Returns the plan to read, adjusted by
    /// `autoOffsetReset` when part of it was deleted by retention, or throws naming the lost range.
    /// `watermarks` maps partition → (low, high).
    public static func revalidate(_ plan: WindowPlan, watermarks: [Int32: (low: Int64, high: Int64)],
                                  autoOffsetReset: AutoOffsetReset) throws -> WindowPlan {
        var out = plan
        for (i, p) in plan.partitions.enumerated() {
            guard let w = watermarks[p.partition] else {
                throw SluiceError(.kafka, "topic \(plan.topic) partition \(p.partition) of the plan no longer exists",
                                  hint: "the topic was deleted or recreated since the window was planned")
            }
            if !p.isEmpty && p.fromOffset < w.low {
                switch autoOffsetReset {
                case .none:
                    throw SluiceError(.kafka,
                        "topic \(plan.topic) partition \(p.partition): offsets \(p.fromOffset)..<\(min(w.low, p.toOffset)) of this window were deleted by retention since it was planned (the log now starts at \(w.low))",
                        hint: "the data is gone from Kafka; set autoOffsetReset: earliest to read what is retained, or latest to skip the partition",
                        code: "kafka.retention",
                        context: ["topic": plan.topic, "partition": String(p.partition), "offset": String(p.fromOffset)],
                        retriable: false)
                case .earliest:
                    out.partitions[i].resetFromOffset = p.fromOffset
                    out.partitions[i].fromOffset = min(w.low, p.toOffset)
                case .latest:
                    out.partitions[i].resetFromOffset = p.fromOffset
                    out.partitions[i].fromOffset = p.toOffset
                }
            }
            if p.toOffset > w.high {
                throw SluiceError(.kafka,
                    "topic \(plan.topic) partition \(p.partition): the log ends at \(w.high), before the planned end \(p.toOffset)",
                    hint: "the topic was truncated, deleted or recreated since the window was planned")
            }
        }
        return out
    }
}

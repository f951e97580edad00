/// Splits an instance's window plan into shards that workers read on their own: whole Kafka
/// partitions when there are at least as many non-empty partitions as shards, offset ranges of the
/// partitions otherwise. Pure: the same plan and count always give the same shards.
public enum ShardSplitter {
    /// At most `count` shard plans covering `window` exactly: every offset of every partition is in
    /// exactly one shard, and a partition's empty plan rides with the first shard (so that its end
    /// offset is still recorded). Fewer shards when the window has fewer offsets than `count`.
    public static func split(_ window: WindowPlan, into count: Int) -> [WindowPlan] {
        let busy = window.partitions.filter { !$0.isEmpty }
        let n = max(1, min(count, Int(min(Int64(Int.max), window.offsetCount))))
        var shards: [[PartitionPlan]]
        if n == 1 || busy.isEmpty {
            shards = [window.partitions]
        } else if busy.count >= n {
            shards = wholePartitions(busy, into: n)
        } else {
            shards = ranges(busy, into: n)
        }
        let idle = window.partitions.filter(\.isEmpty)
        if n > 1, !busy.isEmpty { shards[0] += idle }
        return shards.map { parts in
            WindowPlan(topic: window.topic, startMillis: window.startMillis, endMillis: window.endMillis,
                       plannedAtMillis: window.plannedAtMillis, topicPartitionCount: window.topicPartitionCount, partitions: parts)
        }
    }

    /// Longest partitions first, each to the shard with the fewest offsets so far.
    static func wholePartitions(_ parts: [PartitionPlan], into n: Int) -> [[PartitionPlan]] {
        var shards = Array(repeating: [PartitionPlan](), count: n)
        var sizes = Array(repeating: Int64(0), count: n)
        for p in parts.sorted(by: { ($0.offsetCount, $1.partition) > ($1.offsetCount, $0.partition) }) {
            let i = sizes.indices.min { (sizes[$0], $0) < (sizes[$1], $1) }!
            shards[i].append(p)
            sizes[i] += p.offsetCount
        }
        return shards
    }

    /// Each partition cut into ranges in proportion to its size, `n` ranges in all.
    static func ranges(_ parts: [PartitionPlan], into n: Int) -> [[PartitionPlan]] {
        // One range per partition, then the rest to the partitions with the longest ranges.
        var pieces = Array(repeating: 1, count: parts.count)
        for _ in parts.count..<n {
            let i = parts.indices.filter { Int64(pieces[$0]) < parts[$0].offsetCount }
                .max { Double(parts[$0].offsetCount) / Double(pieces[$0]) < Double(parts[$1].offsetCount) / Double(pieces[$1]) }
            guard let i else { break }
            pieces[i] += 1
        }
        var shards: [[PartitionPlan]] = []
        for (p, k) in zip(parts, pieces) {
            let size = p.offsetCount
            for j in 0..<k {
                var range = p
                range.fromOffset = p.fromOffset + size * Int64(j) / Int64(k)
                range.toOffset = p.fromOffset + size * Int64(j + 1) / Int64(k)
                if j > 0 { range.resetFromOffset = nil }
                shards.append([range])
            }
        }
        return shards
    }
}

/// What one shard's read and write did, as its worker reports it to the coordinator.
public struct ShardResult: Sendable, Hashable, Codable {
    public var summary: ReadSummary
    /// Rows handed to the destination.
    public var rows: Int64
    public var dirty: Int64
    public var overLength: Int64
    public var bytesRead: Int64
    public var seconds: Double
    /// What the destination needs at the commit to find the shard's rows (MaxCompute: its block ids).
    public var written: ShardWrite

    public init(summary: ReadSummary, rows: Int64, dirty: Int64, overLength: Int64, bytesRead: Int64, seconds: Double,
                written: ShardWrite) {
        self.summary = summary
        self.rows = rows
        self.dirty = dirty
        self.overLength = overLength
        self.bytesRead = bytesRead
        self.seconds = seconds
        self.written = written
    }
}

extension ReadSummary {
    /// The read of a whole instance from the reads of its shards: per Kafka partition, the counts
    /// added up and the furthest position; the plan is `plan`.
    public static func merging(_ shards: [ReadSummary], plan: WindowPlan) -> ReadSummary {
        var byPartition: [Int32: PartitionReadStats] = [:]
        for s in shards {
            for p in s.partitions {
                var m = byPartition[p.partition] ?? PartitionReadStats(partition: p.partition, position: p.position)
                m.delivered += p.delivered
                m.late += p.late
                m.exceeding += p.exceeding
                m.skipped += p.skipped
                m.position = max(m.position, p.position)
                byPartition[p.partition] = m
            }
        }
        return ReadSummary(plan: plan, partitions: Array(byPartition.values))
    }
}

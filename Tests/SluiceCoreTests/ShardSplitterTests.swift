import SluiceCore
import Testing

/// Splitting a plan into shards: whole partitions when there are enough, offset ranges otherwise;
/// every offset in exactly one shard.
@Suite struct ShardSplitterTests {
    static func window(_ sizes: [Int64], from: Int64 = 100) -> WindowPlan {
        WindowPlan(topic: "t", startMillis: 0, endMillis: 1, plannedAtMillis: 1, topicPartitionCount: Int32(sizes.count),
                   partitions: sizes.enumerated().map { PartitionPlan(partition: Int32($0.offset), fromOffset: from, toOffset: from + $0.element,
                                                                       lowWatermark: 0, highWatermark: from + $0.element) })
    }

    /// Each partition's offsets, from every shard, sorted: exactly the plan's.
    static func covered(_ shards: [WindowPlan]) -> [Int32: [Range<Int64>]] {
        var out: [Int32: [Range<Int64>]] = [:]
        for s in shards { for p in s.partitions { out[p.partition, default: []].append(p.fromOffset..<p.toOffset) } }
        return out.mapValues { $0.sorted { $0.lowerBound < $1.lowerBound } }
    }

    static func exact(_ shards: [WindowPlan], _ window: WindowPlan) -> Bool {
        let c = covered(shards)
        return window.partitions.allSatisfy { p in
            let ranges = c[p.partition] ?? []
            guard ranges.first?.lowerBound == p.fromOffset, ranges.last?.upperBound == p.toOffset else { return false }
            return zip(ranges, ranges.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound }
        }
    }

    @Test func wholePartitionsWhenThereAreEnough() {
        let w = Self.window([50, 10, 40, 30, 20, 0])
        let shards = ShardSplitter.split(w, into: 3)
        #expect(shards.count == 3)
        #expect(shards.allSatisfy { s in s.partitions.allSatisfy { p in w.partition(p.partition)?.toOffset == p.toOffset && w.partition(p.partition)?.fromOffset == p.fromOffset } })
        #expect(shards.map(\.offsetCount).sorted() == [50, 50, 50])
        #expect(Self.exact(shards, w))
        #expect(shards[0].partitions.contains { $0.partition == 5 }, "the empty partition rides with the first shard")
        #expect(shards.allSatisfy { $0.topic == "t" && $0.topicPartitionCount == 6 && $0.startMillis == 0 })
    }

    @Test func offsetRangesWhenPartitionsAreFewer() {
        let w = Self.window([1000, 10])
        let shards = ShardSplitter.split(w, into: 5)
        #expect(shards.count == 5)
        #expect(Self.exact(shards, w))
        #expect(shards.filter { $0.partitions.contains { $0.partition == 0 } }.count == 4)
        #expect(shards.flatMap(\.partitions).filter { $0.partition == 0 }.map(\.offsetCount).allSatisfy { $0 == 250 })
    }

    @Test func neverMoreShardsThanOffsets() {
        #expect(ShardSplitter.split(Self.window([2, 0]), into: 8).count == 2)
        #expect(ShardSplitter.split(Self.window([0, 0]), into: 4).count == 1)
        #expect(ShardSplitter.split(Self.window([7]), into: 1) == [Self.window([7])])
        let w = Self.window([3])
        #expect(Self.exact(ShardSplitter.split(w, into: 3), w))
    }

    @Test func aReadOfTheShardsMergesIntoTheInstancesRead() {
        let w = Self.window([10])
        let a = ReadSummary(plan: w, partitions: [PartitionReadStats(partition: 0, delivered: 4, late: 1, exceeding: 0, skipped: 0, position: 105)])
        let b = ReadSummary(plan: w, partitions: [PartitionReadStats(partition: 0, delivered: 5, late: 0, exceeding: 2, skipped: 1, position: 110)])
        let m = ReadSummary.merging([b, a], plan: w)
        #expect(m.partitions == [PartitionReadStats(partition: 0, delivered: 9, late: 1, exceeding: 2, skipped: 1, position: 110)])
    }
}

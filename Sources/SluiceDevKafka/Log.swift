import NIOCore

/// One partition's log: chunks in offset order, a log start offset (moved by retention) and the log
/// end offset, which is also the high watermark (a single replica, no transactions).
final class PartitionLog {
    var chunks: [Chunk] = []
    var logStartOffset: Int64 = 0
    var logEndOffset: Int64 = 0
    var lastAppendTime: Int64 = -1

    var highWatermark: Int64 { logEndOffset }

    func append(_ chunk: Chunk, now: Int64) {
        chunks.append(chunk)
        logEndOffset = chunk.lastOffset + 1
        lastAppendTime = now
    }

    /// Retention: records before `offset` are gone; fetches below it are out of range.
    func deleteRecords(before offset: Int64) {
        let target = min(max(offset, logStartOffset), logEndOffset)
        logStartOffset = target
        chunks.removeAll { $0.lastOffset < target }
    }

    /// The index of the chunk holding `offset` (or the first after it).
    func chunkIndex(for offset: Int64) -> Int {
        var lo = 0, hi = chunks.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if chunks[mid].lastOffset < offset { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    /// Kafka's offset-for-timestamp: the lowest offset whose record timestamp is ≥ `target`, with
    /// that timestamp; nil when no record qualifies.
    func offset(forTimestamp target: Int64) -> (offset: Int64, timestamp: Int64)? {
        for chunk in chunks where chunk.lastOffset >= logStartOffset && chunk.maxTimestamp >= target {
            var o = max(chunk.baseOffset, logStartOffset)
            while o <= chunk.lastOffset {
                let ts = chunk.timestamp(at: o)
                if ts >= target { return (o, ts) }
                o += 1
            }
        }
        return nil
    }

    /// Stored bytes from the entry holding `offset` on, at most `maxBytes`, cut like Kafka's file
    /// slices; with `minOneBatch` the first entry comes whole even when larger.
    func read(from offset: Int64, maxBytes: Int, minOneBatch: Bool) -> [ByteBuffer] {
        var out: [ByteBuffer] = []
        var remaining = maxBytes
        var i = chunkIndex(for: offset)
        var first = true
        while i < chunks.count {
            if remaining <= 0 && !(first && minOneBatch) { break }
            let chunk = chunks[i]
            let start = first ? chunk.position(of: offset) : 0
            let available = chunk.bytes.readableBytes - start
            var take = min(available, remaining)
            if first && minOneBatch {
                let entry = chunk.entrySize(at: start)
                if entry > remaining { take = entry }
            }
            if take <= 0 { break }
            out.append(chunk.bytes.getSlice(at: chunk.bytes.readerIndex + start, length: take)!)
            remaining -= take
            first = false
            i += 1
        }
        return out
    }
}

/// A topic: its partitions and its timestamp type.
final class TopicState {
    let name: String
    var partitions: [PartitionLog]
    var logAppendTime: Bool

    init(name: String, partitions: Int, logAppendTime: Bool) {
        self.name = name
        self.partitions = (0..<partitions).map { _ in PartitionLog() }
        self.logAppendTime = logAppendTime
    }
}

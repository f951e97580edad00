import NIOCore
import SluiceCore

/// A produce that Kafka rejects for one partition, with the error code it answers.
struct ProduceRejection: Error {
    let code: KafkaErrorCode
    let reason: String
}

/// One unit of the stored log: a record batch v2 as produced (offsets assigned), or the run of
/// message-set entries (magic 0/1) of one produce. Fetch serves `bytes` as they are.
struct Chunk {
    var baseOffset: Int64
    var lastOffset: Int64
    var maxTimestamp: Int64
    /// The timestamp of each offset from `baseOffset`; nil when every record reads `maxTimestamp`
    /// (LogAppendTime).
    var timestamps: [Int64]?
    var bytes: ByteBuffer
    /// For each entry (a batch, or a shallow message), its last offset and its start within `bytes`.
    var entryLastOffsets: [Int64]
    var entryPositions: [Int]
    var magic: Int8

    func timestamp(at offset: Int64) -> Int64 {
        guard let timestamps else { return maxTimestamp }
        return timestamps[Int(offset - baseOffset)]
    }

    /// The byte position of the entry holding `offset`.
    func position(of offset: Int64) -> Int {
        var lo = 0, hi = entryLastOffsets.count - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if entryLastOffsets[mid] < offset { lo = mid + 1 } else { hi = mid }
        }
        return entryPositions[lo]
    }

    /// The size of the entry starting at `position`.
    func entrySize(at position: Int) -> Int {
        if let i = entryPositions.firstIndex(of: position), i + 1 < entryPositions.count {
            return entryPositions[i + 1] - position
        }
        return bytes.readableBytes - position
    }
}

/// A record decoded from a stored batch (used for format conversions and the Swift API).
struct DecodedRecord {
    var offset: Int64
    var timestamp: Int64
    var key: ByteBuffer?
    var value: ByteBuffer?
    var headers: [(String, ByteBuffer?)]
}

enum RecordFormat {
    // MARK: record batches v2

    static let v2HeaderSize = 61
    /// Kafka's default `message.max.bytes`: the largest batch (or shallow message) a produce may carry.
    static let maxMessageBytes = 1_000_012

    /// The header fields of a produced batch v2 that storing it needs.
    struct V2Header {
        var attributes: Int16
        var codec: CompressionCodec
        var lastOffsetDelta: Int64
        var firstTimestamp: Int64
        var maxTimestamp: Int64
        var count: Int
    }

    /// Validates a produced batch v2, assigns `baseOffset`, applies LogAppendTime, and returns the
    /// chunk to store. `allowZstd` is false below Produce v7.
    static func ingestV2(_ input: ByteBuffer, baseOffset: Int64, logAppendTime: Int64?, allowZstd: Bool) throws -> Chunk {
        guard input.readableBytes >= v2HeaderSize else {
            throw ProduceRejection(code: .corruptMessage, reason: "record batch shorter than its header")
        }
        var batch = ByteBufferAllocator().buffer(capacity: input.readableBytes)
        batch.writeImmutableBuffer(input)
        let r = batch.readerIndex
        let header = try checkV2Header(batch, allowZstd: allowZstd)
        var payload = batch.getSlice(at: r + v2HeaderSize, length: batch.readableBytes - v2HeaderSize)!
        do {
            payload = try Codecs.decompress(header.codec, payload)
        } catch {
            throw ProduceRejection(code: .corruptMessage, reason: "\(error)")
        }
        let timestamps = try v2Timestamps(payload, header: header)
        batch.setInteger(baseOffset, at: r)
        batch.setInteger(Int32(0), at: r + 12)
        var maxTimestamp = timestamps.max() ?? Int64.min
        var attributes = header.attributes
        if let appendTime = logAppendTime {
            attributes |= 0x08
            batch.setInteger(attributes, at: r + 21)
            maxTimestamp = appendTime
        }
        if logAppendTime != nil || maxTimestamp != header.maxTimestamp {
            batch.setInteger(maxTimestamp, at: r + 35)
            let crc = CRC32C.checksum(batch, from: r + 21, to: r + batch.readableBytes)
            batch.setInteger(crc, at: r + 17)
        }
        let lastOffset = baseOffset + header.lastOffsetDelta
        return Chunk(baseOffset: baseOffset, lastOffset: lastOffset, maxTimestamp: maxTimestamp,
                     timestamps: logAppendTime == nil ? timestamps : nil, bytes: batch, entryLastOffsets: [lastOffset],
                     entryPositions: [0], magic: 2)
    }

    /// Checks a produced batch v2's header: magic, length, codec, attributes, CRC, count, size.
    static func checkV2Header(_ batch: ByteBuffer, allowZstd: Bool) throws -> V2Header {
        let r = batch.readerIndex
        guard let magic = batch.getInteger(at: r + 16, as: Int8.self), magic == 2 else {
            throw ProduceRejection(code: .invalidRecord, reason: "not a record batch v2")
        }
        let batchLength = Int(batch.getInteger(at: r + 8, as: Int32.self)!)
        guard batchLength + 12 == batch.readableBytes else {
            throw ProduceRejection(code: .corruptMessage, reason: "batch length does not match its size")
        }
        let attributes = batch.getInteger(at: r + 21, as: Int16.self)!
        guard let codec = CompressionCodec(rawValue: Int8(attributes & 0x7)) else {
            throw ProduceRejection(code: .unsupportedCompressionType, reason: "unknown codec")
        }
        if codec == .zstd && !allowZstd {
            throw ProduceRejection(code: .unsupportedCompressionType, reason: "zstd needs Produce v7")
        }
        if attributes & 0x08 != 0 {
            throw ProduceRejection(code: .invalidTimestamp, reason: "producers must not set LogAppendTime")
        }
        if attributes & 0x30 != 0 {
            throw ProduceRejection(code: .invalidRecord, reason: "transactional and control batches are not supported")
        }
        let storedCRC = batch.getInteger(at: r + 17, as: UInt32.self)!
        guard storedCRC == CRC32C.checksum(batch, from: r + 21, to: r + batch.readableBytes) else {
            throw ProduceRejection(code: .corruptMessage, reason: "record batch CRC mismatch")
        }
        let header = V2Header(attributes: attributes, codec: codec,
                              lastOffsetDelta: Int64(batch.getInteger(at: r + 23, as: Int32.self)!),
                              firstTimestamp: batch.getInteger(at: r + 27, as: Int64.self)!,
                              maxTimestamp: batch.getInteger(at: r + 35, as: Int64.self)!,
                              count: Int(batch.getInteger(at: r + 57, as: Int32.self)!))
        guard header.count > 0, Int64(header.count) == header.lastOffsetDelta + 1 else {
            throw ProduceRejection(code: .invalidRecord, reason: "record count does not match the last offset delta")
        }
        guard batch.readableBytes <= maxMessageBytes else {
            throw ProduceRejection(code: .messageTooLarge, reason: "batch of \(batch.readableBytes) bytes exceeds message.max.bytes")
        }
        return header
    }

    /// Walks the (decompressed) records of a batch v2, checking their structure, and returns their
    /// timestamps in order.
    static func v2Timestamps(_ records: ByteBuffer, header: V2Header) throws -> [Int64] {
        var payload = records
        guard header.count <= payload.readableBytes else {
            throw ProduceRejection(code: .corruptMessage, reason: "record count exceeds the batch")
        }
        var timestamps = [Int64]()
        timestamps.reserveCapacity(header.count)
        do {
            for i in 0..<header.count {
                let length = try payload.rVarint()
                guard length >= 0, length <= Int64(payload.readableBytes) else { throw WireError("record length") }
                var record = payload.readSlice(length: Int(length))!
                _ = try record.rInt8()
                let ts = header.firstTimestamp &+ (try record.rVarint())
                let offsetDelta = try record.rVarint()
                guard offsetDelta == Int64(i) else { throw WireError("offset delta \(offsetDelta) at \(i)") }
                try skipField(&record, nullable: true)  // key
                try skipField(&record, nullable: true)  // value
                let headerCount = try record.rVarint()
                guard headerCount >= 0, headerCount <= Int64(record.readableBytes) else { throw WireError("header count") }
                for _ in 0..<headerCount {
                    try skipField(&record, nullable: false)
                    try skipField(&record, nullable: true)
                }
                guard record.readableBytes == 0 else { throw WireError("record \(i) has \(record.readableBytes) bytes left over") }
                timestamps.append(ts)
            }
            guard payload.readableBytes == 0 else { throw WireError("bytes after the last record") }
        } catch {
            throw ProduceRejection(code: .corruptMessage, reason: "\(error)")
        }
        return timestamps
    }

    /// Decodes the records of a stored batch v2.
    static func decodeV2(_ input: ByteBuffer) throws -> [DecodedRecord] {
        var b = input
        let baseOffset = try b.rInt64()
        _ = try b.rInt32()
        _ = try b.rInt32()
        let magic = try b.rInt8()
        guard magic == 2 else { throw WireError("magic \(magic)") }
        _ = try b.rInt32()
        let attributes = try b.rInt16()
        _ = try b.rInt32()
        let firstTimestamp = try b.rInt64()
        let maxTimestamp = try b.rInt64()
        _ = try b.rInt64(); _ = try b.rInt16(); _ = try b.rInt32()
        let count = Int(try b.rInt32())
        guard let codec = CompressionCodec(rawValue: Int8(attributes & 7)) else { throw WireError("codec") }
        var payload = try Codecs.decompress(codec, b)
        let logAppend = attributes & 0x08 != 0
        var out = [DecodedRecord]()
        for _ in 0..<max(0, count) {
            let length = try payload.rVarint()
            guard length >= 0, length <= Int64(payload.readableBytes), var rec = payload.readSlice(length: Int(length)) else {
                throw WireError("record")
            }
            _ = try rec.rInt8()
            let tsDelta = try rec.rVarint()
            let offsetDelta = try rec.rVarint()
            func bytes(_ b: inout ByteBuffer) throws -> ByteBuffer? {
                let n = try b.rVarint()
                if n < 0 { return nil }
                guard n <= Int64(b.readableBytes), let s = b.readSlice(length: Int(n)) else { throw WireError("record field") }
                return s
            }
            let key = try bytes(&rec)
            let value = try bytes(&rec)
            let headerCount = Int(try rec.rVarint())
            var headers: [(String, ByteBuffer?)] = []
            for _ in 0..<max(0, headerCount) {
                guard let name = try bytes(&rec) else { throw WireError("null header name") }
                headers.append((String(buffer: name), try bytes(&rec)))
            }
            out.append(DecodedRecord(offset: baseOffset &+ offsetDelta,
                                     timestamp: logAppend ? maxTimestamp : firstTimestamp &+ tsDelta,
                                     key: key, value: value, headers: headers))
        }
        return out
    }

    /// Encodes a batch v2 (CreateTime) holding `records` from `baseOffset`, compressed with `codec`.
    static func encodeV2(baseOffset: Int64, records: [DecodedRecord], codec: CompressionCodec) throws -> ByteBuffer {
        let plain = encodeV2(baseOffset: baseOffset, records: records)
        guard codec != .none else { return plain }
        let body = Array(plain.getSlice(at: plain.readerIndex + v2HeaderSize, length: plain.readableBytes - v2HeaderSize)!.readableBytesView)
        var out = plain.getSlice(at: plain.readerIndex, length: v2HeaderSize)!
        out.writeBytes(try Codecs.compress(codec, body))
        out.setInteger(Int32(out.readableBytes - 12), at: 8)
        out.setInteger(Int16(codec.rawValue), at: 21)
        out.setInteger(CRC32C.checksum(out, from: 21, to: out.writerIndex), at: 17)
        return out
    }

    /// Encodes an uncompressed batch v2 (CreateTime) holding `records` from `baseOffset`.
    static func encodeV2(baseOffset: Int64, records: [DecodedRecord]) -> ByteBuffer {
        let firstTimestamp = records.first?.timestamp ?? -1
        let maxTimestamp = records.map(\.timestamp).max() ?? -1
        var body = ByteBufferAllocator().buffer(capacity: 256)
        var rec = ByteBufferAllocator().buffer(capacity: 256)
        for (i, r) in records.enumerated() {
            rec.clear()
            rec.wInt8(0)
            rec.wVarint(r.timestamp &- firstTimestamp)
            rec.wVarint(Int64(i))
            func put(_ b: ByteBuffer?) {
                guard var b else { rec.wVarint(-1); return }
                rec.wVarint(Int64(b.readableBytes)); rec.writeBuffer(&b)
            }
            put(r.key)
            put(r.value)
            rec.wVarint(Int64(r.headers.count))
            for (name, value) in r.headers {
                rec.wVarint(Int64(name.utf8.count)); rec.writeString(name)
                put(value)
            }
            body.wVarint(Int64(rec.readableBytes))
            body.writeImmutableBuffer(rec)
        }
        var batch = ByteBufferAllocator().buffer(capacity: v2HeaderSize + body.readableBytes)
        batch.wInt64(baseOffset)
        batch.wInt32(Int32(v2HeaderSize - 12 + body.readableBytes))
        batch.wInt32(0)
        batch.wInt8(2)
        batch.wInt32(0)  // crc, below
        batch.wInt16(0)
        batch.wInt32(Int32(max(0, records.count - 1)))
        batch.wInt64(firstTimestamp)
        batch.wInt64(maxTimestamp)
        batch.wInt64(-1)
        batch.wInt16(-1)
        batch.wInt32(-1)
        batch.wInt32(Int32(records.count))
        batch.writeImmutableBuffer(body)
        let crc = CRC32C.checksum(batch, from: batch.readerIndex + 21, to: batch.writerIndex)
        batch.setInteger(crc, at: batch.readerIndex + 17)
        return batch
    }

    /// Skips a varint-length-prefixed field of a record v2 (-1 = null where allowed).
    static func skipField(_ record: inout ByteBuffer, nullable: Bool) throws {
        let n = try record.rVarint()
        if n == -1 && nullable { return }
        guard n >= 0, n <= Int64(record.readableBytes) else { throw WireError("record field length \(n)") }
        record.moveReaderIndex(forwardBy: Int(n))
    }

    // MARK: message sets (magic 0 and 1)

    struct Message {
        var offset: Int64
        var magic: Int8
        var attributes: Int8
        var timestamp: Int64
        var key: ByteBuffer?
        var value: ByteBuffer?
        /// The whole entry (offset, size, message).
        var entry: ByteBuffer
    }

    static func parseMessageSet(_ input: ByteBuffer) throws -> [Message] {
        var b = input
        var out = [Message]()
        while b.readableBytes >= 12 {
            let start = b.readerIndex
            let offset = try b.rInt64()
            let size = Int(try b.rInt32())
            guard size >= 14, size <= b.readableBytes else {
                // A trailing partial message is how fetches end; in a produce it is corrupt.
                throw WireError("message size \(size) with \(b.readableBytes) bytes left")
            }
            var m = b.readSlice(length: size)!
            let crc = UInt32(bitPattern: try m.rInt32())
            let magic = try m.rInt8()
            guard magic == 0 || magic == 1 else { throw WireError("message magic \(magic)") }
            let computed = CRC32.checksum(m, from: m.readerIndex - 1, to: m.writerIndex)
            guard computed == crc else { throw WireError("message CRC mismatch") }
            let attributes = try m.rInt8()
            let timestamp = magic == 1 ? try m.rInt64() : -1
            let key = try m.rNullableBytes()
            let value = try m.rNullableBytes()
            out.append(Message(offset: offset, magic: magic, attributes: attributes, timestamp: timestamp,
                               key: key, value: value, entry: input.getSlice(at: start, length: 12 + size)!))
        }
        guard b.readableBytes == 0 else { throw WireError("trailing bytes in message set") }
        return out
    }

    /// Encodes one message-set entry of magic `magic`.
    static func encodeMessage(offset: Int64, magic: Int8, attributes: Int8, timestamp: Int64,
                              key: ByteBuffer?, value: ByteBuffer?, into out: inout ByteBuffer) {
        out.wInt64(offset)
        let sizeAt = out.writerIndex
        out.wInt32(0)
        let crcAt = out.writerIndex
        out.wInt32(0)
        out.wInt8(magic)
        out.wInt8(attributes)
        if magic == 1 { out.wInt64(timestamp) }
        out.wNullableBytes(key)
        out.wNullableBytes(value)
        out.setInteger(Int32(out.writerIndex - crcAt), at: sizeAt)
        let crc = CRC32.checksum(out, from: crcAt + 4, to: out.writerIndex)
        out.setInteger(crc, at: crcAt)
    }

    /// The 0.10.2 log: validates a produced message set, assigns offsets from `baseOffset`, converts
    /// magic 0 to magic 1, applies LogAppendTime, following Kafka 0.10.2's LogValidator.
    static func ingestV1(_ input: ByteBuffer, baseOffset: Int64, logAppendTime: Int64?) throws -> Chunk {
        let messages: [Message]
        do {
            messages = try parseMessageSet(input)
        } catch {
            throw ProduceRejection(code: .corruptMessage, reason: "\(error)")
        }
        guard !messages.isEmpty else { throw ProduceRejection(code: .corruptMessage, reason: "empty message set") }
        var log = V1LogBuilder(baseOffset: baseOffset, logAppendTime: logAppendTime, capacity: input.readableBytes + 16)
        for m in messages {
            if m.entry.readableBytes > maxMessageBytes {
                throw ProduceRejection(code: .messageTooLarge, reason: "message exceeds message.max.bytes")
            }
            if m.magic == 1 && m.attributes & 0x08 != 0 {
                throw ProduceRejection(code: .invalidTimestamp, reason: "producers must not set LogAppendTime")
            }
            let codecBits = m.attributes & 0x07
            if codecBits == 0 {
                if m.magic == 1 && logAppendTime == nil { log.appendAsIs(m) } else { log.appendPlain(m.timestamp, m.key, m.value) }
                continue
            }
            guard let codec = CompressionCodec(rawValue: codecBits), codec != .zstd else {
                throw ProduceRejection(code: .corruptMessage, reason: "unknown codec \(codecBits)")
            }
            let inner: [Message]
            do {
                inner = try parseMessageSet(try Codecs.decompress(codec, m.value ?? ByteBuffer()))
            } catch {
                throw ProduceRejection(code: .corruptMessage, reason: "\(error)")
            }
            guard !inner.isEmpty else { throw ProduceRejection(code: .corruptMessage, reason: "empty wrapper") }
            let inPlace = m.magic == 1 && inner.enumerated().allSatisfy { i, x in
                x.magic == 1 && x.offset == Int64(i) && x.attributes & 0x0f == 0
            }
            if inPlace {
                log.appendWrapper(m, inner: inner)
            } else {
                for x in inner { log.appendPlain(m.magic == 1 ? x.timestamp : -1, x.key, x.value) }
            }
        }
        return log.chunk
    }

    /// The stored message set of the 0.10.2 log being built, entry by entry.
    struct V1LogBuilder {
        let baseOffset: Int64
        let logAppendTime: Int64?
        var out: ByteBuffer
        var next: Int64
        var timestamps: [Int64] = []
        var lastOffsets: [Int64] = []
        var positions: [Int] = []
        var maxTimestamp = Int64(-1)

        init(baseOffset: Int64, logAppendTime: Int64?, capacity: Int) {
            self.baseOffset = baseOffset
            self.logAppendTime = logAppendTime
            out = ByteBufferAllocator().buffer(capacity: capacity)
            next = baseOffset
        }

        /// A message written anew as magic 1 (converted, or with LogAppendTime).
        mutating func appendPlain(_ timestamp: Int64, _ key: ByteBuffer?, _ value: ByteBuffer?) {
            positions.append(out.writerIndex)
            let ts = logAppendTime ?? timestamp
            encodeMessage(offset: next, magic: 1, attributes: logAppendTime != nil ? 0x08 : 0, timestamp: ts,
                          key: key, value: value, into: &out)
            record(ts, last: next)
        }

        /// An uncompressed magic 1 message kept byte for byte, with its offset assigned.
        mutating func appendAsIs(_ m: Message) {
            positions.append(out.writerIndex)
            out.writeImmutableBuffer(m.entry)
            out.setInteger(next, at: positions.last!)
            record(m.timestamp, last: next)
        }

        /// A compressed magic 1 wrapper kept as it is, with its last offset and (maximum or append)
        /// timestamp set.
        mutating func appendWrapper(_ m: Message, inner: [Message]) {
            let last = next + Int64(inner.count) - 1
            let start = out.writerIndex
            positions.append(start)
            out.writeImmutableBuffer(m.entry)
            out.setInteger(last, at: start)
            let wrapperTs = logAppendTime ?? (inner.map(\.timestamp).max() ?? -1)
            if wrapperTs != m.timestamp || logAppendTime != nil {
                out.setInteger(wrapperTs, at: start + 18)
                out.setInteger(m.attributes | (logAppendTime != nil ? 0x08 : 0), at: start + 17)
                let crc = CRC32.checksum(out, from: start + 16, to: out.writerIndex)
                out.setInteger(crc, at: start + 12)
            }
            for x in inner { timestamps.append(logAppendTime ?? x.timestamp) }
            maxTimestamp = max(maxTimestamp, wrapperTs)
            lastOffsets.append(last)
            next = last + 1
        }

        private mutating func record(_ ts: Int64, last: Int64) {
            timestamps.append(ts)
            maxTimestamp = max(maxTimestamp, ts)
            lastOffsets.append(last)
            next = last + 1
        }

        var chunk: Chunk {
            Chunk(baseOffset: baseOffset, lastOffset: next - 1, maxTimestamp: maxTimestamp, timestamps: timestamps,
                  bytes: out, entryLastOffsets: lastOffsets, entryPositions: positions, magic: 1)
        }
    }

    /// A magic 0/1 message set produced to the 2.2 log: converted to one uncompressed batch v2.
    static func convertToV2(_ input: ByteBuffer, baseOffset: Int64, logAppendTime: Int64?) throws -> Chunk {
        let messages: [Message]
        var records = [DecodedRecord]()
        do {
            messages = try parseMessageSet(input)
            for m in messages {
                let codecBits = m.attributes & 0x07
                if codecBits == 0 {
                    records.append(DecodedRecord(offset: 0, timestamp: m.timestamp, key: m.key, value: m.value, headers: []))
                } else {
                    guard let codec = CompressionCodec(rawValue: codecBits) else { throw WireError("codec") }
                    for x in try parseMessageSet(try Codecs.decompress(codec, m.value ?? ByteBuffer())) {
                        records.append(DecodedRecord(offset: 0, timestamp: m.magic == 1 ? x.timestamp : -1,
                                                     key: x.key, value: x.value, headers: []))
                    }
                }
            }
        } catch {
            throw ProduceRejection(code: .corruptMessage, reason: "\(error)")
        }
        guard !records.isEmpty else { throw ProduceRejection(code: .corruptMessage, reason: "empty message set") }
        let batch = encodeV2(baseOffset: 0, records: records)
        return try ingestV2(batch, baseOffset: baseOffset, logAppendTime: logAppendTime, allowZstd: false)
    }

    /// Down-conversion for old fetch versions: the records of `chunk` from `offset` on, as messages
    /// of magic `magic` (uncompressed; headers dropped).
    static func downConvert(_ chunk: Chunk, from offset: Int64, magic: Int8, into out: inout ByteBuffer) {
        for r in decode(chunk) where r.offset >= offset {
            encodeMessage(offset: r.offset, magic: magic, attributes: 0, timestamp: r.timestamp,
                          key: r.key, value: r.value, into: &out)
        }
    }

    /// The records of a stored chunk, with absolute offsets and the timestamps consumers read.
    static func decode(_ chunk: Chunk) -> [DecodedRecord] {
        var records: [DecodedRecord] = []
        if chunk.magic == 2 {
            records = (try? decodeV2(chunk.bytes)) ?? []
        } else if let messages = try? parseMessageSet(chunk.bytes) {
            for m in messages {
                let codecBits = m.attributes & 0x07
                if codecBits == 0 {
                    records.append(DecodedRecord(offset: m.offset, timestamp: m.timestamp, key: m.key, value: m.value, headers: []))
                } else if let codec = CompressionCodec(rawValue: codecBits),
                          let inner = try? parseMessageSet(try Codecs.decompress(codec, m.value ?? ByteBuffer())) {
                    let first = m.offset - Int64(inner.count) + 1
                    for (i, x) in inner.enumerated() {
                        let ts = m.attributes & 0x08 != 0 ? m.timestamp : x.timestamp
                        records.append(DecodedRecord(offset: first + Int64(i), timestamp: ts, key: x.key, value: x.value, headers: []))
                    }
                }
            }
        }
        return records
    }
}

import Foundation
import NIOCore
import SluiceCore
import Testing
@testable import SluiceDevKafka

/// A compressed batch v2 built the way producers build them (CreateTime, relative deltas).
func compressedBatch(_ records: [DecodedRecord], codec: CompressionCodec) throws -> ByteBuffer {
    let plain = RecordFormat.encodeV2(baseOffset: 0, records: records)
    var header = plain.getSlice(at: 0, length: RecordFormat.v2HeaderSize)!
    let body = Array(plain.getSlice(at: RecordFormat.v2HeaderSize, length: plain.readableBytes - RecordFormat.v2HeaderSize)!.readableBytesView)
    precondition(codec == .gzip)
    let compressed = try Codecs.gzip(body)
    var out = ByteBuffer()
    out.writeBuffer(&header)
    out.writeBytes(compressed)
    out.setInteger(Int32(out.readableBytes - 12), at: 8)
    out.setInteger(Int16(codec.rawValue), at: 21)
    out.setInteger(CRC32C.checksum(out, from: 21, to: out.writerIndex), at: 17)
    return out
}

func records(_ stamps: [Int64]) -> [DecodedRecord] {
    stamps.enumerated().map { i, ts in
        DecodedRecord(offset: 0, timestamp: ts, key: nil, value: ByteBuffer(string: "v\(i)"), headers: [("h", ByteBuffer(string: "x"))])
    }
}

@Suite("Log, formats and configuration")
struct BrokerTests {
    @Test("offset for timestamp: lowest offset with timestamp ≥ target, inside compressed batches too")
    func offsetForTimestamp() throws {
        let batches: [[Int64]] = [[50, 10, 30], [20, 70, 60], [40], [65, 5]]
        let log = PartitionLog()
        var all: [Int64] = []
        for (i, stamps) in batches.enumerated() {
            let input = i % 2 == 0 ? try compressedBatch(records(stamps), codec: .gzip) : RecordFormat.encodeV2(baseOffset: 0, records: records(stamps))
            log.append(try RecordFormat.ingestV2(input, baseOffset: log.logEndOffset, logAppendTime: nil, allowZstd: true), now: 0)
            all += stamps
        }
        for target in probeTargets(all) {
            let expected = expectedOffset(forTimestamp: target, in: all)
            let got = log.offset(forTimestamp: target)
            #expect((got?.offset ?? -1) == expected, "target \(target)")
            if let got { #expect(got.timestamp == all[Int(got.offset)]) }
        }
        // The stored batches decode back to the records with the assigned offsets.
        let decoded = try log.chunks.flatMap { try RecordFormat.decodeV2($0.bytes) }
        #expect(decoded.map(\.offset) == Array(0..<Int64(all.count)))
        #expect(decoded.map(\.timestamp) == all)
        #expect(decoded.allSatisfy { $0.headers.first?.0 == "h" })
    }

    @Test("fetch slices: start at the batch holding the offset, cut at the limit, first batch whole")
    func readSlices() throws {
        let log = PartitionLog()
        for _ in 0..<4 {
            log.append(try RecordFormat.ingestV2(RecordFormat.encodeV2(baseOffset: 0, records: records([1, 2, 3])),
                                                 baseOffset: log.logEndOffset, logAppendTime: nil, allowZstd: true), now: 0)
        }
        let size = log.chunks[0].bytes.readableBytes
        let whole = log.read(from: 4, maxBytes: 10, minOneBatch: true)
        #expect(whole.map(\.readableBytes) == [size])
        #expect(whole.first?.getInteger(at: whole.first!.readerIndex, as: Int64.self) == 3)
        let cut = log.read(from: 4, maxBytes: size + 10, minOneBatch: false)
        #expect(cut.map(\.readableBytes) == [size, 10])
        #expect(log.read(from: 4, maxBytes: 10, minOneBatch: false).map(\.readableBytes) == [10])
        #expect(log.read(from: 12, maxBytes: 1000, minOneBatch: true).isEmpty)
    }

    @Test("message format v1: offsets assigned, wrappers keep relative inner offsets, timestamps indexed")
    func messageFormatV1() throws {
        var set = ByteBuffer()
        for (i, ts) in [Int64(30), 10].enumerated() {
            RecordFormat.encodeMessage(offset: Int64(i), magic: 1, attributes: 0, timestamp: ts, key: nil,
                                       value: ByteBuffer(string: "p\(i)"), into: &set)
        }
        var inner = ByteBuffer()
        for (i, ts) in [Int64(25), 5, 40].enumerated() {
            RecordFormat.encodeMessage(offset: Int64(i), magic: 1, attributes: 0, timestamp: ts, key: nil,
                                       value: ByteBuffer(string: "c\(i)"), into: &inner)
        }
        let gz = try Codecs.gzip(Array(inner.readableBytesView))
        RecordFormat.encodeMessage(offset: 0, magic: 1, attributes: 1, timestamp: 0, key: nil,
                                   value: ByteBuffer(bytes: gz), into: &set)
        var magic0 = ByteBuffer()
        RecordFormat.encodeMessage(offset: 0, magic: 0, attributes: 0, timestamp: -1, key: nil, value: ByteBuffer(string: "old"), into: &magic0)
        let log = PartitionLog()
        log.append(try RecordFormat.ingestV1(set, baseOffset: 0, logAppendTime: nil), now: 0)
        log.append(try RecordFormat.ingestV1(magic0, baseOffset: log.logEndOffset, logAppendTime: nil), now: 0)
        #expect(log.logEndOffset == 6)
        let messages = try RecordFormat.parseMessageSet(log.chunks[0].bytes)
        #expect(messages.map(\.offset) == [0, 1, 4])
        #expect(messages[2].timestamp == 40)  // the wrapper carries the max inner timestamp
        #expect(try RecordFormat.parseMessageSet(log.chunks[1].bytes).map(\.magic) == [1])
        let stamps: [Int64] = [30, 10, 25, 5, 40, -1]
        for target in probeTargets(stamps) {
            #expect((log.offset(forTimestamp: target)?.offset ?? -1) == expectedOffset(forTimestamp: target, in: stamps))
        }
        // A fetch from offset 3 starts at the wrapper holding it.
        let slice = try #require(log.read(from: 3, maxBytes: 1 << 20, minOneBatch: true).first)
        #expect(slice.getInteger(at: slice.readerIndex, as: Int64.self) == 4)
    }

    @Test("LogAppendTime rewrites the batch and keeps its checksum valid")
    func logAppendTimeBatch() throws {
        let chunk = try RecordFormat.ingestV2(RecordFormat.encodeV2(baseOffset: 0, records: records([3, 1])),
                                              baseOffset: 7, logAppendTime: 999, allowZstd: true)
        #expect(chunk.maxTimestamp == 999)
        let b = chunk.bytes
        #expect(b.getInteger(at: 17, as: UInt32.self) == CRC32C.checksum(b, from: 21, to: b.writerIndex))
        #expect(b.getInteger(at: 21, as: Int16.self)! & 0x08 != 0)
        #expect(try RecordFormat.decodeV2(b).map(\.timestamp) == [999, 999])
        #expect(try RecordFormat.decodeV2(b).map(\.offset) == [7, 8])
    }

    @Test("CRC-32C matches the standard check value")
    func crc32c() {
        let b = ByteBuffer(string: "123456789")
        #expect(CRC32C.checksum(b, from: 0, to: 9) == 0xE306_9283)
    }

    @Test("topic specs")
    func topicSpecs() throws {
        #expect(try DevKafkaTopic(parsing: "events") == DevKafkaTopic(name: "events", partitions: 1))
        #expect(try DevKafkaTopic(parsing: "events:3") == DevKafkaTopic(name: "events", partitions: 3))
        #expect(try DevKafkaTopic(parsing: "a.b-c_d:2:logappendtime") == DevKafkaTopic(name: "a.b-c_d", partitions: 2, logAppendTime: true))
        for bad in ["", "events:0", "events:x", "events:1:other", "bad/name", "a:1:createtime:extra"] {
            #expect(throws: SluiceError.self) { try DevKafkaTopic(parsing: bad) }
        }
    }

    @Test("API version tables have the sizes Kafka advertises")
    func apiTables() {
        #expect(KafkaVersion.v2_2.apiVersions.count == 44)
        #expect(KafkaVersion.v0_10_2.apiVersions.count == 21)
        #expect(KafkaVersion.v2_2.apiVersions.map(\.key) == Array(0..<44))
        #expect(KafkaVersion.v2_2.supports(key: 1, version: 10))
        #expect(!KafkaVersion.v2_2.supports(key: 18, version: 3))
        #expect(KafkaVersion.v0_10_2.supports(key: 7, version: 1) && !KafkaVersion.v0_10_2.supports(key: 7, version: 0))
    }
}

@Suite("Produce validation")
struct ProduceValidationTests {
    static func reseal(_ b: inout ByteBuffer) {
        b.setInteger(CRC32C.checksum(b, from: 21, to: b.writerIndex), at: 17)
    }

    @Test("corrupt batches are refused: CRC, record structure, control and LogAppendTime bits, size")
    func refusals() throws {
        let good = RecordFormat.encodeV2(baseOffset: 0, records: records([1, 2]))
        #expect(throws: Never.self) { try RecordFormat.ingestV2(good, baseOffset: 0, logAppendTime: nil, allowZstd: true) }
        func code(_ b: ByteBuffer) -> KafkaErrorCode? {
            do { _ = try RecordFormat.ingestV2(b, baseOffset: 0, logAppendTime: nil, allowZstd: true); return nil }
            catch let r as ProduceRejection { return r.code } catch { return .unknownServerError }
        }
        var flipped = good
        flipped.setInteger(UInt8(0x55), at: flipped.writerIndex - 1)
        #expect(code(flipped) == .corruptMessage)
        // A key length that runs past its record, with a valid CRC.
        var keyLength = good
        keyLength.setInteger(UInt8(0x10), at: RecordFormat.v2HeaderSize + 4)
        Self.reseal(&keyLength)
        #expect(code(keyLength) == .corruptMessage)
        var control = good
        control.setInteger(Int16(0x20), at: 21)
        Self.reseal(&control)
        #expect(code(control) == .invalidRecord)
        var logAppend = good
        logAppend.setInteger(Int16(0x08), at: 21)
        Self.reseal(&logAppend)
        #expect(code(logAppend) == .invalidTimestamp)
        let big = RecordFormat.encodeV2(baseOffset: 0, records: [DecodedRecord(offset: 0, timestamp: 1, key: nil,
                                                                                value: ByteBuffer(repeating: 1, count: 1_100_000), headers: [])])
        #expect(code(big) == .messageTooLarge)
        var count = good
        count.setInteger(Int32(3), at: 57)
        Self.reseal(&count)
        #expect(code(count) == .invalidRecord)
    }

    @Test("the Swift API splits large produces into batches under message.max.bytes")
    func largeProduce() async throws {
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        let value = [UInt8](repeating: 7, count: 200)
        try broker.produce(topic: "events", partition: 0, records: (0..<20_000).map { OwnedRecord(timestamp: Int64($0), value: value) })
        #expect(broker.watermarks(topic: "events", partition: 0)?.high == 20_000)
        let chunks = broker.core.lock.withLock { broker.core.topics["events"]!.partitions[0].chunks }
        #expect(chunks.count > 1)
        #expect(chunks.allSatisfy { $0.bytes.readableBytes <= RecordFormat.maxMessageBytes })
    }
}

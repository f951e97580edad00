import NIOCore
import NIOPosix
import SluiceCore
import Testing
@testable import SluiceDevKafka

/// A raw Kafka connection for wire-level checks.
struct WireConnection {
    let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>

    static func open(_ broker: DevKafkaBroker) async throws -> WireConnection {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: broker.host, port: broker.port) { ch in
                ch.eventLoop.makeCompletedFuture {
                    try ch.pipeline.syncOperations.addHandler(ByteToMessageHandler(KafkaFrameDecoder()))
                    return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: ch)
                }
            }
        return WireConnection(channel: channel)
    }

    static func frame(key: Int16, version: Int16, correlation: Int32, body: ByteBuffer, flexibleHeader: Bool = false) -> ByteBuffer {
        var payload = ByteBuffer()
        payload.wInt16(key); payload.wInt16(version); payload.wInt32(correlation)
        payload.wNullableString("wire-test")
        if flexibleHeader { payload.wInt8(0) }
        payload.writeImmutableBuffer(body)
        var out = ByteBuffer()
        out.wInt32(Int32(payload.readableBytes))
        out.writeImmutableBuffer(payload)
        return out
    }

    /// Sends frames, then reads `count` responses: (correlation id, body). Fewer when the broker closes.
    func exchange(_ frames: [ByteBuffer], responses count: Int) async throws -> [(Int32, ByteBuffer)] {
        try await channel.executeThenClose { inbound, outbound in
            var all = ByteBuffer()
            for f in frames { all.writeImmutableBuffer(f) }
            try await outbound.write(all)
            var out: [(Int32, ByteBuffer)] = []
            var it = inbound.makeAsyncIterator()
            while out.count < count, var frame = try await it.next() {
                out.append((try frame.rInt32(), frame))
            }
            return out
        }
    }
}

func body(_ build: (inout ByteBuffer) -> Void) -> ByteBuffer {
    var b = ByteBuffer()
    build(&b)
    return b
}

func metadataV1(_ topics: [String]?) -> ByteBuffer {
    body { b in
        if let topics { b.wArray(topics) { $0.wString($1) } } else { b.wInt32(-1) }
    }
}

/// Reads a Metadata v1 response: (topic, error, partition count).
func parseMetadataV1(_ response: ByteBuffer) throws -> [(String, Int16, Int)] {
    var r = response
    _ = try r.rArray { b in _ = try b.rInt32(); _ = try b.rString(); _ = try b.rInt32(); _ = try b.rNullableString() }
    _ = try r.rInt32()
    return try r.rArray { b in
        let error = try b.rInt16()
        let name = try b.rString()
        _ = try b.rBool()
        let partitions: [Void] = try b.rArray { b in
            _ = try b.rInt16(); _ = try b.rInt32(); _ = try b.rInt32()
            _ = try b.rArray { try $0.rInt32() }; _ = try b.rArray { try $0.rInt32() }
        }
        return (name, error, partitions.count)
    }
}

func fetchV4(topic: String, partition: Int32, offset: Int64, maxWait: Int32, minBytes: Int32, maxBytes: Int32 = 1 << 20) -> ByteBuffer {
    body { b in
        b.wInt32(-1); b.wInt32(maxWait); b.wInt32(minBytes); b.wInt32(maxBytes); b.wInt8(0)
        b.wInt32(1); b.wString(topic)
        b.wInt32(1); b.wInt32(partition); b.wInt64(offset); b.wInt32(maxBytes)
    }
}

/// Reads a single-partition Fetch v4 response: (error, high watermark, record bytes).
func parseFetchV4(_ response: ByteBuffer) throws -> (Int16, Int64, ByteBuffer) {
    var r = response
    _ = try r.rInt32()
    _ = try r.rInt32(); _ = try r.rString(); _ = try r.rInt32()
    _ = try r.rInt32()
    let error = try r.rInt16()
    let hw = try r.rInt64()
    _ = try r.rInt64()
    _ = try r.rInt32()
    return (error, hw, try r.rBytes())
}

@Suite("Wire behaviour")
struct WireTests {
    @Test("ApiVersions v3 gets a v0 body: UNSUPPORTED_VERSION and an empty array", arguments: KafkaVersion.allCases)
    func apiVersionsFallback(version: KafkaVersion) async throws {
        let broker = try await DevKafkaBroker.start(version: version)
        defer { Task { try? await broker.shutdown() } }
        let conn = try await WireConnection.open(broker)
        // librdkafka's v3 request: flexible header, compact client software name and version, tags.
        let v3 = body { b in b.writeBytes([6] + Array("sluice".utf8) + [4] + Array("1.0".utf8) + [0]) }
        let responses = try await conn.exchange([
            WireConnection.frame(key: 18, version: 3, correlation: 7, body: v3, flexibleHeader: true),
            WireConnection.frame(key: 18, version: 0, correlation: 8, body: ByteBuffer()),
        ], responses: 2)
        #expect(responses.count == 2)
        #expect(responses[0].0 == 7)
        #expect(Array(responses[0].1.readableBytesView) == [0x00, 0x23, 0x00, 0x00, 0x00, 0x00])
        var v0 = responses[1].1
        #expect(responses[1].0 == 8)
        #expect(try v0.rInt16() == 0)
        let entries = try v0.rArray { b in (try b.rInt16(), try b.rInt16(), try b.rInt16()) }
        #expect(entries.map(\.0) == version.apiVersions.map(\.key))
        #expect(entries.map(\.2) == version.apiVersions.map(\.max))
        #expect(v0.readableBytes == 0)
    }

    @Test("Metadata: auto-creation answers LEADER_NOT_AVAILABLE first; without it UNKNOWN_TOPIC_OR_PARTITION; all-topics never creates",
          arguments: [true, false])
    func metadataAutoCreate(auto: Bool) async throws {
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "known", partitions: 2)], autoCreateTopics: auto)
        defer { Task { try? await broker.shutdown() } }
        let conn = try await WireConnection.open(broker)
        let r = try await conn.exchange([
            WireConnection.frame(key: 3, version: 1, correlation: 1, body: metadataV1(nil)),
            WireConnection.frame(key: 3, version: 1, correlation: 2, body: metadataV1(["fresh", "known"])),
            WireConnection.frame(key: 3, version: 1, correlation: 3, body: metadataV1(["fresh"])),
            WireConnection.frame(key: 3, version: 1, correlation: 4, body: metadataV1([])),
        ], responses: 4)
        #expect(r.map(\.0) == [1, 2, 3, 4])
        let all = try parseMetadataV1(r[0].1)
        #expect(all.map(\.0) == ["known"])
        let second = try parseMetadataV1(r[1].1)
        #expect(second.map(\.1) == [auto ? 5 : 3, 0])
        #expect(second[1].2 == 2)
        let third = try parseMetadataV1(r[2].1)
        #expect(third[0].1 == (auto ? 0 : 3))
        #expect(third[0].2 == (auto ? 1 : 0))
        #expect(try parseMetadataV1(r[3].1).isEmpty)
    }

    @Test("Fetch long-polls until data arrives; max_wait 0 answers at once; out-of-range offsets are errors")
    func fetchLongPoll() async throws {
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        let immediate = try await WireConnection.open(broker).exchange([
            WireConnection.frame(key: 1, version: 4, correlation: 1, body: fetchV4(topic: "events", partition: 0, offset: 0, maxWait: 0, minBytes: 1)),
            WireConnection.frame(key: 1, version: 4, correlation: 2, body: fetchV4(topic: "events", partition: 0, offset: 5, maxWait: 0, minBytes: 1)),
            WireConnection.frame(key: 1, version: 4, correlation: 3, body: fetchV4(topic: "nope", partition: 0, offset: 0, maxWait: 0, minBytes: 1)),
        ], responses: 3)
        let (e0, hw0, records0) = try parseFetchV4(immediate[0].1)
        #expect(e0 == 0 && hw0 == 0 && records0.readableBytes == 0)
        #expect(try parseFetchV4(immediate[1].1).0 == KafkaErrorCode.offsetOutOfRange.rawValue)
        #expect(try parseFetchV4(immediate[2].1).0 == KafkaErrorCode.unknownTopicOrPartition.rawValue)

        // A long poll (up to 10 minutes) that a produce completes.
        let conn = try await WireConnection.open(broker)
        async let waiting = conn.exchange([
            WireConnection.frame(key: 1, version: 4, correlation: 9, body: fetchV4(topic: "events", partition: 0, offset: 0, maxWait: 600_000, minBytes: 1)),
        ], responses: 1)
        // Produce once the fetch is parked (no sleep: we wait for the broker to hold a waiter).
        while broker.core.lock.withLock({ broker.core.waiters.isEmpty }) { await Task.yield() }
        try broker.produce(topic: "events", partition: 0, records: [OwnedRecord(timestamp: 42, value: Array("hello".utf8))])
        let answered = try await waiting
        let (e, hw, records) = try parseFetchV4(answered[0].1)
        #expect(e == 0 && hw == 1)
        let decoded = try RecordFormat.decodeV2(records)
        #expect(decoded.map(\.timestamp) == [42])
        #expect(decoded.first?.value.map { String(buffer: $0) } == "hello")
    }

    @Test("Produce v3 must carry exactly one batch v2; acks=0 gets no response; unknown APIs close the connection")
    func produceRules() async throws {
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        let batch = RecordFormat.encodeV2(baseOffset: 0, records: [DecodedRecord(offset: 0, timestamp: 1, key: nil, value: ByteBuffer(string: "x"), headers: [])])
        func produce(acks: Int16, records: ByteBuffer) -> ByteBuffer {
            body { b in
                b.wNullableString(nil); b.wInt16(acks); b.wInt32(1000)
                b.wInt32(1); b.wString("events"); b.wInt32(1); b.wInt32(0); b.wNullableBytes(records)
            }
        }
        var two = batch
        two.writeImmutableBuffer(batch)
        let r = try await WireConnection.open(broker).exchange([
            WireConnection.frame(key: 0, version: 3, correlation: 1, body: produce(acks: 1, records: two)),
            WireConnection.frame(key: 0, version: 3, correlation: 2, body: produce(acks: 0, records: batch)),
            WireConnection.frame(key: 0, version: 3, correlation: 3, body: produce(acks: -1, records: batch)),
            WireConnection.frame(key: 77, version: 0, correlation: 4, body: ByteBuffer()),
        ], responses: 4)
        #expect(r.map(\.0) == [1, 3])
        func partitionResult(_ b: ByteBuffer) throws -> (Int16, Int64) {
            var b = b
            _ = try b.rInt32(); _ = try b.rString(); _ = try b.rInt32(); _ = try b.rInt32()
            return (try b.rInt16(), try b.rInt64())
        }
        #expect(try partitionResult(r[0].1).0 == KafkaErrorCode.invalidRecord.rawValue)
        #expect(try partitionResult(r[1].1) == (0, 1))
        #expect(broker.watermarks(topic: "events", partition: 0)?.high == 2)
    }
}

/// The smallest well-formed request body of an API version (empty arrays, short strings).
func minimalBody(key: Int16, version v: Int16) -> ByteBuffer {
    body { b in
        switch key {
        case 0: if v >= 3 { b.wNullableString(nil) }; b.wInt16(1); b.wInt32(1000); b.wInt32(0)
        case 1:
            b.wInt32(-1); b.wInt32(0); b.wInt32(1)
            if v >= 3 { b.wInt32(1 << 20) }
            if v >= 4 { b.wInt8(0) }
            if v >= 7 { b.wInt32(0); b.wInt32(-1) }
            b.wInt32(0)
            if v >= 7 { b.wInt32(0) }
        case 2: b.wInt32(-1); if v >= 2 { b.wInt8(0) }; b.wInt32(0)
        case 3: b.wInt32(0); if v >= 4 { b.wBool(false) }
        case 8:
            b.wString("g")
            if v >= 1 { b.wInt32(-1); b.wString("") }
            if v >= 2 && v <= 4 { b.wInt64(-1) }
            b.wInt32(0)
        case 9: b.wString("g"); b.wInt32(0)
        case 10: b.wString("g"); if v >= 1 { b.wInt8(0) }
        case 11:
            b.wString("join-v\(v)"); b.wInt32(10_000)  // a group per version: no rebalance wait
            if v >= 1 { b.wInt32(10_000) }
            b.wString(""); b.wString("consumer"); b.wInt32(1); b.wString("range"); b.wInt32(0)
        case 12: b.wString("g"); b.wInt32(1); b.wString("m")
        case 13: b.wString("g"); b.wString("m")
        case 14: b.wString("g"); b.wInt32(1); b.wString("m"); b.wInt32(0)
        case 15: b.wInt32(0)
        case 17: b.wString("PLAIN")
        case 19: b.wInt32(0); b.wInt32(1000); if v >= 1 { b.wBool(false) }
        case 20, 21: b.wInt32(0); b.wInt32(1000)
        case 22: b.wNullableString(nil); b.wInt32(1000)
        case 23: b.wInt32(0)
        case 24: b.wString("t"); b.wInt64(1); b.wInt16(0); b.wInt32(0)
        case 27, 30, 31, 34, 42: b.wInt32(0)
        case 28: b.wString("t"); b.wString("g"); b.wInt64(1); b.wInt16(0); b.wInt32(0)
        case 32: b.wInt32(0); if v >= 1 { b.wBool(false) }
        case 33: b.wInt32(0); b.wBool(false)
        case 35: b.wInt32(-1)
        case 37: b.wInt32(0); b.wInt32(1000); b.wBool(false)
        case 43: b.wInt32(-1); b.wInt32(1000)
        default: break  // requests whose answer does not depend on the body
        }
    }
}

extension WireTests {
    @Test("every advertised API version is answered, never closed", arguments: KafkaVersion.allCases)
    func everyAdvertisedVersion(version: KafkaVersion) async throws {
        let broker = try await DevKafkaBroker.start(version: version, topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        var unanswered: [String] = []
        for api in version.apiVersions {
            for v in api.min...api.max {
                let conn = try await WireConnection.open(broker)
                let r = try await conn.exchange([
                    WireConnection.frame(key: api.key, version: v, correlation: 100 + Int32(v), body: minimalBody(key: api.key, version: v)),
                ], responses: 1)
                if r.first?.0 != 100 + Int32(v) { unanswered.append("\(api.key) v\(v)") }
            }
        }
        #expect(unanswered.isEmpty, "closed instead of answered: \(unanswered)")
    }
}

extension WireTests {
    /// Fetch v0–v3 body for one partition.
    static func oldFetch(version v: Int16, offset: Int64) -> ByteBuffer {
        body { b in
            b.wInt32(-1); b.wInt32(0); b.wInt32(1)
            if v >= 3 { b.wInt32(1 << 20) }
            b.wInt32(1); b.wString("events"); b.wInt32(1); b.wInt32(0); b.wInt64(offset); b.wInt32(1 << 20)
        }
    }

    @Test("old fetch versions get converted messages: magic 0 for v0–v1, magic 1 for v2–v3 (2.2)",
          arguments: [(KafkaVersion.v2_2, Int16(0)), (.v2_2, 1), (.v2_2, 2), (.v2_2, 3), (.v0_10_2, 0), (.v0_10_2, 3)])
    func downConversion(version: KafkaVersion, fetchVersion: Int16) async throws {
        let broker = try await DevKafkaBroker.start(version: version, topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        let stamps: [Int64] = [30, 10, 20]
        try broker.produce(topic: "events", partition: 0, records: stamps.map { OwnedRecord(timestamp: $0, value: Array("v\($0)".utf8)) },
                           compression: .gzip)
        let r = try await WireConnection.open(broker).exchange([
            WireConnection.frame(key: 1, version: fetchVersion, correlation: 5, body: Self.oldFetch(version: fetchVersion, offset: 1)),
        ], responses: 1)
        var b = try #require(r.first?.1)
        if fetchVersion >= 1 { _ = try b.rInt32() }
        _ = try b.rInt32(); _ = try b.rString(); _ = try b.rInt32(); _ = try b.rInt32()
        #expect(try b.rInt16() == 0)
        #expect(try b.rInt64() == 3)
        var messages = try RecordFormat.parseMessageSet(try b.rBytes())
        let expectedMagic: Int8 = fetchVersion < 2 ? 0 : 1
        if version == .v0_10_2 && fetchVersion >= 2 {
            // Stored magic 1 served as is: one gzip wrapper holding the three records.
            #expect(messages.map(\.magic) == [1])
            #expect(messages.first?.offset == 2)
            let inner = try RecordFormat.parseMessageSet(try Codecs.decompress(.gzip, messages[0].value!))
            messages = inner
            #expect(inner.map(\.timestamp) == stamps)
        } else {
            #expect(messages.map(\.magic) == [expectedMagic, expectedMagic])
            #expect(messages.map(\.offset) == [1, 2])
            #expect(messages.map(\.timestamp) == (expectedMagic == 0 ? [-1, -1] : [10, 20]))
            #expect(messages.map { $0.value.map { String(buffer: $0) } } == ["v10", "v20"])
        }
    }
}

extension WireTests {
    /// Fetch v4 for partitions 0 and 1 of `events` from offset 0.
    static func twoPartitionFetch(maxBytes: Int32, partitionMaxBytes: Int32) -> ByteBuffer {
        body { b in
            b.wInt32(-1); b.wInt32(0); b.wInt32(1); b.wInt32(maxBytes); b.wInt8(0)
            b.wInt32(1); b.wString("events")
            b.wInt32(2)
            for p in Int32(0)..<2 { b.wInt32(p); b.wInt64(0); b.wInt32(partitionMaxBytes) }
        }
    }

    /// (error, record bytes) per partition of a Fetch v4 response for one topic.
    static func partitionSizes(_ response: ByteBuffer) throws -> [Int] {
        var r = response
        _ = try r.rInt32()
        _ = try r.rInt32(); _ = try r.rString()
        return try r.rArray { b in
            _ = try b.rInt32(); _ = try b.rInt16(); _ = try b.rInt64(); _ = try b.rInt64(); _ = try b.rInt32()
            return try b.rBytes().readableBytes
        }
    }

    @Test("fetch limits: the first batch comes whole, later partitions are cut at their limit or the request's")
    func fetchLimits() async throws {
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events", partitions: 2)])
        defer { Task { try? await broker.shutdown() } }
        for p in Int32(0)..<2 {
            try broker.produce(topic: "events", partition: p, records: (0..<20).map {
                OwnedRecord(timestamp: Int64($0), value: [UInt8](repeating: UInt8($0), count: 100))
            })
        }
        let size = broker.core.lock.withLock { broker.core.topics["events"]!.partitions[0].chunks[0].bytes.readableBytes }
        #expect(size > 2000)
        let r = try await WireConnection.open(broker).exchange([
            // Both limits below one batch: only the first partition's first batch, whole.
            WireConnection.frame(key: 1, version: 4, correlation: 1, body: Self.twoPartitionFetch(maxBytes: 10, partitionMaxBytes: 10)),
            // Partition limit 100, request 1 MiB: first whole, second cut at 100 bytes.
            WireConnection.frame(key: 1, version: 4, correlation: 2, body: Self.twoPartitionFetch(maxBytes: 1 << 20, partitionMaxBytes: 100)),
            // Request limit between: the second partition gets what is left of it.
            WireConnection.frame(key: 1, version: 4, correlation: 3, body: Self.twoPartitionFetch(maxBytes: Int32(size + 50), partitionMaxBytes: 1 << 20)),
        ], responses: 3)
        #expect(try Self.partitionSizes(r[0].1) == [size, 0])
        #expect(try Self.partitionSizes(r[1].1) == [size, 100])
        #expect(try Self.partitionSizes(r[2].1) == [size, 50])
    }
}

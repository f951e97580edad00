import Foundation
import SluiceCore
import Testing
@testable import SluiceDevKafka

/// Out-of-order timestamps within one partition, as the clients produce them.
let outOfOrder: [Int64] = [5_000, 1_000, 3_000, 2_000, 9_000, 4_000, 8_000, 8_000, 7_000]

func checkClientResult(_ json: [String: Any], version: KafkaVersion, headers: Bool, logAppendTime: Int64? = nil) throws {
    let stamps = logAppendTime.map { t in outOfOrder.map { _ in t } } ?? outOfOrder
    let targets = probeTargets(stamps)
    #expect(json["low"] as? Int == 0)
    #expect(json["high"] as? Int == outOfOrder.count)
    let found = try #require(json["offsets_for_times"] as? [Int])
    #expect(found.map(Int64.init) == targets.map { expectedOffset(forTimestamp: $0, in: stamps) })
    let records = try #require(json["records"] as? [[String: Any]])
    #expect(records.count == outOfOrder.count)
    for (i, r) in records.enumerated() {
        #expect(r["offset"] as? Int == i)
        #expect((r["timestamp"] as? Int).map(Int64.init) == stamps[i])
        #expect(r["key"] as? String == "key-\(i)")
        #expect(r["value"] as? String == "value-\(i)")
        let hs = r["headers"] as? [[Any]] ?? []
        if headers {
            #expect(hs.first?.first as? String == "idx")
            #expect(hs.first?.last as? String == "\(i)")
        } else {
            #expect(hs.isEmpty)
        }
    }
    #expect(json["committed"] as? Int == 2)
}

@Suite("Real clients against dev-kafka")
struct ClientTests {
    static let confluentCases: [(KafkaVersion, String)] = [
        (.v2_2, "gzip"), (.v2_2, "none"), (.v2_2, "lz4"), (.v2_2, "zstd"), (.v2_2, "snappy"),
        (.v0_10_2, "gzip"), (.v0_10_2, "none"), (.v0_10_2, "lz4"), (.v0_10_2, "snappy"),
    ]

    @Test("confluent-kafka: timestamps, headers, offsets_for_times, watermarks, commits", arguments: confluentCases)
    func confluent(version: KafkaVersion, codec: String) async throws {
        let broker = try await DevKafkaBroker.start(version: version, topics: [DevKafkaTopic(name: "events", partitions: 2)])
        defer { Task { try? await broker.shutdown() } }
        let headers = version == .v2_2
        let json = try await runScript("confluent_client.py", [
            broker.bootstrapServers, "events", outOfOrder.map(String.init).joined(separator: ","),
            probeTargets(outOfOrder).map(String.init).joined(separator: ","), headers ? "1" : "0", codec,
        ])
        try checkClientResult(json, version: version, headers: headers)
        #expect(broker.committedOffset(group: "confluent-test", topic: "events", partition: 0) == 2)
    }

    @Test("kafka-python: its own protocol code", arguments: [(KafkaVersion.v2_2, "auto"), (.v2_2, "0.10.2"), (.v0_10_2, "0.10.2"), (.v0_10_2, "auto")])
    func kafkaPython(version: KafkaVersion, apiVersion: String) async throws {
        let broker = try await DevKafkaBroker.start(version: version, topics: [DevKafkaTopic(name: "events", partitions: 1)])
        defer { Task { try? await broker.shutdown() } }
        let headers = version == .v2_2 && apiVersion == "auto"
        let json = try await runScript("kafka_python_client.py", [
            broker.bootstrapServers, "events", outOfOrder.map(String.init).joined(separator: ","),
            probeTargets(outOfOrder).map(String.init).joined(separator: ","), headers ? "1" : "0", apiVersion,
        ])
        try checkClientResult(json, version: version, headers: headers)
    }

    @Test("LogAppendTime topics: records read the append time, ListOffsets compares against it",
          arguments: KafkaVersion.allCases)
    func logAppendTime(version: KafkaVersion) async throws {
        let appendTime: Int64 = 1_700_000_000_000
        let broker = try await DevKafkaBroker.start(version: version,
                                                    topics: [DevKafkaTopic(name: "lat", partitions: 1, logAppendTime: true)],
                                                    clock: fixedClock(appendTime))
        defer { Task { try? await broker.shutdown() } }
        let stamps = outOfOrder.map { _ in appendTime }
        let json = try await runScript("confluent_client.py", [
            broker.bootstrapServers, "lat", outOfOrder.map(String.init).joined(separator: ","),
            probeTargets(stamps).map(String.init).joined(separator: ","), "0", "gzip",
        ])
        try checkClientResult(json, version: version, headers: false, logAppendTime: appendTime)
        let records = try #require(json["records"] as? [[String: Any]])
        #expect(records.allSatisfy { $0["tstype"] as? Int == 2 })
    }

    @Test("kcat: produce keys and headers, consume between -o s@ and -o e@ over out-of-order timestamps",
          arguments: KafkaVersion.allCases)
    func kcat(version: KafkaVersion) async throws {
        let kcat = try #require(which("kcat"), "kcat is not installed (scripts/install-deps)")
        let broker = try await DevKafkaBroker.start(version: version, topics: [
            DevKafkaTopic(name: "keyed", partitions: 1), DevKafkaTopic(name: "times", partitions: 1),
        ])
        defer { Task { try? await broker.shutdown() } }
        let b = broker.bootstrapServers

        // librdkafka asks for ApiVersions (v3 first, then v0 after the UNSUPPORTED_VERSION answer).
        let b2 = [b, "-X", "api.version.request=true"]
        var produceArgs = ["-b"] + b2 + ["-P", "-t", "keyed", "-p", "0", "-K", ":", "-z", "gzip"]
        if version == .v2_2 { produceArgs += ["-H", "source=kcat", "-H", "n=1"] }
        let produced = try await run(kcat, produceArgs, stdin: "k1:one\nk2:two\nk3:three\n")
        #expect(produced.status == 0, "\(produced.stderr)")
        let consumed = try await run(kcat, ["-b"] + b2 + ["-C", "-t", "keyed", "-p", "0", "-o", "beginning", "-e", "-q",
                                            "-f", "%o|%k|%s|%h\n"])
        #expect(consumed.status == 0, "\(consumed.stderr)")
        let headerText = version == .v2_2 ? "source=kcat,n=1" : ""
        #expect(consumed.stdout.split(separator: "\n").map(String.init) == [
            "0|k1|one|\(headerText)", "1|k2|two|\(headerText)", "2|k3|three|\(headerText)",
        ])

        try broker.produce(topic: "times", partition: 0, records: outOfOrder.enumerated().map { i, ts in
            OwnedRecord(timestamp: ts, key: Array("k\(i)".utf8), value: Array("v\(i)".utf8))
        })
        for (start, end) in [(Int64(2_500), Int64(8_500)), (1_000, 4_000), (0, 9_000), (3_001, 7_500)] {
            let first = expectedOffset(forTimestamp: start, in: outOfOrder)
            let last = expectedOffset(forTimestamp: end, in: outOfOrder)
            let result = try await run(kcat, ["-b", b, "-C", "-t", "times", "-p", "0", "-o", "s@\(start)", "-o", "e@\(end)",
                                              "-q", "-f", "%o %T\n"])
            #expect(result.status == 0, "\(result.stderr)")
            let expected = (first..<last).map { "\($0) \(outOfOrder[Int($0)])" }
            #expect(result.stdout.split(separator: "\n").map(String.init) == expected, "window \(start)…\(end)")
        }
    }
}

@Suite("Consumer groups")
struct GroupTests {
    @Test("confluent-kafka subscribe: joins, gets every partition, commits; a second member resumes from the commits",
          arguments: KafkaVersion.allCases)
    func subscribe(version: KafkaVersion) async throws {
        let broker = try await DevKafkaBroker.start(version: version, topics: [DevKafkaTopic(name: "events", partitions: 3)])
        defer { Task { try? await broker.shutdown() } }
        for p in Int32(0)..<3 {
            try broker.produce(topic: "events", partition: p, records: (0..<4).map {
                OwnedRecord(timestamp: Int64($0), value: Array("p\(p)-\($0)".utf8))
            })
        }
        let first = try await runScript("group_client.py", [broker.bootstrapServers, "events", "grp", "12"])
        let records = try #require(first["records"] as? [[Any]])
        #expect(records.count == 12)
        #expect(Set(records.map { "\($0[0]):\($0[1])" }).count == 12)
        #expect(first["assignment"] as? [Int] == [0, 1, 2])
        #expect(first["extra"] as? Int == 0)
        for p in Int32(0)..<3 { #expect(broker.committedOffset(group: "grp", topic: "events", partition: p) == 4) }

        try broker.produce(topic: "events", partition: 1, records: [OwnedRecord(timestamp: 9, value: Array("late".utf8))])
        let second = try await runScript("group_client.py", [broker.bootstrapServers, "events", "grp", "1"])
        let late = try #require(second["records"] as? [[Any]])
        #expect(late.count == 1)
        #expect(late.first?[2] as? String == "late")
        #expect(late.first?[1] as? Int == 4)
        #expect(second["extra"] as? Int == 0)
        #expect(broker.committedOffset(group: "grp", topic: "events", partition: 1) == 5)
    }

    @Test("kcat -G: a balanced consumer reads every partition")
    func kcatBalanced() async throws {
        let kcat = try #require(which("kcat"))
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events", partitions: 2)])
        defer { Task { try? await broker.shutdown() } }
        for p in Int32(0)..<2 {
            try broker.produce(topic: "events", partition: p, records: [OwnedRecord(timestamp: 1, value: Array("v\(p)".utf8))])
        }
        let result = try await run(kcat, ["-b", broker.bootstrapServers, "-G", "kcat-group", "-o", "beginning", "-e", "-q",
                                          "-f", "%p:%s\n", "events"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(Set(result.stdout.split(separator: "\n").map(String.init)) == ["0:v0", "1:v1"])
    }
}

@Suite("Swift API produce")
struct SwiftProduceTests {
    static let cases: [(KafkaVersion, DevKafkaCompression)] =
        DevKafkaCompression.allCases.map { (.v2_2, $0) } + [.none, .gzip, .snappy, .lz4].map { (.v0_10_2, $0) }

    @Test("records produced in-process, compressed, read back by kcat with their timestamps and offsets by time",
          arguments: cases)
    func compressed(version: KafkaVersion, compression: DevKafkaCompression) async throws {
        let kcat = try #require(which("kcat"))
        let broker = try await DevKafkaBroker.start(version: version, topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        let first = try broker.produce(topic: "events", partition: 0, records: outOfOrder.enumerated().map { i, ts in
            OwnedRecord(timestamp: ts, key: Array("k\(i)".utf8), value: Array("v\(i)".utf8),
                        headers: version == .v2_2 ? [KafkaHeader(name: "n", value: Array("\(i)".utf8))] : [])
        }, compression: compression)
        #expect(first == 0)
        let consumed = try await run(kcat, ["-b", broker.bootstrapServers, "-C", "-t", "events", "-p", "0", "-o", "beginning",
                                            "-e", "-q", "-f", "%o %T %k %s %h\n"], limit: 60)
        #expect(consumed.status == 0, "\(consumed.stderr)")
        #expect(consumed.stdout.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) } == outOfOrder.enumerated().map { i, ts in
            "\(i) \(ts) k\(i) v\(i) " + (version == .v2_2 ? "n=\(i)" : "")
        }.map { $0.trimmingCharacters(in: .whitespaces) })
        for target in [Int64(2_500), 4_500, 8_000] {
            let q = try await run(kcat, ["-b", broker.bootstrapServers, "-Q", "-t", "events:0:\(target)"], limit: 60)
            #expect(q.stdout.contains("offset \(expectedOffset(forTimestamp: target, in: outOfOrder))"), "\(q.stdout)")
            #expect(broker.offset(forTimestamp: target, topic: "events", partition: 0)?.offset == expectedOffset(forTimestamp: target, in: outOfOrder))
        }
        #expect(broker.offset(forTimestamp: 9_001, topic: "events", partition: 0) == nil)
        // Read back in-process, decompressed.
        let back = try broker.records(topic: "events", partition: 0, from: 2)
        #expect(back.map(\.offset) == Array(2..<Int64(outOfOrder.count)))
        #expect(back.map(\.timestamp) == Array(outOfOrder[2...]))
        #expect(back.map { String(decoding: $0.value ?? [], as: UTF8.self) } == (2..<outOfOrder.count).map { "v\($0)" })
        #expect(back.first?.headers == (version == .v2_2 ? [KafkaHeader(name: "n", value: Array("2".utf8))] : []))
    }
}

@Suite("Administration APIs")
struct AdminAPITests {
    @Test("AdminClient: create with configs, describe and alter configs, add partitions, ACLs refused, delete")
    func adminClients() async throws {
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        let json = try await runScript("admin_client.py", [broker.bootstrapServers])
        #expect(json["create"] as? Bool == true)
        #expect(json["timestamp_type"] as? String == "LogAppendTime")
        #expect(json["timestamp_type_after"] as? String == "CreateTime")
        #expect(json["partitions"] as? Int == 5)
        #expect(json["shrink"] as? String == "INVALID_PARTITIONS")
        #expect(json["acls"] as? String == "SECURITY_DISABLED")
        #expect(json["kafka_python_topics"] as? [String] == ["admin-t", "events"])
        #expect(json["after_delete"] as? [String] == ["events"])
    }
}

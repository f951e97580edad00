import Foundation
import SluiceCore
import Testing
@testable import SluiceDevKafka

@Suite("Malformed input and fault injection")
struct RobustnessTests {
    @Test("truncated frames, oversized lengths, random bytes and unknown APIs close only the offending connection",
          arguments: [(KafkaVersion.v2_2, 1), (.v2_2, 2), (.v0_10_2, 3)])
    func malformed(version: KafkaVersion, seed: Int) async throws {
        let broker = try await DevKafkaBroker.start(version: version, topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        let json = try await runScript("malformed.py", [broker.bootstrapServers, String(seed)])
        #expect(json["good_before"] as? Bool == true)
        for closing in ["oversized_length", "negative_length", "unknown_api_key", "unsupported_version",
                        "truncated_header", "truncated_body", "huge_array_count", "bad_string_length"] {
            #expect(json[closing] as? Bool == true, "\(closing) should close the connection")
        }
        if version == .v2_2 {
            // A well-formed produce with corrupt records is answered (CORRUPT_MESSAGE), not closed.
            #expect(json["produce_garbage_records"] as? Bool == false)
        }
        // The mutation templates are Kafka 2.2 requests; 0.10.2 closes on their versions.
        #expect(json["template_answers"] as? Int == (version == .v2_2 ? 7 : 1))
        #expect(json["good_after"] as? Bool == true)
        #expect(json["fresh_after"] as? Bool == true)
        // And a real client still works, and can read whatever the fuzzed produces stored.
        let kcat = try #require(which("kcat"))
        let high = try #require(broker.watermarks(topic: "events", partition: 0)?.high)
        #expect(high >= (version == .v2_2 ? 8 : 0))
        let consumed = try await run(kcat, ["-b", broker.bootstrapServers, "-C", "-t", "events", "-p", "0", "-o", "beginning",
                                            "-e", "-q", "-f", "%o\n"], limit: 60)
        #expect(consumed.status == 0)
        #expect(consumed.stdout.split(separator: "\n").map { Int64($0) } == (0..<high).map { Optional($0) })
        let list = try await run(kcat, ["-b", broker.bootstrapServers, "-L", "-t", "events"])
        #expect(list.status == 0)
        #expect(list.stdout.contains("topic \"events\" with 1 partitions"))
    }

    @Test("an injected error is answered the next N times, then the API works again")
    func failNext() async throws {
        let kcat = try #require(which("kcat"))
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        try broker.produce(topic: "events", partition: 0, records: [OwnedRecord(timestamp: 10, value: [1])])
        broker.failNextRequests(apiKey: 2, count: 2, errorCode: KafkaErrorCode.notLeaderForPartition.rawValue)
        for _ in 0..<2 {
            let failed = try await run(kcat, ["-b", broker.bootstrapServers, "-Q", "-t", "events:0:-1"])
            #expect(failed.stderr.contains("Not leader for partition"), "\(failed.stdout) \(failed.stderr)")
        }
        let ok = try await run(kcat, ["-b", broker.bootstrapServers, "-Q", "-t", "events:0:-1"])
        #expect(ok.status == 0)
        #expect(ok.stdout.contains("events [0] offset 1"), "\(ok.stdout) \(ok.stderr)")
    }

    @Test("dropping connections: a consumer reconnects and goes on")
    func dropConnections() async throws {
        let kcat = try #require(which("kcat"))
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        try broker.produce(topic: "events", partition: 0, records: [OwnedRecord(timestamp: 10, value: Array("first".utf8))])
        // kcat without -e runs until stopped; with one broker, a dropped connection ends it.
        async let consumer = run(kcat, ["-b", broker.bootstrapServers, "-C", "-t", "events", "-p", "0", "-o", "beginning",
                                        "-f", "%o:%s\n"], limit: 60)
        // Once it has read "first", kcat long-polls for more: the broker then holds its fetch.
        for _ in 0..<800 where broker.core.lock.withLock({ broker.core.waiters.isEmpty }) {
            try await Task.sleep(for: .milliseconds(25))
        }
        #expect(broker.dropAllConnections() >= 1)
        let dropped = try await consumer
        #expect(dropped.stdout == "0:first\n")
        #expect(dropped.stderr.contains("Disconnected"))
        // The broker goes on serving.
        try broker.produce(topic: "events", partition: 0, records: [OwnedRecord(timestamp: 11, value: Array("second".utf8))])
        let again = try await run(kcat, ["-b", broker.bootstrapServers, "-C", "-t", "events", "-p", "0", "-o", "beginning",
                                         "-e", "-q", "-f", "%o:%s\n"])
        #expect(again.stdout == "0:first\n1:second\n")
    }

    @Test("refused connections fail clients until the window ends")
    func refuse() async throws {
        let kcat = try #require(which("kcat"))
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        broker.refuseConnections(milliseconds: 600_000)
        let refused = try await run(kcat, ["-b", broker.bootstrapServers, "-L", "-m", "2"])
        #expect(refused.status != 0)
        broker.refuseConnections(milliseconds: 0)
        let ok = try await run(kcat, ["-b", broker.bootstrapServers, "-L", "-m", "5"])
        #expect(ok.status == 0)
    }

    @Test("an outage refuses connections (ECONNREFUSED), then the broker listens again on its port with its data")
    func outage() async throws {
        let kcat = try #require(which("kcat"))
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        try broker.produce(topic: "events", partition: 0, records: [OwnedRecord(timestamp: 5, value: Array("kept".utf8))])
        await broker.outage(milliseconds: 600_000)
        #expect(!broker.isListening)
        let refused = try await run(kcat, ["-b", broker.bootstrapServers, "-L", "-m", "2"], limit: 60)
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("Connection refused"), "\(refused.stderr)")
        // A new outage of 0 ms ends this one.
        await broker.outage(milliseconds: 0)
        for _ in 0..<500 where !broker.isListening { try await Task.sleep(for: .milliseconds(10)) }
        #expect(broker.isListening)
        let consumed = try await run(kcat, ["-b", broker.bootstrapServers, "-C", "-t", "events", "-p", "0", "-o", "beginning",
                                            "-e", "-q", "-f", "%s\n"], limit: 60)
        #expect(consumed.stdout == "kept\n")
    }

    @Test("retention: deleting records moves the log start; earliest and fetches follow", arguments: KafkaVersion.allCases)
    func deleteRecords(version: KafkaVersion) async throws {
        let kcat = try #require(which("kcat"))
        let broker = try await DevKafkaBroker.start(version: version, topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        for i in 0..<5 {
            try broker.produce(topic: "events", partition: 0, records: [OwnedRecord(timestamp: Int64(i), value: Array("v\(i)".utf8))])
        }
        try broker.deleteRecords(topic: "events", partition: 0, before: 3)
        #expect(broker.watermarks(topic: "events", partition: 0)?.low == 3)
        let earliest = try await run(kcat, ["-b", broker.bootstrapServers, "-Q", "-t", "events:0:-2"])
        #expect(earliest.stdout.contains("offset 3"), "\(earliest.stdout)")
        let consumed = try await run(kcat, ["-b", broker.bootstrapServers, "-C", "-t", "events", "-p", "0", "-o", "beginning",
                                            "-e", "-q", "-f", "%o:%s\n"])
        #expect(consumed.stdout == "3:v3\n4:v4\n")
        // By timestamp, deleted records no longer answer.
        let byTime = try await run(kcat, ["-b", broker.bootstrapServers, "-Q", "-t", "events:0:0"])
        #expect(byTime.stdout.contains("offset 3"), "\(byTime.stdout)")
    }

    @Test("delayed responses still arrive, in order")
    func delayed() async throws {
        let kcat = try #require(which("kcat"))
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        broker.delayResponses(milliseconds: 30)
        broker.delayResponses(milliseconds: 60, apiKey: 1)
        let produced = try await run(kcat, ["-b", broker.bootstrapServers, "-P", "-t", "events", "-p", "0"], stdin: "a\nb\n")
        #expect(produced.status == 0)
        let consumed = try await run(kcat, ["-b", broker.bootstrapServers, "-C", "-t", "events", "-p", "0", "-o", "beginning",
                                            "-e", "-q", "-f", "%s\n"])
        #expect(consumed.stdout == "a\nb\n")
    }

    @Test("the admin line protocol drives the same faults")
    func admin() async throws {
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events")])
        defer { Task { try? await broker.shutdown() } }
        try broker.produce(topic: "events", partition: 0, records: (0..<3).map { OwnedRecord(timestamp: Int64($0), value: [1]) })
        #expect(broker.runAdminCommand("watermarks events 0") == "ok 0 3")
        #expect(broker.runAdminCommand("produce events 0 1700000000000 k1 hello world") == "ok 3")
        #expect(broker.runAdminCommand("produce events 0 x k1 v").hasPrefix("error"))
        #expect(broker.runAdminCommand("watermarks events 0") == "ok 0 4")
        #expect(broker.runAdminCommand("delete-records events 0 2") == "ok 2")
        #expect(broker.runAdminCommand("create-topic audit:2:logappendtime") == "ok")
        #expect(broker.runAdminCommand("watermarks audit 1") == "ok 0 0")
        #expect(broker.runAdminCommand("fail 1 2 6") == "ok")
        #expect(broker.runAdminCommand("delay 0") == "ok")
        #expect(broker.runAdminCommand("delay 10 1") == "ok")
        #expect(broker.core.lock.withLock { broker.core.apiDelays[1] } == .milliseconds(10))
        #expect(broker.runAdminCommand("delay 0 1") == "ok")
        #expect(broker.core.lock.withLock { broker.core.apiDelays.isEmpty })
        #expect(broker.runAdminCommand("refuse 0") == "ok")
        #expect(broker.runAdminCommand("drop-connections") == "ok 0")
        #expect(broker.runAdminCommand("fail x").hasPrefix("error"))
        #expect(broker.runAdminCommand("watermarks nope 0").hasPrefix("error"))

        // Over the socket, with nc-like Python.
        let port = try await broker.startAdmin(port: 0)
        let python = which("python3") ?? "/usr/bin/python3"
        let reply = try await run(python, ["-c", """
            import socket
            s = socket.create_connection(("127.0.0.1", \(port)))
            s.sendall(b"watermarks events 0\\nbogus\\n")
            f = s.makefile()
            print(f.readline().strip()); print(f.readline().strip().split()[0])
            """])
        #expect(reply.stdout == "ok 2 4\nerror\n")
    }
}

@Suite("Persistence")
struct PersistenceTests {
    @Test("--data-dir: records, timestamps, retention and topics survive a restart", arguments: KafkaVersion.allCases)
    func restart(version: KafkaVersion) async throws {
        let kcat = try #require(which("kcat"))
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("dev-kafka-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stamps: [Int64] = [300, 100, 200, 500, 400]
        var config = DevKafkaConfiguration(version: version, topics: [DevKafkaTopic(name: "events", partitions: 2)], dataDirectory: dir)
        let first = try await DevKafkaBroker.start(config)
        try first.produce(topic: "events", partition: 1, records: stamps.map { OwnedRecord(timestamp: $0, value: Array("v\($0)".utf8)) })
        let produced = try await run(kcat, ["-b", first.bootstrapServers, "-P", "-t", "events", "-p", "1", "-z", "gzip"], stdin: "a\nb\n")
        #expect(produced.status == 0)
        try first.deleteRecords(topic: "events", partition: 1, before: 1)
        // A group consumer commits its position when it closes.
        let grouped = try await run(kcat, ["-b", first.bootstrapServers, "-G", "keeper", "-o", "beginning", "-e", "-q", "events"])
        #expect(grouped.status == 0, "\(grouped.stderr)")
        #expect(first.committedOffset(group: "keeper", topic: "events", partition: 1) == 7)
        try await first.shutdown()

        config.topics = []
        let second = try await DevKafkaBroker.start(config)
        #expect(second.watermarks(topic: "events", partition: 1)?.low == 1)
        #expect(second.watermarks(topic: "events", partition: 1)?.high == 7)
        #expect(second.committedOffset(group: "keeper", topic: "events", partition: 1) == 7)
        let consumed = try await run(kcat, ["-b", second.bootstrapServers, "-C", "-t", "events", "-p", "1", "-o", "beginning",
                                            "-e", "-q", "-f", "%o:%s\n"])
        #expect(consumed.stdout == "1:v100\n2:v200\n3:v500\n4:v400\n5:a\n6:b\n")
        let byTime = try await run(kcat, ["-b", second.bootstrapServers, "-Q", "-t", "events:1:250"])
        #expect(byTime.stdout.contains("offset 3"), "\(byTime.stdout)")
        // A write cut short by a crash is dropped at the next start, and appends go on after it.
        try await second.shutdown()
        let log = URL(fileURLWithPath: dir).appendingPathComponent("topics/events/1.log")
        let handle = try FileHandle(forWritingTo: log)
        try handle.seekToEnd()
        try handle.write(contentsOf: Data([0, 0, 0, 0, 0, 0, 0, 9, 0, 0, 1, 0, 0]))
        try handle.close()
        let third = try await DevKafkaBroker.start(config)
        #expect(third.watermarks(topic: "events", partition: 1)?.high == 7)
        try third.produce(topic: "events", partition: 1, records: [OwnedRecord(timestamp: 900, value: Array("after".utf8))])
        try await third.shutdown()
        let fourth = try await DevKafkaBroker.start(config)
        #expect(try fourth.records(topic: "events", partition: 1).map { String(decoding: $0.value ?? [], as: UTF8.self) }
                == ["v100", "v200", "v500", "v400", "a", "b", "after"])
        try await fourth.shutdown()
        // The personality is fixed per directory.
        var other = config
        other.version = version == .v2_2 ? .v0_10_2 : .v2_2
        await #expect(throws: SluiceError.self) { _ = try await DevKafkaBroker.start(other) }
    }
}

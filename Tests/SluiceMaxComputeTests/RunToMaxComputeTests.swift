import Foundation
import Synchronization
import Testing
import SluiceCore
import SluiceDevKafka
import SluiceKafka
import SluiceRuntime
import SluiceTestSupport
import SluiceJob

/// `sluice run` end to end into the MaxCompute test server: dev broker → runner → tunnel upload.
@Suite struct RunToMaxComputeTests {
    static let day: Int64 = 1_669_075_200  // 2022-11-22T00:00:00Z

    func job(dir: URL, servers: String, server: MaxComputeTestServer, table: String = "events",
             writeMode: WriteMode = .overwrite) throws -> LoadedJob {
        try "test-secret-value".write(to: dir.appendingPathComponent("secret.txt"), atomically: true, encoding: .utf8)
        let path = dir.appendingPathComponent("job.yaml").path
        try """
        name: to_odps
        source:
          bootstrapServers: \(servers)
          topic: events
          timeZone: UTC
        columns: [__key__, __offset__, id, name]
        destination:
          type: maxcompute
          endpoint: \(server.serviceEndpoint)
          tunnelEndpoint: \(server.tunnelEndpoint)
          project: proj
          accessKeyId: test-ak
          accessKeySecret: "${file:secret.txt}"
          table: \(table)
          partition: "ds=${partition}"
          writeMode: \(writeMode.rawValue)
          columns: [k, o, id, name]
        schedule:
          cycle: hour
          timeZone: UTC
          parameters:
            startTime: "$[yyyymmddhh24-1/24]0000"
            endTime: "$[yyyymmddhh24]0000"
            partition: "$[yyyymmddhh24-1/24]"
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return try JobFiles.load(path: path)
    }

    /// A MaxCompute test server with table `events` (partitioned by ds), a dev broker whose topic
    /// `events` holds 40 records of 2022-11-22 00:00–00:40, and a temporary directory.
    struct Fixture {
        let server: MaxComputeTestServer
        let broker: DevKafkaBroker
        let dir: URL

        static func start() async throws -> Fixture {
            let server = try await MaxComputeTestServer.start()
            let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events", partitions: 2)])
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-odps-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            server.createTable("events", columns: [("k", "string"), ("o", "bigint"), ("id", "bigint"), ("name", "string")],
                               partitionKeys: ["ds"])
            let producer = try KafkaProducer(bootstrapServers: "127.0.0.1:\(broker.port)")
            try await producer.perform { p in
                for i in 0..<40 {
                    try p.send(topic: "events", partition: Int32(i % 2), key: Array("k\(i)".utf8),
                               value: Array(#"{"id":\#(i),"name":"n\#(i)"}"#.utf8), timestamp: (day + Int64(i) * 60) * 1000)
                }
                try p.flush()
            }
            return Fixture(server: server, broker: broker, dir: dir)
        }

        func stop() async {
            try? FileManager.default.removeItem(at: dir)
            try? await broker.shutdown()
            await server.shutdown()
        }
    }

    @Test func runWritesAPartitionAndRerunsReplaceIt() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let server = fixture.server, broker = fixture.broker, dir = fixture.dir
        let loaded = try job(dir: dir, servers: "127.0.0.1:\(broker.port)", server: server)
        var options = RunOptions()
        options.scheduledTime = Self.day + 3600 + 300
        options.showProgress = false
        let report = try await InstanceRunner(job: loaded, options: options).run()
        #expect(report.status == "succeeded")
        #expect(report.records.written == 40)
        let rows = try #require(server.rows("events", "ds=2022112200"))
        #expect(rows.count == 40)
        #expect(Set(rows.map { $0[2] }) == Set((0..<40).map { Value.int(Int64($0)) }))

        // A rerun replays the plan and overwrites: still exactly 40 rows.
        let again = try await InstanceRunner(job: loaded, options: options).run()
        #expect(again.replayedPlan)
        #expect(server.rows("events", "ds=2022112200")?.count == 40)

        // The destination lists its partitions and answers queries, as `sluice partitions` and `sluice sql` ask.
        let destination = try Destinations.make(job: loaded)
        let parts = try await destination.partitions()
        #expect(parts.map(\.partition) == ["ds=2022112200"] && parts.map(\.rows) == [40])
        let out = Mutex("")
        try await destination.query("SELECT * FROM events WHERE ds='2022112200'", format: .csv) { text in out.withLock { $0 += text } }
        #expect(out.withLock { $0 }.split(separator: "\r\n").count == 41)
    }

    /// Append mode, `sluice run` SIGKILLed right after the tunnel answered its commit: the next run
    /// asks the tunnel for the recorded session's status, finds it committed and settles the attempt
    /// without a second upload. A deliberate rerun is then refused (MaxCompute cannot remove the
    /// rows), unless forced with --allow-duplicate-append.
    @Test func anAppendKilledAfterItsCommitIsSettledFromTheTunnel() async throws {
        let fixture = try await Fixture.start()
        defer { Task { await fixture.stop() } }
        let server = fixture.server, broker = fixture.broker, dir = fixture.dir
        let loaded = try job(dir: dir, servers: "127.0.0.1:\(broker.port)", server: server, writeMode: .append)
        let run = ["run", loaded.path, "--at-epoch", String(Self.day + 3600 + 300)]
        let killed = try await SluiceBinary.run(run, environment: ["SLUICE_TEST_KILL_AT": "after-commit"])
        #expect(killed.signalled, "\(killed.stderr)")
        #expect(server.rows("events", "ds=2022112200")?.count == 40)

        let again = try await SluiceBinary.run(run)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("settled: attempt 1 had committed 40 row(s)"), "\(again.stdout)")
        #expect(server.rows("events", "ds=2022112200")?.count == 40)
        #expect(server.sessionStatuses().filter { $0 == "CLOSED" }.count == 1, "one upload session committed")

        let refused = try await SluiceBinary.run(run)
        #expect(refused.status == 2)
        #expect(refused.stderr.contains("has already appended its rows") && refused.stderr.contains("--allow-duplicate-append"),
                "\(refused.stderr)")
        #expect(server.rows("events", "ds=2022112200")?.count == 40)
        let forced = try await SluiceBinary.run(run + ["--allow-duplicate-append"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(server.rows("events", "ds=2022112200")?.count == 80)
    }

    @Test func aMismatchedTableFailsBeforeReadingKafka() async throws {
        let server = try await MaxComputeTestServer.start()
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-odps-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer {
            try? FileManager.default.removeItem(at: dir)
            Task { await server.shutdown() }
        }
        server.createTable("events", columns: [("k", "string"), ("other", "bigint")], partitionKeys: ["ds"])
        // No broker at all: the destination check must come first.
        let loaded = try job(dir: dir, servers: "127.0.0.1:9", server: server)
        var options = RunOptions()
        options.scheduledTime = Self.day + 3600 + 300
        options.showProgress = false
        do {
            _ = try await InstanceRunner(job: loaded, options: options).run()
            Issue.record("the run succeeded")
        } catch let failure as RunFailure {
            #expect(failure.error.kind == .destination || failure.error.kind == .invalidInput)
            #expect(failure.error.message.contains("o") && failure.error.message.contains("events"))
            #expect(!failure.error.message.contains("127.0.0.1:9"))
        }
    }
}

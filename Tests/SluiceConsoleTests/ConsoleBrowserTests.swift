import Foundation
import SluiceCore
import SluiceDevKafka
import SluiceKafka
import SluiceLedger
import SluiceRuntime
import SluiceTestSupport
import Testing

/// The console in a real browser: Debian's headless Chromium driven by Playwright for Python, over
/// a ledger filled by real runs of the `sluice` binary against a dev broker.
@Suite struct ConsoleBrowserTests {
    static let chromium = "/usr/bin/chromium-headless-shell"

    static func writeJob(_ path: String, servers: String) throws {
        try """
        name: hourly
        source:
          bootstrapServers: \(servers)
          topic: events
          timeZone: UTC
        columns: [__key__, __partition__, __offset__, id]
        destination:
          path: warehouse.db
          table: t
          partition: "ds=${partition}"
          columns: [k, p, o, id]
          columnTypes: { p: BIGINT, o: BIGINT, id: BIGINT }
        settings:
          errorLimit: { record: 10 }
        \(hourlyScheduleYAML())

        """.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Records in the hours 10 and 11 of 2022-11-22 (UTC); one of hour 10 carries markup that
    /// cannot be a BIGINT, so it becomes a dirty record.
    static func produce(_ servers: String) async throws {
        let base: Int64 = 1_669_111_200_000
        let producer = try KafkaProducer(bootstrapServers: servers)
        try await producer.perform { p in
            try p.send(topic: "events", partition: 0, key: Array("<b>key</b>".utf8),
                       value: Array("{\"id\": \"<script>window.__xss=1</script>\"}".utf8), timestamp: base)
            for i in 0..<40 {
                let at = base + Int64(i) * 180_000
                try p.send(topic: "events", partition: Int32(i % 2), key: Array("k\(i)".utf8), value: Array("{\"id\": \(i)}".utf8), timestamp: at)
            }
            try p.flush(timeoutSeconds: 30)
        }
    }

    @Test func anOperatorFindsTheFailedInstanceAndRerunsItWithAClick() async throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.chromium), "install chromium-headless-shell (scripts/install-deps)")
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: "events", partitions: 2)])
        let dir = try TemporaryDirectory(prefix: "sluice-browser")
        let servers = "127.0.0.1:\(broker.port)"
        let job = dir.file("hourly.yaml")
        try await Self.produce(servers)
        try Self.writeJob(job, servers: servers)
        let first = try await SluiceBinary.run(["run", job, "--at", "2022-11-22 11:05", "--create-table"])
        #expect(first.status == 0, "\(first.stderr)")
        // The next hour runs while the job points at a broker nobody listens on: a failed instance.
        try Self.writeJob(job, servers: "127.0.0.1:1")
        let failedRun = try await SluiceBinary.run(["run", job, "--at", "2022-11-22 12:05"], timeout: .seconds(120))
        #expect(failedRun.status == 1)
        try Self.writeJob(job, servers: servers)

        let ledger = try await Ledgers.open(.stateDirectory(dir.path + "/.sluice"))
        let instances = try await ledger.instances()
        let ok = try #require(instances.first { $0.status == .succeeded }), failed = try #require(instances.first { $0.status == .failed })
        #expect(ok.counts.dirty == 1, "\(first.stdout)")
        try "alice:\(ConsoleUnderTest.token)\n".write(toFile: dir.file("tokens"), atomically: true, encoding: .utf8)
        let serve = try SluiceBinary.start(["serve", job, "--listen", "127.0.0.1:0", "--token-file", dir.file("tokens"), "--tz", "UTC"],
                                           lines: [.standardError])
        defer { serve.signal(SIGTERM) }
        let base = try await Self.listeningAddress(serve)
        let screenshot = dir.file("console-instances.png")
        let check = try await Subprocess.run(Subprocess.python, [
            ConsoleServerTests.script("browser_check.py"), base, ConsoleUnderTest.token, "hourly", String(failed.id), String(ok.id),
            screenshot, Self.chromium,
        ], timeout: .seconds(300))
        #expect(check.status == 0, "\(check.stderr)\n\(check.stdout)")
        let after = try #require(try await ledger.instance(id: failed.id))
        #expect(after.status == .succeeded && after.attempts == 2)
        let actions = try await ledger.actions(job: nil, instanceId: failed.id, limit: 10)
        #expect(actions.first?.actor == "alice" && actions.first?.action == "rerun" && actions.first?.outcome == "done")
        let png = try Data(contentsOf: URL(fileURLWithPath: screenshot))
        #expect(png.count > 10_000 && png.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        if ProcessInfo.processInfo.environment["SLUICE_UPDATE_SCREENSHOT"] == "1" {
            try png.write(to: packageRoot.appendingPathComponent("docs/images/console-instances.png"))
        }
        await ledger.close()
        try await broker.shutdown()
    }

    /// The `http://HOST:PORT/` of the console's "listening on" line.
    static func listeningAddress(_ serve: RunningProcess) async throws -> String {
        for _ in 0..<20 {
            guard let line = await serve.readLine(from: .standardError, timeout: .seconds(60)) else { break }
            if let r = line.range(of: "listening on http://") {
                return "http://" + line[r.upperBound...].prefix { $0 != "/" && $0 != " " }
            }
        }
        throw FixtureError("sluice serve did not say where it listens")
    }
}

import Foundation
import SluiceTestSupport
import Testing

/// `sluice validate`, `show`, `import dataworks`, `--version` and `--help`, run as a user would.
@Suite struct JobCommandsTests {
    static let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")
    static let invalid = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("SluiceJobTests/Fixtures/invalid")

    func fixture(_ name: String) -> String { Self.fixtures.appendingPathComponent(name).path }

    @Test func validJobsValidate() async throws {
        let r = try await SluiceBinary.run(["validate", fixture("events_hourly.yaml"), fixture("dataworks_example.json")])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("events_hourly.yaml: ok"))
        #expect(r.stdout.contains("dataworks_example.json: ok"))
    }

    /// Every invalid file exits 2 with a message naming the file; none crashes.
    @Test func invalidCorpusExitsTwo() async throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.invalid.path).filter { $0 != "EXPECTED.tsv" }
        #expect(files.count >= 30)
        for file in files {
            let path = Self.invalid.appendingPathComponent(file).path
            let r = try await SluiceBinary.run(["validate", path])
            #expect(r.status == 2, "\(file): exit \(r.status)\n\(r.stderr)")
            #expect(r.stderr.contains(path + ":"), "\(file): \(r.stderr)")
        }
    }

    @Test func showRedactsSecrets() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-show-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = dir.appendingPathComponent("job.yaml")
        try """
        source: { bootstrapServers: "h:9092", topic: t, begin: {earliest: true}, end: {latest: true},
                  kafkaConfig: { sasl.password: hunter2 } }
        columns: [__value__]
        destination: { table: t, columns: [v] }
        """.write(to: job, atomically: true, encoding: .utf8)
        let r = try await SluiceBinary.run(["show", job.path])
        #expect(r.status == 0)
        #expect(!r.stdout.contains("hunter2"))
        #expect(!r.stderr.contains("hunter2"))
        #expect(r.stdout.contains("sasl.password: '******'") || r.stdout.contains("sasl.password: \"******\""))
        #expect(r.stderr.contains("warning"))
    }

    @Test func importDataWorksWritesLoadableYAML() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-import-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let ds = dir.appendingPathComponent("ds.yaml")
        try """
        odps_first: { type: maxcompute, endpoint: "http://127.0.0.1:1/api", project: p, accessKeyId: AKID, accessKeySecret: topsecret }
        """.write(to: ds, atomically: true, encoding: .utf8)
        let r = try await SluiceBinary.run(["import", "dataworks", fixture("dataworks_example.json"), "--datasources", ds.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(!r.stdout.contains("topsecret"))
        #expect(r.stdout.contains("${env:ALIBABA_CLOUD_ACCESS_KEY_SECRET}"))
        #expect(r.stderr.contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET"))
        let out = dir.appendingPathComponent("job.yaml")
        try r.stdout.write(to: out, atomically: true, encoding: .utf8)
        let v = try await SluiceBinary.run(["validate", out.path])
        #expect(v.status == 0, "\(v.stderr)\n\(r.stdout)")
    }

    @Test("import dataworks infers the cycle from the --param expressions and says so on stderr")
    func importDataWorksInfersTheCycle() async throws {
        let hourly = try await SluiceBinary.run(["import", "dataworks", fixture("dataworks_example.json"),
                                                 "--param", "startTime=$[yyyymmddhh24-1/24]0000", "--param", "endTime=$[yyyymmddhh24]0000"])
        #expect(hourly.status == 0, "\(hourly.stderr)")
        #expect(hourly.stdout.contains("cycle: hour"), "\(hourly.stdout)")
        #expect(hourly.stderr.contains("note: the DataWorks job has no schedule") && hourly.stderr.contains("an hour cycle every 1 hour"),
                "\(hourly.stderr)")
        let daily = try await SluiceBinary.run(["import", "dataworks", fixture("dataworks_example.json"),
                                                "--param", "bizdate=$[yyyymmdd-1]"])
        #expect(daily.status == 0, "\(daily.stderr)")
        #expect(daily.stdout.contains("cycle: day"), "\(daily.stdout)")
        #expect(daily.stderr.contains("a daily cycle at 00:00 (no --param expression has an hour or minute field or offset)"),
                "\(daily.stderr)")
    }

    @Test("validate and run refuse kafkaConfig keys librdkafka would refuse, with the same lines")
    func validateRefusesWhatRunRefuses() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-kc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let job = dir.appendingPathComponent("job.yaml")
        try """
        name: kc
        source:
          bootstrapServers: "127.0.0.1:9"
          topic: t
          begin: {earliest: true}
          end: {latest: true}
          kafkaConfig:
            bootstrap.servers: "127.0.0.1:9"
            ssl.truststore.location: /etc/kafka/truststore.jks
            fetch.max.bytez: 1
        columns: [__value__]
        destination: { path: w.db, table: t, columns: [v] }
        """.write(to: job, atomically: true, encoding: .utf8)
        let v = try await SluiceBinary.run(["validate", job.path])
        let r = try await SluiceBinary.run(["run", job.path])
        #expect(v.status == 2 && r.status == 2, "\(v.stderr)\n\(r.stderr)")
        let lines = v.stderr.split(separator: "\n").filter { $0.hasPrefix(job.path + ":source.kafkaConfig.") }
        #expect(lines.count == 3, "\(v.stderr)")
        for line in lines { #expect(r.stderr.contains(line), "\(line)\n\(r.stderr)") }
    }

    @Test func versionAndHelp() async throws {
        let v = try await SluiceBinary.run(["--version"])
        #expect(v.status == 0)
        #expect(!v.stdout.isEmpty)
        for cmd in [["validate"], ["show"], ["import", "dataworks"]] {
            let h = try await SluiceBinary.run(cmd + ["--help"])
            #expect(h.status == 0)
            #expect(h.stdout.contains("Example"), "\(cmd) --help has no example")
        }
    }

    @Test func badFlagsExitTwo() async throws {
        let r = try await SluiceBinary.run(["validate", "--no-such-flag", fixture("events_hourly.yaml")])
        #expect(r.status == 2)
        let missing = try await SluiceBinary.run(["validate", "/nonexistent/job.yaml"])
        #expect(missing.status == 2)
        #expect(missing.stderr.contains("/nonexistent/job.yaml"))
    }
}

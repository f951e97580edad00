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

import Foundation
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceWarehouse

/// Kills a real writer process (this test binary, re-run in child mode) with SIGKILL at varying
/// moments — while inserting or while committing — and checks that the partition holds either its
/// previous content or the complete new content, and that the warehouse is writable afterwards.
@Suite struct WarehouseCrashTests {
    static let childEnv = "SLUICE_CRASH_CHILD_DB"

    /// Child mode: overwrite ds=1 with `before` batches, say READY, write `after` more, commit.
    @Test(.enabled(if: ProcessInfo.processInfo.environment[WarehouseCrashTests.childEnv] != nil))
    func crashChildWriter() async throws {
        let env = ProcessInfo.processInfo.environment
        let path = try #require(env[Self.childEnv])
        let before = Int(env["SLUICE_CRASH_BEFORE"] ?? "") ?? 5
        let after = Int(env["SLUICE_CRASH_AFTER"] ?? "") ?? 5
        let sink = WarehouseSink(path: path, table: "events", cacheSizeKiB: 256)
        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .overwrite,
                                    columns: eventColumns, provenance: provenance("child"))
        var next = 0
        for _ in 0..<before { try await w.write(eventBatch(next..<(next + 1000), tag: "new")); next += 1000 }
        FileHandle.standardError.write(Data("READY\n".utf8))
        for _ in 0..<after { try await w.write(eventBatch(next..<(next + 1000), tag: "new")); next += 1000 }
        _ = try await w.commit()
        FileHandle.standardError.write(Data("COMMITTED\n".utf8))
    }

    static var testBinary: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    @Test func sigkilledWriterLeavesOldOrCompleteNewPartition() async throws {
        let dir = try TempDir()
        let sink = WarehouseSink(path: dir.file("crash.db"), table: "events", createTable: true)
        try await sink.prepare(columns: eventColumns, partitionKeys: ["ds"])
        try await writePartition(sink, "ds=1", [eventBatch(0..<700, tag: "old")])
        try await writePartition(sink, "ds=2", [eventBatch(0..<300, tag: "other")])
        var outcomes: [String] = []
        var rng = SystemRandomNumberGenerator()
        for round in 0..<12 {
            let before = Int.random(in: 1...20, using: &rng)
            let after = round % 2 == 0 ? 0 : Int.random(in: 0...20, using: &rng)   // even rounds: kill near the commit
            let p = try RunningProcess(Self.testBinary, ["--testing-library", "swift-testing", "--filter", "crashChildWriter"],
                                       environment: [Self.childEnv: sink.path, "SLUICE_CRASH_BEFORE": String(before),
                                                     "SLUICE_CRASH_AFTER": String(after)],
                                       lines: [.standardError])
            // Wait for READY (or the end of the child, which then failed before it).
            var seen: [String] = []
            while !seen.contains(where: { $0.contains("READY") }), let line = await p.readLine(from: .standardError) { seen.append(line) }
            #expect(seen.contains { $0.contains("READY") }, "child output: \(seen)")
            // A random moment after READY: during the remaining inserts, the commit, or after it.
            try await Task.sleep(for: .milliseconds(Int.random(in: 0...40, using: &rng)))
            p.signal(SIGKILL)
            await p.wait()

            let total = try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='1'")
            let old = try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='1' AND payload LIKE 'old%'")
            let new = try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='1' AND payload LIKE 'new%'")
            let complete = Int64((before + after) * 1000)
            #expect((total == 700 && old == 700) || (total == complete && new == complete),
                    "round \(round): \(total) rows, \(old) old, \(new) new; expected 700 old or \(complete) new")
            #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='2'") == 300)
            let provenanceRows = try count(sink.path, "SELECT COUNT(*) FROM _sluice_partitions WHERE partition='ds=1' AND instance_id='child' AND replaced_by IS NULL")
            #expect(provenanceRows == (new > 0 ? 1 : 0), "provenance must match the data")
            outcomes.append(new > 0 ? "new" : "old")
            // Back to the old content for the next round; the warehouse must accept the write.
            try await writePartition(sink, "ds=1", [eventBatch(0..<700, tag: "old")])
        }
        print("crash outcomes: \(outcomes)")
    }
}

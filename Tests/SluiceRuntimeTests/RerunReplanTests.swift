import Foundation
import SluiceTestSupport
import SluiceCore
import Testing
@testable import SluiceRuntime
import SluiceJob
@testable import SluiceLedger

/// A rerun replays the stored plan only while the job still gives the instance the same window;
/// otherwise it is refused (naming the change) unless `replan`, so the ledger describes what was written.
@Suite struct RerunReplanTests {
    static func job(_ dir: String, startTime: String = "$[yyyymmddhh24-1/24]0000",
                    partition: String = "$[yyyymmddhh24]", unused: String = "a") throws -> LoadedJob {
        let yaml = """
        name: mem
        source: { bootstrapServers: "127.0.0.1:9", topic: events, timeZone: UTC, begin: { time: "${startTime}" }, end: { time: "${endTime}" } }
        columns: [__partition__, __offset__, id]
        destination: { path: w.db, table: t, partition: "ds=${partition}", columns: [p, o, id], columnTypes: { p: BIGINT, o: BIGINT, id: BIGINT } }
        schedule:
          cycle: hour
          parameters: { startTime: "\(startTime)", endTime: "$[yyyymmddhh24]0000", partition: "\(partition)", unused: "'\(unused)'" }
        """
        return try JobLoader.parse(data: Data(yaml.utf8), fileName: dir + "/job.yaml", directory: dir)
    }

    static let records = (0..<12).map { i in
        OwnedRecord(partition: Int32(i % 2), offset: Int64(i / 2), timestamp: 1_669_111_000_000, value: Array(#"{"id":\#(i)}"#.utf8))
    }

    func run(_ job: LoadedJob, _ dir: TemporaryDirectory, _ sink: MemorySink, replan: Bool = false) async throws -> RunReport {
        var options = RunOptions()
        options.scheduledTime = 1_669_111_200  // 2022-11-22T10:00:00Z
        options.stateDirectory = dir.path
        options.showProgress = false
        options.replan = replan
        return try await InstanceRunner(job: job, options: options).run(source: MemorySource(records: Self.records), sink: sink)
    }

    func refusal(_ job: LoadedJob, _ dir: TemporaryDirectory, _ sink: MemorySink) async -> SluiceError? {
        do {
            _ = try await run(job, dir, sink)
            return nil
        } catch {
            return error as? SluiceError
        }
    }

    @Test func aChangedWindowIsRefusedUnlessReplannedAndTheLedgerFollowsWhatIsWritten() async throws {
        let dir = try TemporaryDirectory()
        let sink = MemorySink()
        let first = try await run(try Self.job(dir.path), dir, sink)
        #expect(first.status == "succeeded" && !first.replayedPlan)
        let id = try #require(first.instanceId)
        // Unchanged window (a parameter the window does not use changed): replayed.
        let same = try await run(try Self.job(dir.path, unused: "b"), dir, sink)
        #expect(same.replayedPlan && same.records.written == 12)

        // The window begins an hour earlier now: refused, naming the change and --replan; nothing
        // is written, and the ledger still describes the window that was.
        let earlier = try Self.job(dir.path, startTime: "$[yyyymmddhh24-2/24]0000")
        let error = try #require(await refusal(earlier, dir, sink))
        #expect(error.kind == .invalidInput)
        #expect(error.message.contains("instance \(id) of mem"))
        #expect(error.message.contains("window begin 2022-11-22T09:00:00Z → 2022-11-22T08:00:00Z"))
        #expect(error.hint?.contains("--replan") == true)
        #expect(sink.writes.withLock { $0.count } == 2)
        let ledger = try await Ledgers.openSQLite(stateDirectory: dir.path)
        #expect(try await ledger.instance(id: id)?.windowStart == Date(timeIntervalSince1970: 1_669_107_600))
        #expect(try await ledger.instance(id: id)?.attempts == 2)

        // A changed partition is a changed window too.
        let daily = try Self.job(dir.path, partition: "$[yyyymmdd]")
        let partitionError = try #require(await refusal(daily, dir, sink))
        #expect(partitionError.message.contains("destination partition ds=2022112210 → ds=20221122"))

        // --replan plans the new window; the ledger and the stored plan record it.
        let replanned = try await run(earlier, dir, sink, replan: true)
        #expect(replanned.status == "succeeded" && !replanned.replayedPlan)
        #expect(try await ledger.instance(id: id)?.windowStart == Date(timeIntervalSince1970: 1_669_104_000))
        #expect(try await ledger.plan(id: id)?.begin == "time 1669104000000")
        // From then on the new plan is the one replayed.
        #expect(try await run(earlier, dir, sink).replayedPlan)
        await ledger.close()
    }
}

import Foundation
import SluiceCore
import Synchronization
import Testing
@testable import SluiceRuntime

/// The scheduler daemon assembled and served in-process, as `sluice scheduler` does.
@Suite struct SchedulerServiceTests {
    @Test func makeLoadsTheJobsHoldsTheLockAndAStopEndsTheService() async throws {
        let dir = try LedgerTempDir()
        try """
        name: hourly
        source: { bootstrapServers: "127.0.0.1:9", topic: events, timeZone: UTC }
        columns: [__offset__]
        destination: { path: w.db, table: t, partition: "ds=${partition}", columns: [o], columnTypes: { o: BIGINT } }
        schedule:
          cycle: hour
          timeZone: UTC
          parameters: { startTime: "$[yyyymmddhh24-1/24]0000", endTime: "$[yyyymmddhh24]0000", partition: "$[yyyymmddhh24-1/24]" }
        """.write(toFile: dir.path + "/hourly.yaml", atomically: true, encoding: .utf8)
        try "not: [a job".write(toFile: dir.path + "/broken.yaml", atomically: true, encoding: .utf8)
        let lines = Mutex<[String]>([])
        let log: @Sendable (String) -> Void = { line in lines.withLock { $0.append(line) } }
        var options = SchedulerServiceOptions(jobs: [dir.path])
        options.pollInterval = 0.05
        options.stopTimeout = .seconds(5)
        let service = try await SchedulerService.make(options, log: log)
        #expect(service.stateDirectory == dir.path + "/.sluice")
        #expect(await service.scheduler.jobNames == ["hourly"])
        #expect(lines.withLock { $0 }.contains { $0.contains("broken.yaml: invalid, not scheduled") })
        // One scheduler per state directory.
        await #expect(throws: SluiceError.self) { _ = try await SchedulerService.make(options, log: log) }

        let (stops, stop) = AsyncStream<Int32>.makeStream()
        let serving = Task { await service.run(stops: stops) }
        stop.yield(SIGTERM)
        await serving.value
        let logged = lines.withLock { $0 }
        #expect(logged.contains { $0.hasPrefix("scheduler started") } && logged.last == "scheduler stopped")
        #expect(logged.contains { $0.contains("signal \(SIGTERM): no new instances") })
        // The lock is released: another scheduler may start.
        _ = try await SchedulerService.make(options, log: log)
    }
}

import Foundation
import SluiceTestSupport
import Logging
import ServiceLifecycle
import SluiceCore
import Synchronization
import Testing
@testable import SluiceRuntime

/// The scheduler daemon assembled and served in-process, as `sluice scheduler` does.
@Suite struct SchedulerServiceTests {
    @Test func makeLoadsTheJobsHoldsTheLockAndAStopEndsTheService() async throws {
        let dir = try TemporaryDirectory()
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
        let lines = CollectedLines()
        let log = Logger(label: "test") { _ in CollectingLogHandler(lines: lines) }
        var options = SchedulerServiceOptions(jobs: [dir.path])
        options.pollInterval = 0.05
        options.stopTimeout = .seconds(5)
        let service = try await SchedulerService.make(options, logger: log)
        #expect(service.stateDirectory == dir.path + "/.sluice")
        #expect(await service.scheduler.jobNames == ["hourly"])
        #expect(lines.all.contains { $0.contains("broken.yaml: invalid, not scheduled") })
        // One scheduler per state directory.
        await #expect(throws: SluiceError.self) { _ = try await SchedulerService.make(options, logger: log) }

        let group = ServiceGroup(configuration: service.groupConfiguration(signals: []))
        let serving = Task { try await group.run() }
        while !lines.all.contains(where: { $0.hasPrefix("scheduler started") }) { await Task.yield() }
        await group.triggerGracefulShutdown()
        try await serving.value
        let logged = lines.all
        let stopping = try #require(logged.firstIndex { $0.contains("stopping: no new instances") })
        let stopped = try #require(logged.firstIndex(of: "scheduler stopped"))
        #expect(logged.contains { $0.hasPrefix("scheduler started") } && stopping < stopped)
        // The lock is released: another scheduler may start.
        _ = try await SchedulerService.make(options, logger: log)
    }
}

@Suite struct LogHandlerTests {
    @Test func textAndJSONLinesCarryTheMessageAndTheMetadata() throws {
        let out = CollectedLines()
        var text = Logger(label: "sluice.test") { TextLogHandler(label: $0, write: out.append) }
        text[metadataKey: "job"] = "hourly"
        text.warning("instance 4 failed", metadata: ["instance": "4"])
        let line = try #require(out.all.first)
        #expect(line.hasSuffix(" warning instance 4 failed instance=4 job=hourly\n"), "\(line)")
        let json = Logger(label: "sluice.test") { JSONLogHandler(label: $0, write: out.append) }
        json.info("started", metadata: ["instance": "5"])
        let object = try JSONSerialization.jsonObject(with: Data(out.all[1].utf8)) as? [String: String]
        #expect(object?["message"] == "started" && object?["instance"] == "5" && object?["level"] == "info")
        #expect(object?["label"] == "sluice.test" && object?["time"] != nil)
    }
}

/// Log messages, collected across tasks.
final class CollectedLines: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// A log handler that keeps each message.
struct CollectingLogHandler: LogHandler {
    let lines: CollectedLines
    var logLevel: Logger.Level = .trace
    var metadata: Logger.Metadata = [:]
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) { lines.append("\(event.message)") }
}

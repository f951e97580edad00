import Foundation
import SluiceCore
import SluiceDevKafka
import SluiceKafka
import SluiceRuntime
import SluiceWarehouse
@_exported import SluiceTestSupport

/// Shared pieces of the end-to-end tests: a broker per test, a temp directory, produced records,
/// job files, and the `sluice` binary.
struct Harness {
    let broker: DevKafkaBroker
    let dir: String
    var servers: String { "127.0.0.1:\(broker.port)" }

    static func start(topic: String = "events", partitions: Int = 3) async throws -> Harness {
        let broker = try await DevKafkaBroker.start(topics: [DevKafkaTopic(name: topic, partitions: partitions)])
        // The test process's pid in the name: `scripts/test` removes the directories of ended test
        // processes (a test's deferred `stop` may not run before the process exits).
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-it-\(getpid())-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return Harness(broker: broker, dir: dir)
    }

    func stop() async {
        try? await broker.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// One produced record: where it went and what it carries.
    struct Produced: Hashable, Sendable {
        var partition: Int32
        var key: String
        var value: String
        var timestamp: Int64
    }

    /// Produces `records` (partition, key, JSON value, timestamp) and waits for delivery.
    func produce(_ records: [Produced], topic: String = "events") async throws {
        let producer = try KafkaProducer(bootstrapServers: servers)
        try await producer.perform { p in
            for r in records {
                try p.send(topic: topic, partition: r.partition, key: Array(r.key.utf8), value: Array(r.value.utf8),
                           timestamp: r.timestamp)
            }
            try p.flush(timeoutSeconds: 30)
        }
    }

    func path(_ name: String) -> String { (dir as NSString).appendingPathComponent(name) }

    /// Writes an hourly job over `topic` into the warehouse of this harness.
    /// `dailyPartition` lands every hour of a day in the day's partition (`ds=yyyymmdd`).
    /// `postgres` (a URL) writes into table `t` of that PostgreSQL database instead of the warehouse.
    func writeHourlyJob(name: String = "job.yaml", windowMode: WindowMode = .offsets, errorLimit: Int? = nil,
                        extraColumns: Bool = false, servers: String? = nil, completion: String? = nil,
                        writeMode: WriteMode = .overwrite, dailyPartition: Bool = false, postgres: String? = nil) throws -> String {
        try writeJob(name: name, jobName: "hourly", windowMode: windowMode, errorLimit: errorLimit, servers: servers,
                     completion: completion, writeMode: writeMode, postgres: postgres, cycle: "cycle: hour\n  start: \"00:05\"",
                     parameters: ("$[yyyymmddhh24-1/24]0000", "$[yyyymmddhh24]0000",
                                  dailyPartition ? "$[yyyymmdd-1/24]" : "$[yyyymmddhh24-1/24]"))
    }

    /// Writes a job `minutely` with a minute cycle, window [scheduled − 1 min, scheduled).
    func writeMinuteJob(name: String = "minutely.yaml", windowMode: WindowMode = .offsets, completion: String? = nil,
                        writeMode: WriteMode = .overwrite, retries: Int? = nil, postgres: String? = nil) throws -> String {
        try writeJob(name: name, jobName: "minutely", windowMode: windowMode, completion: completion, writeMode: writeMode,
                     postgres: postgres,
                     cycle: "cycle: minute\n  start: \"00:00\"" + (retries.map { "\n  retries: \($0)" } ?? ""),
                     parameters: ("$[yyyymmddhh24mi-1/24/60]00", "$[yyyymmddhh24mi]00", "$[yyyymmddhh24mi-1/24/60]"))
    }

    private func writeJob(name: String, jobName: String, windowMode: WindowMode, errorLimit: Int? = nil, servers: String? = nil,
                          completion: String?, writeMode: WriteMode = .overwrite, postgres: String? = nil, cycle: String,
                          parameters: (start: String, end: String, partition: String)) throws -> String {
        let limit = errorLimit.map { "settings:\n  errorLimit: { record: \($0) }\n" } ?? ""
        let destination = postgres.map { "type: postgresql\n  url: \($0)" } ?? "path: warehouse.db"
        let text = """
        name: \(jobName)
        source:
          bootstrapServers: \(servers ?? self.servers)
          topic: events
          timeZone: UTC
          windowMode: \(windowMode.rawValue)\(completion.map { "\n  completion: \($0)" } ?? "")
        columns: [__key__, __partition__, __offset__, __timestamp__, id]
        destination:
          \(destination)
          table: t
          partition: "ds=${partition}"
          writeMode: \(writeMode.rawValue)
          columns: [k, p, o, ts, id]
          columnTypes: { p: BIGINT, o: BIGINT, ts: BIGINT, id: BIGINT }
        \(limit)schedule:
          \(cycle)
          interval: 1
          end: "23:59"
          timeZone: UTC
          parameters:
            startTime: "\(parameters.start)"
            endTime: "\(parameters.end)"
            partition: "\(parameters.partition)"

        """
        let p = path(name)
        try text.write(toFile: p, atomically: true, encoding: .utf8)
        return p
    }

    /// Runs one instance in-process.
    func run(job: String, at scheduledTime: Int64, replan: Bool = false) async throws -> RunReport {
        var options = RunOptions()
        options.scheduledTime = scheduledTime
        options.createTable = true
        options.showProgress = false
        options.replan = replan
        return try await InstanceRunner(job: try JobFiles.load(path: job), options: options).run()
    }

    /// Rows of the warehouse table, as (ds, partition, offset, id) tuples.
    func rows(_ where: String = "1=1") async throws -> [[String]] {
        let warehouse = Warehouse(path: path("warehouse.db"))
        let out = TextCollector()
        try await warehouse.query("SELECT ds, p, o, id FROM t WHERE \(`where`) ORDER BY p, o", format: .csv) { out.append($0) }
        return out.text.split(whereSeparator: \.isNewline).dropFirst().map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }
}

/// Collects text emitted from another thread.
final class TextCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var buffer = ""
    func append(_ s: String) { lock.lock(); buffer += s; lock.unlock() }
    var text: String { lock.lock(); defer { lock.unlock() }; return buffer }
}

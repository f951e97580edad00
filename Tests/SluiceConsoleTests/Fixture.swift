import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SluiceConsole
import SluiceCore
import SluiceLedger
import SluicePostgres
import SluiceRuntime
import SluiceTestSupport
import Testing

/// A console on a free loopback port over a ledger in a temporary state directory, and an HTTP
/// client (redirects not followed) to drive it.
final class ConsoleUnderTest: Sendable {
    let dir: TemporaryDirectory
    let stateDirectory: String
    let base: String
    let client: HTTPClient
    private let task: Task<Void, any Error>

    static let token = "alice-token-0123456789abcdef"
    static let otherToken = "bob-token-fedcba9876543210"
    static let secret = "LiteralKafkaPassword-9f8e7d"

    private init(dir: TemporaryDirectory, stateDirectory: String, base: String, client: HTTPClient, task: Task<Void, any Error>) {
        self.dir = dir
        self.stateDirectory = stateDirectory
        self.base = base
        self.client = client
        self.task = task
    }

    /// Starts a console; `fill` writes the ledger and job files before it starts.
    static func start(tokens: Bool, jobFile: Bool = false, postgres: Bool = false,
                      fill: (any Ledger) async throws -> Void = { _ in }) async throws -> ConsoleUnderTest {
        let dir = try TemporaryDirectory(prefix: "sluice-console")
        let state = dir.path + "/.sluice"
        var location = LedgerLocation.stateDirectory(state)
        if postgres {
            let server = try await PostgresServer.shared()
            location = .postgres(try PostgresURL(parsing: server.url(database: try await server.createDatabase(prefix: "console"))))
        }
        let ledger = try await Ledgers.open(location)
        try await fill(ledger)
        await ledger.close()
        var config = ConsoleConfiguration(ledger: location, stateDirectory: state, sluiceBinary: SluiceBinary.path)
        config.port = 0
        config.jobRoots = jobFile ? [try ConsoleLedgerFill.jobFile(dir)] : []
        config.zone = .init(timeZone: TimeZone(identifier: "UTC")!, identifier: "UTC")
        config.cacheSeconds = 0
        if tokens {
            config.tokens = try ConsoleTokens(text: "alice:\(token)\nbob:\(otherToken)\n", source: "test")
        }
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let task = Task { try await ConsoleApp.serve(config) { _, port in continuation.yield(port) } }
        let port = try await withThrowingTaskGroup(of: Int?.self) { group in
            group.addTask { await ports.first { _ in true } }
            group.addTask { try await Task.sleep(for: .seconds(60)); return nil }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let port else {
            task.cancel()
            throw FixtureError("the console did not start listening within 60 s")
        }
        var clientConfig = HTTPClient.Configuration(redirectConfiguration: .disallow)
        clientConfig.timeout = .init(connect: .seconds(10), read: .seconds(60))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: clientConfig)
        return ConsoleUnderTest(dir: dir, stateDirectory: state, base: "http://127.0.0.1:\(port)", client: client, task: task)
    }

    func stop() async {
        try? await client.shutdown()
        task.cancel()
        _ = try? await task.value
    }

    struct Answer: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: String
        func header(_ name: String) -> String? { headers.first(name: name) }
    }

    func request(_ method: HTTPMethod, _ path: String, headers: [(String, String)] = [], body: String? = nil) async throws -> Answer {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        for (n, v) in headers { request.headers.add(name: n, value: v) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/x-www-form-urlencoded")
            request.body = .bytes(ByteBuffer(string: body))
        }
        let response = try await client.execute(request, timeout: .seconds(60))
        let bytes = try await response.body.collect(upTo: 32 << 20)
        return Answer(status: Int(response.status.code), headers: response.headers, body: String(buffer: bytes))
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> Answer {
        try await request(.GET, path, headers: headers)
    }

    func post(_ path: String, form: [String: String], headers: [(String, String)] = []) async throws -> Answer {
        let body = form.map { "\($0.key.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")=\($0.value.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }
            .joined(separator: "&")
        return try await request(.POST, path, headers: headers, body: body)
    }

    static var bearer: [(String, String)] { [("Authorization", "Bearer \(token)")] }

    /// Logs in through the form; returns the session cookie header and the session's CSRF token.
    func login(token: String = ConsoleUnderTest.token) async throws -> (cookie: (String, String), csrf: String) {
        let form = try await get("/login")
        let loginCookie = try #require(form.header("set-cookie")?.split(separator: ";").first.map(String.init))
        let csrf = try #require(Self.hiddenValue("csrf", in: form.body))
        let done = try await post("/login", form: ["csrf": csrf, "token": token, "next": "/instances"],
                                  headers: [("Cookie", loginCookie)])
        #expect(done.status == 303)
        let session = try #require(done.headers["set-cookie"].first { $0.hasPrefix("sluice_session=") && !$0.hasPrefix("sluice_session=;") })
        let cookie = ("Cookie", String(session.split(separator: ";")[0]))
        let page = try await get("/instances", headers: [cookie])
        return (cookie, try #require(Self.hiddenValue("csrf", in: page.body)))
    }

    static func hiddenValue(_ name: String, in html: String) -> String? {
        guard let r = html.range(of: "name=\"\(name)\" value=\"") else { return nil }
        return String(html[r.upperBound...].prefix { $0 != "\"" })
    }
}

/// Ledger contents the tests share: a job with succeeded, failed and running instances, and a job
/// whose name, partition, log and dirty records carry markup.
enum ConsoleLedgerFill {
    static let xssJob = "<script>alert('job')</script>"

    @discardableResult
    static func standard(_ ledger: any Ledger) async throws -> (succeeded: Int64, failed: Int64, running: Int64, xss: Int64) {
        let base = Date(timeIntervalSince1970: 1_669_075_200)
        func new(_ h: Int, job: String = "events_hourly", partition: String? = nil) -> NewInstance {
            NewInstance(job: job, scheduledAt: base.addingTimeInterval(Double(h) * 3600), businessDate: "20221121",
                        parameters: ["startTime": "2022112\(h)0000", "partition": "2022112200\(h)"],
                        windowStart: base.addingTimeInterval(Double(h - 1) * 3600), windowEnd: base.addingTimeInterval(Double(h) * 3600),
                        partition: partition ?? "ds=2022112200\(h)")
        }
        let ok = try await ledger.startAttempt(new(1))
        try await ledger.storePlan(id: ok.id, plan: testPlan([PartitionPlan(partition: 0, fromOffset: 0, toOffset: 40, lowWatermark: 0, highWatermark: 90),
                                                              PartitionPlan(partition: 1, fromOffset: 5, toOffset: 25, lowWatermark: 0, highWatermark: 60)]))
        try await ledger.appendLog(id: ok.id, "planned 2 partitions")
        try await ledger.finish(id: ok.id, status: .succeeded, counts: InstanceCounts(read: 60, written: 58, dirty: 2, late: 3))
        try await ledger.recordAttemptMetrics(id: ok.id, attempt: 1, AttemptMetrics(phases: ["plan": 0.5, "read": 2.25], bytesRead: 4096))
        let failed = try await ledger.startAttempt(new(2))
        try await ledger.finish(id: failed.id, status: .failed, counts: InstanceCounts(), error: "kafka: the brokers 127.0.0.1:1 did not answer")
        let running = try await ledger.startAttempt(new(3))
        let xss = try await ledger.startAttempt(new(4, job: xssJob, partition: "ds=<img src=x onerror=alert('partition')>"))
        try await ledger.appendLog(id: xss.id, level: .error, "<script>alert('log')</script>")
        try await ledger.addDirtyRecords(id: xss.id, [LedgerDirtyRecord(partition: 0, offset: 7, timestampMillis: 1_669_075_200_000, column: "<b>id</b>",
                                                                         reason: "<script>alert('reason')</script>",
                                                                         key: Array("<i>k</i>".utf8), value: Array("<script>alert('dirty')</script>".utf8))])
        try await ledger.finish(id: xss.id, status: .failed, counts: InstanceCounts(read: 1, dirty: 1), error: "<script>alert('error')</script>")
        return (ok.id, failed.id, running.id, xss.id)
    }

    /// A job file for `events_hourly` with a literal Kafka password (a warning, but accepted).
    static func jobFile(_ dir: TemporaryDirectory, servers: String = "127.0.0.1:1") throws -> String {
        let path = dir.file("events_hourly.yaml")
        try """
        name: events_hourly
        source:
          bootstrapServers: \(servers)
          topic: events
          timeZone: UTC
          kafkaConfig: { security.protocol: SASL_PLAINTEXT, sasl.mechanism: PLAIN, sasl.username: u, sasl.password: "\(ConsoleUnderTest.secret)" }
        columns: [__key__, __value__]
        destination:
          type: sqlite
          path: warehouse.db
          table: t
          partition: "ds=${partition}"
          columns: [k, v]
        \(hourlyScheduleYAML(partitionOfPreviousHour: false))

        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

import AsyncHTTPClient
import Foundation
import NIOHTTP1
@testable import SluiceConsole
import SluiceCore
import SluiceLedger
import SluiceRuntime
import SluiceTestSupport
import Testing

/// The console as a real HTTP server on a free port: pages, the JSON API, the probes and the
/// answers to bad input.
@Suite struct ConsoleServerTests {
    @Test func instancesPageShowsEveryColumnAndFailedInstancesStandOut() async throws {
        var ids: (succeeded: Int64, failed: Int64, running: Int64, xss: Int64) = (0, 0, 0, 0)
        let console = try await ConsoleUnderTest.start(tokens: false) { ledger in ids = try await ConsoleLedgerFill.standard(ledger) }
        defer { Task { await console.stop() } }
        let page = try await console.get("/instances")
        #expect(page.status == 200)
        #expect(page.header("content-type")?.hasPrefix("text/html") == true)
        #expect(page.body.contains("<tr class=\"failed\" data-id=\"\(ids.failed)\">"))
        #expect(page.body.contains("<tr class=\"succeeded\" data-id=\"\(ids.succeeded)\">"))
        #expect(page.body.contains("data-refresh=\"10\""))
        #expect(page.body.contains("Read-only: this console was started without a token"))
        for header in ["Status", "Scheduled", "Business date", "Window", "Partition", "Rows", "Late", "Dirty", "Duration", "Attempts"] {
            #expect(page.body.contains("<th>\(header)</th>"), "column \(header)")
        }
        #expect(page.body.contains("ds=20221122001") && page.body.contains("20221121"))
        #expect(page.header("content-security-policy")?.contains("script-src 'self'") == true)
        #expect(page.header("x-frame-options") == "DENY")
        let failedOnly = try await console.get("/instances?status=failed&job=events_hourly")
        #expect(failedOnly.body.contains("data-id=\"\(ids.failed)\"") && !failedOnly.body.contains("data-id=\"\(ids.succeeded)\""))
        let dated = try await console.get("/instances?from=2022-11-22%2001:30&to=2022-11-22%2003:00")
        #expect(dated.body.contains("data-id=\"\(ids.failed)\"") && !dated.body.contains("data-id=\"\(ids.succeeded)\"")
                && !dated.body.contains("data-id=\"\(ids.running)\""))
    }

    @Test func pagesPaginateNewestFirst() async throws {
        let console = try await ConsoleUnderTest.start(tokens: false) { ledger in
            for h in 0..<120 { _ = try await ledger.ensureInstance(NewInstance(job: "many", scheduledAt: hour(h))) }
        }
        defer { Task { await console.stop() } }
        let first = try await console.get("/api/instances")
        let page = try JSONDecoder.iso.decode(InstanceListPage.self, from: Data(first.body.utf8))
        #expect(page.instances.count == 50 && page.hasMore && page.page == 1)
        #expect(page.instances.first?.instance.scheduledAt == hour(119))
        let third = try JSONDecoder.iso.decode(InstanceListPage.self, from: Data(try await console.get("/api/instances?page=3").body.utf8))
        #expect(third.instances.count == 20 && !third.hasMore && third.instances.last?.instance.scheduledAt == hour(0))
        let html = try await console.get("/instances?page=2")
        #expect(html.body.contains("href=\"/instances?page=3\" rel=\"next\"") && html.body.contains("href=\"/instances\" rel=\"prev\""))
    }

    @Test func instancePageShowsParametersPlanAttemptsPhasesLogAndDirtyRecords() async throws {
        var ids: (succeeded: Int64, failed: Int64, running: Int64, xss: Int64) = (0, 0, 0, 0)
        let console = try await ConsoleUnderTest.start(tokens: false) { ledger in ids = try await ConsoleLedgerFill.standard(ledger) }
        defer { Task { await console.stop() } }
        let page = try await console.get("/instances/\(ids.succeeded)")
        #expect(page.status == 200)
        for part in ["id=\"parameters\"", "<th>startTime</th>", "id=\"plan\"", "<td class=\"num\">40</td>", "id=\"attempts\"",
                     "plan 0.50s, read 2.25s", "4096", "planned 2 partitions", "60 read, 58 written, 2 dirty, 3 late",
                     "data-source=\"/api/instances/\(ids.succeeded)/log\""] {
            #expect(page.body.contains(part), "instance page has \(part)")
        }
        let dirty = try await console.get("/instances/\(ids.xss)")
        #expect(dirty.body.contains("id=\"dirty\"") && dirty.body.contains("<td class=\"num\">7</td>"))
        let log = try await console.get("/api/instances/\(ids.xss)/log?after=0")
        let lines = try JSONDecoder().decode(LogLines.self, from: Data(log.body.utf8))
        #expect(lines.lines.count == 1 && lines.next == 1 && lines.finished)
        #expect(lines.lines.first?.level == "error" && lines.lines.first?.text.hasSuffix("error: <script>alert('log')</script>") == true)
        #expect(try JSONDecoder().decode(LogLines.self, from: Data(try await console.get("/api/instances/\(ids.xss)/log?after=1").body.utf8)).lines.isEmpty)
    }

    /// The same instance through the page, /api/ and `sluice instance show --json`: one type, the
    /// same values.
    @Test func theAPIAndTheCLIAgree() async throws {
        var ids: (succeeded: Int64, failed: Int64, running: Int64, xss: Int64) = (0, 0, 0, 0)
        let console = try await ConsoleUnderTest.start(tokens: false) { ledger in ids = try await ConsoleLedgerFill.standard(ledger) }
        defer { Task { await console.stop() } }
        let api = try JSONDecoder.iso.decode(InstanceDetail.self, from: Data(try await console.get("/api/instances/\(ids.succeeded)").body.utf8))
        let cli = try await SluiceBinary.run(["instance", "show", String(ids.succeeded), "--json", "--dirty-limit", "100",
                                              "--state-dir", console.stateDirectory])
        #expect(cli.status == 0, "\(cli.stderr)")
        let shown = try JSONDecoder.iso.decode(InstanceDetail.self, from: Data(cli.stdout.utf8))
        #expect(shown == api)
        #expect(api.attempts.first?.phases == ["plan": 0.5, "read": 2.25] && api.plan?.window.partitions.count == 2)
        let page = try await console.get("/instances/\(ids.succeeded)")
        #expect(page.body.contains(">\(api.instance.partition ?? "?")<") && page.body.contains(">\(api.instance.attempts)<"))
        let list = try await SluiceBinary.run(["instance", "list", "events_hourly", "--json", "--state-dir", console.stateDirectory])
        let cliRows = try JSONDecoder.iso.decode([InstanceListRow].self, from: Data(list.stdout.utf8))
        let apiRows = try JSONDecoder.iso.decode(InstanceListPage.self, from: Data(try await console.get("/api/instances?job=events_hourly").body.utf8))
        #expect(cliRows.reversed() == apiRows.instances)
    }

    @Test func jobPageShowsRedactedSpecScheduleCalendarAndPartitions() async throws {
        let console = try await ConsoleUnderTest.start(tokens: false, jobFile: true) { ledger in
            try await ConsoleLedgerFill.standard(ledger)
        }
        defer { Task { await console.stop() } }
        let page = try await console.get("/jobs/events_hourly")
        #expect(page.status == 200)
        #expect(page.body.contains("id=\"spec\"") && page.body.contains("topic: events"))
        #expect(page.body.contains("id=\"next\"") && page.body.contains("id=\"lag\""))
        let view = try JSONDecoder.iso.decode(JobView.self, from: Data(try await console.get("/api/jobs/events_hourly").body.utf8))
        #expect(view.schedule?.next.count == 10 && view.schedule?.zone == "UTC")
        #expect(view.calendar.isEmpty, "the instances are from 2022, outside the last 14 days")
        let lag = try await console.get("/api/jobs/events_hourly/lag")
        #expect(lag.status == 503 && lag.body.contains("cannot"))
        let jobs = try await console.get("/jobs")
        #expect(jobs.body.contains("href=\"/jobs/events_hourly\""))
        let partitions = try await console.get("/api/jobs/events_hourly/partitions")
        #expect(partitions.status == 200 || partitions.status >= 400, "answers, whatever the warehouse holds")
    }

    @Test func probesAndStaticFiles() async throws {
        let console = try await ConsoleUnderTest.start(tokens: true)
        defer { Task { await console.stop() } }
        #expect(try await console.get("/healthz").status == 200)
        let ready = try await console.get("/readyz")
        #expect(ready.status == 200 && ready.body.contains("\"ready\" : true"))
        let js = try await console.get("/static/console.js")
        #expect(js.status == 200 && js.header("content-type")?.hasPrefix("text/javascript") == true)
        #expect(try await console.get("/metrics").status == 200, "metrics need no token")
    }

    /// Bad input gets a clear 4xx and the server keeps serving.
    @Test func badInputGetsAClear4xx() async throws {
        var ids: (succeeded: Int64, failed: Int64, running: Int64, xss: Int64) = (0, 0, 0, 0)
        let console = try await ConsoleUnderTest.start(tokens: false) { ledger in ids = try await ConsoleLedgerFill.standard(ledger) }
        defer { Task { await console.stop() } }
        let cases: [(String, Int)] = [
            ("/instances/999999", 404), ("/api/instances/999999", 404), ("/instances/abc", 400), ("/api/instances/-3", 400),
            ("/instances?from=2022-13-45", 400), ("/api/instances?to=yesterday", 400), ("/instances?status=exploded", 400),
            ("/instances?page=0", 400), ("/api/instances?page=x", 400), ("/nowhere", 404), ("/api/nowhere", 404),
            ("/instances?job=%FF%FE", 400), ("/jobs/unknown-job", 404), ("/api/jobs/unknown-job/lag", 404),
            ("/api/instances/\(ids.failed)/log?after=-1", 400), ("/api/actions?limit=0", 400),
            ("/instances?from=" + String(repeating: "9", count: 5000), 414),
        ]
        for (path, status) in cases {
            let answer = try await console.get(path)
            #expect(answer.status == status, "\(path.prefix(80)) → \(answer.status)")
            if path.hasPrefix("/api/") { #expect(answer.body.contains("\"error\""), "\(path) answers JSON") }
        }
        let wrongMethod = try await console.request(.DELETE, "/instances")
        #expect(wrongMethod.status == 405 && wrongMethod.header("allow") == "GET")
        let getAction = try await console.get("/instances/\(ids.failed)/rerun")
        #expect(getAction.status == 405 && getAction.header("allow") == "POST")
        let cookie = try await console.get("/instances", headers: [("Cookie", "sluice_session=; ;;=;garbage; a=b=c; sluice_session=\(String(repeating: "x", count: 3000))")])
        #expect(cookie.status == 200)
        let hugeForm = try await console.request(.POST, "/api/instances/\(ids.failed)/set-success", headers: ConsoleUnderTest.bearer,
                                                 body: "reason=" + String(repeating: "a", count: 100_000))
        #expect((400..<500).contains(hugeForm.status))
        #expect(try await console.get("/healthz").status == 200, "still serving")
    }

    /// /metrics parsed by the prometheus-client Python package's parser: every family documented.
    @Test func metricsParseWithPrometheusClient() async throws {
        let console = try await ConsoleUnderTest.start(tokens: false, jobFile: true) { ledger in
            try await ConsoleLedgerFill.standard(ledger)
        }
        defer { Task { await console.stop() } }
        let metrics = try await console.get("/metrics")
        #expect(metrics.status == 200 && metrics.header("content-type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let file = console.dir.file("metrics.txt")
        try metrics.body.write(toFile: file, atomically: true, encoding: .utf8)
        let parsed = try await Subprocess.run(Subprocess.python, [Self.script("parse_metrics.py"), file])
        #expect(parsed.status == 0, "\(parsed.stderr)")
        let families = try JSONDecoder().decode([String: [Sample]].self, from: Data(parsed.stdout.utf8))
        let documented = try String(contentsOf: packageRoot.appendingPathComponent("docs/console.md"), encoding: .utf8)
        for name in families.keys { #expect(documented.contains("`\(name)"), "\(name) is documented in docs/console.md") }
        func value(_ family: String, _ sample: String, _ labels: [String: String]) -> Double? {
            families[family]?.first { $0.name == sample && $0.labels == labels }?.value
        }
        #expect(value("sluice_instances", "sluice_instances", ["job": "events_hourly", "status": "failed"]) == 1)
        #expect(value("sluice_attempts", "sluice_attempts_total", ["job": "events_hourly", "status": "succeeded"]) == 1)
        #expect(value("sluice_records_read", "sluice_records_read_total", ["job": "events_hourly"]) == 60)
        #expect(value("sluice_bytes_read", "sluice_bytes_read_total", ["job": "events_hourly"]) == 4096)
        #expect(value("sluice_running_instances", "sluice_running_instances", ["job": "events_hourly"]) == 1)
        #expect(value("sluice_phase_duration_seconds", "sluice_phase_duration_seconds_count", ["job": "events_hourly", "phase": "read"]) == 1)
        #expect(value("sluice_instance_duration_seconds", "sluice_instance_duration_seconds_count", ["job": "events_hourly", "status": "failed"]) == 1)
        #expect(value("sluice_last_success_scheduled_timestamp_seconds", "sluice_last_success_scheduled_timestamp_seconds", ["job": "events_hourly"])
                == 1_669_078_800)
        #expect(value("sluice_job_cycle_seconds", "sluice_job_cycle_seconds", ["job": "events_hourly"]) == 3600)
        #expect(value("sluice_consumer_lag_up", "sluice_consumer_lag_up", ["job": "events_hourly"]) == 0)
    }

    /// The same pages, API and metrics over a PostgreSQL ledger.
    @Test func theConsoleServesAPostgreSQLLedger() async throws {
        var ids: (succeeded: Int64, failed: Int64, running: Int64, xss: Int64) = (0, 0, 0, 0)
        let console = try await ConsoleUnderTest.start(tokens: false, postgres: true) { ledger in ids = try await ConsoleLedgerFill.standard(ledger) }
        defer { Task { await console.stop() } }
        #expect(try await console.get("/readyz").status == 200)
        let page = try JSONDecoder.iso.decode(InstanceListPage.self, from: Data(try await console.get("/api/instances").body.utf8))
        #expect(page.instances.map(\.instance.id) == [ids.xss, ids.running, ids.failed, ids.succeeded])
        let detail = try JSONDecoder.iso.decode(InstanceDetail.self, from: Data(try await console.get("/api/instances/\(ids.succeeded)").body.utf8))
        #expect(detail.attempts.first?.bytesRead == 4096 && detail.plan?.window.partitions.count == 2)
        #expect(try await console.get("/instances/\(ids.failed)").body.contains("kafka: the brokers 127.0.0.1:1 did not answer"))
        let metrics = try await console.get("/metrics").body
        #expect(metrics.contains("sluice_records_read_total{job=\"events_hourly\"} 60"))
        #expect(metrics.contains("sluice_instances{job=\"events_hourly\",status=\"failed\"} 1"))
    }

    struct Sample: Decodable {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    static func script(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts/\(name)").path
    }
}

extension JSONDecoder {
    static var iso: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}

import AsyncHTTPClient
import Foundation
import NIOCore
import SluiceCore
import SluiceLedger
import SluiceTestSupport
import Testing

/// `sluice serve` and `sluice scheduler --listen` as a user runs them.
@Suite struct ServeCommandTests {
    static func fetch(_ url: String) async throws -> (Int, String) {
        var request = HTTPClientRequest(url: url)
        request.method = .GET
        let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
        return (Int(response.status.code), String(buffer: try await response.body.collect(upTo: 8 << 20)))
    }

    @Test func serveRefusesAMissingLedgerAndBadFlagsWithoutEchoingTokens() async throws {
        let dir = try TemporaryDirectory(prefix: "sluice-serve")
        let missing = try await SluiceBinary.run(["serve", "--state-dir", dir.file("nowhere")])
        #expect(missing.status == 2 && missing.stderr.contains("there is no ledger in"))
        let badListen = try await SluiceBinary.run(["serve", "--state-dir", dir.path, "--listen", "127.0.0.1:http"])
        #expect(badListen.status == 2 && badListen.stderr.contains("--listen"))
        let shortToken = try await SluiceBinary.run(["serve", "--state-dir", dir.path], environment: ["SLUICE_CONSOLE_TOKEN": "tiny-secret"])
        #expect(shortToken.status == 2 && !shortToken.stderr.contains("tiny-secret"))
        let help = try await SluiceBinary.run(["serve", "--help"], environment: ["SLUICE_CONSOLE_TOKEN": ConsoleUnderTest.token])
        #expect(help.status == 0 && help.stdout.contains("--token-file") && !help.stdout.contains(ConsoleUnderTest.token))
    }

    /// The scheduler serves the console over its own ledger while it runs, until it stops.
    @Test func theSchedulerServesTheConsoleWithListen() async throws {
        let dir = try TemporaryDirectory(prefix: "sluice-scheduler-console")
        let job = try ConsoleLedgerFill.jobFile(dir)
        let scheduler = try SluiceBinary.start(["scheduler", job, "--listen", "127.0.0.1:0", "--poll-interval", "0.2"],
                                               environment: ["SLUICE_CONSOLE_TOKEN": ConsoleUnderTest.token], lines: [.standardError])
        let base = try await ConsoleBrowserTests.listeningAddress(scheduler)
        let (health, _) = try await Self.fetch(base + "/healthz")
        #expect(health == 200)
        let (metricsStatus, metrics) = try await Self.fetch(base + "/metrics")
        #expect(metricsStatus == 200 && metrics.contains("sluice_job_cycle_seconds{job=\"events_hourly\"} 3600"))
        let (pageStatus, page) = try await Self.fetch(base + "/instances")
        #expect(pageStatus == 200 && page.contains("id=\"token\""), "with a token, pages send the browser to the login form")
        scheduler.signal(SIGTERM)
        #expect(await scheduler.wait(timeout: .seconds(60)) == 0)
        let all = scheduler.otherOutput + (await scheduler.readLines(from: .standardError, count: 50, timeout: .seconds(1))).joined(separator: "\n")
        #expect(!all.contains(ConsoleUnderTest.token) && !all.contains(ConsoleUnderTest.secret))
        #expect(!all.contains("CancellationError"), "the console stops gracefully with the scheduler: \(all)")
    }
}

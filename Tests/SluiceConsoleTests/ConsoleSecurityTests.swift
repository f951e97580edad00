import AsyncHTTPClient
import Foundation
import NIOHTTP1
@testable import SluiceConsole
import SluiceCore
import SluiceLedger
import SluiceRuntime
import SluiceTestSupport
import Testing

/// Tokens, CSRF, secrets and escaping.
@Suite struct ConsoleSecurityTests {
    @Test func aReadOnlyConsoleRefusesEveryActionAndSaysSo() async throws {
        var ids: (succeeded: Int64, failed: Int64, running: Int64, xss: Int64) = (0, 0, 0, 0)
        let console = try await ConsoleUnderTest.start(tokens: false, jobFile: true) { ledger in
            ids = try await ConsoleLedgerFill.standard(ledger)
        }
        defer { Task { await console.stop() } }
        for path in ["/instances/\(ids.failed)/rerun", "/instances/\(ids.running)/kill", "/api/instances/\(ids.failed)/set-success",
                     "/jobs/events_hourly/backfill"] {
            let answer = try await console.post(path, form: ["reason": "x", "from": "20250101", "to": "20250101"], headers: ConsoleUnderTest.bearer)
            #expect(answer.status == 403, "\(path) → \(answer.status)")
        }
        for path in ["/instances", "/instances/\(ids.failed)", "/jobs", "/jobs/events_hourly", "/actions", "/nowhere"] {
            #expect(try await console.get(path).body.contains("id=\"readonly\""), "\(path) says it is read-only")
        }
        #expect(try await console.get("/instances/\(ids.failed)").body.contains("action=\"/instances/\(ids.failed)/rerun\"") == false)
    }

    @Test func actionsNeedATokenAndSessionsNeedTheCSRFToken() async throws {
        var ids: (succeeded: Int64, failed: Int64, running: Int64, xss: Int64) = (0, 0, 0, 0)
        let console = try await ConsoleUnderTest.start(tokens: true) { ledger in ids = try await ConsoleLedgerFill.standard(ledger) }
        defer { Task { await console.stop() } }
        let path = "/api/instances/\(ids.failed)/set-success"
        #expect(try await console.post(path, form: ["reason": "r"]).status == 401)
        #expect(try await console.post(path, form: ["reason": "r"], headers: [("Authorization", "Bearer wrong-token-000000000")]).status == 401)
        #expect(try await console.get("/api/instances").status == 401, "reading needs a token too when there are tokens")
        #expect(try await console.get("/instances").status == 303)

        let (cookie, csrf) = try await console.login()
        let form = "/instances/\(ids.failed)/set-success"
        let noCSRF = try await console.post(form, form: ["reason": "by hand"], headers: [cookie])
        #expect(noCSRF.status == 403 && noCSRF.body.contains("CSRF"))
        let wrongCSRF = try await console.post(form, form: ["reason": "by hand", "csrf": "0000"], headers: [cookie])
        #expect(wrongCSRF.status == 403)
        let crossSite = try await console.post(form, form: ["reason": "by hand", "csrf": csrf],
                                               headers: [cookie, ("Origin", "http://evil.example")])
        #expect(crossSite.status == 403 && crossSite.body.contains("cross-site"))
        #expect(try await console.get("/api/instances/\(ids.failed)", headers: ConsoleUnderTest.bearer).body.contains("\"status\" : \"failed\""))

        let done = try await console.post(form, form: ["reason": "loaded by hand", "csrf": csrf], headers: [cookie])
        #expect(done.status == 303 && done.header("location") == "/instances/\(ids.failed)?done=setSuccess")
        let bearer = try await console.post("/api/instances/\(ids.running)/kill", form: [:], headers: [("Authorization", "Bearer \(ConsoleUnderTest.otherToken)")])
        #expect(bearer.status == 200, "\(bearer.body)")
        let actions = try JSONDecoder.iso.decode([LedgerAction].self, from: Data(try await console.get("/api/actions", headers: ConsoleUnderTest.bearer).body.utf8))
        #expect(actions.map(\.actor) == ["bob", "alice"])
        #expect(actions.map(\.action) == ["kill", "setSuccess"] && actions[1].detail == "loaded by hand" && actions[1].outcome == "done")
        #expect(try await console.post("/logout", form: [:], headers: [cookie]).status == 403, "logging out needs the CSRF token")
        #expect(try await console.post("/logout", form: ["csrf": csrf], headers: [cookie]).status == 303)
        #expect(try await console.get("/api/instances", headers: [cookie]).status == 401, "the session is gone")
    }

    @Test func loginRefusesAWrongTokenAndAForeignForm() async throws {
        let console = try await ConsoleUnderTest.start(tokens: true)
        defer { Task { await console.stop() } }
        let form = try await console.get("/login")
        let cookie = try #require(form.header("set-cookie")?.split(separator: ";").first.map(String.init))
        #expect(form.header("set-cookie")?.contains("HttpOnly") == true)
        let csrf = try #require(ConsoleUnderTest.hiddenValue("csrf", in: form.body))
        let wrong = try await console.post("/login", form: ["csrf": csrf, "token": "not-the-token-at-all"], headers: [("Cookie", cookie)])
        #expect(wrong.status == 303 && wrong.header("location")?.contains("failed=1") == true && wrong.header("set-cookie") == nil)
        let foreign = try await console.post("/login", form: ["csrf": "forged", "token": ConsoleUnderTest.token], headers: [("Cookie", cookie)])
        #expect(foreign.status == 403)
        let offsite = try await console.post("/login", form: ["csrf": csrf, "token": ConsoleUnderTest.token, "next": "//evil.example/"],
                                             headers: [("Cookie", cookie)])
        #expect(offsite.header("location") == "/instances")
    }

    /// Every page and API answer, grepped for the job file's secret and the tokens.
    @Test func secretsAppearInNoAnswer() async throws {
        var ids: (succeeded: Int64, failed: Int64, running: Int64, xss: Int64) = (0, 0, 0, 0)
        let console = try await ConsoleUnderTest.start(tokens: true, jobFile: true) { ledger in
            ids = try await ConsoleLedgerFill.standard(ledger)
        }
        defer { Task { await console.stop() } }
        let (cookie, _) = try await console.login()
        let paths = ["/instances", "/instances/\(ids.succeeded)", "/instances/\(ids.xss)", "/jobs", "/jobs/events_hourly",
                     "/jobs/events_hourly/partitions", "/actions", "/login", "/metrics", "/healthz", "/readyz", "/api/instances",
                     "/api/instances/\(ids.succeeded)", "/api/instances/\(ids.xss)/log", "/api/jobs", "/api/jobs/events_hourly",
                     "/api/jobs/events_hourly/lag", "/api/jobs/events_hourly/partitions", "/api/actions", "/nowhere"]
        var seen = 0
        for path in paths {
            for headers in [[cookie], ConsoleUnderTest.bearer, []] {
                let answer = try await console.get(path, headers: headers)
                let all = answer.body + answer.headers.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
                for secret in [ConsoleUnderTest.secret, ConsoleUnderTest.token, ConsoleUnderTest.otherToken] {
                    #expect(!all.contains(secret), "\(path) shows a secret")
                }
                seen += 1
            }
        }
        let spec = try await console.get("/jobs/events_hourly", headers: ConsoleUnderTest.bearer)
        #expect(spec.body.contains("sasl.password") && spec.body.contains("******"), "the spec is shown, its secret redacted")
        #expect(seen == paths.count * 3)
    }

    /// Markup from the ledger (job names, partitions, log lines, dirty records, errors) comes out as text.
    @Test func markupFromTheLedgerIsEscaped() async throws {
        var ids: (succeeded: Int64, failed: Int64, running: Int64, xss: Int64) = (0, 0, 0, 0)
        let console = try await ConsoleUnderTest.start(tokens: false) { ledger in ids = try await ConsoleLedgerFill.standard(ledger) }
        defer { Task { await console.stop() } }
        for path in ["/instances", "/instances/\(ids.xss)", "/jobs", "/instances?job=\(URLText.encode(ConsoleLedgerFill.xssJob))"] {
            let body = try await console.get(path).body
            #expect(!body.contains("<script>alert"), "\(path) has raw markup")
            #expect(!body.contains("<img src=x"), "\(path) has raw markup")
            #expect(body.contains("&lt;script&gt;alert(&#39;"), "\(path) shows the text escaped")
        }
        let page = try await console.get("/instances/\(ids.xss)")
        for text in ["job", "log", "dirty", "reason", "error"] {
            #expect(page.body.contains("&lt;script&gt;alert(&#39;\(text)&#39;)&lt;/script&gt;"), "\(text) is escaped")
        }
        #expect(page.body.contains("&lt;b&gt;id&lt;/b&gt;"))
    }

    @Test func tokenFilesAreCheckedAndNeverEchoed() throws {
        #expect(throws: SluiceError.self) { try ConsoleTokens(text: "short", source: "f") }
        #expect(throws: SluiceError.self) { try ConsoleTokens(text: "# only a comment\n", source: "f") }
        do {
            _ = try ConsoleTokens(text: "bad name:abcdefghijklmnopqrstuvwxyz", source: "f")
            Issue.record("a user name with a space was accepted")
        } catch let e as SluiceError {
            #expect(!e.description.contains("abcdefghijklmnopqrstuvwxyz"))
        }
        let tokens = try ConsoleTokens(text: "ops:0123456789abcdef0123\n0123456789abcdefXYZ\n", source: "f")
        #expect(tokens.user(token: "0123456789abcdef0123") == "ops" && tokens.user(token: "0123456789abcdefXYZ") == "operator")
        #expect(tokens.user(token: "0123456789abcdef012") == nil)
    }
}

/// The actions' own checks: refusals are recorded, a backfill starts `sluice backfill`.
@Suite struct ConsoleActionTests {
    @Test func refusedActionsAreRecordedAndABackfillStarts() async throws {
        var ids: (succeeded: Int64, failed: Int64, running: Int64, xss: Int64) = (0, 0, 0, 0)
        let console = try await ConsoleUnderTest.start(tokens: true, jobFile: true) { ledger in ids = try await ConsoleLedgerFill.standard(ledger) }
        defer { Task { await console.stop() } }
        let bearer = ConsoleUnderTest.bearer
        let running = try await console.post("/api/instances/\(ids.running)/rerun", form: [:], headers: bearer)
        #expect(running.status == 400 && running.body.contains("is running"))
        let noReason = try await console.post("/api/instances/\(ids.failed)/set-success", form: ["reason": "  "], headers: bearer)
        #expect(noReason.status == 400)
        let notRunning = try await console.post("/api/instances/\(ids.succeeded)/kill", form: [:], headers: bearer)
        #expect(notRunning.status == 400 && notRunning.body.contains("is not running"))
        for (form, fragment) in [(["from": "20221105", "to": "20221101"], "is after"), (["from": "2022-13-01", "to": "20221101"], "business date"),
                                 (["from": "20221101", "to": "20221101", "parallel": "9"], "1 to 8"), (["from": "20200101", "to": "20221101"], "366 days")] {
            let answer = try await console.post("/api/jobs/events_hourly/backfill", form: form, headers: bearer)
            #expect(answer.status == 400 && answer.body.contains(fragment), "\(form) → \(answer.status) \(answer.body)")
        }
        #expect(try await console.post("/api/jobs/no_such_job/backfill", form: ["from": "20221101", "to": "20221101"], headers: bearer).status == 404)

        let started = try await console.post("/api/jobs/events_hourly/backfill", form: ["from": "20221101", "to": "20221101", "parallel": "1"],
                                             headers: bearer)
        #expect(started.status == 202, "\(started.body)")
        let result = try JSONDecoder().decode(ActionResult.self, from: Data(started.body.utf8))
        let pid = try #require(result.pid)
        defer { kill(pid, SIGTERM) }
        let actions = try JSONDecoder.iso.decode([LedgerAction].self, from: Data(try await console.get("/api/actions", headers: bearer).body.utf8))
        #expect(actions.first?.action == "backfill" && actions.first?.outcome == "started (pid \(pid))" && actions.first?.actor == "alice")
        #expect(actions.first?.detail == "20221101..20221101, 1 day(s) at a time")
        #expect(actions.contains { $0.action == "rerun" && $0.outcome.hasPrefix("refused:") && $0.instanceId == ids.running })
        #expect(actions.contains { $0.action == "kill" && $0.outcome.hasPrefix("failed:") })
        // The backfill's first instance (business date 20221101, scheduled on the 2nd) appears as it starts.
        var seen = false
        for _ in 0..<120 where !seen {
            let page = try JSONDecoder.iso.decode(InstanceListPage.self, from: Data(
                try await console.get("/api/instances?job=events_hourly&from=2022-11-02&to=2022-11-03", headers: bearer).body.utf8))
            seen = page.instances.contains { $0.instance.businessDate == "20221101" }
            if !seen { try await Task.sleep(for: .milliseconds(250)) }
        }
        #expect(seen, "the backfill's instances appear in the ledger")
    }
}

import Foundation
import Hummingbird
import SluiceCore
import SluiceJob
import SluiceLedger
import SluiceRuntime
import SluiceScheduling

/// What an action did, as `POST /api/…` answers.
struct ActionResult: Sendable, Codable {
    var action: String
    var instanceId: Int64?
    var job: String?
    var message: String
    /// The child process that runs a rerun or backfill.
    var pid: Int32?
}

/// The actions: rerun (optionally planning again), kill, set-success with a reason, and backfill.
/// Each needs a user (a bearer token, or a login session and that session's CSRF token in the
/// form), goes through the same `Operations` calls as the CLI, and is recorded in the ledger.
extension Console {
    /// The acting user, after checking the token, the CSRF token and the Origin.
    func authorize(_ call: Call, form: [String: String]) throws -> String {
        guard !readOnly else {
            throw ConsoleError(status: .forbidden, message: "the console is read-only: it was started without a token",
                               hint: "start sluice serve with --token-file FILE (or SLUICE_CONSOLE_TOKEN) to allow actions")
        }
        guard let user = call.caller.user else {
            throw ConsoleError(status: .unauthorized, message: "a token is needed for this action", hint: "log in at /login, or send Authorization: Bearer TOKEN")
        }
        if call.caller.viaBearer { return user }
        if let origin = call.request.headers[.origin], !sameOrigin(origin, host: call.request.head.authority) {
            throw ConsoleError(status: .forbidden, message: "a cross-site request (from \(origin)) was refused")
        }
        guard let session = call.caller.session, let sent = form["csrf"],
              ConsoleTokens.equal(Array(sent.utf8), Array(session.csrf.utf8)) else {
            throw ConsoleError(status: .forbidden, message: "the form's CSRF token is missing or wrong", hint: "reload the page and submit again")
        }
        return user
    }

    func sameOrigin(_ origin: String, host: String?) -> Bool {
        guard let host else { return false }
        return origin == "http://\(host)" || origin == "https://\(host)"
    }

    /// The answer to an action: JSON for the API, else back to `location` with a notice code.
    func acted(_ call: Call, _ result: ActionResult, location: String) throws -> Response {
        if call.isAPI { return try Self.json(result, status: result.pid != nil ? .accepted : .ok) }
        return Self.redirect(location + (location.contains("?") ? "&" : "?") + "done=\(result.action)")
    }

    func operations(actor: String) -> Operations {
        Operations(ledger: ledger, location: config.ledger, stateDirectory: config.stateDirectory, actor: actor)
    }

    func rerun(_ call: Call) async throws -> Response {
        let form = try await call.form()
        let user = try authorize(call, form: form)
        let id = try call.id()
        let record = try await operations(actor: user).instance(id)
        let replan = form["replan"] == "1" || form["replan"] == "true"
        do {
            let entry = try await loadedJob(record.job)
            guard let job = entry.job else {
                throw ConsoleError(status: .conflict, message: "the job file \(entry.path) of \(record.job) is invalid: \(entry.problem ?? "")")
            }
            _ = try await operations(actor: user).checkRerun(id, job: job)
            let pid = try launcher.start(["instance", "rerun", String(id), "--job", job.path] + launcher.ledgerArguments
                                         + (replan ? ["--replan"] : []), actor: user)
            return try acted(call, ActionResult(action: "rerun", instanceId: id, job: record.job,
                                                message: "rerun of instance \(id) started\(replan ? " (planning again)" : "")", pid: pid),
                             location: "/instances/\(id)")
        } catch {
            _ = try? await ledger.recordAction(NewLedgerAction(actor: user, action: "rerun", instanceId: id, job: record.job,
                                                           detail: replan ? "replan" : nil, outcome: "refused: \(ConsoleError.from(error).message)"))
            throw error
        }
    }

    func kill(_ call: Call) async throws -> Response {
        let form = try await call.form()
        let user = try authorize(call, form: form)
        let id = try call.id()
        let outcome = try await operations(actor: user).kill(id, grace: .seconds(5))
        let how = outcome.signalledPid.map { "its process \($0) was signalled" } ?? outcome.remoteHolder.map { "its run on \($0) stops at its commit" }
            ?? "no process held its run lock"
        return try acted(call, ActionResult(action: "kill", instanceId: id, job: outcome.instance.job,
                                            message: "instance \(id) killed; \(how)"), location: "/instances/\(id)")
    }

    func setSuccess(_ call: Call) async throws -> Response {
        let form = try await call.form()
        let user = try authorize(call, form: form)
        let id = try call.id()
        let reason = (form["reason"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        guard !reason.isEmpty, reason.count <= 500 else {
            throw ConsoleError.badRequest("set-success needs a reason of 1 to 500 characters", hint: "say why the instance counts as succeeded")
        }
        let r = try await operations(actor: user).setSuccess(id, reason: reason)
        return try acted(call, ActionResult(action: "setSuccess", instanceId: id, job: r.job, message: "instance \(id) set to success"),
                         location: "/instances/\(id)")
    }

    func backfill(_ call: Call) async throws -> Response {
        let form = try await call.form()
        let user = try authorize(call, form: form)
        let name = call.params["name"] ?? ""
        let (from, to, parallel) = try backfillRange(form)
        let detail = "\(from.compact)..\(to.compact), \(parallel) day(s) at a time"
        do {
            let entry = try await loadedJob(name)
            guard let job = entry.job else {
                throw ConsoleError(status: .conflict, message: "the job file \(entry.path) of \(name) is invalid: \(entry.problem ?? "")")
            }
            guard job.spec.schedule != nil else {
                throw ConsoleError(status: .conflict, message: "job \(name) has no schedule block", hint: "a backfill runs the instances of its schedule")
            }
            let pid = try launcher.start(["backfill", job.path, "--from", from.compact, "--to", to.compact,
                                          "--parallel-days", String(parallel)] + launcher.ledgerArguments, actor: user)
            _ = try? await ledger.recordAction(NewLedgerAction(actor: user, action: "backfill", job: name, detail: detail,
                                                           outcome: "started (pid \(pid))"))
            return try acted(call, ActionResult(action: "backfill", job: name, message: "backfill of \(name) \(detail) started", pid: pid),
                             location: "/instances?job=\(URLText.encode(name))")
        } catch {
            _ = try? await ledger.recordAction(NewLedgerAction(actor: user, action: "backfill", job: name, detail: detail,
                                                           outcome: "refused: \(ConsoleError.from(error).message)"))
            throw error
        }
    }

    /// The form's business dates and parallel days, checked.
    func backfillRange(_ form: [String: String]) throws -> (CivilDate, CivilDate, Int) {
        func date(_ name: String) throws -> CivilDate {
            let text = (form[name] ?? "").trimmingCharacters(in: .whitespaces)
            do { return try WallTime.parseDate(text, subject: name) } catch {
                throw ConsoleError.badRequest("\(name) '\(text)' is not a business date", hint: "write yyyymmdd, e.g. 20250301")
            }
        }
        let from = try date("from"), to = try date("to")
        guard from <= to else { throw ConsoleError.badRequest("from \(from.compact) is after to \(to.compact)") }
        guard to.dayNumber - from.dayNumber < 366 else {
            throw ConsoleError.badRequest("a backfill from the console covers at most 366 days", hint: "split it, or run `sluice backfill`")
        }
        let parallelText = form["parallel"].flatMap { $0.isEmpty ? nil : $0 } ?? "1"
        guard let parallel = Int(parallelText), (1...8).contains(parallel) else {
            throw ConsoleError.badRequest("parallel days '\(parallelText)' is not a number from 1 to 8")
        }
        return (from, to, parallel)
    }

    /// Fixed notices for `?done=` (never the query's own text).
    static func notice(_ code: String?) -> String? {
        switch code {
        case "rerun": "Rerun started: this page follows it."
        case "kill": "Instance killed."
        case "setSuccess": "Instance set to success."
        case "backfill": "Backfill started: its instances appear below as they run."
        default: nil
        }
    }
}

import Foundation
import Hummingbird
import SluiceCore
import SluiceLedger
import SluiceRuntime

/// New lines of an instance's log (`GET /api/instances/ID/log?after=N`), for following it.
struct LogLines: Sendable, Codable {
    struct Line: Sendable, Codable {
        var text: String
        var level: String
    }
    var lines: [Line]
    /// Pass as `after` next time.
    var next: Int
    var finished: Bool
}

/// The JSON API: what the pages show, in the types the CLI's `--json` prints.
extension Console {
    func apiInstances(_ call: Call) async throws -> Response {
        let q = try InstanceQuery(call.query)
        let data = try await cache.value(key: "api-instances:\(q)", ttl: config.cacheSeconds) {
            try InstanceViews.json(try await self.instancePage(q))
        }
        return Self.jsonData(data)
    }

    func apiInstance(_ call: Call) async throws -> Response {
        try Self.json(try await instanceDetail(call))
    }

    func apiLog(_ call: Call) async throws -> Response {
        let id = try call.id()
        let afterText = call.query["after"] ?? "0"
        guard let after = Int(afterText), after >= 0 else {
            throw ConsoleError.badRequest("after '\(afterText)' is not a line number", hint: "pass the `next` of the previous answer")
        }
        guard let r = try await reader.instance(id: id) else {
            throw ConsoleError.notFound("there is no instance \(id) in the ledger")
        }
        let log = try await reader.log(id: id)
        // The ledger keeps the newest lines: when older ones went, start again from what is kept.
        let start = after <= log.count ? after : 0
        let lines = log.dropFirst(start).map { LogLines.Line(text: Self.logText($0, zone: config.zone), level: $0.level.rawValue) }
        return try Self.json(LogLines(lines: lines, next: log.count, finished: r.status.isFinal))
    }

    func apiJobs(_ call: Call) async throws -> Response {
        try Self.json(try await jobSummaries())
    }

    func apiJob(_ call: Call) async throws -> Response {
        try Self.json(try await jobView(call.params["name"] ?? ""))
    }

    func apiLag(_ call: Call) async throws -> Response {
        let name = call.params["name"] ?? ""
        let entry = try await loadedJob(name)
        guard let job = entry.job else {
            throw ConsoleError(status: .conflict, message: "the job file \(entry.path) of \(name) is invalid: \(entry.problem ?? "")")
        }
        return try Self.json(try await lag.lag(job, ledger: reader).get())
    }

    func apiPartitions(_ call: Call) async throws -> Response {
        try Self.json(try await partitions(call.params["name"] ?? ""))
    }

    func apiActions(_ call: Call) async throws -> Response {
        try Self.json(try await recentActions(call))
    }

    func recentActions(_ call: Call) async throws -> [LedgerAction] {
        let limitText = call.query["limit"] ?? "100"
        guard let limit = Int(limitText), (1...1000).contains(limit) else {
            throw ConsoleError.badRequest("limit '\(limitText)' is not a number from 1 to 1000")
        }
        return try await reader.actions(job: call.query["job"].flatMap { $0.isEmpty ? nil : $0 }, instanceId: nil, limit: limit)
    }

    func actionsPage(_ call: Call) async throws -> Response {
        let actions = try await recentActions(call)
        let body: HTML = """
            <h1>Actions</h1><p class="muted">Who did what and when, newest first.</p>
            \(actions.isEmpty ? HTML("<p class=\"muted\">No actions recorded yet.</p>") : actionsTable(actions, zone: config.zone))
            """
        return Self.html(Layout.page(title: "Actions", console: self, caller: call.caller, body: body))
    }

    // MARK: probes

    /// Alive: the process answers.
    func healthz(_ call: Call) async throws -> Response { Self.text("ok\n") }

    /// Ready: the ledger answers.
    func readyz(_ call: Call) async throws -> Response {
        struct Ready: Codable { var ready: Bool; var ledger: String; var error: String? }
        do {
            _ = try await reader.schemaVersion()
            return try Self.json(Ready(ready: true, ledger: "ok"))
        } catch {
            return try Self.json(Ready(ready: false, ledger: "unavailable", error: ConsoleError.from(error).message), status: .serviceUnavailable)
        }
    }
}

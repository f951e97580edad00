import Foundation
import Hummingbird
import SluiceCore
import SluiceJob
import SluiceLedger
import SluiceRuntime
import SluiceScheduling

/// A job in the job list (`GET /api/jobs`).
struct JobSummary: Sendable, Codable {
    var name: String
    var path: String?
    var problem: String?
    /// Its latest instance.
    var latest: InstanceListRow?
}

/// The job pages: the list, one job (spec, schedule, dependencies, calendar, lag, backfill), and
/// the partitions of its destination.
extension Console {
    /// The job file of `name`, or a 404 naming what to do.
    func loadedJob(_ name: String) async throws -> JobCatalog.Entry {
        guard name.utf8.count <= 200 else { throw ConsoleError.badRequest("the job name is longer than 200 bytes") }
        let registered = try await reader.registeredJob(name)?.path
        guard let entry = await jobs.entry(named: name, registeredPath: registered) else {
            throw ConsoleError.notFound("the console knows no job file of \(name)",
                                        hint: "give the job file (or its directory) to `sluice serve`, or let a scheduler run it")
        }
        return entry
    }

    func jobSummaries() async throws -> [JobSummary] {
        var out: [JobSummary] = []
        for name in try await knownJobs() {
            let registered = try await reader.registeredJob(name)?.path
            let entry = await jobs.entry(named: name, registeredPath: registered)
            let latest = try await InstanceViews.list(reader, InstanceFilter(job: name, limit: 1, newestFirst: true)).first
            out.append(JobSummary(name: name, path: entry?.path, problem: entry?.problem, latest: latest))
        }
        return out
    }

    func jobsPage(_ call: Call) async throws -> Response {
        let zone = config.zone
        let rows = HTML.joined(try await jobSummaries().map { j in
            let latest: HTML = j.latest.map { l in
                "\(Layout.statusBadge(l.displayStatus)) <a href=\"/instances/\(l.instance.id)\">#\(l.instance.id)</a> \(Layout.time(l.instance.scheduledAt, zone))"
            } ?? "-"
            return """
                <tr><td><a href="/jobs/\(URLText.encode(j.name))">\(j.name)</a></td><td>\(j.path ?? "-")</td><td>\(latest)</td>
                <td><a href="/instances?job=\(URLText.encode(j.name))">instances</a> · <a href="/jobs/\(URLText.encode(j.name))/partitions">partitions</a></td>
                <td>\(j.problem ?? "")</td></tr>
                """
        })
        let body: HTML = """
            <h1>Jobs</h1><table id="jobs"><thead><tr><th>Job</th><th>File</th><th>Latest instance</th><th></th><th>Problem</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """
        return Self.html(Layout.page(title: "Jobs", console: self, caller: call.caller, body: body))
    }

    func jobView(_ name: String) async throws -> JobView {
        let registered = try await reader.registeredJob(name)?.path
        let entry = await jobs.entry(named: name, registeredPath: registered)
        let known = try await reader.countInstances(InstanceFilter(job: name, limit: 1)) > 0
        guard entry != nil || known else {
            throw ConsoleError.notFound("there is no job \(name)", hint: "see the jobs at /jobs")
        }
        return try await JobViews.view(name: name, job: entry?.job, problem: entry?.problem, ledger: reader)
    }

    func jobPage(_ call: Call) async throws -> Response {
        let name = call.params["name"] ?? ""
        let view = try await jobView(name)
        let enc = URLText.encode(name)
        let body: HTML = """
            <h1>Job \(name)</h1>
            <p><a href="/instances?job=\(enc)">Instances</a> · <a href="/jobs/\(enc)/partitions">Partitions</a> · File: \(view.path ?? "unknown")</p>
            \(view.problem.map { HTML("<p class=\"error-text\">The job file is invalid: \($0)</p>") } ?? "")
            \(backfillForm(name, caller: call.caller, scheduled: view.schedule != nil))
            \(scheduleSection(view))
            <h2>Dependencies</h2>\(view.dependencies.isEmpty ? HTML("<p class=\"muted\">None: instances run when their time comes.</p>")
                : HTML("<ul id=\"dependencies\">\(HTML.joined(view.dependencies.map { "<li>\($0)</li>" }))</ul>"))
            \(calendarSection(view))
            <h2>Consumer lag</h2><p id="lag-status" class="muted">Measuring…</p>
            <table id="lag" data-source="/api/jobs/\(enc)/lag"><thead><tr><th>Partition</th><th>End offset</th><th>Committed end</th><th>Lag</th></tr></thead><tbody></tbody></table>
            <h2>Resolved job (secrets redacted)</h2><pre id="spec">\(view.resolvedSpec ?? "(the job file is not available)")</pre>
            """
        return Self.html(Layout.page(title: "Job \(name)", console: self, caller: call.caller, body: body))
    }

    private func scheduleSection(_ view: JobView) -> HTML {
        guard let s = view.schedule else { return "<h2>Schedule</h2><p class=\"muted\">No schedule block: runs only by hand.</p>" }
        let rows = HTML.joined(s.next.map { u in
            let params = u.parameters.keys.sorted().map { "\($0)=\(u.parameters[$0] ?? "")" }.joined(separator: " ")
            return "<tr><td>\(u.scheduledLocal)</td><td>\(u.businessDate)</td><td>\(u.dryRun ? "dry run" : "")</td><td><code>\(params)</code></td></tr>"
        })
        return """
            <h2>Schedule</h2><p>\(s.cycle), zone \(s.zone), rerun \(s.rerun).</p>
            <table id="next"><thead><tr><th>Next instances</th><th>Business date</th><th></th><th>Parameters</th></tr></thead><tbody>\(rows)</tbody></table>
            """
    }

    private func calendarSection(_ view: JobView) -> HTML {
        let days = HTML.joined(view.calendar.map { d in
            "<div class=\"day \(d.outcome)\" title=\"\(d.succeeded) succeeded, \(d.failed) failed of \(d.instances)\"><b>\(d.businessDate)</b><br>\(d.outcome) \(d.succeeded)/\(d.instances)</div>"
        })
        return """
            <h2>Recent business dates</h2>\(view.calendar.isEmpty ? HTML("<p class=\"muted\">No instances in the last 14 days.</p>") : HTML("<div class=\"calendar\" id=\"calendar\">\(days)</div>"))
            """
    }

    private func backfillForm(_ name: String, caller: Caller, scheduled: Bool) -> HTML {
        guard !readOnly, caller.user != nil, scheduled else { return "" }
        return """
            <h2>Backfill</h2><form class="action" method="post" action="/jobs/\(URLText.encode(name))/backfill">\(Layout.csrfField(caller))
            <label>From business date<input name="from" required placeholder="yyyymmdd" maxlength="10"></label>
            <label>To<input name="to" required placeholder="yyyymmdd" maxlength="10"></label>
            <label>Parallel days<input name="parallel" type="number" min="1" max="8" value="1"></label>
            <button type="submit" id="backfill">Backfill</button></form>
            """
    }

    func partitions(_ name: String) async throws -> [PartitionInfo] {
        let entry = try await loadedJob(name)
        guard let job = entry.job else {
            throw ConsoleError(status: .conflict, message: "the job file of \(name) is invalid: \(entry.problem ?? "")")
        }
        return try await Destinations.make(job: job).partitions()
    }

    func partitionsPage(_ call: Call) async throws -> Response {
        let name = call.params["name"] ?? ""
        let parts = try await partitions(name)
        let rows = HTML.joined(parts.map { p in
            let writers = HTML.joined(p.writes.map { w -> HTML in
                let id = Int64(w.instanceId)
                let link: HTML = id.map { "<a href=\"/instances/\($0)\">instance \($0)</a>" } ?? HTML("instance \(w.instanceId)")
                return "\(link) (\(w.job), \(w.mode), \(w.rows) rows) "
            })
            return "<tr><td>\(p.partition.isEmpty ? "(unpartitioned)" : p.partition)</td><td class=\"num\">\(p.rows)</td><td>\(writers)</td></tr>"
        })
        let body: HTML = """
            <h1>Partitions of \(name)</h1><p><a href="/jobs/\(URLText.encode(name))">Job</a></p>
            <table id="partitions"><thead><tr><th>Partition</th><th>Rows</th><th>Written by</th></tr></thead><tbody>\(rows)</tbody></table>
            """
        return Self.html(Layout.page(title: "Partitions of \(name)", console: self, caller: call.caller, body: body))
    }
}

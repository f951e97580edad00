import Foundation
import Hummingbird
import SluiceCore
import SluiceLedger
import SluiceRuntime
import SluiceScheduling

/// The instance list's query: filters and page, from `?job=&status=&from=&to=&page=`.
struct InstanceQuery: Sendable, Hashable {
    var job: String?
    var status: String?
    var from: String?
    var to: String?
    var page = 1

    init(_ q: [String: String]) throws {
        job = q["job"].flatMap { $0.isEmpty ? nil : $0 }
        status = q["status"].flatMap { $0.isEmpty ? nil : $0 }
        from = q["from"].flatMap { $0.isEmpty ? nil : $0 }
        to = q["to"].flatMap { $0.isEmpty ? nil : $0 }
        if let p = q["page"], !p.isEmpty {
            guard let n = Int(p), (1...100_000).contains(n) else {
                throw ConsoleError.badRequest("page '\(p)' is not a page number", hint: "pages are numbered from 1")
            }
            page = n
        }
        if let job, job.utf8.count > 200 { throw ConsoleError.badRequest("the job name is longer than 200 bytes") }
    }

    /// The ledger filter of this page (one more row than the page, to know whether a next exists).
    func filter(zone: SchedulingZone, pageSize: Int) throws -> (InstanceFilter, onlySkipped: Bool) {
        let (status, onlySkipped): (InstanceStatus?, Bool)
        do { (status, onlySkipped) = try InstanceViews.statusFilter(self.status) } catch {
            throw ConsoleError.badRequest("status '\(self.status ?? "")' is not a status",
                                          hint: "one of \(InstanceStatus.allCases.map(\.rawValue).joined(separator: ", ")), skipped")
        }
        func instant(_ text: String?, _ name: String) throws -> Date? {
            guard let text else { return nil }
            do {
                return Date(timeIntervalSince1970: Double(zone.instant(for: try WallTime.parseDisplay(text, subject: name))))
            } catch {
                throw ConsoleError.badRequest("\(name) '\(text)' is not a date", hint: "write yyyy-mm-dd or yyyy-mm-dd hh:mm")
            }
        }
        let f = InstanceFilter(job: job, status: status, scheduledFrom: try instant(from, "from"),
                               scheduledBefore: try instant(to, "to"), limit: pageSize + 1, newestFirst: true,
                               offset: (page - 1) * pageSize)
        return (f, onlySkipped)
    }

    func link(page: Int) -> String {
        "/instances" + URLText.query([("job", job), ("status", status), ("from", from), ("to", to), ("page", page > 1 ? String(page) : nil)])
    }
}

/// One page of the instance list, as `GET /api/instances` returns it.
struct InstanceListPage: Sendable, Codable {
    var instances: [InstanceListRow]
    var page: Int
    var pageSize: Int
    var hasMore: Bool
}

extension Console {
    /// One page of instances, newest first; answers are reused for `cacheSeconds`.
    func instancePage(_ q: InstanceQuery) async throws -> InstanceListPage {
        let size = config.pageSize
        let (filter, onlySkipped) = try q.filter(zone: config.zone, pageSize: size)
        return try await cache.value(key: "instances:\(q)", ttl: config.cacheSeconds) {
            let rows = try await InstanceViews.list(self.reader, filter, onlySkipped: onlySkipped)
            return InstanceListPage(instances: Array(rows.prefix(size)), page: q.page, pageSize: size, hasMore: rows.count > size)
        }
    }

    /// The names for the job filter (reused for a few seconds: a DISTINCT over every instance).
    func knownJobs() async throws -> [String] {
        let ledgerJobs = try await cache.value(key: "jobNames", ttl: max(5, config.cacheSeconds)) { try await self.reader.jobNames() }
        return Array(Set(ledgerJobs).union(await jobs.names())).sorted()
    }

    /// The instances page. Its content (the same for every caller) is reused for `cacheSeconds`;
    /// only the frame (who is signed in, a notice) is made for each request.
    func instancesPage(_ call: Call) async throws -> Response {
        let q = try InstanceQuery(call.query)
        let content = try await cache.value(key: "instances-page:\(q)", ttl: config.cacheSeconds) { try await self.instancesContent(q) }
        let notice: HTML = Self.notice(call.query["done"]).map { "<div class=\"notice\" id=\"notice\">\($0)</div>" } ?? ""
        return Self.html(Layout.page(title: "Instances", console: self, caller: call.caller, body: notice + content,
                                     refresh: config.refreshSeconds))
    }

    func instancesContent(_ q: InstanceQuery) async throws -> HTML {
        let page = try await instancePage(q)
        let jobNames = try await knownJobs()
        let zone = config.zone
        let jobOptions = HTML.joined(([("", "all jobs")] + jobNames.map { ($0, $0) }).map { value, label in
            "<option value=\"\(value)\"\(HTML(trusted: q.job == value || (q.job == nil && value.isEmpty) ? " selected" : ""))>\(label)</option>"
        })
        let statuses = [""] + InstanceStatus.allCases.map(\.rawValue) + ["skipped"]
        let statusOptions = HTML.joined(statuses.map { s in
            "<option value=\"\(s)\"\(HTML(trusted: (q.status ?? "") == s ? " selected" : ""))>\(s.isEmpty ? "any status" : s)</option>"
        })
        let rows = HTML.joined(page.instances.map { row in instanceRow(row, zone: zone) })
        let pager: HTML = """
            <div class="pager">\(q.page > 1 ? HTML("<a href=\"\(q.link(page: q.page - 1))\" rel=\"prev\">← newer</a>") : "")
            <span class="muted">page \(q.page)</span>\(page.hasMore ? HTML("<a href=\"\(q.link(page: q.page + 1))\" rel=\"next\">older →</a>") : "")</div>
            """
        return """
            <h1>Instances</h1>
            <form class="filters" method="get" action="/instances">
            <label>Job<select name="job">\(jobOptions)</select></label>
            <label>Status<select name="status">\(statusOptions)</select></label>
            <label>Scheduled from<input name="from" value="\(q.from)" placeholder="yyyy-mm-dd"></label>
            <label>to<input name="to" value="\(q.to)" placeholder="yyyy-mm-dd"></label>
            <button type="submit">Filter</button></form>
            <table id="instances"><thead><tr><th>ID</th><th>Job</th><th>Status</th><th>Scheduled</th><th>Business date</th><th>Window</th>
            <th>Partition</th><th>Rows</th><th>Late</th><th>Dirty</th><th>Duration</th><th>Attempts</th><th>Note</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            \(page.instances.isEmpty ? HTML("<p class=\"muted\">No instances match.</p>") : "")\(pager)
            <p class="muted">Times in \(zone.identifier). The page refreshes every \(config.refreshSeconds) s.</p>
            """
    }

    func instanceRow(_ row: InstanceListRow, zone: SchedulingZone) -> HTML {
        let r = row.instance
        let cls = r.status == .failed ? "failed" : r.status.rawValue
        return """
            <tr class="\(cls)" data-id="\(r.id)"><td><a href="/instances/\(r.id)">\(r.id)</a></td>
            <td><a href="/jobs/\(URLText.encode(r.job))">\(r.job)</a></td><td>\(Layout.statusBadge(row.displayStatus))</td>
            <td class="time">\(Layout.time(r.scheduledAt, zone))</td><td>\(r.businessDate ?? "-")</td><td>\(Layout.window(r, zone))</td>
            <td>\(r.partition ?? "-")</td><td class="num">\(r.counts.written)</td><td class="num">\(r.counts.late)</td>
            <td class="num">\(r.counts.dirty)</td><td class="num">\(Layout.duration(r))</td><td class="num">\(r.attempts)</td>
            <td class="note">\(row.note)</td></tr>
            """
    }

    func instanceDetail(_ call: Call) async throws -> InstanceDetail {
        let id = try call.id()
        guard let detail = try await InstanceViews.detail(reader, id: id, dirtyLimit: 100) else {
            throw ConsoleError.notFound("there is no instance \(id) in the ledger", hint: "see the list at /instances")
        }
        return detail
    }
}

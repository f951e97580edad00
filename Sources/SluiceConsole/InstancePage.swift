import Foundation
import Hummingbird
import SluiceCore
import SluiceLedger
import SluiceRuntime
import SluiceScheduling

/// The instance page: parameters, plan, counts, attempts with their phases, actions, the log (with
/// follow) and the dirty records.
extension Console {
    func instancePage(_ call: Call) async throws -> Response {
        let d = try await instanceDetail(call)
        let r = d.instance, zone = config.zone
        var sections: [HTML] = []
        sections.append(summary(d, zone: zone))
        sections.append(actionForms(d, caller: call.caller))
        sections.append(planSection(d))
        sections.append(attemptsSection(d, zone: zone))
        sections.append(logSection(d, zone: zone))
        sections.append(dirtySection(d))
        if !d.actions.isEmpty { sections.append(actionsTable(d.actions, zone: zone)) }
        let notice: HTML = Self.notice(call.query["done"]).map { "<div class=\"notice\" id=\"notice\">\($0)</div>" } ?? ""
        let body: HTML = """
            \(notice)<h1>Instance \(r.id) of <a href="/jobs/\(URLText.encode(r.job))">\(r.job)</a> \(Layout.statusBadge(d.status))</h1>
            \(sections)
            """
        let refresh = r.status.isFinal ? nil : config.refreshSeconds
        return Self.html(Layout.page(title: "Instance \(r.id)", console: self, caller: call.caller, body: body, refresh: refresh))
    }

    private func summary(_ d: InstanceDetail, zone: SchedulingZone) -> HTML {
        let r = d.instance, c = r.counts
        var rows: [HTML] = [
            Layout.row("Scheduled", Layout.time(r.scheduledAt, zone)), Layout.row("Business date", r.businessDate ?? "-"),
            Layout.row("Window", Layout.window(r, zone)), Layout.row("Partition", r.partition ?? "-"),
            Layout.row("Attempts", String(r.attempts)), Layout.row("Created", Layout.time(r.createdAt, zone)),
            Layout.row("Started", Layout.time(r.startedAt, zone)), Layout.row("Finished", Layout.time(r.finishedAt, zone)),
            Layout.row("Duration", Layout.duration(r)),
            Layout.row("Records", "\(c.read) read, \(c.written) written, \(c.dirty) dirty, \(c.late) late, \(c.early) early, \(c.skipped) skipped"),
        ]
        if let e = r.error { rows.append(Layout.row("Error", HTML("<span class=\"error-text\" id=\"error\">\(e)</span>"))) }
        if let s = r.successReason { rows.append(Layout.row("Set to success", s)) }
        if let s = d.skipReason { rows.append(Layout.row("Skipped", s)) }
        if let w = d.waitReason { rows.append(Layout.row("Waiting for", w)) }
        if let t = d.retryAt { rows.append(Layout.row("Retry at", Layout.time(t, zone))) }
        let params = HTML.joined(r.parameters.keys.sorted().map { k in "<tr><th>\(k)</th><td>\(r.parameters[k] ?? "")</td></tr>" })
        return """
            <table class="kv" id="summary">\(rows)</table>
            <h2>Parameters</h2><table class="kv" id="parameters">\(params)</table>
            """
    }

    private func actionForms(_ d: InstanceDetail, caller: Caller) -> HTML {
        guard !readOnly else { return "" }
        guard caller.user != nil else { return "<p class=\"muted\"><a href=\"/login\">Log in</a> to rerun, kill or set this instance to success.</p>" }
        let id = d.instance.id, csrf = Layout.csrfField(caller)
        let running = !d.instance.status.isFinal
        return """
            <div class="actions">
            <form class="action" method="post" action="/instances/\(id)/rerun">\(csrf)
            <label><span><input type="checkbox" name="replan" value="1"> plan again (--replan)</span></label>
            <button type="submit" id="rerun"\(HTML(trusted: running ? " disabled" : ""))>Rerun</button></form>
            <form class="action" method="post" action="/instances/\(id)/kill">\(csrf)
            <button type="submit" class="danger" id="kill"\(HTML(trusted: running ? "" : " disabled"))>Kill</button></form>
            <form class="action" method="post" action="/instances/\(id)/set-success">\(csrf)
            <label>Reason<input name="reason" required maxlength="500" placeholder="why it counts as succeeded"></label>
            <button type="submit" id="set-success">Set success</button></form>
            </div>
            """
    }

    private func planSection(_ d: InstanceDetail) -> HTML {
        guard let plan = d.plan else { return "<h2>Plan</h2><p class=\"muted\">No plan stored.</p>" }
        let rows = HTML.joined(plan.window.partitions.map { p in
            let end = plan.readEnds[p.partition]
            return """
                <tr><td class="num">\(p.partition)</td><td class="num">\(p.fromOffset)</td><td class="num">\(p.toOffset)</td>
                <td class="num">\(p.toOffset - p.fromOffset)</td><td class="num">\(end.map(String.init) ?? "-")</td>
                <td class="num">\(p.lowWatermark)</td><td class="num">\(p.highWatermark)</td></tr>
                """
        })
        return """
            <h2>Plan</h2><p>Topic <b>\(plan.window.topic)</b>, \(plan.windowMode.rawValue) window, \(plan.window.partitions.count) partition(s).</p>
            <table id="plan"><thead><tr><th>Partition</th><th>From</th><th>To</th><th>Planned records</th><th>Read to</th><th>Low watermark</th><th>High watermark</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """
    }

    private func attemptsSection(_ d: InstanceDetail, zone: SchedulingZone) -> HTML {
        let order = ["setup", "destination", "plan", "open", "read", "commit", "finish"]
        let rows = HTML.joined(d.attempts.map { a in
            let t = a.attempt
            let took = t.finishedAt.map { Layout.seconds($0.timeIntervalSince(t.startedAt)) } ?? "-"
            let phases = (a.phases ?? [:]).sorted { (order.firstIndex(of: $0.key) ?? 99) < (order.firstIndex(of: $1.key) ?? 99) }
                .map { "\($0.key) \(Layout.seconds($0.value))" }.joined(separator: ", ")
            return """
                <tr><td class="num">\(t.attempt)</td><td>\(Layout.statusBadge(t.status.rawValue))</td><td>\(t.launchedBy)</td>
                <td>\(t.host) (pid \(t.pid))</td><td>\(Layout.time(t.startedAt, zone))</td><td class="num">\(took)</td>
                <td>\(phases.isEmpty ? "-" : phases)</td><td class="num">\(a.bytesRead.map(String.init) ?? "-")</td><td>\(t.error ?? "")</td></tr>
                """
        })
        return """
            <h2>Attempts</h2><table id="attempts"><thead><tr><th>#</th><th>Status</th><th>Launched by</th><th>Where</th><th>Started</th>
            <th>Took</th><th>Phases</th><th>Bytes read</th><th>Error</th></tr></thead><tbody>\(rows)</tbody></table>
            """
    }

    private func logSection(_ d: InstanceDetail, zone: SchedulingZone) -> HTML {
        let lines = HTML.joined(d.log.map { l in "<span class=\"\(l.level.rawValue)\">\(Self.logText(l, zone: zone))\n</span>" })
        return """
            <h2>Log</h2><label><input type="checkbox" id="follow"\(HTML(trusted: d.instance.status.isFinal ? "" : " checked"))> follow</label>
            <pre class="log" id="log" data-source="/api/instances/\(d.instance.id)/log" data-after="\(d.log.count)">\(lines)</pre>
            """
    }

    static func logText(_ l: InstanceLogLine, zone: SchedulingZone) -> String {
        "\(Layout.time(l.at, zone)) #\(l.attempt) \(l.level.rawValue): \(l.message)"
    }

    private func dirtySection(_ d: InstanceDetail) -> HTML {
        guard !d.dirtyRecords.isEmpty else { return "<h2>Dirty records</h2><p class=\"muted\">None stored (\(d.instance.counts.dirty) counted).</p>" }
        let utc = SchedulingZone(timeZone: TimeZone(identifier: "UTC")!, identifier: "UTC")
        let rows = HTML.joined(d.dirtyRecords.map { r in
            """
            <tr><td class="num">\(r.partition)</td><td class="num">\(r.offset)</td><td>\(utc.iso8601(millis: r.timestampMillis))</td>
            <td>\(r.column ?? "-")</td><td>\(r.reason)</td><td><code>\(Layout.bytes(r.key, fullLength: r.keyLength))</code></td>
            <td><code>\(Layout.bytes(r.value, fullLength: r.valueLength))</code></td></tr>
            """
        })
        return """
            <h2>Dirty records</h2><p class="muted">\(d.dirtyRecords.count) stored of \(d.instance.counts.dirty) counted.</p>
            <table id="dirty"><thead><tr><th>Partition</th><th>Offset</th><th>Timestamp (UTC)</th><th>Column</th><th>Reason</th><th>Key</th><th>Value</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """
    }

    func actionsTable(_ actions: [LedgerAction], zone: SchedulingZone) -> HTML {
        let rows = HTML.joined(actions.map { a in
            let target: HTML = a.instanceId.map { "<a href=\"/instances/\($0)\">instance \($0)</a>" } ?? HTML("\(a.job ?? "-")")
            return "<tr><td>\(Layout.time(a.at, zone))</td><td>\(a.actor)</td><td>\(a.action)</td><td>\(target)</td><td>\(a.detail ?? "")</td><td>\(a.outcome)</td></tr>"
        })
        return """
            <h2>Actions</h2><table id="actions"><thead><tr><th>When</th><th>Who</th><th>Action</th><th>On</th><th>Detail</th><th>Outcome</th></tr></thead>
            <tbody>\(rows)</tbody></table>
            """
    }
}

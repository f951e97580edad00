import Foundation
import SluiceCore
import SluiceLedger
import SluiceScheduling

/// The frame of every page: navigation, who is logged in (or that the console is read-only), the
/// stylesheet and the script. No inline script or style: the Content-Security-Policy forbids them.
enum Layout {
    static func page(title: String, console: Console, caller: Caller, body: HTML, refresh: Int? = nil) -> HTML {
        let banner: HTML
        if console.readOnly {
            banner = "<div class=\"banner readonly\" id=\"readonly\">Read-only: this console was started without a token, so rerun, kill, set-success and backfill are off. Start it with --token-file (or SLUICE_CONSOLE_TOKEN) to enable them.</div>"
        } else if let user = caller.user {
            let logout: HTML = caller.session.map { s in
                "<form method=\"post\" action=\"/logout\" class=\"inline\"><input type=\"hidden\" name=\"csrf\" value=\"\(s.csrf)\"><button type=\"submit\">Log out</button></form>"
            } ?? ""
            banner = "<div class=\"banner user\">Signed in as <b>\(user)</b> \(logout)</div>"
        } else {
            banner = "<div class=\"banner\"><a href=\"/login\">Log in</a> to act on instances.</div>"
        }
        let refreshAttribute: HTML = refresh.map { " data-refresh=\"\($0)\"" } ?? ""
        return """
            <!doctype html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) · Sluice</title><link rel="stylesheet" href="/static/console.css"></head>
            <body\(refreshAttribute)><header><a class="brand" href="/instances">Sluice</a>
            <nav><a href="/instances">Instances</a><a href="/jobs">Jobs</a><a href="/actions">Actions</a><a href="/metrics">Metrics</a></nav></header>
            \(banner)<main>\(body)</main><script src="/static/console.js"></script></body></html>
            """
    }

    static func time(_ date: Date?, _ zone: SchedulingZone) -> String {
        guard let date else { return "-" }
        return zone.iso8601(Int64(date.timeIntervalSince1970.rounded(.down)))
    }

    static func duration(_ r: InstanceRecord) -> String {
        guard let s = r.startedAt else { return "-" }
        return seconds((r.finishedAt ?? Date()).timeIntervalSince(s))
    }

    /// `0.25s`, `12.5s`, `14m05s` (without Foundation's formatter: this runs for every row).
    static func seconds(_ s: Double) -> String {
        guard s.isFinite, s >= 0 else { return "-" }
        if s < 10 {
            let hundredths = Int((s * 100).rounded())
            return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)s"
        }
        if s < 600 {
            let tenths = Int((s * 10).rounded())
            return "\(tenths / 10).\(tenths % 10)s"
        }
        let whole = Int(s)
        return "\(whole / 60)m\(whole % 60 < 10 ? "0" : "")\(whole % 60)s"
    }

    static func statusBadge(_ status: String) -> HTML {
        "<span class=\"status status-\(status)\">\(status)</span>"
    }

    static func window(_ r: InstanceRecord, _ zone: SchedulingZone) -> String {
        guard r.windowStart != nil || r.windowEnd != nil else { return "-" }
        return "[\(time(r.windowStart, zone)), \(time(r.windowEnd, zone)))"
    }

    /// A hidden CSRF field for the caller's session forms.
    static func csrfField(_ caller: Caller) -> HTML {
        guard let s = caller.session else { return "" }
        return "<input type=\"hidden\" name=\"csrf\" value=\"\(s.csrf)\">"
    }

    /// A definition list row.
    static func row(_ name: String, _ value: HTML) -> HTML { "<tr><th>\(name)</th><td>\(value)</td></tr>" }
    static func row(_ name: String, _ value: String) -> HTML { "<tr><th>\(name)</th><td>\(value)</td></tr>" }

    /// Bytes as text when they are UTF-8 without control characters, else as hex.
    static func bytes(_ b: [UInt8]?, fullLength: Int?) -> String {
        guard let b else { return "(null)" }
        var text: String
        if let s = String(validating: b, as: UTF8.self), !s.unicodeScalars.contains(where: { $0.value < 0x20 && $0 != "\t" }) {
            text = s
        } else {
            text = "0x" + b.map { String(format: "%02x", $0) }.joined()
        }
        if let fullLength, fullLength > b.count { text += " … (\(fullLength) bytes)" }
        return text
    }
}

import SluiceCore

/// What a record value holds, for the source fields that address its parts.
public enum ValueFormat: Sendable, Hashable {
    /// JSON: fields are JSON paths (`a.a1`, `c[1]`).
    case json
    /// Delimited text (DataWorks `dataFormat: text` with `fieldDelimiter`): the value is split at each
    /// `delimiter`, and fields are addressed by index, `[0]` for the first.
    case text(delimiter: String)

    /// A delimiter as written: `\t`, `\n`, `\r`, `\\`, `\u0001` (four hex digits) and `\x01` are read as
    /// the character they name (job files copied from DataWorks often hold them escaped); nil when it
    /// is empty.
    public static func delimiter(parsing written: String) -> String? {
        var out = ""
        var chars = Array(written)[...]
        while let c = chars.popFirst() {
            guard c == "\\", let next = chars.first else { out.append(c); continue }
            chars = chars.dropFirst()
            switch next {
            case "t": out.append("\t")
            case "n": out.append("\n")
            case "r": out.append("\r")
            case "\\": out.append("\\")
            case "u", "x":
                let count = next == "u" ? 4 : 2
                let hex = String(chars.prefix(count))
                if hex.count == count, let v = UInt32(hex, radix: 16), let scalar = Unicode.Scalar(v) {
                    out.unicodeScalars.append(scalar)
                    chars = chars.dropFirst(count)
                } else {
                    out += "\\\(next)"
                }
            default: out += "\\\(next)"
            }
        }
        return out.isEmpty ? nil : out
    }

    /// The delimiter as a job file writes it: control characters escaped.
    public static func written(_ delimiter: String) -> String {
        var out = ""
        for s in delimiter.unicodeScalars {
            switch s {
            case "\t": out += "\\t"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\\": out += "\\\\"
            case _ where s.value < 0x20 || s.value == 0x7F: out += "\\u" + String(repeating: "0", count: 4 - String(s.value, radix: 16).count) + String(s.value, radix: 16)
            default: out.unicodeScalars.append(s)
            }
        }
        return out
    }
}

extension SluiceJobReader {
    /// The value format: `formatKey` (`json` | `text`) and `fieldDelimiter`, which text needs.
    func valueFormat(_ m: MapView, formatKey: String) -> ValueFormat {
        let format = m.string(formatKey)?.lowercased()
        let delimiter = m.string("fieldDelimiter")
        switch format {
        case nil, "json":
            if delimiter != nil {
                reader.warning(m.path("fieldDelimiter"), "ignored: it applies to \(formatKey) text")
            }
            return .json
        case "text":
            guard let written = delimiter else {
                reader.error(m.path, "missing `fieldDelimiter`: \(formatKey) text splits the value at it (e.g. \",\" or \"\\t\")", line: m.line)
                return .json
            }
            guard let d = ValueFormat.delimiter(parsing: written) else {
                reader.error(m.path("fieldDelimiter"), "the delimiter is empty")
                return .json
            }
            return .text(delimiter: d)
        default:
            reader.error(m.path(formatKey), "\(formatKey) '\(m.string(formatKey) ?? "")' is not supported: json, or text with fieldDelimiter" + didYouMean(format ?? "", ["json", "text"]))
            return .json
        }
    }
}

extension JobValidator {
    /// Text values are addressed by index: every value path is one `[N]`.
    func checkValueFormat(_ job: JobSpec) {
        guard case .text = job.source.valueFormat else { return }
        for (i, m) in job.mapping.enumerated() {
            guard case .valuePath(let path)? = try? SourceField(parsing: m.from) else { continue }
            if path.count != 1 || { if case .index = path[0] { false } else { true } }() {
                reader.error(paths.sourceField(i), "field '\(m.from)': a text value's fields are addressed by index, [0] for the first (the value is split at fieldDelimiter, not read as JSON)")
            }
        }
    }
}

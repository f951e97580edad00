import Foundation

/// Output formats of `sluice sql`.
public enum ResultFormat: String, Sendable, CaseIterable {
    /// Aligned columns with a header and a row count; NULL shown as `NULL`.
    case table
    /// RFC 4180: a header line, CRLF line ends, fields quoted when they contain `"`, `,`, CR or LF;
    /// NULL as an empty field.
    case csv
    /// A JSON array of objects keyed by column name; NULL as `null`, blobs as base64 strings.
    case json
}

/// One value of a query's result, as destinations return it.
public enum ResultCell: Sendable, Hashable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// Turns query rows into text, streaming for CSV and JSON (output goes out in chunks as rows come)
/// and buffering for the table format (which needs every width first).
public final class ResultFormatter {
    public let format: ResultFormat
    private let emit: (String) -> Void
    private var columns: [String] = []
    private var buffer = ""
    private var tableRows: [[String]] = []
    private var numeric: [Bool] = []
    public private(set) var rowCount = 0

    public init(format: ResultFormat, emit: @escaping (String) -> Void) {
        self.format = format
        self.emit = emit
    }

    public func begin(columns: [String]) {
        self.columns = columns
        numeric = Array(repeating: true, count: columns.count)
        switch format {
        case .csv: buffer += columns.map(Self.csvField).joined(separator: ",") + "\r\n"
        case .json: buffer += "["
        case .table: break
        }
    }

    public func row(_ values: [ResultCell]) {
        switch format {
        case .csv:
            buffer += values.map { v in v == .null ? "" : Self.csvField(Self.plainText(v)) }.joined(separator: ",")
            buffer += "\r\n"
        case .json:
            buffer += rowCount == 0 ? "\n  {" : ",\n  {"
            for (i, v) in values.enumerated() {
                if i > 0 { buffer += ", " }
                buffer += Self.jsonString(i < columns.count ? columns[i] : "column\(i + 1)")
                buffer += ": "
                buffer += Self.jsonValue(v)
            }
            buffer += "}"
        case .table:
            var cells: [String] = []
            cells.reserveCapacity(values.count)
            for (i, v) in values.enumerated() {
                switch v {
                case .integer, .real, .null: break
                default: if i < numeric.count { numeric[i] = false }
                }
                cells.append(v == .null ? "NULL" : Self.tableCell(Self.plainText(v)))
            }
            tableRows.append(cells)
        }
        rowCount += 1
        if buffer.utf8.count >= 1 << 16 { flush() }
    }

    public func end() {
        switch format {
        case .csv: break
        case .json: buffer += rowCount == 0 ? "]\n" : "\n]\n"
        case .table:
            let rightAligned = Set(numeric.indices.filter { numeric[$0] && rowCount > 0 })
            buffer += TextTable.render(headers: columns, rows: tableRows, rightAligned: rightAligned)
            buffer += "(\(rowCount) row\(rowCount == 1 ? "" : "s"))\n"
        }
        flush()
    }

    private func flush() {
        if !buffer.isEmpty { emit(buffer) }
        buffer = ""
    }

    /// A value as plain text: integers and reals in shortest form, blobs in base64.
    public static func plainText(_ v: ResultCell) -> String {
        switch v {
        case .null: ""
        case .integer(let i): String(i)
        case .real(let d): realText(d)
        case .text(let t): t
        case .blob(let b): Data(b).base64EncodedString()
        }
    }

    static func realText(_ d: Double) -> String {
        if d.isFinite, d == d.rounded(), abs(d) < 1e15 { return String(format: "%.1f", d) }
        return "\(d)"
    }

    /// One CSV field, quoted as RFC 4180 requires.
    public static func csvField(_ s: String) -> String {
        if s.contains(where: { $0 == "\"" || $0 == "," || $0 == "\n" || $0 == "\r" || $0 == "\r\n" }) {
            return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
        }
        return s
    }

    static func tableCell(_ s: String) -> String {
        guard s.contains(where: { $0.isNewline || $0 == "\t" }) else { return s }
        return s.replacingOccurrences(of: "\r\n", with: "\\n").replacingOccurrences(of: "\n", with: "\\n")
            .replacingOccurrences(of: "\r", with: "\\r").replacingOccurrences(of: "\t", with: "\\t")
    }

    static func jsonValue(_ v: ResultCell) -> String {
        switch v {
        case .null: "null"
        case .integer(let i): String(i)
        case .real(let d): d.isFinite ? realText(d) : "null"
        case .text(let t): jsonString(t)
        case .blob(let b): jsonString(Data(b).base64EncodedString())
        }
    }

    /// A JSON string literal.
    public static func jsonString(_ s: String) -> String {
        var out = "\""
        out.reserveCapacity(s.utf8.count + 2)
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if u.value < 0x20 {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }
}

/// Plain aligned text tables for terminal output.
public enum TextTable {
    public static func render(headers: [String], rows: [[String]], rightAligned: Set<Int> = []) -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < widths.count { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, cell in
                let pad = String(repeating: " ", count: max(0, widths[i] - cell.count))
                return rightAligned.contains(i) ? pad + cell : cell + pad
            }.joined(separator: " | ").replacing(/\s+$/, with: "")
        }
        var out = line(headers) + "\n"
        out += widths.map { String(repeating: "-", count: $0) }.joined(separator: "-+-") + "\n"
        for row in rows { out += line(row) + "\n" }
        return out
    }
}

import Foundation
import SluiceCore
import SluiceJob

extension MaxComputeSink {
    public var table: String { destination.table }
    public var dialect: DDLDialect { .maxcompute }
    public var sink: any Sink { self }

    /// Runs the query in the project through the instances API (it is not checked for being
    /// read-only there); NULL (`\N`) comes out as an empty CSV field.
    public func query(_ sql: String, format: ResultFormat, emit: @escaping @Sendable (String) -> Void) async throws {
        var rows = CSVText.parse(try await runSQL(sql))
        guard !rows.isEmpty else { return }
        let header = rows.removeFirst()
        let formatter = ResultFormatter(format: format, emit: emit)
        formatter.begin(columns: header)
        for row in rows { formatter.row(row.map { $0 == "\\N" ? .null : .text($0) }) }
        formatter.end()
    }

    /// The table's partitions that hold rows, counted by SQL. MaxCompute keeps no record of the
    /// writes: the ledger's instances say which instance wrote a partition.
    public func partitions() async throws -> [PartitionInfo] {
        let keys = try await schema().partitionKeys.map(\.name)
        let q = MaxComputeClient.quoteIdentifier
        let name = MaxComputeClient.qualifiedName(project: client.config.project, schema: client.config.schema, table: table)
        let columns = keys.map(q).joined(separator: ", ")
        let sql = keys.isEmpty ? "SELECT COUNT(*) FROM \(name)"
            : "SELECT \(columns), COUNT(*) FROM \(name) GROUP BY \(columns)"
        return CSVText.parse(try await runSQL(sql)).dropFirst().compactMap { row -> PartitionInfo? in
            guard row.count == keys.count + 1, let count = Int64(row[keys.count]) else { return nil }
            let spec = PartitionSpec(zip(keys, row).map { PartitionSpec.Entry(key: $0, value: $1) })
            return PartitionInfo(partition: spec.description, rows: count, writes: [], replaced: [])
        }.sorted { $0.partition < $1.partition }
    }
}

/// RFC 4180 CSV parsing (quoted fields, doubled quotes, CRLF or LF line ends).
public enum CSVText {
    public static func parse(_ text: String) -> [[String]] {
        var rows: [[String]] = []
        var row: [String] = []
        var field = ""
        var quoted = false
        var chars = Array(text).makeIterator()
        var pending: Character? = nil
        func next() -> Character? {
            if let p = pending { pending = nil; return p }
            return chars.next()
        }
        while let c = next() {
            if quoted {
                if c == "\"" {
                    if let n = next() {
                        if n == "\"" { field.append("\"") } else { quoted = false; pending = n }
                    } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" {
                quoted = true
            } else if c == "," {
                row.append(field); field = ""
            } else if c == "\n" || c == "\r\n" || c == "\r" {
                row.append(field); field = ""
                rows.append(row); row = []
            } else {
                field.append(c)
            }
        }
        if !field.isEmpty || !row.isEmpty { row.append(field); rows.append(row) }
        return rows
    }
}

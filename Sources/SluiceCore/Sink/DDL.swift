import Foundation

/// The SQL dialects `sluice ddl` writes.
public enum DDLDialect: String, Sendable, Hashable, CaseIterable {
    /// The embedded SQLite warehouse.
    case sqlite
    /// MaxCompute SQL.
    case maxcompute
    /// PostgreSQL: the partition columns are ordinary `text NOT NULL` columns with an index
    /// (docs/decisions/2026-12-07-postgresql-destination.md).
    case postgresql
}

/// CREATE TABLE text for a destination (DataWorks' "Generate Target Table Schema"). Pure text; no I/O.
///
/// SQLite type mapping: every MaxCompute type keeps its MaxCompute name as the SQLite declared type
/// (so it round-trips), except STRING, which is declared `TEXT`: SQLite would give a column declared
/// `STRING` numeric affinity and turn `'007'` into `7`, and JSON, which is `TEXT` too (SQLite has no
/// JSON type; its JSON functions read text). Partition columns are `TEXT NOT NULL`.
public enum TableDDL {
    /// The SQLite declared type of a column of type `type`.
    public static func sqliteDeclaredType(_ type: ColumnType) -> String {
        type == .string || type == .json ? "TEXT" : type.description
    }

    /// The column type a SQLite declared type stands for: the inverse of `sqliteDeclaredType`, plus
    /// SQLite's own names (`INTEGER` → BIGINT, `REAL` → DOUBLE, `TEXT`/`CLOB` → STRING, `BLOB` → BINARY).
    /// Nil for declared types with no MaxCompute equivalent (including the empty type).
    public static func columnType(sqliteDeclaredType declared: String) -> ColumnType? {
        switch declared.trimmingCharacters(in: .whitespaces).uppercased() {
        case "TEXT", "CLOB": return .string
        case "INTEGER": return .bigint
        case "REAL": return .double
        case "BLOB": return .binary
        default: return ColumnType(parsing: declared)
        }
    }

    /// A SQLite identifier in double quotes.
    public static func quoteSQLite(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A MaxCompute identifier in backquotes; `project.table` is quoted part by part.
    public static func quoteMaxCompute(_ name: String) -> String {
        name.split(separator: ".", omittingEmptySubsequences: false)
            .map { "`" + $0.replacingOccurrences(of: "`", with: "``") + "`" }
            .joined(separator: ".")
    }

    /// The name of the index the warehouse keeps on a table's partition columns.
    public static func sqlitePartitionIndexName(table: String) -> String { "sluice_partition__\(table)" }

    /// `CREATE TABLE IF NOT EXISTS …` for `columns` plus `partitionKeys` (STRING partition columns).
    /// For SQLite, followed by the index on the partition columns that makes overwrites fast.
    public static func createTable(name: String, columns: [ColumnSpec], partitionKeys: [String],
                                   dialect: DDLDialect) -> String {
        switch dialect {
        case .sqlite:
            var lines = columns.map { c in
                "  \(quoteSQLite(c.name)) \(sqliteDeclaredType(c.type))\(c.nullable ? "" : " NOT NULL")"
            }
            lines += partitionKeys.map { "  \(quoteSQLite($0)) TEXT NOT NULL" }
            var text = "CREATE TABLE IF NOT EXISTS \(quoteSQLite(name)) (\n\(lines.joined(separator: ",\n"))\n);"
            if !partitionKeys.isEmpty {
                text += "\nCREATE INDEX IF NOT EXISTS \(quoteSQLite(sqlitePartitionIndexName(table: name))) ON "
                    + "\(quoteSQLite(name)) (\(partitionKeys.map(quoteSQLite).joined(separator: ", ")));"
            }
            return text
        case .maxcompute:
            let lines = columns.map { c in
                "  \(quoteMaxCompute(c.name)) \(c.type.description)\(c.nullable ? "" : " NOT NULL")"
            }
            var text = "CREATE TABLE IF NOT EXISTS \(quoteMaxCompute(name)) (\n\(lines.joined(separator: ",\n"))\n)"
            if !partitionKeys.isEmpty {
                text += "\nPARTITIONED BY (\(partitionKeys.map { "\(quoteMaxCompute($0)) STRING" }.joined(separator: ", ")))"
            }
            return text + ";"
        case .postgresql:
            return createPostgresTable(name: name, columns: columns, partitionKeys: partitionKeys)
        }
    }

    /// The keys of a partition template such as `ds=${partition}` or `ds=$[yyyymmdd],hh=${hour}`,
    /// outermost first. Separators inside `${…}` / `$[…]` are not split on.
    public static func partitionKeys(template: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for ch in template {
            switch ch {
            case "{", "[": depth += 1; current.append(ch)
            case "}", "]": depth = max(0, depth - 1); current.append(ch)
            case "," where depth == 0, "/" where depth == 0:
                parts.append(current); current = ""
            default: current.append(ch)
            }
        }
        parts.append(current)
        return parts.compactMap { part in
            guard let eq = part.firstIndex(of: "=") else { return nil }
            let key = part[..<eq].trimmingCharacters(in: .whitespaces)
            return key.isEmpty ? nil : key
        }
    }

    /// The column type `sluice ddl` gives a destination column with no declared type, from the
    /// source field it is mapped from: Kafka's numeric built-in fields are BIGINT, the rest STRING.
    public static func defaultType(forSourceField from: String) -> ColumnType {
        switch from.trimmingCharacters(in: .whitespaces) {
        case "__partition__", "__offset__", "__timestamp__": .bigint
        default: .string
        }
    }
}

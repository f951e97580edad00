import Foundation

/// PostgreSQL DDL: column types, identifiers and the CREATE TABLE of a destination table.
///
/// A table is one ordinary table: its data columns, then its partition columns (`ds`, or several
/// levels such as `ds, hh`) as `text NOT NULL` with one index on them, which an overwrite's DELETE
/// and partition queries use. Not a table partitioned by LIST: replacing a child table needs an
/// ACCESS EXCLUSIVE lock on the whole table at each commit, which waits for every running query
/// and makes new ones wait behind it (docs/decisions/2026-12-07-postgresql-destination.md).
extension TableDDL {
    /// The PostgreSQL type of a column of `type`. TINYINT has no PostgreSQL type of its own and is
    /// `smallint`; DATETIME (milliseconds) and TIMESTAMP (PostgreSQL keeps microseconds) are instants,
    /// `timestamp with time zone`.
    public static func postgresType(_ type: ColumnType) -> String {
        switch type {
        case .bigint: "bigint"
        case .int: "integer"
        case .smallint, .tinyint: "smallint"
        case .double: "double precision"
        case .float: "real"
        case .decimal(let p, let s): "numeric(\(p),\(s))"
        case .string: "text"
        case .varchar(let n): "varchar(\(n))"
        case .char(let n): "char(\(n))"
        case .boolean: "boolean"
        case .datetime: "timestamp(3) with time zone"
        case .date: "date"
        case .timestamp: "timestamp with time zone"
        case .binary: "bytea"
        case .json: "jsonb"
        }
    }

    /// A PostgreSQL identifier (a column, a schema) in double quotes.
    public static func quotePostgres(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A table name as a job gives it, `table` or `schema.table`, quoted part by part.
    public static func quotePostgresTable(_ name: String) -> String {
        name.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false).map { quotePostgres(String($0)) }
            .joined(separator: ".")
    }

    /// The name of the index on a table's partition columns (in the table's schema).
    public static func postgresPartitionIndexName(table: String) -> String {
        let bare = table.split(separator: ".", maxSplits: 1).last.map(String.init) ?? table
        return "sluice_partition__\(bare)"
    }

    /// `CREATE TABLE IF NOT EXISTS` for `columns` plus `partitionKeys` (`text NOT NULL`), and the
    /// index on the partition columns: the statements of `createTable(…, dialect: .postgresql)`.
    public static func createPostgresTableStatements(name: String, columns: [ColumnSpec], partitionKeys: [String]) -> [String] {
        var lines = columns.map { c in
            "  \(quotePostgres(c.name)) \(postgresType(c.type))\(c.nullable ? "" : " NOT NULL")"
        }
        lines += partitionKeys.map { "  \(quotePostgres($0)) text NOT NULL" }
        var statements = ["CREATE TABLE IF NOT EXISTS \(quotePostgresTable(name)) (\n\(lines.joined(separator: ",\n"))\n)"]
        if !partitionKeys.isEmpty {
            statements.append("CREATE INDEX IF NOT EXISTS \(quotePostgres(postgresPartitionIndexName(table: name))) ON "
                + "\(quotePostgresTable(name)) (\(partitionKeys.map(quotePostgres).joined(separator: ", ")))")
        }
        return statements
    }

    static func createPostgresTable(name: String, columns: [ColumnSpec], partitionKeys: [String]) -> String {
        createPostgresTableStatements(name: name, columns: columns, partitionKeys: partitionKeys).map { $0 + ";" }
            .joined(separator: "\n")
    }
}

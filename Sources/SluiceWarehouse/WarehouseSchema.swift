import Foundation
import SluiceCore
import SluiceJob
import SluiceSQLite

/// A column of a warehouse table as SQLite reports it.
public struct WarehouseColumn: Sendable, Hashable {
    public var name: String
    /// The declared type as written in CREATE TABLE (`BIGINT`, `DECIMAL(18,2)`, `TEXT`, …).
    public var declaredType: String
    public var notNull: Bool
    public var hasDefault: Bool

    public init(name: String, declaredType: String, notNull: Bool = false, hasDefault: Bool = false) {
        self.name = name
        self.declaredType = declaredType
        self.notNull = notNull
        self.hasDefault = hasDefault
    }

    /// The MaxCompute type this column stands for, nil when its declared type has none.
    public var columnType: ColumnType? { TableDDL.columnType(sqliteDeclaredType: declaredType) }

    /// Whether the job may write values of `type` into this column. A column declared with a
    /// MaxCompute type name takes exactly that type. One declared with SQLite's own names (tables
    /// made by hand) takes every type stored the same way: `INTEGER` the integer types and BOOLEAN,
    /// `REAL` DOUBLE and FLOAT, `TEXT`/`CLOB` the string, date, time and JSON types, `BLOB` BINARY,
    /// `NUMERIC` the numbers. Any other declared type takes anything.
    public func accepts(_ type: ColumnType) -> Bool {
        switch declaredType.trimmingCharacters(in: .whitespaces).uppercased() {
        case "INTEGER":
            switch type { case .bigint, .int, .smallint, .tinyint, .boolean: return true; default: return false }
        case "REAL":
            switch type { case .double, .float: return true; default: return false }
        case "TEXT", "CLOB":
            switch type {
            case .string, .varchar, .char, .date, .datetime, .timestamp, .json: return true
            default: return false
            }
        case "BLOB":
            return type == .binary
        case "NUMERIC":
            switch type {
            case .bigint, .int, .smallint, .tinyint, .double, .float, .decimal, .boolean: return true
            default: return false
            }
        default:
            guard let own = columnType else { return true }
            return own == type
        }
    }
}

/// Names of the warehouse's own bookkeeping tables, which live in the warehouse file.
enum WarehouseMeta {
    static let tables = "_sluice_tables"
    static let partitions = "_sluice_partitions"

    static let createSQL = """
    CREATE TABLE IF NOT EXISTS _sluice_tables (
      table_name TEXT PRIMARY KEY,
      partition_keys TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS _sluice_partitions (
      id INTEGER PRIMARY KEY,
      table_name TEXT NOT NULL,
      partition TEXT NOT NULL,
      mode TEXT NOT NULL,
      job TEXT NOT NULL,
      instance_id TEXT NOT NULL,
      window_start_ms INTEGER,
      window_end_ms INTEGER,
      topic TEXT NOT NULL,
      offsets TEXT NOT NULL,
      rows INTEGER NOT NULL,
      written_at_ms INTEGER NOT NULL,
      attempt INTEGER,
      ledger_id TEXT,
      outcome TEXT,
      replaced_by INTEGER
    );
    CREATE INDEX IF NOT EXISTS _sluice_partitions_by_partition ON _sluice_partitions (table_name, partition);
    """

    /// The column of a data table that holds the id of the write (`_sluice_partitions.id`) that added
    /// each row, so that a rerun of an append instance can delete exactly that instance's rows. Added
    /// to a table by its first append write; rows written before it (or by other tools) are NULL.
    static let writeColumn = "_sluice_write"

    /// Columns of `_sluice_partitions` added after its first version, with their types.
    static let addedPartitionColumns = [("attempt", "INTEGER"), ("ledger_id", "TEXT"), ("outcome", "TEXT"),
                                        ("replaced_by", "INTEGER")]

    /// Creates the bookkeeping tables, or brings an older warehouse's up to date. Runs inside a write.
    static func ensure(_ db: SQLiteConnection) throws {
        try db.execute(createSQL)
        let have = Set(try columns(db, table: partitions).map { $0.name })
        for (name, type) in addedPartitionColumns where !have.contains(name) {
            try db.execute("ALTER TABLE _sluice_partitions ADD COLUMN \(name) \(type)")
        }
    }

    /// The `_sluice_partitions` columns a (possibly older) warehouse has, for reads that must not
    /// change the file.
    static func partitionColumnNames(_ db: SQLiteConnection) throws -> Set<String> {
        Set(try columns(db, table: partitions).map { $0.name })
    }

    static func tableExists(_ db: SQLiteConnection, _ name: String) throws -> Bool {
        try db.scalar("SELECT 1 FROM sqlite_schema WHERE type IN ('table','view') AND name = ?1", [.text(name)]) != nil
    }

    static func columns(_ db: SQLiteConnection, table: String) throws -> [WarehouseColumn] {
        try db.query("SELECT name, type, \"notnull\", dflt_value FROM pragma_table_info(?1) ORDER BY cid",
                     [.text(table)]).map { row in
            var name = "", type = ""
            if case .text(let t) = row[0] { name = t }
            if case .text(let t) = row[1] { type = t }
            let notNull: Bool = if case .integer(let v) = row[2] { v != 0 } else { false }
            return WarehouseColumn(name: name, declaredType: type, notNull: notNull, hasDefault: row[3] != .null)
        }
    }

    /// The partition keys recorded for `table` when the warehouse created or first wrote it.
    static func registeredPartitionKeys(_ db: SQLiteConnection, table: String) throws -> [String]? {
        guard try tableExists(db, tables) else { return nil }
        guard case .text(let json)? = try db.scalar("SELECT partition_keys FROM _sluice_tables WHERE table_name = ?1",
                                                    [.text(table)]) else { return nil }
        return (try? JSONDecoder().decode([String].self, from: Data(json.utf8))) ?? []
    }

    static func register(_ db: SQLiteConnection, table: String, partitionKeys: [String]) throws {
        let json = String(decoding: try JSONEncoder().encode(partitionKeys), as: UTF8.self)
        try db.run("INSERT INTO _sluice_tables (table_name, partition_keys) VALUES (?1, ?2) "
                   + "ON CONFLICT (table_name) DO UPDATE SET partition_keys = excluded.partition_keys",
                   [.text(table), .text(json)])
    }
}

/// Compares a warehouse table with what a job writes.
public enum WarehouseSchema {
    /// Every difference that stops `columns` + `partitionKeys` from being written into a table with
    /// `tableColumns`, one readable line each; empty when they fit.
    ///
    /// A table column the job does not write is fine when it may be NULL (it gets NULL, as in
    /// DataWorks). Declared types that name no MaxCompute type are accepted for any column type.
    public static func differences(tableColumns: [WarehouseColumn], registeredPartitionKeys: [String]?,
                                   columns: [ColumnSpec], partitionKeys: [String]) -> [String] {
        var problems: [String] = []
        let byName = Dictionary(tableColumns.map { ($0.name.lowercased(), $0) }, uniquingKeysWith: { a, _ in a })
        let keySet = Set(partitionKeys.map { $0.lowercased() })
        if let registered = registeredPartitionKeys,
           registered.map({ $0.lowercased() }) != partitionKeys.map({ $0.lowercased() }) {
            let has = registered.isEmpty ? "not partitioned" : "partitioned by (\(registered.joined(separator: ", ")))"
            let wants = partitionKeys.isEmpty ? "no partition" : "partition (\(partitionKeys.joined(separator: ", ")))"
            problems.append("the table is \(has) but the job writes \(wants)")
        }
        for key in partitionKeys where byName[key.lowercased()] == nil {
            problems.append("partition column '\(key)' is missing from the table")
        }
        for c in columns {
            if keySet.contains(c.name.lowercased()) {
                problems.append("column '\(c.name)' is a partition column; the job cannot also write it as data")
                continue
            }
            guard let t = byName[c.name.lowercased()] else {
                problems.append("column '\(c.name)' (\(c.type)) is missing from the table")
                continue
            }
            if !t.accepts(c.type) {
                let has = t.columnType.map(\.description) ?? t.declaredType
                problems.append("column '\(c.name)': the table has \(has), the job writes \(c.type)")
            }
        }
        let written = Set(columns.map { $0.name.lowercased() }).union(keySet)
        for t in tableColumns where !written.contains(t.name.lowercased()) && t.notNull && !t.hasDefault {
            problems.append("column '\(t.name)' is NOT NULL without a default, and the job does not write it")
        }
        return problems
    }
}

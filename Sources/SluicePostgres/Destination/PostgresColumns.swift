import Foundation
import SluiceCore

/// A column of a PostgreSQL table as the catalog describes it.
public struct PostgresColumn: Sendable, Hashable {
    public var name: String
    /// `pg_type.typname`: `int8`, `numeric`, `varchar`, `timestamptz`, `jsonb`, …
    public var typeName: String
    /// `pg_attribute.atttypmod`: −1, or the declared length, precision and scale.
    public var typeModifier: Int32
    /// `format_type(…)`, as PostgreSQL spells the type: `character varying(64)`, `numeric(18,2)`.
    public var formatted: String
    public var notNull: Bool
    /// A default, an identity or a generated value fills the column when nothing is written.
    public var hasDefault: Bool

    public init(name: String, typeName: String, typeModifier: Int32 = -1, formatted: String? = nil,
                notNull: Bool = false, hasDefault: Bool = false) {
        self.name = name
        self.typeName = typeName
        self.typeModifier = typeModifier
        self.formatted = formatted ?? typeName
        self.notNull = notNull
        self.hasDefault = hasDefault
    }

    /// The Sluice type a job writes into this column; nil for types Sluice does not write (uuid,
    /// arrays, intervals, …). `timestamp` and `timestamptz` with up to 3 fractional digits are
    /// DATETIME, with more TIMESTAMP; `numeric` without a precision is DECIMAL(38,18).
    public var columnType: ColumnType? {
        let mod = Int(typeModifier)
        switch typeName {
        case "int8": return .bigint
        case "int4": return .int
        case "int2": return .smallint
        case "float8": return .double
        case "float4": return .float
        case "numeric":
            guard mod >= 4 else { return .decimal(precision: 38, scale: 18) }
            let precision = ((mod - 4) >> 16) & 0xFFFF
            let scale = (mod - 4) & 0x7FF
            // PostgreSQL 15 keeps negative scales as 11-bit two's complement: not a Sluice decimal.
            guard scale <= 0x3FF, scale <= precision else { return nil }
            return precision <= 38 ? .decimal(precision: precision, scale: scale) : .decimal(precision: 38, scale: min(scale, 38))
        case "text": return .string
        case "varchar": return mod >= 4 && mod - 4 <= 65_535 ? .varchar(mod - 4) : .string
        case "bpchar": return mod >= 4 && mod - 4 <= 255 ? .char(mod - 4) : .string
        case "bool": return .boolean
        case "timestamp", "timestamptz": return mod >= 0 && mod <= 3 ? .datetime : .timestamp
        case "date": return .date
        case "bytea": return .binary
        case "json", "jsonb": return .json
        default: return nil
        }
    }

    /// Whether the column holds text, as partition columns must.
    var isText: Bool { ["text", "varchar", "bpchar"].contains(typeName) }
}

/// Compares a PostgreSQL table with what a job writes.
public enum PostgresSchema {
    /// The kinds of value a column takes: a job's column fits a table column of the same kind.
    static func kind(_ type: ColumnType) -> String {
        switch type {
        case .bigint, .int, .smallint, .tinyint: "integer"
        case .double, .float: "floating point"
        case .decimal: "decimal"
        case .string, .varchar, .char: "text"
        case .boolean: "boolean"
        case .datetime, .timestamp: "date-time"
        case .date: "date"
        case .binary: "binary"
        case .json: "JSON"
        }
    }

    /// Every difference that stops `columns` + `partitionKeys` from being written into a table with
    /// `tableColumns`, one readable clause each; empty when they fit.
    public static func differences(tableColumns: [PostgresColumn], columns: [ColumnSpec], partitionKeys: [String]) -> [String] {
        var problems: [String] = []
        let byName = Dictionary(tableColumns.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for key in partitionKeys {
            guard let t = byName[key] else {
                problems.append("partition column '\(key)' is missing from the table")
                continue
            }
            if !t.isText { problems.append("partition column '\(key)' is \(t.formatted); it must be text, varchar or char") }
        }
        for c in columns {
            if partitionKeys.contains(c.name) {
                problems.append("column '\(c.name)' is a partition column; the job cannot also write it as data")
                continue
            }
            guard let t = byName[c.name] else {
                let folded = tableColumns.first { $0.name.lowercased() == c.name.lowercased() }.map {
                    " (the table has '\($0.name)': names differ in case)"
                }
                problems.append("column '\(c.name)' (\(c.type)) is missing from the table\(folded ?? "")")
                continue
            }
            guard let own = t.columnType else {
                problems.append("column '\(c.name)' is \(t.formatted), a type Sluice does not write")
                continue
            }
            if kind(own) != kind(c.type) {
                problems.append("column '\(c.name)': the table has \(t.formatted), the job writes \(c.type)")
            }
        }
        let written = Set(columns.map(\.name)).union(partitionKeys).union([PostgresWriteRecords.writeColumn])
        for t in tableColumns where !written.contains(t.name) && t.notNull && !t.hasDefault {
            problems.append("column '\(t.name)' is NOT NULL without a default, and the job does not write it")
        }
        if let tag = byName[PostgresWriteRecords.writeColumn], tag.typeName != "int8" {
            problems.append("column '\(PostgresWriteRecords.writeColumn)' is \(tag.formatted); Sluice keeps write ids there as bigint")
        }
        return problems
    }
}

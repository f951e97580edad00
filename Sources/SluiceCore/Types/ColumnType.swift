import Foundation

/// A destination column type: the MaxCompute set, which the SQLite warehouse and PostgreSQL map too.
public enum ColumnType: Hashable, Sendable, CustomStringConvertible {
    case bigint, int, smallint, tinyint
    case double, float
    case decimal(precision: Int, scale: Int)
    case string
    case varchar(Int)
    case char(Int)
    case boolean
    case datetime, date, timestamp
    case binary
    /// A JSON document, kept as its text (PostgreSQL `jsonb`, MaxCompute `JSON`, SQLite `TEXT`).
    case json

    /// Parses a MaxCompute type name, case-insensitive: `BIGINT`, `decimal(18,2)`, `VARCHAR(64)`.
    /// `DECIMAL` without arguments is `DECIMAL(38,18)` as in MaxCompute 2.0.
    public init?(parsing text: String) {
        let t = text.trimmingCharacters(in: .whitespaces).lowercased()
        func args(_ prefix: String) -> [Int]? {
            guard t.hasPrefix(prefix + "("), t.hasSuffix(")") else { return nil }
            let inner = t.dropFirst(prefix.count + 1).dropLast()
            let parts = inner.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard !parts.isEmpty, parts.allSatisfy({ $0 != nil }) else { return nil }
            return parts.map { $0! }
        }
        switch t {
        case "bigint": self = .bigint
        case "int", "integer": self = .int
        case "smallint": self = .smallint
        case "tinyint": self = .tinyint
        case "double": self = .double
        case "float": self = .float
        case "decimal": self = .decimal(precision: 38, scale: 18)
        case "string": self = .string
        case "boolean": self = .boolean
        case "datetime": self = .datetime
        case "date": self = .date
        case "timestamp": self = .timestamp
        case "binary": self = .binary
        case "json": self = .json
        default:
            if let a = args("decimal"), a.count == 2, (1...38).contains(a[0]), (0...a[0]).contains(a[1]) {
                self = .decimal(precision: a[0], scale: a[1])
            } else if let a = args("decimal"), a.count == 1, (1...38).contains(a[0]) {
                self = .decimal(precision: a[0], scale: 0)
            } else if let a = args("varchar"), a.count == 1, (1...65535).contains(a[0]) {
                self = .varchar(a[0])
            } else if let a = args("char"), a.count == 1, (1...255).contains(a[0]) {
                self = .char(a[0])
            } else {
                return nil
            }
        }
    }

    /// The MaxCompute spelling, e.g. `DECIMAL(18,2)`.
    public var description: String {
        switch self {
        case .bigint: "BIGINT"
        case .int: "INT"
        case .smallint: "SMALLINT"
        case .tinyint: "TINYINT"
        case .double: "DOUBLE"
        case .float: "FLOAT"
        case .decimal(let p, let s): "DECIMAL(\(p),\(s))"
        case .string: "STRING"
        case .varchar(let n): "VARCHAR(\(n))"
        case .char(let n): "CHAR(\(n))"
        case .boolean: "BOOLEAN"
        case .datetime: "DATETIME"
        case .date: "DATE"
        case .timestamp: "TIMESTAMP"
        case .binary: "BINARY"
        case .json: "JSON"
        }
    }
}

/// A named, typed column of a destination table.
public struct ColumnSpec: Hashable, Sendable {
    public var name: String
    public var type: ColumnType
    public var nullable: Bool

    public init(name: String, type: ColumnType, nullable: Bool = true) {
        self.name = name
        self.type = type
        self.nullable = nullable
    }
}

/// What happens to a value longer than its column allows (DataWorks `overLengthRule`).
public enum OverLengthRule: String, Sendable, Hashable, CaseIterable {
    case truncate, keepOn, setNull
}

/// One typed cell of a row, as produced by a field program and consumed by sinks.
///
/// The case used for each `ColumnType`:
/// BIGINT/INT/SMALLINT/TINYINT → `.int`; DOUBLE → `.double`; FLOAT → `.float`;
/// DECIMAL → `.decimal` (plain decimal text such as `-12.50`, already scaled to the column);
/// STRING/VARCHAR/CHAR → `.string`; BINARY → `.binary`; BOOLEAN → `.bool`;
/// DATETIME → `.datetime` (epoch milliseconds, UTC); DATE → `.date` (days since 1970-01-01);
/// TIMESTAMP → `.timestamp` (epoch seconds and nanoseconds, UTC).
public enum Value: Hashable, Sendable {
    case null
    case int(Int64)
    case double(Double)
    case float(Float)
    case decimal(String)
    case string(String)
    case binary([UInt8])
    case bool(Bool)
    case datetime(Int64)
    case date(Int32)
    case timestamp(seconds: Int64, nanos: Int32)

    public var isNull: Bool { if case .null = self { true } else { false } }
}

/// A batch of typed rows for one destination, row-major: row `r`, column `c` is
/// `values[r * columns.count + c]`. `columns` are the destination's mapped columns, in order.
public struct RowBatch: Sendable {
    public let columns: [ColumnSpec]
    public private(set) var values: [Value]
    public private(set) var rowCount: Int = 0

    public init(columns: [ColumnSpec], reservingRows rows: Int = 0) {
        self.columns = columns
        self.values = []
        self.values.reserveCapacity(rows * columns.count)
    }

    /// Appends one row; `row.count` must equal `columns.count`.
    public mutating func append<C: Collection>(row: C) where C.Element == Value {
        precondition(row.count == columns.count, "row has \(row.count) values for \(columns.count) columns")
        values.append(contentsOf: row)
        rowCount += 1
    }

    /// Appends one row built in place: `fill` gets the row's cells, all NULL, and returns false to
    /// drop the row again. Saves copying a separate row array on hot paths (field programs).
    public mutating func appendRow(_ fill: (UnsafeMutableBufferPointer<Value>) -> Bool) {
        let n = columns.count
        let start = values.count
        values.append(contentsOf: repeatElement(Value.null, count: n))
        let keep = values.withUnsafeMutableBufferPointer { all in
            fill(UnsafeMutableBufferPointer(rebasing: all[start..<(start + n)]))
        }
        if keep {
            rowCount += 1
        } else {
            values.removeLast(n)
        }
    }

    public subscript(row: Int, column: Int) -> Value {
        values[row * columns.count + column]
    }

    /// The values of row `r`.
    public func row(_ r: Int) -> ArraySlice<Value> {
        values[(r * columns.count)..<((r + 1) * columns.count)]
    }

    public mutating func removeAll(keepingCapacity: Bool = true) {
        values.removeAll(keepingCapacity: keepingCapacity)
        rowCount = 0
    }
}

/// One typed cell of a row, as produced by a field program and consumed by sinks.
///
/// The case used for each `ColumnType`:
/// BIGINT/INT/SMALLINT/TINYINT → `.int`; DOUBLE → `.double`; FLOAT → `.float`;
/// DECIMAL → `.decimal` (plain decimal text such as `-12.50`, already scaled to the column);
/// STRING/VARCHAR/CHAR → `.string`; JSON → `.string` (valid JSON text); BINARY → `.binary`; BOOLEAN → `.bool`;
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

extension Value {
    /// The value of a cell view, copying its text or bytes.
    public init(_ view: CellView) {
        switch view {
        case .null: self = .null
        case .int(let v): self = .int(v)
        case .double(let v): self = .double(v)
        case .float(let v): self = .float(v)
        case .bool(let v): self = .bool(v)
        case .datetime(let v): self = .datetime(v)
        case .date(let v): self = .date(v)
        case .timestamp(let s, let n): self = .timestamp(seconds: s, nanos: n)
        case .string(let b): self = .string(String(decoding: b.assumingMemoryBound(to: UInt8.self), as: UTF8.self))
        case .decimal(let b): self = .decimal(String(decoding: b.assumingMemoryBound(to: UInt8.self), as: UTF8.self))
        case .binary(let b): self = .binary(Array(b))
        }
    }
}

/// A cell of a `RowBatch` seen without copying: scalars by value, text and bytes as pointers into the
/// batch's byte arena. Pointers are valid only inside the `RowBatch.withCells` call that produced
/// them. Same cases as `Value`; `string` and `decimal` hold UTF-8.
public enum CellView {
    case null
    case int(Int64)
    case double(Double)
    case float(Float)
    case decimal(UnsafeRawBufferPointer)
    case string(UnsafeRawBufferPointer)
    case binary(UnsafeRawBufferPointer)
    case bool(Bool)
    case datetime(Int64)
    case date(Int32)
    case timestamp(seconds: Int64, nanos: Int32)
}

/// A batch of typed rows for one destination, row-major. `columns` are the destination's mapped
/// columns, in order.
///
/// Cells are stored without per-cell allocation: scalars inline, text and bytes as a range of one
/// byte arena owned by the batch (`removeAll` keeps both buffers' capacity for the next batch).
/// `batch[row, column]` materialises a `Value` (a `String` or `[UInt8]` for text and bytes: the slow
/// path, for tests and previews); sinks read `withCells`, which hands out the arena's bytes.
public struct RowBatch: Sendable {
    /// A stored cell: text and bytes are `offset..<offset+length` of `arena`.
    @usableFromInline
    package enum Stored: Sendable {
        case null
        case int(Int64)
        case double(Double)
        case float(Float)
        case decimal(Int, UInt32)
        case string(Int, UInt32)
        case binary(Int, UInt32)
        case bool(Bool)
        case datetime(Int64)
        case date(Int32)
        case timestamp(Int64, Int32)
    }

    /// The kind of arena-backed cell.
    @usableFromInline
    package enum BytesKind { case string, decimal, binary }

    public let columns: [ColumnSpec]
    @usableFromInline var cells: [Stored] = []
    @usableFromInline var arena: [UInt8] = []
    /// The number of rows.
    public var rowCount: Int { storedRowCount }
    @usableFromInline var storedRowCount = 0

    /// An empty batch with room for `rows` rows and `bytes` bytes of text and binary cells.
    public init(columns: [ColumnSpec], reservingRows rows: Int = 0, bytes: Int = 0) {
        self.columns = columns
        cells.reserveCapacity(rows * columns.count)
        arena.reserveCapacity(bytes)
    }

    /// Bytes held in the arena (text and binary cells).
    public var arenaBytes: Int { arena.count }

    /// Every cell as a `Value`, row-major (`values[r * columns.count + c]`). Materialises each text
    /// cell as a new `String`: for tests and small outputs, not for sinks.
    public var values: [Value] {
        withCells { cells in (0..<cells.rowCount * cells.columnCount).map { Value(cells[$0 / cells.columnCount, $0 % cells.columnCount]) } }
    }

    /// Appends one row; `row.count` must equal `columns.count`. Text and bytes are copied into the arena.
    public mutating func append<C: Collection>(row: C) where C.Element == Value {
        precondition(row.count == columns.count, "row has \(row.count) values for \(columns.count) columns")
        appendRow { w in
            for (c, v) in row.enumerated() { w.set(c, v) }
            return true
        }
    }

    /// Appends one row built from `Value`s: `fill` gets the row's cells, all NULL, and returns false
    /// to drop the row again. (Field programs use the arena directly.)
    public mutating func appendRow(_ fill: (UnsafeMutableBufferPointer<Value>) -> Bool) {
        var row = [Value](repeating: .null, count: columns.count)
        if row.withUnsafeMutableBufferPointer({ fill($0) }) { append(row: row) }
    }

    public subscript(row: Int, column: Int) -> Value {
        precondition(row >= 0 && row < rowCount && column >= 0 && column < columns.count, "cell (\(row), \(column)) is outside the batch")
        return withCells { Value($0[row, column]) }
    }

    /// The values of row `r`.
    public func row(_ r: Int) -> ArraySlice<Value> {
        precondition(r >= 0 && r < rowCount, "row \(r) is outside the batch")
        return withCells { cells in ArraySlice((0..<cells.columnCount).map { Value(cells[r, $0]) }) }
    }

    /// Appends the rows of `other` (which has the same columns) after this batch's rows.
    public mutating func append(contentsOf other: RowBatch) {
        precondition(other.columns == columns, "RowBatch columns differ")
        let base = arena.count
        arena.append(contentsOf: other.arena)
        cells.reserveCapacity(cells.count + other.cells.count)
        for cell in other.cells {
            switch cell {
            case .string(let offset, let length): cells.append(.string(offset + base, length))
            case .decimal(let offset, let length): cells.append(.decimal(offset + base, length))
            case .binary(let offset, let length): cells.append(.binary(offset + base, length))
            default: cells.append(cell)
            }
        }
        storedRowCount += other.rowCount
    }

    public mutating func removeAll(keepingCapacity: Bool = true) {
        cells.removeAll(keepingCapacity: keepingCapacity)
        arena.removeAll(keepingCapacity: keepingCapacity)
        storedRowCount = 0
    }

    /// Calls `body` with a view of every cell; the view's pointers must not escape it.
    @inlinable
    public func withCells<R>(_ body: (Cells) throws -> R) rethrows -> R {
        try cells.withUnsafeBufferPointer { cells in
            try arena.withUnsafeBytes { arena in
                try body(Cells(cells: cells, arena: arena, rowCount: rowCount, columnCount: columns.count))
            }
        }
    }

    /// The cells of a batch, borrowed (see `withCells`).
    public struct Cells {
        @usableFromInline let cells: UnsafeBufferPointer<Stored>
        @usableFromInline let arena: UnsafeRawBufferPointer
        public let rowCount: Int
        public let columnCount: Int

        @inlinable
        init(cells: UnsafeBufferPointer<Stored>, arena: UnsafeRawBufferPointer, rowCount: Int, columnCount: Int) {
            self.cells = cells
            self.arena = arena
            self.rowCount = rowCount
            self.columnCount = columnCount
        }

        @inlinable
        public subscript(row: Int, column: Int) -> CellView {
            switch cells[row &* columnCount &+ column] {
            case .null: return .null
            case .int(let v): return .int(v)
            case .double(let v): return .double(v)
            case .float(let v): return .float(v)
            case .bool(let v): return .bool(v)
            case .datetime(let v): return .datetime(v)
            case .date(let v): return .date(v)
            case .timestamp(let s, let n): return .timestamp(seconds: s, nanos: n)
            case .string(let o, let n): return .string(bytes(o, n))
            case .decimal(let o, let n): return .decimal(bytes(o, n))
            case .binary(let o, let n): return .binary(bytes(o, n))
            }
        }

        @inlinable @inline(__always)
        func bytes(_ offset: Int, _ length: UInt32) -> UnsafeRawBufferPointer {
            UnsafeRawBufferPointer(start: arena.baseAddress.map { $0 + offset }, count: Int(length))
        }
    }

    // MARK: - Building rows in place (field programs)

    /// Appends a row of NULL cells and lets `fill` set them through a `RowWriter`; when `fill`
    /// returns false the row and its arena bytes are removed again. Returns what `fill` returned.
    @discardableResult @inlinable
    package mutating func appendRow(filling fill: (inout RowWriter) -> Bool) -> Bool {
        let n = columns.count
        let start = cells.count
        let mark = arena.count
        for _ in 0..<n { cells.append(.null) }
        var writer = RowWriter(arena: [])
        swap(&writer.arena, &arena)
        let keep = cells.withUnsafeMutableBufferPointer { all in
            writer.row = UnsafeMutableBufferPointer(rebasing: all[start..<(start + n)])
            return fill(&writer)
        }
        swap(&writer.arena, &arena)
        if keep {
            storedRowCount += 1
        } else {
            cells.removeLast(n)
            arena.removeSubrange(mark...)
        }
        return keep
    }
}

/// The open row of a `RowBatch` while a field program fills it: its cells, and the batch's arena
/// (moved out of the batch for the duration) for text and bytes.
@usableFromInline
package struct RowWriter {
    @usableFromInline package var row = UnsafeMutableBufferPointer<RowBatch.Stored>(start: nil, count: 0)
    @usableFromInline package var arena: [UInt8]

    @inlinable
    package init(arena: [UInt8]) { self.arena = arena }

    /// Sets cell `c` to a scalar.
    @inlinable @inline(__always)
    package mutating func set(_ c: Int, stored: RowBatch.Stored) {
        row[c] = stored
    }

    /// Sets cell `c` to a copy of `bytes`.
    @inlinable @inline(__always)
    package mutating func setBytes(_ c: Int, _ bytes: UnsafeRawBufferPointer, _ kind: RowBatch.BytesKind) {
        let offset = arena.count
        arena.append(contentsOf: bytes)
        let n = UInt32(bytes.count)
        switch kind {
        case .string: row[c] = .string(offset, n)
        case .decimal: row[c] = .decimal(offset, n)
        case .binary: row[c] = .binary(offset, n)
        }
    }

    /// Sets cell `c` to `value`, copying its text or bytes into the arena.
    @inlinable
    package mutating func set(_ c: Int, _ value: Value) {
        switch value {
        case .null: set(c, stored: .null)
        case .int(let v): set(c, stored: .int(v))
        case .double(let v): set(c, stored: .double(v))
        case .float(let v): set(c, stored: .float(v))
        case .bool(let v): set(c, stored: .bool(v))
        case .datetime(let v): set(c, stored: .datetime(v))
        case .date(let v): set(c, stored: .date(v))
        case .timestamp(let s, let n): set(c, stored: .timestamp(s, n))
        case .string(let s): FastText.withUTF8(s) { setBytes(c, $0, .string) }
        case .decimal(let s): FastText.withUTF8(s) { setBytes(c, $0, .decimal) }
        case .binary(let b): b.withUnsafeBytes { setBytes(c, $0, .binary) }
        }
    }
}

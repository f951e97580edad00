import Foundation
import NIOCore
import SluiceCore

/// Encodes row batches as the tuples of a binary COPY: per row a 16-bit field count, then per field
/// a 32-bit length (−1 for NULL) and the value in the column's binary representation.
///
/// The representation is chosen by the table column's PostgreSQL type (binary COPY is exact: an
/// `int8` value is refused by an `int4` column), and every row ends with the same constant fields:
/// the partition values and, when the table has it, the write id.
struct PostgresCopyEncoder: Sendable {
    /// A column's binary representation.
    enum Wire: Sendable, Hashable {
        case int2, int4, int8, float4, float8, numeric, text, bool, timestamp, date, bytea, json, jsonb

        init?(typeName: String) {
            switch typeName {
            case "int2": self = .int2
            case "int4": self = .int4
            case "int8": self = .int8
            case "float4": self = .float4
            case "float8": self = .float8
            case "numeric": self = .numeric
            case "text", "varchar", "bpchar": self = .text
            case "bool": self = .bool
            case "timestamp", "timestamptz": self = .timestamp
            case "date": self = .date
            case "bytea": self = .bytea
            case "json": self = .json
            case "jsonb": self = .jsonb
            default: return nil
            }
        }
    }

    /// One constant field at the end of every row.
    enum Constant: Sendable, Hashable {
        case text(String)
        case int8(Int64)
    }

    let wires: [Wire]
    let names: [String]
    let types: [String]
    /// The constant fields, encoded once.
    let tail: [UInt8]
    let fieldCount: Int16

    /// The encoder for `columns` (the batch's columns, in order) of a table with `tableColumns`,
    /// followed by `constants`. Throws when a column is missing or of a type Sluice does not write.
    init(columns: [ColumnSpec], tableColumns: [PostgresColumn], constants: [Constant]) throws {
        var wires: [Wire] = [], types: [String] = []
        for c in columns {
            guard let t = tableColumns.first(where: { $0.name == c.name }), let wire = Wire(typeName: t.typeName) else {
                throw SluiceError(.destination, "PostgreSQL COPY: column '\(c.name)' is not a column of a type Sluice writes",
                                  code: "destination.schema", retriable: false)
            }
            wires.append(wire)
            types.append(t.formatted)
        }
        var tail = ByteBuffer()
        for constant in constants {
            switch constant {
            case .text(let s):
                tail.writeInteger(Int32(s.utf8.count))
                tail.writeString(s)
            case .int8(let v):
                tail.writeInteger(Int32(8))
                tail.writeInteger(v)
            }
        }
        self.wires = wires
        self.names = columns.map(\.name)
        self.types = types
        self.tail = Array(tail.readableBytesView)
        self.fieldCount = Int16(columns.count + constants.count)
    }

    /// Encodes rows from `start` on until `out` holds `limit` bytes or more, and returns the row after
    /// the last one encoded.
    func encode(_ cells: RowBatch.Cells, from start: Int, into out: inout ByteBuffer, limit: Int) throws -> Int {
        var r = start
        while r < cells.rowCount, out.readableBytes < limit {
            out.writeInteger(fieldCount)
            for c in 0..<cells.columnCount {
                try encode(cells[r, c], wire: wires[c], column: c, into: &out)
            }
            out.writeBytes(tail)
            r += 1
        }
        return r
    }

    @inline(__always)
    private func encode(_ cell: CellView, wire: Wire, column c: Int, into out: inout ByteBuffer) throws {
        switch (cell, wire) {
        case (.null, _):
            out.writeInteger(Int32(-1))
        case (.int(let v), .int8):
            out.writeInteger(Int32(8)); out.writeInteger(v)
        case (.int(let v), .int4):
            guard let narrow = Int32(exactly: v) else { throw outOfRange(v, column: c) }
            out.writeInteger(Int32(4)); out.writeInteger(narrow)
        case (.int(let v), .int2):
            guard let narrow = Int16(exactly: v) else { throw outOfRange(v, column: c) }
            out.writeInteger(Int32(2)); out.writeInteger(narrow)
        case (.double(let v), .float8):
            out.writeInteger(Int32(8)); out.writeInteger(v.bitPattern)
        case (.float(let v), .float4):
            out.writeInteger(Int32(4)); out.writeInteger(v.bitPattern)
        case (.bool(let v), .bool):
            out.writeInteger(Int32(1)); out.writeInteger(UInt8(v ? 1 : 0))
        case (.string(let b), .text), (.string(let b), .json), (.binary(let b), .bytea):
            out.writeInteger(Int32(b.count)); out.writeBytes(b)
        case (.string(let b), .jsonb):
            // jsonb's binary input: a version byte (1), then the JSON text.
            out.writeInteger(Int32(b.count + 1)); out.writeInteger(UInt8(1)); out.writeBytes(b)
        case (.decimal(let b), .numeric):
            guard PostgresBinary.writeNumeric(b, to: &out) else {
                throw mismatch("the decimal '\(String(decoding: b.bindMemory(to: UInt8.self), as: UTF8.self))'", column: c)
            }
        case (.datetime(let ms), .timestamp):
            out.writeInteger(Int32(8)); out.writeInteger(PostgresBinary.microseconds(millis: ms))
        case (.timestamp(let s, let ns), .timestamp):
            out.writeInteger(Int32(8)); out.writeInteger(PostgresBinary.microseconds(seconds: s, nanos: ns))
        case (.date(let days), .date):
            out.writeInteger(Int32(4)); out.writeInteger(Int32(Int64(days) - PostgresBinary.epochDays))
        default:
            throw mismatch("a value of another kind (\(cell.kindName))", column: c)
        }
    }

    private func outOfRange(_ v: Int64, column c: Int) -> SluiceError {
        SluiceError(.destination, "PostgreSQL COPY: \(v) does not fit column '\(names[c])' (\(types[c]))", retriable: false)
    }

    private func mismatch(_ what: String, column c: Int) -> SluiceError {
        SluiceError(.destination, "PostgreSQL COPY: \(what) cannot go into column '\(names[c])' (\(types[c]))", retriable: false)
    }
}

extension CellView {
    /// What kind of value the cell holds, for messages.
    var kindName: String {
        switch self {
        case .null: "NULL"
        case .int: "integer"
        case .double: "double"
        case .float: "float"
        case .decimal: "decimal"
        case .string: "text"
        case .binary: "bytes"
        case .bool: "boolean"
        case .datetime: "datetime"
        case .date: "date"
        case .timestamp: "timestamp"
        }
    }
}

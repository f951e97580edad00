import SluiceCore

/// What the encoder does with values that are too long, and with empty strings.
public struct FieldLimits: Sendable, Equatable {
    /// The tunnel's `MaxFieldSize` (bytes) from the upload session; 8 MB when the server gives none.
    public var maxFieldSize: Int
    /// DataWorks `maxFieldLength` (bytes); nil = `maxFieldSize`.
    public var maxFieldLength: Int?
    /// DataWorks `overLengthRule`; nil = an over-long value fails the write.
    public var overLengthRule: OverLengthRule?
    /// Empty STRING/VARCHAR/CHAR values are written as NULL.
    public var emptyAsNull: Bool

    public init(maxFieldSize: Int = 8 << 20, maxFieldLength: Int? = nil, overLengthRule: OverLengthRule? = nil,
                emptyAsNull: Bool = false) {
        self.maxFieldSize = maxFieldSize
        self.maxFieldLength = maxFieldLength
        self.overLengthRule = overLengthRule
        self.emptyAsNull = emptyAsNull
    }

    /// The length above which the over-length rule applies.
    public var limit: Int { maxFieldLength ?? maxFieldSize }
}

/// Encodes rows into the tunnel record stream (protobuf-like fields, per-record CRC-32C, trailer with
/// the record count and the CRC of record CRCs). See docs/maxcompute.md.
///
/// `tableColumns` are the upload session's data columns (field number = 1-based index); the rows
/// given to `encode` have the layout of `writeColumns`, each of which must name a table column.
/// Table columns the job does not write are NULL.
public struct TunnelRecordEncoder: Sendable {
    @usableFromInline enum Kind: Sendable {
        case integer(min: Int64, max: Int64)
        case boolean, double, float, datetime, date, timestamp, decimal
        case text(utf8: Bool)
    }

    @usableFromInline struct Slot: Sendable {
        var position: Int      // index in the row
        var field: UInt32      // field number
        var tag: UInt32        // (field << 3) | wire type
        var kind: Kind
        var type: ColumnType
        var index: Int         // into `names`
    }

    let slots: [Slot]
    let names: [String]
    public let columnCount: Int
    public var limits: FieldLimits
    /// Records encoded since the last `finish`.
    public private(set) var recordCount: Int64 = 0
    private var crcOfCrcs = CRC32C()
    private var crc = CRC32C()
    /// Values changed or dropped by `overLengthRule` since creation.
    public private(set) var overLengthValues: Int64 = 0

    public init(tableColumns: [ColumnSpec], writeColumns: [ColumnSpec], limits: FieldLimits = FieldLimits()) throws {
        var slots: [Slot] = []
        var names: [String] = []
        var problems: [String] = []
        for (position, column) in writeColumns.enumerated() {
            guard let index = tableColumns.firstIndex(where: { $0.name.lowercased() == column.name.lowercased() }) else {
                problems.append("column \(column.name) is not in the table")
                continue
            }
            let type = tableColumns[index].type
            let field = UInt32(index + 1)
            let kind: Kind
            let wire: UInt32
            switch type {
            case .bigint: kind = .integer(min: .min, max: .max); wire = 0
            case .int: kind = .integer(min: Int64(Int32.min), max: Int64(Int32.max)); wire = 0
            case .smallint: kind = .integer(min: Int64(Int16.min), max: Int64(Int16.max)); wire = 0
            case .tinyint: kind = .integer(min: Int64(Int8.min), max: Int64(Int8.max)); wire = 0
            case .boolean: kind = .boolean; wire = 0
            case .double: kind = .double; wire = 1
            case .float: kind = .float; wire = 5
            case .datetime: kind = .datetime; wire = 0
            case .date: kind = .date; wire = 0
            case .timestamp: kind = .timestamp; wire = 2
            case .decimal: kind = .decimal; wire = 2
            // JSON goes as its text, as pyodps's record writer sends it.
            case .string, .varchar, .char, .json: kind = .text(utf8: true); wire = 2
            case .binary: kind = .text(utf8: false); wire = 2
            }
            slots.append(Slot(position: position, field: field, tag: (field << 3) | wire, kind: kind, type: type,
                              index: names.count))
            names.append(tableColumns[index].name)
        }
        if !problems.isEmpty {
            throw SluiceError(.destination, "MaxCompute record encoder: " + problems.joined(separator: "; "))
        }
        self.slots = slots.sorted { $0.field < $1.field }
        self.names = names
        self.columnCount = writeColumns.count
        self.limits = limits
    }

    /// Encodes every row of `batch` onto `out`.
    public mutating func encode(_ batch: RowBatch, into out: inout [UInt8]) throws {
        precondition(batch.columns.count == columnCount, "batch has \(batch.columns.count) columns, encoder \(columnCount)")
        var buffer = WireBuffer(adopting: &out)
        defer { out = buffer.take() }
        try batch.withCells { cells in
            for r in 0..<cells.rowCount { try encodeRow(r, of: cells, into: &buffer) }
        }
    }

    /// Encodes one row (`columnCount` values in write-column order) onto `out`.
    public mutating func encodeRow(_ row: UnsafeBufferPointer<Value>, into out: inout [UInt8]) throws {
        var buffer = WireBuffer(adopting: &out)
        defer { out = buffer.take() }
        try encodeRow(row, into: &buffer)
    }

    /// Encodes one row of `Value`s onto `out` (the slow path: the row is copied into a batch first).
    public mutating func encodeRow(_ row: UnsafeBufferPointer<Value>, into out: inout WireBuffer) throws {
        var batch = RowBatch(columns: (0..<columnCount).map { ColumnSpec(name: "c\($0)", type: .string) }, reservingRows: 1)
        batch.append(row: row)
        try batch.withCells { cells in try encodeRow(0, of: cells, into: &out) }
    }

    /// Appends the stream trailer (record count, CRC of record CRCs) and starts a new stream.
    public mutating func finish(into out: inout [UInt8]) {
        var buffer = WireBuffer(adopting: &out)
        finish(into: &buffer)
        out = buffer.take()
    }

    /// Encodes row `r` of `cells` onto `out`. On error nothing is appended.
    public mutating func encodeRow(_ r: Int, of cells: RowBatch.Cells, into out: inout WireBuffer) throws {
        // An upper bound of the encoded size, so that the row is written without capacity checks.
        var bound = 9
        for slot in slots {
            switch cells[r, slot.position] {
            case .string(let b), .decimal(let b), .binary(let b): bound += 20 + b.count
            default: bound += 20
            }
        }
        out.ensure(bound)
        let offset = out.length
        let written = try out.storage.withUnsafeMutableBufferPointer { storage in
            let start = storage.baseAddress! + offset
            var w = Cursor(p: start)
            try writeFields(r, cells, &w)
            let recordCRC = crc.value
            w.raw(Self.endRecordTag)
            w.varint(UInt64(recordCRC))
            crcOfCrcs.update(uint32: recordCRC)
            return w.p - start
        }
        out.length += written
        recordCount += 1
    }

    /// Appends the stream trailer (record count, CRC of record CRCs) and starts a new stream.
    public mutating func finish(into out: inout WireBuffer) {
        out.ensure(32)
        let count = recordCount, total = crcOfCrcs.value, offset = out.length
        let written = out.storage.withUnsafeMutableBufferPointer { storage in
            let start = storage.baseAddress! + offset
            var w = Cursor(p: start)
            w.raw(Self.countTag)
            w.varint(Varint.zigzag(count))
            w.raw(Self.checksumTag)
            w.varint(UInt64(total))
            return w.p - start
        }
        out.length += written
        recordCount = 0
        crcOfCrcs.reset()
    }

    /// Field 33553408, varint: ends a record.
    public static let endRecordTag: [UInt8] = [0x80, 0xC0, 0xFF, 0x7F]
    /// Field 33554430, varint: the record count.
    public static let countTag: [UInt8] = [0xF0, 0xFF, 0xFF, 0x7F]
    /// Field 33554431, varint: the CRC of record CRCs.
    public static let checksumTag: [UInt8] = [0xF8, 0xFF, 0xFF, 0x7F]

    @inline(__always)
    private mutating func writeFields(_ r: Int, _ cells: RowBatch.Cells, _ w: inout Cursor) throws {
        crc.reset()
        for i in slots.indices {
            let slot = slots[i]
            let value = cells[r, slot.position]
            switch value {
            case .null:
                continue
            case .int(let v):
                guard case .integer(let lo, let hi) = slot.kind else { throw mismatch(slot, value) }
                guard v >= lo && v <= hi else {
                    throw SluiceError(.destination, "column \(names[slot.index]) (\(slot.type)): value \(v) is out of range")
                }
                w.varint(UInt64(slot.tag))
                w.varint(Varint.zigzag(v))
                crc.update(uint32: slot.field)
                crc.update(uint64: UInt64(bitPattern: v))
            case .bool(let b):
                guard case .boolean = slot.kind else { throw mismatch(slot, value) }
                w.varint(UInt64(slot.tag))
                w.byte(b ? 1 : 0)
                crc.update(uint32: slot.field)
                crc.update(byte: b ? 1 : 0)
            case .double(let d):
                guard case .double = slot.kind else { throw mismatch(slot, value) }
                w.varint(UInt64(slot.tag))
                w.le64(d.bitPattern)
                crc.update(uint32: slot.field)
                crc.update(uint64: d.bitPattern)
            case .float(let f):
                guard case .float = slot.kind else { throw mismatch(slot, value) }
                w.varint(UInt64(slot.tag))
                w.le32(f.bitPattern)
                crc.update(uint32: slot.field)
                crc.update(uint32: f.bitPattern)
            case .datetime(let ms):
                guard case .datetime = slot.kind else { throw mismatch(slot, value) }
                w.varint(UInt64(slot.tag))
                w.varint(Varint.zigzag(ms))
                crc.update(uint32: slot.field)
                crc.update(uint64: UInt64(bitPattern: ms))
            case .date(let days):
                guard case .date = slot.kind else { throw mismatch(slot, value) }
                let d = Int64(days)
                w.varint(UInt64(slot.tag))
                w.varint(Varint.zigzag(d))
                crc.update(uint32: slot.field)
                crc.update(uint64: UInt64(bitPattern: d))
            case .timestamp(let seconds, let nanos):
                guard case .timestamp = slot.kind else { throw mismatch(slot, value) }
                w.varint(UInt64(slot.tag))
                w.varint(Varint.zigzag(seconds))
                w.varint(UInt64(Varint.zigzag32(nanos)))
                crc.update(uint32: slot.field)
                crc.update(uint64: UInt64(bitPattern: seconds))
                crc.update(uint32: UInt32(bitPattern: nanos))
            case .decimal(let text):
                guard case .decimal = slot.kind else { throw mismatch(slot, value) }
                writeBytes(slot, text.assumingMemoryBound(to: UInt8.self), &w)
            case .string(let text):
                guard case .text(true) = slot.kind else { throw mismatch(slot, value) }
                if text.isEmpty && limits.emptyAsNull { continue }
                try writeLimited(slot, text.assumingMemoryBound(to: UInt8.self), utf8: true, &w)
            case .binary(let bytes):
                guard case .text = slot.kind else { throw mismatch(slot, value) }
                try writeLimited(slot, bytes.assumingMemoryBound(to: UInt8.self), utf8: false, &w)
            }
        }
    }

    @inline(__always)
    private mutating func writeBytes(_ slot: Slot, _ bytes: UnsafeBufferPointer<UInt8>, _ w: inout Cursor) {
        w.varint(UInt64(slot.tag))
        w.varint(UInt64(bytes.count))
        w.copy(bytes)
        crc.update(uint32: slot.field)
        crc.update(UnsafeRawBufferPointer(bytes))
    }

    private mutating func writeLimited(_ slot: Slot, _ bytes: UnsafeBufferPointer<UInt8>, utf8: Bool,
                                       _ w: inout Cursor) throws {
        let limit = limits.limit
        guard bytes.count > limit else { return writeBytes(slot, bytes, &w) }
        switch limits.overLengthRule {
        case nil:
            throw SluiceError(.destination,
                              "column \(names[slot.index]) (\(slot.type)): a value of \(bytes.count) bytes is longer than the limit of \(limit) bytes",
                              hint: "set destination overLengthRule to truncate, setNull or keepOn (and maxFieldLength)")
        case .keepOn?:
            overLengthValues += 1
            writeBytes(slot, bytes, &w)
        case .setNull?:
            overLengthValues += 1
        case .truncate?:
            overLengthValues += 1
            var end = limit
            if utf8 {
                // Cut before a continuation byte so the string stays valid UTF-8.
                while end > 0 && (bytes[end] & 0xC0) == 0x80 { end -= 1 }
            }
            writeBytes(slot, UnsafeBufferPointer(rebasing: bytes[0..<end]), &w)
        }
    }

    private func mismatch(_ slot: Slot, _ value: CellView) -> SluiceError {
        let got: String
        switch value {
        case .null: got = "NULL"
        case .int: got = "an integer"
        case .double: got = "a double"
        case .float: got = "a float"
        case .decimal: got = "a decimal"
        case .string: got = "a string"
        case .binary: got = "binary bytes"
        case .bool: got = "a boolean"
        case .datetime: got = "a datetime"
        case .date: got = "a date"
        case .timestamp: got = "a timestamp"
        }
        return SluiceError(.destination, "column \(names[slot.index]) is \(slot.type) in the table but the row holds \(got)",
                           hint: "make the job's column types match the table (sluice ddl shows the expected types)")
    }
}

/// A byte array used as an output buffer: `storage.count` is the capacity, the first `length` bytes
/// are the output. Grows geometrically.
public struct WireBuffer: Sendable {
    public fileprivate(set) var storage: [UInt8]
    public fileprivate(set) var length: Int

    public init() {
        storage = []
        length = 0
    }

    /// Takes over `bytes` (leaving it empty) and appends after them.
    public init(adopting bytes: inout [UInt8]) {
        length = bytes.count
        storage = []
        swap(&storage, &bytes)
    }

    /// Makes room for `extra` more bytes.
    public mutating func ensure(_ extra: Int) {
        if storage.count - length < extra {
            let target = Swift.max(length + extra, storage.count * 2, 65_536)
            storage.append(contentsOf: repeatElement(0, count: target - storage.count))
        }
    }

    /// A copy of the output, exactly sized; the buffer is emptied but keeps its memory for reuse.
    public mutating func copyOut() -> [UInt8] {
        defer { length = 0 }
        return Array(storage[0..<length])
    }

    /// The output, leaving the buffer empty.
    public mutating func take() -> [UInt8] {
        var out: [UInt8] = []
        swap(&out, &storage)
        out.removeSubrange(length...)
        length = 0
        return out
    }
}

/// Writes through a raw pointer; the caller guarantees the room.
@usableFromInline struct Cursor {
    @usableFromInline var p: UnsafeMutablePointer<UInt8>
    @inlinable init(p: UnsafeMutablePointer<UInt8>) { self.p = p }
    @inlinable @inline(__always) mutating func byte(_ b: UInt8) {
        p.pointee = b
        p += 1
    }
    @inlinable @inline(__always) mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            p.pointee = UInt8(truncatingIfNeeded: v) | 0x80
            p += 1
            v >>= 7
        }
        p.pointee = UInt8(truncatingIfNeeded: v)
        p += 1
    }
    @inlinable @inline(__always) mutating func le64(_ v: UInt64) {
        UnsafeMutableRawPointer(p).storeBytes(of: v.littleEndian, as: UInt64.self)
        p += 8
    }
    @inlinable @inline(__always) mutating func le32(_ v: UInt32) {
        UnsafeMutableRawPointer(p).storeBytes(of: v.littleEndian, as: UInt32.self)
        p += 4
    }
    @inlinable @inline(__always) mutating func copy(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        p.update(from: base, count: bytes.count)
        p += bytes.count
    }
    @inlinable @inline(__always) mutating func raw(_ bytes: [UInt8]) {
        for b in bytes { byte(b) }
    }
}

/// Protobuf varints and fixed-width little-endian integers.
public enum Varint {
    @inlinable public static func zigzag(_ v: Int64) -> UInt64 {
        UInt64(bitPattern: (v << 1) ^ (v >> 63))
    }
    @inlinable public static func zigzag32(_ v: Int32) -> UInt32 {
        UInt32(bitPattern: (v << 1) ^ (v >> 31))
    }
    @inlinable public static func unzigzag(_ v: UInt64) -> Int64 {
        Int64(bitPattern: v >> 1) ^ -Int64(bitPattern: v & 1)
    }
    @inlinable public static func append(_ value: UInt64, to out: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            out.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        out.append(UInt8(v))
    }
    @inlinable public static func appendLE64(_ v: UInt64, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }
    @inlinable public static func appendLE32(_ v: UInt32, to out: inout [UInt8]) {
        withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) }
    }
}

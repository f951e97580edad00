import SluiceCore
import SluiceJob

/// One run's Avro state: what each path found in the current record's value, and the decoders by
/// schema id seen so far (a copy of the shared cache's entries, so that a record takes no lock).
struct AvroRecordState {
    var values: [AvroValue]
    /// JSON text of the records, arrays and maps paths address as a whole.
    var json: [UInt8] = []
    /// The decoded value's bytes, nil for a null value (every path is then NULL).
    var doc: UnsafeRawBufferPointer?
    var program: AvroProgram?
    /// The Protobuf program of the current record (`protobuf` formats; `program` is then nil).
    var proto: ProtoProgram?
    /// The Protobuf programs of schema `programId`.
    var protoPrograms: ProtoPrograms?
    /// Element counts of repeated Protobuf fields, per message being walked.
    var counters: [Int] = []
    /// The schema id of `program` (consecutive records mostly share one).
    var programId: Int32?
    var known: [Int32: AvroDecoders.Entry] = [:]
    /// Decimal, date and time text.
    var text: [UInt8] = []
    /// This state is the key's (`keyFormat` avro).
    let key: Bool

    init(slots: Int, key: Bool) {
        self.key = key
        values = Array(repeating: .missing, count: slots)
        json.reserveCapacity(256)
        text.reserveCapacity(64)
    }
}

extension RunState {
    /// `decodeAvro` for the key: the key's state takes the value's place meanwhile.
    mutating func decodeAvroKey(_ key: UnsafeRawBufferPointer?, _ decoders: AvroDecoders) -> DirtyReason? {
        swap(&avro, &avroKey)
        defer { swap(&avro, &avroKey) }
        return decodeAvro(key, decoders)
    }

    /// `avroCell` for a key path.
    mutating func avroKeyCell(_ slot: Int, _ column: ColumnConversion, _ rows: inout RowWriter, _ c: Int) throws(DirtyReason) {
        swap(&avro, &avroKey)
        defer { swap(&avro, &avroKey) }
        try avroCell(slot, column, &rows, c)
    }

    /// Decodes the record's value (or key) for the Avro or Protobuf paths; the reason it is dirty, if it is.
    mutating func decodeAvro(_ value: UnsafeRawBufferPointer?, _ decoders: AvroDecoders) -> DirtyReason? {
        avro.doc = value
        guard let value else { return nil }
        var start = 0
        var entry: AvroDecoders.Entry
        if let fixed = decoders.fixed {
            entry = fixed
        } else {
            guard let id = AvroDecoders.schemaId(value) else {
                let first = value.first.map { "0x" + String($0, radix: 16) } ?? "nothing"
                return DirtyReason(.notAvro, "the \(avro.key ? "key" : "value") is not Confluent-framed \(decoders.protobuf ? "Protobuf" : "Avro"): it starts with \(first) and has \(value.count) bytes (expected magic byte 0 and a 4-byte schema id)")
            }
            start = 5
            if id == avro.programId, let same = avro.program {
                entry = .program(same)
            } else if id == avro.programId, let same = avro.protoPrograms {
                entry = .proto(same)
            } else {
                guard let found = avro.known[id] ?? decoders.entry(id: id) else {
                    return DirtyReason(.unknownSchema, "schema id \(id) was not fetched from the schema registry")
                }
                avro.known[id] = found
                entry = found
            }
        }
        let key = avro.key
        func schema() -> String { decoders.framed ? "schema id \(AvroDecoders.schemaId(value)!)" : "the job's Avro \(key ? "key " : "")schema" }
        switch entry {
        case .unusable(let why):
            return DirtyReason(.unknownSchema, why)
        case .program(let program):
            avro.program = program
            avro.programId = decoders.framed ? AvroDecoders.schemaId(value) : nil
            do throws(AvroDecodeFailure) {
                try program.decode(value, from: start, into: &avro.values, json: &avro.json)
            } catch {
                return DirtyReason(.notAvro, "the \(key ? "key" : "value") does not decode as Avro with \(schema()): \(error.message) (byte \(error.position))")
            }
        case .proto(let programs):
            avro.protoPrograms = programs
            avro.programId = AvroDecoders.schemaId(value)
            return decodeProto(value, start, programs, schema)
        }
        return nil
    }

    /// The message-index array after the schema id, then the message.
    mutating func decodeProto(_ value: UnsafeRawBufferPointer, _ start: Int, _ programs: ProtoPrograms, _ schema: () -> String) -> DirtyReason? {
        let what = avro.key ? "key" : "value"
        var pos = start
        let program: ProtoProgram
        if pos < value.count, value[pos] == 0, let first = programs.first {
            program = first
            pos += 1
        } else {
            guard let indexes = ProtoMessageIndexes.read(value, &pos) else {
                return DirtyReason(.notAvro, "the \(what) does not decode as Protobuf with \(schema()): its message-index array is cut short or invalid (byte \(start))")
            }
            guard let p = programs.byIndexes[indexes.isEmpty ? [0] : indexes] else {
                return DirtyReason(.notAvro, "the \(what) names message index \(indexes) of \(schema()), which has no such message (\(programs.schema.topLevel.count) top-level messages)")
            }
            program = p
        }
        avro.proto = program
        do throws(AvroDecodeFailure) {
            try program.decode(value, from: pos, into: &avro.values, json: &avro.json, counters: &avro.counters)
        } catch {
            return DirtyReason(.notAvro, "the \(what) does not decode as Protobuf with \(schema()): \(error.message) (byte \(error.position))")
        }
        return nil
    }

    /// Avro path `slot` of the current record into cell `c`.
    mutating func avroCell(_ slot: Int, _ column: ColumnConversion, _ rows: inout RowWriter, _ c: Int) throws(DirtyReason) {
        guard let doc = avro.doc, avro.program != nil || avro.proto != nil else { return try convert(.null, column, &rows, c) }
        let v = avro.values[slot]
        func range() -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: doc[Int(v.start)..<Int(v.end)]) }
        switch v.kind {
        case .missing:
            if missingDirty {
                let field = avro.key ? SourceField.keyPath(self.program.avroKeyPaths[slot]) : SourceField.valuePath(self.program.avroPaths[slot])
                throw DirtyReason(.missingField, "field '\(field)' is missing from the \(avro.proto == nil ? "Avro" : "Protobuf") \(avro.key ? "key" : "value") (missingField: dirty)")
            }
            try convert(.null, column, &rows, c)
        case .null: try convert(.null, column, &rows, c)
        case .boolean: try convert(.bool(v.i != 0), column, &rows, c)
        case .long: try convert(.int(v.i), column, &rows, c)
        case .float, .double: try convert(.double(Double(bitPattern: UInt64(bitPattern: v.i))), column, &rows, c)
        case .string: try avroText(range(), column, &rows, c)
        case .symbol:
            if let proto = avro.proto {
                try RunState.withBytes(proto.symbols) { (all) throws(DirtyReason) in
                    try avroText(UnsafeRawBufferPointer(rebasing: all[Int(v.start)..<Int(v.end)]), column, &rows, c)
                }
            } else {
                try avroText(avro.program!.symbol(v), column, &rows, c)
            }
        case .scratchNumber, .scratchText:
            try RunState.withBytes(avro.json) { (all) throws(DirtyReason) in
                let b = UnsafeRawBufferPointer(rebasing: all[Int(v.start)..<Int(v.end)])
                try convert(v.kind == .scratchNumber ? .number(b) : .text(b), column, &rows, c)
            }
        case .bytes: try convert(.bytes(range()), column, &rows, c)
        case .json:
            try RunState.withBytes(avro.json) { (all) throws(DirtyReason) in
                try convert(.json(UnsafeRawBufferPointer(rebasing: all[Int(v.start)..<Int(v.end)])), column, &rows, c)
            }
        case .decimal:
            AvroText.decimal(range(), scale: Int(v.scale), into: &avro.text)
            try textCell(avro.text, number: true, column, &rows, c)
        case .uuidFixed:
            AvroText.uuid(range(), into: &avro.text)
            try avroText(nil, column, &rows, c)
        default:
            try temporal(v, column, &rows, c)
        }
    }

    /// Dates, times and instants: numeric columns take the number as encoded; DATETIME, TIMESTAMP
    /// and DATE columns the instant or date; text columns ISO-8601 text (UTC for `timestamp-*`,
    /// without a zone for `local-timestamp-*`, read in the job's zone for date-time columns).
    mutating func temporal(_ v: AvroValue, _ column: ColumnConversion, _ rows: inout RowWriter, _ c: Int) throws(DirtyReason) {
        switch column.type {
        case .bigint, .int, .smallint, .tinyint, .double, .float, .decimal:
            return try convert(.int(v.i), column, &rows, c)
        case .datetime, .timestamp, .date:
            if v.kind == .timestampMillis || (v.kind == .timestampMicros && column.type != .timestamp) {
                var ms = column
                ms.unit = .milliseconds
                return try convert(.int(v.kind == .timestampMillis ? v.i : floorDivide(v.i, 1000).0), ms, &rows, c)
            }
        default: break
        }
        AvroText.temporal(v, into: &avro.text)
        try textCell(avro.text, number: false, column, &rows, c)
    }

    /// A string or enum symbol (or, for nil, `avro.text`): text, or a JSON string for a JSON column.
    mutating func avroText(_ b: UnsafeRawBufferPointer?, _ column: ColumnConversion, _ rows: inout RowWriter, _ c: Int) throws(DirtyReason) {
        guard case .json = column.type else {
            if let b { return try convert(.text(b), column, &rows, c) }
            return try textCell(avro.text, number: false, column, &rows, c)
        }
        var quoted: [UInt8] = []
        if let b {
            AvroWalker.quoted(b, &quoted)
        } else {
            avro.text.withUnsafeBytes { AvroWalker.quoted($0, &quoted) }
        }
        try RunState.withBytes(quoted) { (q) throws(DirtyReason) in try convert(.json(q), column, &rows, c) }
    }

    mutating func textCell(_ text: [UInt8], number: Bool, _ column: ColumnConversion, _ rows: inout RowWriter, _ c: Int) throws(DirtyReason) {
        try RunState.withBytes(text) { (b) throws(DirtyReason) in try convert(number ? .number(b) : .text(b), column, &rows, c) }
    }
}

/// The text of Avro logical types.
enum AvroText {
    /// A decimal's unscaled two's-complement big-endian bytes as plain text at `scale`.
    static func decimal(_ b: UnsafeRawBufferPointer, scale: Int, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        var digits: [UInt8] = []
        var negative = false
        if b.count <= 8 {
            var v: Int64 = b.isEmpty ? 0 : Int64(Int8(bitPattern: b[0]))
            for k in b.indices.dropFirst() { v = v << 8 | Int64(b[k]) }
            negative = v < 0
            digits = Array(String(v.magnitude).utf8).map { $0 - 48 }
        } else {
            negative = b[0] & 0x80 != 0
            var mag = Array(b)
            if negative {
                // Two's complement: invert and add one.
                for k in mag.indices { mag[k] = ~mag[k] }
                var k = mag.count - 1
                while k >= 0 { mag[k] &+= 1; if mag[k] != 0 { break }; k -= 1 }
            }
            digits = base10(mag)
        }
        if negative, digits != [0] { out.append(UInt8(ascii: "-")) }
        if digits.count <= scale { digits = Array(repeating: 0, count: scale - digits.count + 1) + digits }
        let intCount = digits.count - scale
        for k in 0..<intCount { out.append(digits[k] + 48) }
        if scale > 0 {
            out.append(UInt8(ascii: "."))
            for k in intCount..<digits.count { out.append(digits[k] + 48) }
        }
    }

    /// Base-256 magnitude to base-10 digits (most significant first).
    static func base10(_ bytes: [UInt8]) -> [UInt8] {
        var n = bytes
        var digits: [UInt8] = []
        while n.contains(where: { $0 != 0 }) {
            var rem = 0
            for k in n.indices {
                let cur = rem << 8 | Int(n[k])
                n[k] = UInt8(cur / 10)
                rem = cur % 10
            }
            digits.append(UInt8(rem))
        }
        return digits.isEmpty ? [0] : digits.reversed()
    }

    static let hex = Array("0123456789abcdef".utf8)

    /// 16 bytes as 8-4-4-4-12 lowercase hex.
    static func uuid(_ b: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        for (k, byte) in b.enumerated() {
            if k == 4 || k == 6 || k == 8 || k == 10 { out.append(UInt8(ascii: "-")) }
            out += [hex[Int(byte >> 4)], hex[Int(byte & 15)]]
        }
    }

    /// `yyyy-MM-dd`, `HH:mm:ss.SSS[SSS]`, or a date-time with fraction (`T…Z` for UTC instants,
    /// a space and no zone for local ones).
    static func temporal(_ v: AvroValue, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        switch v.kind {
        case .date:
            date(v.i, &out)
        case .timeMillis, .timeMicros:
            let perSecond: Int64 = v.kind == .timeMillis ? 1000 : 1_000_000
            let (sec, frac) = floorDivide(v.i, perSecond)
            time(sec, frac, digits: v.kind == .timeMillis ? 3 : 6, &out)
        default:
            let micros = v.kind == .timestampMicros || v.kind == .localTimestampMicros
            let perSecond: Int64 = micros ? 1_000_000 : 1000
            let (sec, frac) = floorDivide(v.i, perSecond)
            let (days, secOfDay) = floorDivide(sec, 86400)
            let utc = v.kind == .timestampMillis || v.kind == .timestampMicros
            date(days, &out)
            out.append(utc ? UInt8(ascii: "T") : UInt8(ascii: " "))
            time(secOfDay, frac, digits: micros ? 6 : 3, &out)
            if utc { out.append(UInt8(ascii: "Z")) }
        }
    }

    static func date(_ days: Int64, _ out: inout [UInt8]) {
        let d = CivilDate(dayNumber: days)
        var year = String(abs(d.year))
        if year.count < 4 { year = String(repeating: "0", count: 4 - year.count) + year }
        if d.year < 0 { out.append(UInt8(ascii: "-")) }
        out += year.utf8
        out.append(UInt8(ascii: "-"))
        two(d.month, &out)
        out.append(UInt8(ascii: "-"))
        two(d.day, &out)
    }

    static func time(_ seconds: Int64, _ fraction: Int64, digits: Int, _ out: inout [UInt8]) {
        let s = Int(seconds)
        two(s / 3600, &out)
        out.append(UInt8(ascii: ":"))
        two(s / 60 % 60, &out)
        out.append(UInt8(ascii: ":"))
        two(s % 60, &out)
        out.append(UInt8(ascii: "."))
        let f = String(fraction)
        out += Array(repeating: UInt8(ascii: "0"), count: max(0, digits - f.count))
        out += f.utf8
    }

    static func two(_ v: Int, _ out: inout [UInt8]) {
        out.append(UInt8(48 + v / 10 % 10))
        out.append(UInt8(48 + v % 10))
    }
}

/// Confluent's message-index array: a zigzag varint count, then that many zigzag varint indexes.
enum ProtoMessageIndexes {
    static func read(_ b: UnsafeRawBufferPointer, _ pos: inout Int) -> [Int]? {
        func zigzag() -> Int? {
            var acc: UInt64 = 0, shift: UInt64 = 0
            while pos < b.count {
                let byte = b[pos]
                pos += 1
                acc |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return Int(truncatingIfNeeded: Int64(bitPattern: (acc >> 1) ^ (0 &- (acc & 1)))) }
                shift += 7
                if shift > 63 { return nil }
            }
            return nil
        }
        guard let count = zigzag(), count >= 0, count <= 64 else { return nil }
        var out: [Int] = []
        for _ in 0..<count {
            guard let i = zigzag(), i >= 0 else { return nil }
            out.append(i)
        }
        return out
    }
}

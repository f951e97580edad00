import Foundation

/// Whole messages, repeated fields and maps as compact JSON: the fields present, by their declared
/// names in declaration order; 64-bit integers as numbers, enums as their symbols, bytes as base64,
/// Timestamps and Durations as Protobuf's JSON mapping writes them, wrappers as their values.
extension ProtoWalker {
    /// Renders message `m`, from `pos` to `end`, into `out` (`pos` ends at `end`).
    mutating func messageJSON(_ m: Int, _ end: Int, _ out: inout [UInt8]) throws(AvroDecodeFailure) {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw fail("the message nests deeper than \(Self.maxDepth) levels") }
        let start = pos
        out.append(UInt8(ascii: "{"))
        var first = true
        for f in program.schema.messages[m].fields {
            pos = start
            let mark = out.count
            if !first { out.append(UInt8(ascii: ",")) }
            AvroWalker.quoted(f.name, &out)
            out.append(UInt8(ascii: ":"))
            let count = try fieldJSON(f, start, end, &out)
            if count == 0 { out.removeSubrange(mark...) } else { first = false }
        }
        out.append(UInt8(ascii: "}"))
        pos = end
    }

    /// A repeated field or map of the message `start..<end` as a JSON array or object.
    mutating func repeatedJSON(_ f: ProtoField, _ start: Int, _ end: Int, _ out: inout [UInt8]) throws(AvroDecodeFailure) {
        pos = start
        if try fieldJSON(f, start, end, &out) == 0 {
            if case .map = f.type { out += Array("{}".utf8) } else { out += Array("[]".utf8) }
        }
    }

    /// Every occurrence of `f` in `start..<end` as its JSON (an array or object when repeated); how
    /// many there were.
    mutating func fieldJSON(_ f: ProtoField, _ start: Int, _ end: Int, _ out: inout [UInt8]) throws(AvroDecodeFailure) -> Int {
        var count = 0
        let isMap = if case .map = f.type { true } else { false }
        pos = start
        while pos < end {
            let tag = try varint(end)
            let wt = UInt8(tag & 7)
            guard tag >> 3 == UInt64(f.number) else { try skip(wt, number: tag >> 3, end); continue }
            if f.repeated { out.append(UInt8(ascii: count == 0 ? (isMap ? "{" : "[") : ",")) } else if count > 0 {
                // A singular field written twice: the last occurrence wins.
                while out.last != UInt8(ascii: ":") { out.removeLast() }
            }
            if isMap {
                guard wt == 2 else { throw fail("map field \(f.name) has wire type \(wt), not 2") }
                try entryJSON(f, try length(end), &out)
                count += 1
            } else if wt == 2, f.repeated, f.isPackable {
                let blockEnd = try length(end)
                var k = 0
                while pos < blockEnd {
                    if k > 0 { out.append(UInt8(ascii: ",")) }
                    try valueJSON(f.type, f.elementWireType, blockEnd, &out)
                    k += 1
                }
                count += max(k, 1)
            } else {
                try valueJSON(f.type, wt, end, &out)
                count += 1
            }
        }
        if f.repeated, count > 0 { out.append(UInt8(ascii: isMap ? "}" : "]")) }
        return count
    }

    mutating func entryJSON(_ f: ProtoField, _ end: Int, _ out: inout [UInt8]) throws(AvroDecodeFailure) {
        guard case .map(let keyType, let valueType) = f.type else { return }
        var key: [UInt8] = []
        var value: [UInt8]? = nil
        while pos < end {
            let tag = try varint(end)
            let wt = UInt8(tag & 7)
            switch tag >> 3 {
            case 1:
                var scratch: [UInt8] = []
                key = try scalarText(keyType, wt, end, &scratch)
            case 2:
                var v: [UInt8] = []
                try valueJSON(valueType, wt, end, &v)
                value = v
            default: try skip(wt, number: tag >> 3, end)
            }
        }
        key.withUnsafeBytes { AvroWalker.quoted($0, &out) }
        out.append(UInt8(ascii: ":"))
        out += value ?? Self.defaultJSON(valueType)
    }

    static func defaultJSON(_ t: ProtoType) -> [UInt8] {
        switch t {
        case .scalar(.string), .scalar(.bytes): Array("\"\"".utf8)
        case .scalar(.bool): Array("false".utf8)
        case .scalar: Array("0".utf8)
        case .enumeration: Array("0".utf8)
        default: Array("null".utf8)
        }
    }

    /// One value of type `t` as JSON.
    mutating func valueJSON(_ t: ProtoType, _ wt: UInt8, _ end: Int, _ out: inout [UInt8]) throws(AvroDecodeFailure) {
        guard wt == t.wireType else { throw fail("a value has wire type \(wt), but the schema's \(t.name) is written with wire type \(t.wireType)") }
        switch t {
        case .scalar(let s):
            var scratch: [UInt8] = []
            let v = try scalar(s, end, &scratch)
            Self.scalarJSON(v, p, scratch, &out)
        case .enumeration(let e):
            let n = Int(Int32(truncatingIfNeeded: try varint(end)))
            if let name = program.schema.enums[e].values.first(where: { $0.number == n })?.name {
                AvroWalker.quoted(name, &out)
            } else {
                out += String(n).utf8
            }
        case .message(let m):
            let e = try length(end)
            try messageJSON(m, e, &out)
        case .wellKnown(let w):
            let e = try length(end)
            var scratch: [UInt8] = []
            let v = try wellKnown(w, e, &scratch)
            switch v.kind {
            case .timestampMicros:
                let (sec, micros) = floorDivide(v.i, 1_000_000)
                AvroWalker.quoted(ProtoText.timestamp(seconds: sec, nanos: micros * 1000), &out)
            case .scratchText: scratch[Int(v.start)..<Int(v.end)].withUnsafeBytes { AvroWalker.quoted($0, &out) }
            case .json: out += scratch[Int(v.start)..<Int(v.end)]
            default: Self.scalarJSON(v, p, scratch, &out)
            }
        case .map:
            pos = try length(end)
        }
    }

    static func scalarJSON(_ v: AvroValue, _ p: UnsafePointer<UInt8>, _ scratch: [UInt8], _ out: inout [UInt8]) {
        let bytes = UnsafeRawBufferPointer(start: p + Int(v.start), count: Int(v.end - v.start))
        switch v.kind {
        case .null: out += Array("null".utf8)
        case .boolean: out += Array((v.i != 0 ? "true" : "false").utf8)
        case .long: out += String(v.i).utf8
        case .scratchNumber: out += scratch[Int(v.start)..<Int(v.end)]
        case .float, .double:
            let d = Double(bitPattern: UInt64(bitPattern: v.i))
            if d.isNaN { out += Array("\"NaN\"".utf8) } else if d.isInfinite { out += Array((d < 0 ? "\"-Infinity\"" : "\"Infinity\"").utf8) } else {
                let text = v.kind == .float ? "\(Float(d))" : "\(d)"
                out += (text.hasSuffix(".0") ? String(text.dropLast(2)) : text).utf8
            }
        case .string: AvroWalker.quoted(bytes, &out)
        case .bytes: AvroWalker.quoted(Data(bytes).base64EncodedString(), &out)
        default: out += Array("null".utf8)
        }
    }
}

extension AvroWalker {
    static func quoted(_ text: String, _ out: inout [UInt8]) {
        var text = text
        text.withUTF8 { quoted(UnsafeRawBufferPointer($0), &out) }
    }
}

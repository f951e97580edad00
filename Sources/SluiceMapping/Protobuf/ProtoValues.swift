import Foundation

extension ProtoType {
    /// The wire type values of this type are written with (unpacked).
    var wireType: UInt8 {
        switch self {
        case .scalar(let s): s.wireType
        case .enumeration: 0
        default: 2
        }
    }

    var name: String {
        switch self {
        case .scalar(let s): s.rawValue
        case .enumeration: "enum"
        case .message: "message"
        case .wellKnown(let w): "google.protobuf." + w.rawValue
        case .map: "map"
        }
    }
}

extension ProtoWalker {
    /// One value of a field (singular, an element, a map's value) read with `plan`.
    mutating func value(_ plan: ProtoValuePlan, _ wt: UInt8, number: Int, _ end: Int, _ v: UnsafeMutablePointer<AvroValue>,
                        _ json: inout [UInt8], _ counters: inout [Int]) throws(AvroDecodeFailure) {
        guard wt == plan.wireType else {
            throw fail("field \(number) has wire type \(wt), but the schema's \(plan.type.name) is written with wire type \(plan.wireType)")
        }
        switch plan.kind {
        case .scalar:
            let found = try scalar(plan.scalar, end, &json)
            if plan.slot >= 0 { v[Int(plan.slot)] = found }
        case .enumeration:
            let n = Int(Int32(truncatingIfNeeded: Int64(bitPattern: try varint(end))))
            guard plan.slot >= 0 else { return }
            if let r = plan.symbols[n] {
                v[Int(plan.slot)] = AvroValue(kind: .symbol, start: r.lowerBound, end: r.upperBound)
            } else {
                v[Int(plan.slot)] = AvroValue(kind: .long, i: Int64(n))
            }
        case .message:
            let e = try length(end)
            let start = pos
            if plan.slot >= 0 {
                let s = Int32(json.count)
                try messageJSON(plan.messageIndex, e, &json)
                v[Int(plan.slot)] = AvroValue(kind: .json, start: s, end: Int32(json.count))
                pos = start
            }
            if let sub = plan.message { try message(sub, end: e, v, &json, &counters) }
            pos = e
        case .wellKnown:
            let e = try length(end)
            guard plan.slot >= 0 else { pos = e; return }
            v[Int(plan.slot)] = try wellKnown(plan.wellKnown, e, &json)
        case .map:
            pos = try length(end)
        }
    }

    /// A scalar's value.
    mutating func scalar(_ s: ProtoScalar, _ end: Int, _ json: inout [UInt8]) throws(AvroDecodeFailure) -> AvroValue {
        switch s {
        case .int32: return AvroValue(kind: .long, i: Int64(Int32(truncatingIfNeeded: try varint(end))))
        case .int64: return AvroValue(kind: .long, i: Int64(bitPattern: try varint(end)))
        case .uint32: return AvroValue(kind: .long, i: Int64(UInt32(truncatingIfNeeded: try varint(end))))
        case .uint64: return Self.unsigned(try varint(end), &json)
        case .sint32, .sint64:
            let u = try varint(end)
            let n = Int64(bitPattern: (u >> 1) ^ (0 &- (u & 1)))
            return AvroValue(kind: .long, i: s == .sint32 ? Int64(Int32(truncatingIfNeeded: n)) : n)
        case .bool: return AvroValue(kind: .boolean, i: try varint(end) != 0 ? 1 : 0)
        case .fixed32: return AvroValue(kind: .long, i: Int64(try fixed(4, end)))
        case .sfixed32: return AvroValue(kind: .long, i: Int64(Int32(bitPattern: UInt32(try fixed(4, end)))))
        case .fixed64: return Self.unsigned(try fixed(8, end), &json)
        case .sfixed64: return AvroValue(kind: .long, i: Int64(bitPattern: try fixed(8, end)))
        case .float:
            let f = Float(bitPattern: UInt32(try fixed(4, end)))
            return AvroValue(kind: .float, i: Int64(bitPattern: Double(f).bitPattern))
        case .double: return AvroValue(kind: .double, i: Int64(bitPattern: try fixed(8, end)))
        case .string, .bytes:
            let e = try length(end)
            let start = pos
            pos = e
            return AvroValue(kind: s == .string ? .string : .bytes, start: Int32(start), end: Int32(e))
        }
    }

    /// A uint64: an integer when it fits Int64, its decimal text otherwise.
    static func unsigned(_ u: UInt64, _ json: inout [UInt8]) -> AvroValue {
        if u <= UInt64(Int64.max) { return AvroValue(kind: .long, i: Int64(u)) }
        let s = Int32(json.count)
        json += String(u).utf8
        return AvroValue(kind: .scratchNumber, start: s, end: Int32(json.count))
    }

    /// Timestamp (an instant, micros), Duration (text, `1.5s`), a wrapper (its value), Empty (`{}`).
    mutating func wellKnown(_ w: ProtoWellKnown, _ end: Int, _ json: inout [UInt8]) throws(AvroDecodeFailure) -> AvroValue {
        var result: AvroValue
        if let s = w.wrapped {
            result = ProtoCompiler.defaultValue(ProtoValuePlan(type: .scalar(s), slot: -1, message: nil, symbols: [:]))
        } else {
            result = AvroValue(kind: .null)
        }
        var seconds: Int64 = 0, nanos: Int64 = 0
        while pos < end {
            let tag = try varint(end)
            let wt = UInt8(tag & 7)
            switch (w.wrapped, tag >> 3) {
            case (let s?, 1):
                guard wt == s.wireType else { throw fail("\(w.rawValue).value has wire type \(wt)") }
                result = try scalar(s, end, &json)
            case (nil, 1) where wt == 0: seconds = Int64(bitPattern: try varint(end))
            case (nil, 2) where wt == 0: nanos = Int64(Int32(truncatingIfNeeded: try varint(end)))
            default: try skip(wt, number: tag >> 3, end)
            }
        }
        switch w {
        case .timestamp:
            let (micros, o1) = seconds.multipliedReportingOverflow(by: 1_000_000)
            guard !o1, nanos >= 0, nanos < 1_000_000_000 else { throw fail("the Timestamp \(seconds) s \(nanos) ns is out of range") }
            return AvroValue(kind: .timestampMicros, i: micros + nanos / 1000)
        case .duration:
            let s = Int32(json.count)
            json += ProtoText.duration(seconds: seconds, nanos: nanos).utf8
            return AvroValue(kind: .scratchText, start: s, end: Int32(json.count))
        case .empty:
            let s = Int32(json.count)
            json += "{}".utf8
            return AvroValue(kind: .json, start: s, end: Int32(json.count))
        default:
            return result
        }
    }

    /// The text of a map key (field 1 of an entry), as paths name it.
    mutating func scalarText(_ s: ProtoScalar, _ wt: UInt8, _ end: Int, _ scratch: inout [UInt8]) throws(AvroDecodeFailure) -> [UInt8] {
        guard wt == s.wireType else { throw fail("a map key has wire type \(wt), but the schema's \(s.rawValue) is written with wire type \(s.wireType)") }
        let v = try scalar(s, end, &scratch)
        switch v.kind {
        case .string: return Array(UnsafeRawBufferPointer(start: p + Int(v.start), count: Int(v.end - v.start)))
        case .boolean: return Array((v.i != 0 ? "true" : "false").utf8)
        case .scratchNumber: return Array(scratch[Int(v.start)..<Int(v.end)])
        default: return Array(String(v.i).utf8)
        }
    }
}

/// Text of the well-known types.
enum ProtoText {
    /// A Duration as Protobuf's JSON mapping writes it: seconds with 0, 3, 6 or 9 fraction digits
    /// and `s` (`1.500s`, `-0.000001s`).
    static func duration(seconds: Int64, nanos: Int64) -> String {
        let negative = seconds < 0 || nanos < 0
        var out = negative ? "-" : ""
        out += String(seconds.magnitude)
        let n = nanos.magnitude
        if n != 0 {
            var frac = String(n)
            frac = String(repeating: "0", count: 9 - frac.count) + frac
            while frac.count > 3, frac.hasSuffix("000") { frac.removeLast(3) }
            out += "." + frac
        }
        return out + "s"
    }

    /// A Timestamp as RFC 3339 text in UTC (`2024-03-01T08:30:00.250Z`).
    static func timestamp(seconds: Int64, nanos: Int64) -> String {
        var text: [UInt8] = []
        let (days, secOfDay) = floorDivide(seconds, 86400)
        AvroText.date(days, &text)
        text.append(UInt8(ascii: "T"))
        let s = Int(secOfDay)
        AvroText.two(s / 3600, &text)
        text.append(UInt8(ascii: ":"))
        AvroText.two(s / 60 % 60, &text)
        text.append(UInt8(ascii: ":"))
        AvroText.two(s % 60, &text)
        var out = String(decoding: text, as: UTF8.self)
        if nanos != 0 {
            var frac = String(nanos)
            frac = String(repeating: "0", count: 9 - frac.count) + frac
            while frac.count > 3, frac.hasSuffix("000") { frac.removeLast(3) }
            out += "." + frac
        }
        return out + "Z"
    }
}

import Foundation

extension ProtoProgram {
    /// Decodes the Protobuf message in `value[start...]`, filling `values` (one per path; `.missing`
    /// where a path found nothing). `counters` is scratch for repeated fields' element counts.
    func decode(_ value: UnsafeRawBufferPointer, from start: Int, into values: inout [AvroValue],
                json: inout [UInt8], counters: inout [Int]) throws(AvroDecodeFailure) {
        for i in 0..<slotCount { values[i] = .missing }
        json.removeAll(keepingCapacity: true)
        counters.removeAll(keepingCapacity: true)
        guard let base = value.baseAddress else { throw AvroDecodeFailure(message: "the value is empty", position: 0) }
        var walker = ProtoWalker(program: self, p: base.assumingMemoryBound(to: UInt8.self), pos: start)
        try values.withUnsafeMutableBufferPointer { (v) throws(AvroDecodeFailure) in
            try walker.message(root, end: value.count, v.baseAddress!, &json, &counters)
        }
    }
}

/// Walks Protobuf's wire encoding (varints, 32- and 64-bit little-endian, length-delimited fields)
/// through a program's plans.
struct ProtoWalker {
    let program: ProtoProgram
    let p: UnsafePointer<UInt8>
    var pos: Int
    /// Messages being walked or rendered: a crafted value must not exhaust the stack.
    var depth = 0
    static let maxDepth = 100

    func fail(_ message: String, at: Int? = nil) -> AvroDecodeFailure {
        AvroDecodeFailure(message: message, position: at ?? pos)
    }

    @inline(__always)
    mutating func varint(_ end: Int) throws(AvroDecodeFailure) -> UInt64 {
        try Varint.read(p, &pos, end: end)
    }

    @inline(__always)
    mutating func fixed(_ size: Int, _ end: Int) throws(AvroDecodeFailure) -> UInt64 {
        guard end - pos >= size else { throw fail("the value ends inside a \(size * 8)-bit number") }
        var v: UInt64 = 0
        for k in 0..<size { v |= UInt64(p[pos + k]) << (8 * UInt64(k)) }
        pos += size
        return v
    }

    /// A length that must fit in the rest of the enclosing message; the end it gives.
    @inline(__always)
    mutating func length(_ end: Int) throws(AvroDecodeFailure) -> Int {
        let n = try varint(end)
        guard n <= UInt64(end - pos) else { throw fail("a length of \(n) bytes goes past the end of its message") }
        return pos + Int(n)
    }

    /// Skips a field's value of wire type `wt`.
    mutating func skip(_ wt: UInt8, number: UInt64, _ end: Int) throws(AvroDecodeFailure) {
        switch wt {
        case 0: _ = try varint(end)
        case 1: _ = try fixed(8, end)
        case 5: _ = try fixed(4, end)
        case 2: pos = try length(end)
        case 3:
            // A group: fields up to its end-group tag (groups nest: bounded like messages).
            depth += 1
            defer { depth -= 1 }
            guard depth <= Self.maxDepth else { throw fail("the message nests deeper than \(Self.maxDepth) levels") }
            while true {
                let tag = try varint(end)
                if tag & 7 == 4 { guard tag >> 3 == number else { throw fail("a group ends with the wrong field number") }; return }
                try skip(UInt8(tag & 7), number: tag >> 3, end)
            }
        default: throw fail("wire type \(wt) (field \(number)) does not exist")
        }
    }

    /// Walks one message ending at `end` with `plan`.
    mutating func message(_ plan: ProtoMessagePlan, end: Int, _ v: UnsafeMutablePointer<AvroValue>,
                          _ json: inout [UInt8], _ counters: inout [Int]) throws(AvroDecodeFailure) {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw fail("the message nests deeper than \(Self.maxDepth) levels") }
        let start = pos
        for (slot, value) in plan.entry where v[Int(slot)].kind == .missing || v[Int(slot)].kind == .null { v[Int(slot)] = value }
        let base = counters.count
        for _ in 0..<plan.counters { counters.append(0) }
        while pos < end {
            let tag = try varint(end)
            let number = tag >> 3, wt = UInt8(tag & 7)
            guard number > 0 else { throw fail("field number 0 does not exist", at: pos - 1) }
            guard number < UInt64(plan.lookup.count), let f = plan.plan(number: Int(number)) else {
                try skip(wt, number: number, end)
                continue
            }
            try field(f, wt, end, v, &json, &counters, base)
        }
        guard pos == end else { throw fail("a field goes past the end of its message") }
        for i in plan.whole {
            let f = plan.fields[i]
            let s = Int32(json.count)
            var renderer = self
            try renderer.repeatedJSON(f.field, start, end, &json)
            v[Int(f.wholeSlot)] = AvroValue(kind: .json, start: s, end: Int32(json.count))
        }
        counters.removeLast(plan.counters)
    }

    /// One occurrence of an addressed field.
    mutating func field(_ f: ProtoFieldPlan, _ wt: UInt8, _ end: Int, _ v: UnsafeMutablePointer<AvroValue>,
                        _ json: inout [UInt8], _ counters: inout [Int], _ base: Int) throws(AvroDecodeFailure) {
        if let single = f.single { return try value(single, wt, number: f.number, end, v, &json, &counters) }
        if f.isMap {
            guard !f.entries.isEmpty else { return try skip(wt, number: UInt64(f.number), end) }
            guard wt == 2 else { throw fail("map field \(f.field.name) has wire type \(wt), not 2") }
            return try mapEntry(f, try length(end), v, &json, &counters)
        }
        guard !f.elements.isEmpty else { return try skip(wt, number: UInt64(f.number), end) }
        if wt == 2, f.packable {
            let blockEnd = try length(end)
            while pos < blockEnd {
                try element(f, f.elementWireType, blockEnd, v, &json, &counters, base)
            }
            return
        }
        try element(f, wt, end, v, &json, &counters, base)
    }

    mutating func element(_ f: ProtoFieldPlan, _ wt: UInt8, _ end: Int, _ v: UnsafeMutablePointer<AvroValue>,
                          _ json: inout [UInt8], _ counters: inout [Int], _ base: Int) throws(AvroDecodeFailure) {
        let index = counters[base + f.counter]
        counters[base + f.counter] = index + 1
        for e in f.elements where e.index == index {
            return try value(e.plan, wt, number: f.number, end, v, &json, &counters)
        }
        try skip(wt, number: UInt64(f.number), end)
    }

    /// A map entry (key field 1, value field 2) whose key a path may name.
    mutating func mapEntry(_ f: ProtoFieldPlan, _ end: Int, _ v: UnsafeMutablePointer<AvroValue>,
                           _ json: inout [UInt8], _ counters: inout [Int]) throws(AvroDecodeFailure) {
        guard case .map(let keyType, _) = f.field.type else { return }
        var key: [UInt8] = []
        var valueAt: (pos: Int, wt: UInt8)? = nil
        while pos < end {
            let tag = try varint(end)
            let wt = UInt8(tag & 7)
            if tag >> 3 == 1 {
                var scratch: [UInt8] = []
                key = try scalarText(keyType, wt, end, &scratch)
            } else {
                if tag >> 3 == 2 { valueAt = (pos, wt) }
                try skip(wt, number: tag >> 3, end)
            }
        }
        guard let plan = f.entries.first(where: { $0.key == key })?.plan else { return }
        let after = pos
        if let (at, wt) = valueAt {
            pos = at
            try value(plan, wt, number: 2, end, v, &json, &counters)
        } else {
            // An entry without its value holds the value type's default.
            for (slot, d) in ProtoCompiler.entryDefaults(plan) { v[Int(slot)] = d }
        }
        pos = after
    }
}

extension ProtoField {
    var isPackable: Bool {
        switch type {
        case .scalar(let s): s != .string && s != .bytes
        case .enumeration: true
        default: false
        }
    }

    var elementWireType: UInt8 {
        if case .scalar(let s) = type { return s.wireType }
        return 0
    }
}

extension ProtoCompiler {
    /// The slots of a map value that is there without its bytes: its default, or its message's
    /// fields' defaults.
    static func entryDefaults(_ plan: ProtoValuePlan) -> [(slot: Int32, value: AvroValue)] {
        var out: [(slot: Int32, value: AvroValue)] = []
        if plan.slot >= 0 { out.append((plan.slot, defaultValue(plan))) }
        if let m = plan.message { out += m.entry }
        return out
    }
}

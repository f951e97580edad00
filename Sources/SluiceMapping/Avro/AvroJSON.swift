extension AvroWalker {
    /// Renders the value of plain node `n` as compact JSON: records and maps as objects, arrays as
    /// arrays, a union as its branch's value, enums and strings as strings, bytes and fixed as strings
    /// of their bytes as code points U+0000–U+00FF (Avro's JSON encoding), NaN and infinities as null.
    /// Decimals are rendered as numbers, UUIDs as strings, other logical types as their underlying
    /// values (dates as days, times and timestamps as the encoded count).
    mutating func render(_ n: Int32, _ out: inout [UInt8]) throws(AvroDecodeFailure) {
        let node = nodes[Int(n)]
        switch node.op {
        case .union, .array, .map:
            try enter()
            try renderNested(node, &out)
            depth -= 1
        default:
            try renderFlat(node, &out)
        }
    }

    /// A union, array or map as JSON.
    mutating func renderNested(_ node: AvroProgram.Node, _ out: inout [UInt8]) throws(AvroDecodeFailure) {
        switch node.op {
        case .union:
            let at = pos
            let i = try long()
            guard i >= 0, i < Int64(node.b) else { throw fail("union branch \(i) does not exist (the union has \(node.b))", at: at) }
            try render(children[Int(node.a) + Int(i)], &out)
        case .array:
            out.append(UInt8(ascii: "["))
            var first = true
            while true {
                let (count, _) = try blockCount()
                if count == 0 { break }
                for _ in 0..<count {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    try render(node.a, &out)
                }
            }
            out.append(UInt8(ascii: "]"))
        case .map:
            out.append(UInt8(ascii: "{"))
            var first = true
            while true {
                let (count, _) = try blockCount()
                if count == 0 { break }
                for _ in 0..<count {
                    if !first { out.append(UInt8(ascii: ",")) }
                    first = false
                    let n = try length("a map key")
                    Self.quoted(UnsafeRawBufferPointer(start: p + pos, count: n), &out)
                    pos += n
                    out.append(UInt8(ascii: ":"))
                    try render(node.a, &out)
                }
            }
            out.append(UInt8(ascii: "}"))
        default:
            break
        }
    }

    /// A record or a leaf as JSON.
    mutating func renderFlat(_ node: AvroProgram.Node, _ out: inout [UInt8]) throws(AvroDecodeFailure) {
        switch node.op {
        case .record:
            out.append(UInt8(ascii: "{"))
            // Field names are not kept in plain nodes: the record's fields come from its edges.
            for k in 0..<Int(node.b) {
                if k > 0 { out.append(UInt8(ascii: ",")) }
                let e = edges[Int(node.c) + k]
                Self.quoted(UnsafeRawBufferPointer(start: bytes.baseAddress! + Int(e.nameStart), count: Int(e.nameCount)), &out)
                out.append(UInt8(ascii: ":"))
                try render(children[Int(node.a) + k], &out)
            }
            out.append(UInt8(ascii: "}"))
        default:
            try renderLeaf(node, &out)
        }
    }

    mutating func renderLeaf(_ node: AvroProgram.Node, _ out: inout [UInt8]) throws(AvroDecodeFailure) {
        var v = AvroValue.missing
        try withUnsafeMutablePointer(to: &v) { (ptr) throws(AvroDecodeFailure) in
            var copy = node
            copy.slot = 0
            try leaf(copy, ptr)
        }
        switch node.op {
        case .null: out += "null".utf8
        case .boolean: out += (v.i != 0 ? "true" : "false").utf8
        case .int, .long: out += String(v.i).utf8
        case .float, .double:
            let d = Double(bitPattern: UInt64(bitPattern: v.i))
            out += (d.isFinite ? (node.op == .float ? Float(d).description : d.description) : "null").utf8
        case .string:
            Self.quoted(UnsafeRawBufferPointer(start: p + Int(v.start), count: Int(v.end - v.start)), &out)
        case .enumeration:
            Self.quoted(UnsafeRawBufferPointer(start: bytes.baseAddress! + Int(v.start), count: Int(v.end - v.start)), &out)
        case .bytes where node.capture == .decimal, .fixed where node.capture == .decimal:
            var text: [UInt8] = []
            AvroText.decimal(UnsafeRawBufferPointer(start: p + Int(v.start), count: Int(v.end - v.start)), scale: Int(node.c), into: &text)
            out += text
        case .fixed where node.capture == .uuidFixed:
            var text: [UInt8] = []
            AvroText.uuid(UnsafeRawBufferPointer(start: p + Int(v.start), count: 16), into: &text)
            text.withUnsafeBytes { Self.quoted($0, &out) }
        case .bytes, .fixed:
            out.append(UInt8(ascii: "\""))
            for k in Int(v.start)..<Int(v.end) { Self.codePoint(p[k], &out) }
            out.append(UInt8(ascii: "\""))
        default: break
        }
    }

    static let hex = Array("0123456789abcdef".utf8)

    /// `text` (UTF-8) as a JSON string.
    static func quoted(_ text: UnsafeRawBufferPointer, _ out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in text {
            switch b {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0..<0x20: escape(b, &out)
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    /// A byte as the code point of the same number, inside a JSON string.
    static func codePoint(_ b: UInt8, _ out: inout [UInt8]) {
        switch b {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), b]
        case 0x20..<0x7F: out.append(b)
        default: escape(b, &out)
        }
    }

    static func escape(_ b: UInt8, _ out: inout [UInt8]) {
        out += [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"), hex[Int(b >> 4)], hex[Int(b & 15)]]
    }
}

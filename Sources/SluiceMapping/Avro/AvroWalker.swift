#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Walks one Avro binary value through an `AvroProgram`'s nodes (the Avro specification's binary
/// encoding: zig-zag varints, length-prefixed bytes and strings, blocked arrays and maps).
struct AvroWalker {
    let nodes: UnsafeMutableBufferPointer<AvroProgram.Node>
    let children: UnsafeMutableBufferPointer<Int32>
    let edges: UnsafeMutableBufferPointer<AvroProgram.Edge>
    let bytes: UnsafeMutableBufferPointer<UInt8>
    let p: UnsafePointer<UInt8>
    let end: Int
    var pos: Int
    /// Unions, arrays and maps being walked: recursive schemas nest through them, and a value may
    /// not nest deeper than `maxDepth` (the walk recurses; a crafted value must not exhaust the stack).
    var depth = 0
    static let maxDepth = 512

    init(tables: AvroProgram.Tables, p: UnsafePointer<UInt8>, end: Int, pos: Int) {
        nodes = tables.nodes
        children = tables.children
        edges = tables.edges
        bytes = tables.bytes
        self.p = p
        self.end = end
        self.pos = pos
    }

    /// Enters a union, array or map.
    @inline(__always)
    mutating func enter() throws(AvroDecodeFailure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("the value nests deeper than \(Self.maxDepth) unions, arrays and maps") }
    }

    func fail(_ message: String, at: Int? = nil) -> AvroDecodeFailure {
        AvroDecodeFailure(message: message, position: at ?? pos)
    }

    @inline(__always)
    mutating func long() throws(AvroDecodeFailure) -> Int64 {
        let acc = try Varint.read(p, &pos, end: end)
        return Int64(bitPattern: (acc >> 1) ^ (0 &- (acc & 1)))
    }

    /// A length (of bytes, a string, or skipped block) that must fit in the rest of the value.
    @inline(__always)
    mutating func length(_ what: StaticString) throws(AvroDecodeFailure) -> Int {
        let at = pos
        let n = try long()
        guard n >= 0, n <= Int64(end - pos) else {
            throw fail("\(what) of \(n) bytes does not fit in the \(end - pos) bytes left", at: at)
        }
        return Int(n)
    }

    @inline(__always)
    mutating func take(_ n: Int) throws(AvroDecodeFailure) -> Int {
        guard n <= end - pos else { throw fail("the value ends inside a \(n)-byte field") }
        let start = pos
        pos += n
        return start
    }

    /// A block's item count (a negative count is followed by the block's size in bytes).
    @inline(__always)
    mutating func blockCount() throws(AvroDecodeFailure) -> (count: Int, size: Int?) {
        let at = pos
        var count = try long()
        var size: Int? = nil
        if count < 0 {
            guard count != .min else { throw fail("an invalid block count", at: at) }
            count = -count
            size = try length("a block")
        }
        // Every item takes at least a byte, but for nulls and empty records: a bound for corrupt input.
        guard count <= Int64(end - pos) + 1_000_000 else { throw fail("a block of \(count) items in \(end - pos) bytes", at: at) }
        return (Int(count), size)
    }

    mutating func exec(_ n: Int32, _ values: UnsafeMutablePointer<AvroValue>, _ json: inout [UInt8]) throws(AvroDecodeFailure) {
        let node = nodes[Int(n)]
        switch node.op {
        case .record:
            for k in 0..<Int(node.b) { try exec(children[Int(node.a) + k], values, &json) }
        case .union:
            let at = pos
            let i = try long()
            guard i >= 0, i < Int64(node.b) else { throw fail("union branch \(i) does not exist (the union has \(node.b))", at: at) }
            try enter()
            try exec(children[Int(node.a) + Int(i)], values, &json)
            depth -= 1
        case .array:
            try enter()
            try array(node, values, &json)
            depth -= 1
        case .map:
            try enter()
            try map(node, values, &json)
            depth -= 1
        case .nullSlots:
            for k in 0..<Int(node.b) { values[Int(children[Int(node.a) + k])] = AvroValue(kind: .null) }
        case .json:
            let start = pos
            let from = json.count
            try render(node.a, &json)
            values[Int(node.slot)] = AvroValue(kind: .json, start: Int32(from), end: Int32(json.count))
            if node.b >= 0 {
                pos = start
                try exec(node.b, values, &json)
            }
        default:
            try leaf(node, values)
        }
    }

    @inline(__always)
    mutating func leaf(_ node: AvroProgram.Node, _ values: UnsafeMutablePointer<AvroValue>) throws(AvroDecodeFailure) {
        var v = AvroValue(kind: node.capture)
        switch node.op {
        case .null: break
        case .boolean:
            guard pos < end else { throw fail("the value ends inside a boolean") }
            guard p[pos] <= 1 else { throw fail("a boolean byte is \(p[pos]), not 0 or 1") }
            v.i = Int64(p[pos])
            pos += 1
        case .int:
            let at = pos
            v.i = try long()
            guard v.i >= Int64(Int32.min), v.i <= Int64(Int32.max) else { throw fail("an int is out of range", at: at) }
        case .long:
            v.i = try long()
        case .float:
            let s = try take(4)
            v.i = Int64(bitPattern: Double(Float(bitPattern: UnsafeRawPointer(p + s).loadUnaligned(as: UInt32.self).littleEndian)).bitPattern)
        case .double:
            let s = try take(8)
            v.i = Int64(bitPattern: UnsafeRawPointer(p + s).loadUnaligned(as: UInt64.self).littleEndian)
        case .bytes, .string:
            let n = try length(node.op == .string ? "a string" : "bytes")
            v.start = Int32(pos)
            pos += n
            v.end = Int32(pos)
            v.scale = node.c
        case .fixed:
            v.start = Int32(try take(Int(node.a)))
            v.end = Int32(pos)
            v.scale = node.c
        case .enumeration:
            let at = pos
            let i = try long()
            guard i >= 0, i < Int64(node.b) else { throw fail("enum symbol \(i) does not exist (the enum has \(node.b))", at: at) }
            let e = edges[Int(node.a) + Int(i)]
            v.start = e.nameStart
            v.end = e.nameStart + e.nameCount
        default: break
        }
        if node.slot >= 0 { values[Int(node.slot)] = v }
    }

    mutating func array(_ node: AvroProgram.Node, _ values: UnsafeMutablePointer<AvroValue>, _ json: inout [UInt8]) throws(AvroDecodeFailure) {
        var index = 0
        var e = Int(node.b)
        let edgeEnd = Int(node.b + node.c)
        let itemPlain = nodes[Int(node.a)].plain
        while true {
            let (count, size) = try blockCount()
            if count == 0 { break }
            if let size, itemPlain, e == edgeEnd || edges[e].index >= Int64(index + count) {
                pos += size
                index += count
                continue
            }
            for _ in 0..<count {
                if e < edgeEnd, edges[e].index == Int64(index) {
                    try exec(edges[e].node, values, &json)
                    e += 1
                } else {
                    try exec(node.a, values, &json)
                }
                index += 1
            }
        }
    }

    mutating func map(_ node: AvroProgram.Node, _ values: UnsafeMutablePointer<AvroValue>, _ json: inout [UInt8]) throws(AvroDecodeFailure) {
        let first = Int(node.b)
        let edgeEnd = Int(node.b + node.c)
        let valuePlain = nodes[Int(node.a)].plain
        while true {
            let (count, size) = try blockCount()
            if count == 0 { break }
            if let size, valuePlain, first == edgeEnd {
                pos += size
                continue
            }
            for _ in 0..<count {
                let n = try length("a map key")
                let key = p + pos
                pos += n
                var target = node.a
                for k in first..<edgeEnd where Int(edges[k].nameCount) == n
                    && memcmp(key, bytes.baseAddress! + Int(edges[k].nameStart), n) == 0 {
                    target = edges[k].node
                    break
                }
                try exec(target, values, &json)
            }
        }
    }
}

/// Base-128 variable-length integers (least significant group first), as Avro and Protobuf write them.
enum Varint {
    /// The varint at `pos` in `p[..<end]`, unsigned; advances `pos` past it.
    @inline(__always)
    static func read(_ p: UnsafePointer<UInt8>, _ pos: inout Int, end: Int) throws(AvroDecodeFailure) -> UInt64 {
        var acc: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard pos < end else { throw AvroDecodeFailure(message: "the value ends inside a number", position: pos) }
            let b = p[pos]
            pos += 1
            acc |= UInt64(b & 0x7F) << shift
            if b < 0x80 { return acc }
            shift += 7
            if shift > 63 { throw AvroDecodeFailure(message: "a number is longer than 10 bytes", position: pos - 1) }
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SluiceJob

/// What kind of JSON value a path found.
public enum JSONKind: UInt8, Sendable {
    case string, number, `true`, `false`, null, object, array
}

/// Where a path's value lies in the scanned document: bytes `start..<end` (a string's span includes
/// its quotes). `start < 0` means the path is missing.
public struct JSONSpan: Sendable, Equatable {
    public var start: Int
    public var end: Int
    public var kind: JSONKind
    /// For strings: the text has backslash escapes.
    public var escaped: Bool

    public static let missing = JSONSpan(start: -1, end: -1, kind: .null, escaped: false)
    public var isPresent: Bool { start >= 0 }
}

/// Why a document is not JSON, and the byte offset where that was noticed.
public struct JSONScanError: Error, Sendable, Equatable, CustomStringConvertible {
    public var position: Int
    public var reason: String
    public var description: String { "not JSON: \(reason) at byte \(position)" }
}

/// A single-pass extractor: scans a JSON document once, validating its syntax (RFC 8259; UTF-8 is
/// checked only where a mapped value is converted), and records the byte span of every requested
/// path. No tree is built and nothing is allocated per document.
///
/// Paths are compiled into a trie; members that no path names are skipped. When a member name occurs
/// twice in one object, the last occurrence wins (as in Foundation's `JSONSerialization`).
public struct JSONPathScanner: Sendable {
    struct Node: Sendable {
        var slot: Int32 = -1
        var firstEdge: Int32 = 0
        var edgeCount: Int32 = 0
        /// Slots of this node's subtree are `slotLo..<slotHi` (reset when the member repeats).
        var slotLo: Int32 = 0
        var slotHi: Int32 = 0
    }
    struct Edge: Sendable {
        var index: Int          // −1 for a member edge
        var nameStart: Int32
        var nameLength: Int32
        var child: Int32
        /// The name's first (up to) 8 bytes, little-endian: most keys are told apart by one compare.
        var prefix: UInt64 = 0
    }
    struct Frame {
        var start: Int
        var node: Int32
        var slot: Int32
        var count: Int32
        var isObject: Bool
    }

    /// Maximum nesting depth; deeper documents are rejected.
    public static let maxDepth = 1024

    /// The compiled trie, immutable after `init`, in memory of its own so that a scan reaches it
    /// without nested `withUnsafeBufferPointer` calls.
    final class Tables: @unchecked Sendable {
        let nodes: UnsafeMutableBufferPointer<Node>
        let edges: UnsafeMutableBufferPointer<Edge>
        let names: UnsafeMutableBufferPointer<UInt8>

        init(nodes: [Node], edges: [Edge], names: [UInt8]) {
            self.nodes = .allocate(capacity: nodes.count)
            _ = self.nodes.initialize(from: nodes)
            self.edges = .allocate(capacity: edges.count)
            _ = self.edges.initialize(from: edges)
            self.names = .allocate(capacity: names.count)
            _ = self.names.initialize(from: names)
        }

        deinit {
            nodes.deallocate()
            edges.deallocate()
            names.deallocate()
        }
    }

    private let tables: Tables
    private var spans: [JSONSpan]
    private var stack: [Frame] = []
    public let pathCount: Int

    /// Compiles `paths`; `span(i)` gives the value of path `i` after a scan.
    public init(paths: [[PathComponent]]) {
        pathCount = paths.count
        spans = Array(repeating: .missing, count: paths.count)
        // Build a nested trie first, then flatten breadth-first so each node's edges are contiguous.
        final class TNode {
            var slots: [Int] = []
            var children: [(PathComponent, TNode)] = []
        }
        let root = TNode()
        for (slot, path) in paths.enumerated() {
            var n = root
            for c in path {
                if let existing = n.children.first(where: { $0.0 == c }) {
                    n = existing.1
                } else {
                    let t = TNode()
                    n.children.append((c, t))
                    n = t
                }
            }
            n.slots.append(slot)
        }
        var order: [TNode] = [root]
        var k = 0
        while k < order.count {
            for (_, child) in order[k].children { order.append(child) }
            k += 1
        }
        var ids: [ObjectIdentifier: Int32] = [:]
        for (i, n) in order.enumerated() { ids[ObjectIdentifier(n)] = Int32(i) }
        var nodes = Array(repeating: Node(), count: order.count)
        var edges: [Edge] = []
        var names: [UInt8] = []
        for (i, n) in order.enumerated() {
            nodes[i].firstEdge = Int32(edges.count)
            nodes[i].edgeCount = Int32(n.children.count)
            for (c, child) in n.children {
                switch c {
                case .index(let idx):
                    edges.append(Edge(index: idx, nameStart: 0, nameLength: 0, child: ids[ObjectIdentifier(child)]!))
                case .member(let name):
                    let start = names.count
                    names.append(contentsOf: Array(name.utf8))
                    let prefix = name.utf8.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
                    edges.append(Edge(index: -1, nameStart: Int32(start), nameLength: Int32(names.count - start),
                                      child: ids[ObjectIdentifier(child)]!, prefix: prefix))
                }
            }
        }
        // Internal slots are numbered depth-first so that each node's subtree is one range
        // (reset when its member repeats); paths that are the same share a slot.
        var external = Array(repeating: Int32(0), count: paths.count)
        var nextSlot: Int32 = 0
        func number(_ t: TNode) {
            let i = Int(ids[ObjectIdentifier(t)]!)
            nodes[i].slotLo = nextSlot
            if !t.slots.isEmpty {
                nodes[i].slot = nextSlot
                for e in t.slots { external[e] = nextSlot }
                nextSlot += 1
            }
            for (_, child) in t.children { number(child) }
            nodes[i].slotHi = nextSlot
        }
        number(root)
        self.tables = Tables(nodes: nodes, edges: edges, names: names)
        self.external = external
        self.spans = Array(repeating: .missing, count: Int(nextSlot))
        stack = Array(repeating: Frame(start: 0, node: 0, slot: 0, count: 0, isObject: false), count: 16)
    }

    /// Path index → internal slot.
    private let external: [Int32]

    /// The span found for path `i` by the last `scan`.
    public func span(_ i: Int) -> JSONSpan { spans[Int(external[i])] }

    /// Scans `doc`; returns nil when it is valid JSON, else where and why it is not. Spans of paths
    /// found before an error are not meaningful.
    public mutating func scan(_ doc: UnsafeRawBufferPointer) -> JSONScanError? {
        var spans = self.spans
        self.spans = []
        defer { self.spans = spans }
        for i in spans.indices { spans[i] = .missing }
        guard let base = doc.baseAddress, doc.count > 0 else {
            return JSONScanError(position: 0, reason: "empty input")
        }
        let p = base.assumingMemoryBound(to: UInt8.self)
        var stack = self.stack
        self.stack = []
        defer { self.stack = stack }
        while true {
            var position = 0
            let t = tables
            let code: Code = spans.withUnsafeMutableBufferPointer { spans in
                stack.withUnsafeMutableBufferPointer { stack in
                    Self.run(p, doc.count, UnsafeBufferPointer(t.nodes), UnsafeBufferPointer(t.edges),
                             UnsafeBufferPointer(t.names), spans, stack, &position)
                }
            }
            switch code {
            case .ok: return nil
            case .needStack:
                // Deeper than the stack so far: grow it and scan again from the start.
                stack = Array(repeating: Frame(start: 0, node: 0, slot: 0, count: 0, isObject: false),
                              count: Swift.min(stack.count * 4, Self.maxDepth))
                for i in spans.indices { spans[i] = .missing }
            default: return JSONScanError(position: position, reason: code.reason)
            }
        }
    }

    @inline(__always)
    static func isWS(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

    @inline(__always)
    static func skipWS(_ p: UnsafePointer<UInt8>, _ n: Int, _ i: inout Int) {
        while i < n, p[i] <= 0x20, isWS(p[i]) { i &+= 1 }
    }

    /// Outcome of the state machine; everything but `ok` and `needStack` is a syntax error.
    enum Code: UInt8 {
        case ok, needStack, tooDeep, unexpectedEnd, unexpectedCharacter, invalidLiteral, invalidNumber
        case unclosedString, invalidEscape, invalidUnicodeEscape, unpairedSurrogate, controlCharacter
        case trailing, expectedCommaOrBrace, expectedCommaOrBracket, expectedName, expectedColon

        var reason: String {
            switch self {
            case .ok, .needStack: "no error"
            case .tooDeep: "nesting deeper than \(JSONPathScanner.maxDepth)"
            case .unexpectedEnd: "unexpected end"
            case .unexpectedCharacter: "unexpected character"
            case .invalidLiteral: "invalid literal"
            case .invalidNumber: "invalid number"
            case .unclosedString: "string is not closed"
            case .invalidEscape: "invalid escape"
            case .invalidUnicodeEscape: "invalid \\u escape"
            case .unpairedSurrogate: "unpaired UTF-16 surrogate in a \\u escape"
            case .controlCharacter: "control character in a string"
            case .trailing: "unexpected characters after the JSON value"
            case .expectedCommaOrBrace: "',' or '}' expected"
            case .expectedCommaOrBracket: "',' or ']' expected"
            case .expectedName: "a member name in double quotes expected"
            case .expectedColon: "':' expected after a member name"
            }
        }
    }

    // The state machine, as straight-line code: read a value; then, until a new value starts, read
    // separators and closing brackets. `node` is the trie node of the value about to be read
    // (−1: not on any path).
    private static func run(_ p: UnsafePointer<UInt8>, _ n: Int,
                            _ nodes: UnsafeBufferPointer<Node>, _ edges: UnsafeBufferPointer<Edge>,
                            _ names: UnsafeBufferPointer<UInt8>, _ spans: UnsafeMutableBufferPointer<JSONSpan>,
                            _ stack: UnsafeMutableBufferPointer<Frame>, _ position: inout Int) -> Code {
        var i = 0
        var depth = 0
        var node: Int32 = 0
        var failedAt = 0
        defer { position = failedAt }
        @inline(__always) func fail(_ at: Int, _ code: Code) -> Code {
            failedAt = at
            return code
        }
        value: while true {
            // A value starts here.
            skipWS(p, n, &i)
            guard i < n else { return fail(i, .unexpectedEnd) }
            let slot: Int32 = node >= 0 ? nodes[Int(node)].slot : -1
            let c = p[i]
            switch c {
            case UInt8(ascii: "\""):
                let start = i
                var escaped = false
                let code = scanString(p, n, &i, &escaped)
                if code != .ok { return fail(i, code) }
                if slot >= 0 { spans[Int(slot)] = JSONSpan(start: start, end: i, kind: .string, escaped: escaped) }
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
                let start = i
                if !scanNumber(p, n, &i) { return fail(start, .invalidNumber) }
                if slot >= 0 { spans[Int(slot)] = JSONSpan(start: start, end: i, kind: .number, escaped: false) }
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                if depth == stack.count {
                    return depth >= maxDepth ? fail(i, .tooDeep) : .needStack
                }
                let isObject = c == UInt8(ascii: "{")
                stack[depth] = Frame(start: i, node: node, slot: slot, count: 0, isObject: isObject)
                depth &+= 1
                i &+= 1
                skipWS(p, n, &i)
                guard i < n else { return fail(i, .unexpectedEnd) }
                if p[i] == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    i &+= 1
                    depth &-= 1
                    if slot >= 0 {
                        spans[Int(slot)] = JSONSpan(start: stack[depth].start, end: i, kind: isObject ? .object : .array, escaped: false)
                    }
                } else {
                    if isObject {
                        let code = readName(p, n, &i, &node, nodes, edges, names, spans)
                        if code != .ok { return fail(i, code) }
                    } else {
                        node = node >= 0 ? indexChild(nodes[Int(node)], 0, edges) : -1
                    }
                    continue value
                }
            case UInt8(ascii: "t"):
                guard i + 4 <= n, p[i + 1] == UInt8(ascii: "r"), p[i + 2] == UInt8(ascii: "u"), p[i + 3] == UInt8(ascii: "e")
                else { return fail(i, .invalidLiteral) }
                if slot >= 0 { spans[Int(slot)] = JSONSpan(start: i, end: i + 4, kind: .true, escaped: false) }
                i &+= 4
            case UInt8(ascii: "f"):
                guard i + 5 <= n, p[i + 1] == UInt8(ascii: "a"), p[i + 2] == UInt8(ascii: "l"), p[i + 3] == UInt8(ascii: "s"),
                      p[i + 4] == UInt8(ascii: "e")
                else { return fail(i, .invalidLiteral) }
                if slot >= 0 { spans[Int(slot)] = JSONSpan(start: i, end: i + 5, kind: .false, escaped: false) }
                i &+= 5
            case UInt8(ascii: "n"):
                guard i + 4 <= n, p[i + 1] == UInt8(ascii: "u"), p[i + 2] == UInt8(ascii: "l"), p[i + 3] == UInt8(ascii: "l")
                else { return fail(i, .invalidLiteral) }
                if slot >= 0 { spans[Int(slot)] = JSONSpan(start: i, end: i + 4, kind: .null, escaped: false) }
                i &+= 4
            default:
                return fail(i, .unexpectedCharacter)
            }

            // After a value: separators and closing brackets until the next value starts.
            while true {
                skipWS(p, n, &i)
                if depth == 0 { return i == n ? .ok : fail(i, .trailing) }
                guard i < n else { return fail(i, .unexpectedEnd) }
                let c = p[i]
                let top = depth - 1
                let isObject = stack[top].isObject
                if c == UInt8(ascii: ",") {
                    i &+= 1
                    if isObject {
                        node = stack[top].node
                        let code = readName(p, n, &i, &node, nodes, edges, names, spans)
                        if code != .ok { return fail(i, code) }
                    } else {
                        let count = stack[top].count + 1
                        stack[top].count = count
                        let parent = stack[top].node
                        node = parent >= 0 ? indexChild(nodes[Int(parent)], Int(count), edges) : -1
                    }
                    continue value
                } else if c == (isObject ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
                    i &+= 1
                    depth = top
                    let slot = stack[top].slot
                    if slot >= 0 {
                        spans[Int(slot)] = JSONSpan(start: stack[top].start, end: i, kind: isObject ? .object : .array, escaped: false)
                    }
                } else {
                    return fail(i, isObject ? .expectedCommaOrBrace : .expectedCommaOrBracket)
                }
            }
        }
    }

    /// Reads `"name" :` of an object whose trie node is `node` (−1: none) and sets `node` to the
    /// member's trie node (−1 when no path goes through it). On an error `i` is where it was found.
    @inline(__always)
    private static func readName(_ p: UnsafePointer<UInt8>, _ n: Int, _ i: inout Int, _ node: inout Int32,
                                 _ nodes: UnsafeBufferPointer<Node>, _ edges: UnsafeBufferPointer<Edge>,
                                 _ names: UnsafeBufferPointer<UInt8>, _ spans: UnsafeMutableBufferPointer<JSONSpan>) -> Code {
        while i < n, p[i] <= 0x20, isWS(p[i]) { i &+= 1 }
        guard i < n, p[i] == UInt8(ascii: "\"") else { return .expectedName }
        let keyStart = i + 1
        var escaped = false
        let code = scanString(p, n, &i, &escaped)
        if code != .ok { return code }
        let keyEnd = i - 1
        while i < n, p[i] <= 0x20, isWS(p[i]) { i &+= 1 }
        guard i < n, p[i] == UInt8(ascii: ":") else { return .expectedColon }
        i &+= 1
        let parent = node
        node = -1
        guard parent >= 0 else { return .ok }
        let pn = nodes[Int(parent)]
        var e = Int(pn.firstEdge)
        let end = e + Int(pn.edgeCount)
        let keyLength = keyEnd - keyStart
        while e < end {
            let edge = edges[e]
            e &+= 1
            if edge.index >= 0 { continue }
            let match: Bool
            if escaped {
                let name = UnsafeBufferPointer(rebasing: names[Int(edge.nameStart)..<Int(edge.nameStart + edge.nameLength)])
                match = escapedKeyEquals(p + keyStart, keyLength, name)
            } else if keyLength == Int(edge.nameLength) {
                var k = 0
                if keyStart &+ 8 <= n {
                    // The first 8 bytes at once (the key is followed by at least its quote and a value).
                    let head = UnsafeRawPointer(p + keyStart).loadUnaligned(as: UInt64.self)
                    let mask: UInt64 = keyLength >= 8 ? ~0 : (UInt64(1) << UInt64(keyLength &* 8)) &- 1
                    guard head & mask == edge.prefix else { continue }
                    k = Swift.min(keyLength, 8)
                }
                let nameBase = Int(edge.nameStart)
                while k < keyLength, p[keyStart + k] == names[nameBase + k] { k &+= 1 }
                match = k == keyLength
            } else {
                match = false
            }
            if match {
                node = edge.child
                let cn = nodes[Int(node)]
                // A repeated member: forget what its previous occurrence yielded.
                var s = Int(cn.slotLo)
                while s < Int(cn.slotHi) { spans[s] = .missing; s &+= 1 }
                return .ok
            }
        }
        return .ok
    }

    @inline(__always)
    private static func indexChild(_ node: Node, _ index: Int, _ edges: UnsafeBufferPointer<Edge>) -> Int32 {
        var e = Int(node.firstEdge)
        let end = e + Int(node.edgeCount)
        while e < end {
            if edges[e].index == index { return edges[e].child }
            e &+= 1
        }
        return -1
    }

    /// Scans a string starting at the opening quote at `i`; leaves `i` after the closing quote (or at
    /// the problem).
    @inline(__always)
    static func scanString(_ p: UnsafePointer<UInt8>, _ n: Int, _ i: inout Int, _ escaped: inout Bool) -> Code {
        // Fast path, inlined: eight bytes at a time up to a closing quote with nothing special before it.
        var j = i &+ 1
        while j &+ 8 <= n {
            let (hits, quotes) = specials(UnsafeRawPointer(p + j).loadUnaligned(as: UInt64.self))
            if hits != 0 {
                let at = hits.trailingZeroBitCount
                if quotes & (UInt64(1) << at) != 0 {
                    i = j &+ (at >> 3) &+ 1
                    return .ok
                }
                break
            }
            j &+= 8
        }
        return scanStringSlow(p, n, &i, &escaped)
    }

    /// For eight string bytes: a high bit in `hits` for each quote, backslash or control character
    /// (exact up to the first one), and in `quotes` for each quote.
    @inline(__always)
    static func specials(_ v: UInt64) -> (hits: UInt64, quotes: UInt64) {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let q = v ^ (ones &* 0x22)
        let b = v ^ (ones &* 0x5C)
        let quotes = (q &- ones) & ~q & highs
        return (quotes | (((b &- ones) & ~b) | ((v &- (ones &* 0x20)) & ~v)) & highs, quotes)
    }

    /// `scanString` for strings with escapes, control characters or near the end of the input.
    @inline(never)
    static func scanStringSlow(_ p: UnsafePointer<UInt8>, _ n: Int, _ i: inout Int, _ escaped: inout Bool) -> Code {
        var j = i &+ 1
        while true {
            // Eight bytes at a time while none is a quote, a backslash or a control character.
            while j &+ 8 <= n {
                let (hits, quotes) = specials(UnsafeRawPointer(p + j).loadUnaligned(as: UInt64.self))
                if hits != 0 {
                    let at = hits.trailingZeroBitCount
                    j &+= at >> 3
                    // The first special byte is the closing quote: done.
                    if quotes & (UInt64(1) << at) != 0 {
                        i = j &+ 1
                        return .ok
                    }
                    break
                }
                j &+= 8
            }
            guard j < n else { i = j; return .unclosedString }
            let c = p[j]
            if c == UInt8(ascii: "\"") {
                i = j + 1
                return .ok
            } else if c == UInt8(ascii: "\\") {
                escaped = true
                guard j + 1 < n else { i = j; return .unclosedString }
                switch p[j + 1] {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                     UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    j &+= 2
                case UInt8(ascii: "u"):
                    guard let u = hex4(p, j + 2, n) else { i = j; return .invalidUnicodeEscape }
                    if u >= 0xD800, u < 0xDC00 {
                        // A high surrogate must be followed by an escaped low surrogate.
                        guard j + 12 <= n, p[j + 6] == UInt8(ascii: "\\"), p[j + 7] == UInt8(ascii: "u"),
                              let lo = hex4(p, j + 8, n), lo >= 0xDC00, lo < 0xE000
                        else { i = j; return .unpairedSurrogate }
                        j &+= 12
                    } else if u >= 0xDC00, u < 0xE000 {
                        i = j
                        return .unpairedSurrogate
                    } else {
                        j &+= 6
                    }
                default:
                    i = j
                    return .invalidEscape
                }
            } else if c < 0x20 {
                i = j
                return .controlCharacter
            } else {
                j &+= 1
            }
        }
    }

    @inline(__always)
    static func hex4(_ p: UnsafePointer<UInt8>, _ at: Int, _ n: Int) -> UInt32? {
        guard at + 4 <= n else { return nil }
        let a = hexValue(p[at]), b = hexValue(p[at + 1]), c = hexValue(p[at + 2]), d = hexValue(p[at + 3])
        guard a >= 0, b >= 0, c >= 0, d >= 0 else { return nil }
        return UInt32(a << 12 | b << 8 | c << 4 | d)
    }

    @inline(__always)
    static func hexValue(_ c: UInt8) -> Int {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): Int(c - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): Int(c - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): Int(c - UInt8(ascii: "A") + 10)
        default: -1
        }
    }

    /// Scans a JSON number at `i`; false when it is malformed.
    @inline(__always)
    static func scanNumber(_ p: UnsafePointer<UInt8>, _ n: Int, _ i: inout Int) -> Bool {
        var j = i
        @inline(__always) func isDigit(_ k: Int) -> Bool { k < n && p[k] &- UInt8(ascii: "0") < 10 }
        if p[j] == UInt8(ascii: "-") { j &+= 1 }
        guard isDigit(j) else { return false }
        if p[j] == UInt8(ascii: "0") {
            j &+= 1
        } else {
            j = digitRun(p, n, j)
        }
        if j < n, p[j] == UInt8(ascii: ".") {
            j &+= 1
            guard isDigit(j) else { return false }
            j = digitRun(p, n, j)
        }
        if j < n, p[j] | 0x20 == UInt8(ascii: "e") {
            j &+= 1
            if j < n, p[j] == UInt8(ascii: "+") || p[j] == UInt8(ascii: "-") { j &+= 1 }
            guard isDigit(j) else { return false }
            while isDigit(j) { j &+= 1 }
        }
        i = j
        return true
    }

    /// The index after the run of ASCII digits that starts at `j`, eight bytes at a time.
    @inline(__always)
    static func digitRun(_ p: UnsafePointer<UInt8>, _ n: Int, _ start: Int) -> Int {
        var j = start
        while j &+ 8 <= n {
            let v = UnsafeRawPointer(p + j).loadUnaligned(as: UInt64.self)
            // A byte is a digit when its high nibble is 3 and adding 6 keeps it so. Carries only
            // reach bytes after the first non-digit, which do not matter.
            let highs: UInt64 = 0xF0F0_F0F0_F0F0_F0F0
            let threes: UInt64 = 0x3030_3030_3030_3030
            let other = ((v & highs) ^ threes) | (((v &+ 0x0606_0606_0606_0606) & highs) ^ threes)
            if other != 0 {
                let nonzero = ((other & 0x7F7F_7F7F_7F7F_7F7F) &+ 0x7F7F_7F7F_7F7F_7F7F | other) & 0x8080_8080_8080_8080
                return j &+ (nonzero.trailingZeroBitCount >> 3)
            }
            j &+= 8
        }
        while j < n, p[j] &- UInt8(ascii: "0") < 10 { j &+= 1 }
        return j
    }

    /// Compares an escaped JSON key (without quotes) with a UTF-8 name, decoding escapes on the fly.
    static func escapedKeyEquals(_ k: UnsafePointer<UInt8>, _ len: Int, _ name: UnsafeBufferPointer<UInt8>) -> Bool {
        var i = 0
        var j = 0
        var buf: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        while i < len {
            if k[i] != UInt8(ascii: "\\") {
                guard j < name.count, name[j] == k[i] else { return false }
                i += 1
                j += 1
                continue
            }
            let (scalar, used) = decodeEscape(k + i, len - i)
            i += used
            let count = encodeUTF8(scalar, &buf)
            for t in 0..<count {
                let byte: UInt8 = t == 0 ? buf.0 : t == 1 ? buf.1 : t == 2 ? buf.2 : buf.3
                guard j < name.count, name[j] == byte else { return false }
                j += 1
            }
        }
        return j == name.count
    }

    /// Decodes one escape sequence at `p` (which starts with a backslash) of an already validated
    /// string; returns the scalar value and the bytes consumed. Lone surrogates become U+FFFD.
    static func decodeEscape(_ p: UnsafePointer<UInt8>, _ avail: Int) -> (UInt32, Int) {
        switch p[1] {
        case UInt8(ascii: "b"): return (0x08, 2)
        case UInt8(ascii: "f"): return (0x0C, 2)
        case UInt8(ascii: "n"): return (0x0A, 2)
        case UInt8(ascii: "r"): return (0x0D, 2)
        case UInt8(ascii: "t"): return (0x09, 2)
        case UInt8(ascii: "u"):
            func hex4(_ q: UnsafePointer<UInt8>) -> UInt32 {
                UInt32(hexValue(q[0]) << 12 | hexValue(q[1]) << 8 | hexValue(q[2]) << 4 | hexValue(q[3]))
            }
            let u = hex4(p + 2)
            if u >= 0xD800, u < 0xDC00 {
                if avail >= 12, p[6] == UInt8(ascii: "\\"), p[7] == UInt8(ascii: "u") {
                    let lo = hex4(p + 8)
                    if lo >= 0xDC00, lo < 0xE000 {
                        return (0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00), 12)
                    }
                }
                return (0xFFFD, 6)
            }
            if u >= 0xDC00, u < 0xE000 { return (0xFFFD, 6) }
            return (u, 6)
        default: return (UInt32(p[1]), 2)
        }
    }

    @inline(__always)
    static func encodeUTF8(_ s: UInt32, _ b: inout (UInt8, UInt8, UInt8, UInt8)) -> Int {
        if s < 0x80 { b.0 = UInt8(s); return 1 }
        if s < 0x800 { b.0 = UInt8(0xC0 | (s >> 6)); b.1 = UInt8(0x80 | (s & 0x3F)); return 2 }
        if s < 0x10000 {
            b.0 = UInt8(0xE0 | (s >> 12)); b.1 = UInt8(0x80 | ((s >> 6) & 0x3F)); b.2 = UInt8(0x80 | (s & 0x3F))
            return 3
        }
        b.0 = UInt8(0xF0 | (s >> 18)); b.1 = UInt8(0x80 | ((s >> 12) & 0x3F))
        b.2 = UInt8(0x80 | ((s >> 6) & 0x3F)); b.3 = UInt8(0x80 | (s & 0x3F))
        return 4
    }
}

/// Decoding of extracted JSON text.
enum JSONText {
    /// The content of a string span (which includes the quotes), unescaped into `out`. Returns false
    /// when the result is not valid UTF-8.
    static func unescape(_ p: UnsafePointer<UInt8>, _ span: JSONSpan, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        var i = span.start + 1
        let end = span.end - 1
        var buf: (UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0)
        while i < end {
            let c = p[i]
            if c != UInt8(ascii: "\\") {
                out.append(c)
                i += 1
                continue
            }
            let (scalar, used) = JSONPathScanner.decodeEscape(p + i, end - i)
            i += used
            let count = JSONPathScanner.encodeUTF8(scalar, &buf)
            out.append(buf.0)
            if count > 1 { out.append(buf.1) }
            if count > 2 { out.append(buf.2) }
            if count > 3 { out.append(buf.3) }
        }
    }

    /// The span's JSON text without insignificant whitespace (strings kept verbatim).
    static func compact(_ p: UnsafePointer<UInt8>, _ span: JSONSpan, into out: inout [UInt8]) {
        out.removeAll(keepingCapacity: true)
        var i = span.start
        var inString = false
        while i < span.end {
            let c = p[i]
            if inString {
                out.append(c)
                if c == UInt8(ascii: "\\") { out.append(p[i + 1]); i += 2; continue }
                if c == UInt8(ascii: "\"") { inString = false }
            } else if c == UInt8(ascii: "\"") {
                inString = true
                out.append(c)
            } else if !JSONPathScanner.isWS(c) {
                out.append(c)
            }
            i += 1
        }
    }
}

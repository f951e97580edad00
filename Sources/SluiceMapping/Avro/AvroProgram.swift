import SluiceCore
import SluiceJob

/// What one path found in a decoded Avro value. Text and bytes are ranges: of the value's bytes
/// (`string`, `bytes`, `decimal`, `uuidFixed`), of the program's enum symbols (`symbol`) or of the
/// run's JSON scratch buffer (`json`).
struct AvroValue {
    enum Kind: UInt8 {
        case missing, null, boolean, long, float, double, string, bytes, symbol, json
        case decimal, uuidFixed, date, timeMillis, timeMicros
        case timestampMillis, timestampMicros, localTimestampMillis, localTimestampMicros
        /// Protobuf: a number (a uint64 past Int64's range) or text (a Duration) in the JSON scratch buffer.
        case scratchNumber, scratchText
    }
    var kind: Kind
    /// The scale of a decimal.
    var scale: Int32 = 0
    /// Integers, booleans (0/1), doubles and floats (the double's bit pattern).
    var i: Int64 = 0
    var start: Int32 = 0
    var end: Int32 = 0

    static let missing = AvroValue(kind: .missing)
}

/// Why a value does not decode with its schema, and where (byte offset in the Kafka value).
struct AvroDecodeFailure: Error {
    var message: String
    var position: Int
}

/// A compiled decoder for one Avro schema and the paths a job maps: a graph of nodes that walks the
/// Avro binary encoding once, skipping what no path addresses and recording what each path finds
/// (`AvroValue`, no copies). Built once per schema (per registry schema id), shared by every run.
struct AvroProgram: Sendable {
    enum Op: UInt8 {
        case null, boolean, int, long, float, double, bytes, string, fixed, enumeration
        case record, union, array, map
        /// Sets every slot in `slotLists[a..<a+b]` to NULL (a null union branch above deeper paths).
        case nullSlots
        /// Renders the value of plain node `a` as JSON into the slot, then (b ≥ 0) walks it again
        /// with node `b` for the paths below it.
        case json
    }

    struct Node {
        var op: Op
        /// What a leaf records in `slot`.
        var capture: AvroValue.Kind = .missing
        var slot: Int32 = -1
        /// Per op: fixed size; first symbol; first child; item/value node; first slot; plain node.
        var a: Int32 = 0
        /// Per op: symbol/child count; first edge (array, map); slot count; capturing node.
        var b: Int32 = 0
        /// Per op: edge count (array, map); a decimal's scale; a plain record's first field-name edge.
        var c: Int32 = 0
        /// Nothing below records anything (arrays skip whole blocks).
        var plain = true
    }

    /// An array element (`index ≥ 0`) or a map key (`index == -1`, the name in `names`) a path
    /// goes through.
    struct Edge {
        var index: Int64
        var nameStart: Int32
        var nameCount: Int32
        var node: Int32
    }

    /// The compiled graph, immutable after `init`, in memory of its own so that decoding reaches it
    /// without nested `withUnsafeBufferPointer` calls. Immutable after init, hence `@unchecked Sendable`.
    final class Tables: @unchecked Sendable {
        let nodes: UnsafeMutableBufferPointer<Node>
        let children: UnsafeMutableBufferPointer<Int32>
        let edges: UnsafeMutableBufferPointer<Edge>
        let bytes: UnsafeMutableBufferPointer<UInt8>

        init(nodes: [Node], children: [Int32], edges: [Edge], bytes: [UInt8]) {
            func copy<T>(_ a: [T]) -> UnsafeMutableBufferPointer<T> {
                let p = UnsafeMutableBufferPointer<T>.allocate(capacity: max(a.count, 1))
                _ = p.initialize(from: a)
                return p
            }
            self.nodes = copy(nodes)
            self.children = copy(children)
            self.edges = copy(edges)
            self.bytes = copy(bytes)
        }

        deinit {
            nodes.deallocate()
            children.deallocate()
            edges.deallocate()
            bytes.deallocate()
        }
    }

    let tables: Tables
    let root: Int32
    let slotCount: Int

    /// Compiles `schema` for `paths` (slot i is `paths[i]`).
    init(schema: AvroSchema, paths: [[PathComponent]]) {
        var compiler = AvroCompiler(schema: schema)
        root = compiler.compile(schema.root, paths.enumerated().map { (ArraySlice($0.element), Int32($0.offset)) })
        tables = Tables(nodes: compiler.nodes, children: compiler.children, edges: compiler.edges, bytes: compiler.bytes)
        slotCount = paths.count
    }

    /// Decodes the Avro binary value in `value[start...]`, filling `values` (one per path; `.missing`
    /// where a path found nothing). The value must end exactly where the schema's value ends.
    func decode(_ value: UnsafeRawBufferPointer, from start: Int, into values: inout [AvroValue],
                json: inout [UInt8]) throws(AvroDecodeFailure) {
        for i in 0..<slotCount { values[i] = .missing }
        json.removeAll(keepingCapacity: true)
        guard let base = value.baseAddress else {
            throw AvroDecodeFailure(message: "the value is empty", position: 0)
        }
        var walker = AvroWalker(tables: tables, p: base.assumingMemoryBound(to: UInt8.self), end: value.count, pos: start)
        try values.withUnsafeMutableBufferPointer { (v) throws(AvroDecodeFailure) in
            try walker.exec(root, v.baseAddress!, &json)
        }
        if walker.pos != value.count {
            throw AvroDecodeFailure(message: "\(value.count - walker.pos) bytes are left after the value", position: walker.pos)
        }
    }

    /// The bytes of an enum symbol recorded in a `symbol` value.
    func symbol(_ v: AvroValue) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(tables.bytes)[Int(v.start)..<Int(v.end)])
    }
}

/// Builds an `AvroProgram`'s node graph.
struct AvroCompiler {
    typealias Path = (rest: ArraySlice<PathComponent>, slot: Int32)

    let schema: AvroSchema
    var nodes: [AvroProgram.Node] = []
    var children: [Int32] = []
    var edges: [AvroProgram.Edge] = []
    /// Enum symbols and map key names.
    var bytes: [UInt8] = []
    /// Plain (non-recording) nodes of named types, so that a recursive type is compiled once.
    var plainNamed: [String: Int32] = [:]

    init(schema: AvroSchema) { self.schema = schema }

    mutating func add(_ n: AvroProgram.Node) -> Int32 {
        nodes.append(n)
        return Int32(nodes.count - 1)
    }

    /// The node that walks a value of `type` recording nothing.
    mutating func plain(_ type: AvroType) -> Int32 {
        switch type {
        case .reference(let name):
            if let n = plainNamed[name] { return n }
            return plain(schema.resolve(type))
        case .record(let name, let fields):
            if let n = plainNamed[name] { return n }
            let n = add(.init(op: .record))
            plainNamed[name] = n
            let kids = fields.map { plain($0.type) }
            nodes[Int(n)].a = Int32(children.count)
            nodes[Int(n)].b = Int32(kids.count)
            children += kids
            // The field names, for rendering the record as JSON.
            nodes[Int(n)].c = Int32(edges.count)
            for f in fields {
                edges.append(.init(index: -1, nameStart: Int32(bytes.count), nameCount: Int32(f.name.utf8.count), node: -1))
                bytes += f.name.utf8
            }
            return n
        case .union(let branches):
            let kids = branches.map { plain($0) }
            let n = add(.init(op: .union, a: Int32(children.count), b: Int32(kids.count)))
            children += kids
            return n
        case .array(let items):
            let item = plain(items)
            return add(.init(op: .array, a: item, b: Int32(edges.count), c: 0))
        case .map(let values):
            let value = plain(values)
            return add(.init(op: .map, a: value, b: Int32(edges.count), c: 0))
        case .enumeration(let name, _), .fixed(let name, _, _):
            if let n = plainNamed[name] { return n }
            let n = leaf(type, slot: -1)
            plainNamed[name] = n
            return n
        default:
            return leaf(type, slot: -1)
        }
    }

    /// A leaf node (a primitive, an enum, a fixed) recording into `slot` (−1: none).
    mutating func leaf(_ type: AvroType, slot: Int32) -> Int32 {
        var n: AvroProgram.Node
        switch type {
        case .null: n = .init(op: .null, capture: .null)
        case .boolean: n = .init(op: .boolean, capture: .boolean)
        case .float: n = .init(op: .float, capture: .float)
        case .double: n = .init(op: .double, capture: .double)
        case .int(let l):
            n = .init(op: .int, capture: l == .date ? .date : l == .timeMillis ? .timeMillis : .long)
        case .long(let l):
            let kinds: [AvroLogical: AvroValue.Kind] = [
                .timeMicros: .timeMicros, .timestampMillis: .timestampMillis, .timestampMicros: .timestampMicros,
                .localTimestampMillis: .localTimestampMillis, .localTimestampMicros: .localTimestampMicros]
            n = .init(op: .long, capture: l.flatMap { kinds[$0] } ?? .long)
        case .bytes(let l):
            n = .init(op: .bytes, capture: .bytes)
            if case .decimal(_, let scale)? = l { n.capture = .decimal; n.c = Int32(scale) }
        case .string: n = .init(op: .string, capture: .string)
        case .fixed(_, let size, let l):
            n = .init(op: .fixed, capture: l == .uuid ? .uuidFixed : .bytes, a: Int32(size))
            if case .decimal(_, let scale)? = l { n.capture = .decimal; n.c = Int32(scale) }
        case .enumeration(_, let symbols):
            n = .init(op: .enumeration, capture: .symbol, a: Int32(edges.count), b: Int32(symbols.count))
            // Each symbol is an edge whose name is the symbol's text.
            for s in symbols { edges.append(.init(index: -1, nameStart: Int32(bytes.count), nameCount: Int32(s.utf8.count), node: -1)); bytes += s.utf8 }
        default:
            return plain(type)
        }
        n.slot = slot
        n.plain = slot < 0
        return add(n)
    }

    /// The node that walks a value of `type` recording what `paths` address in it.
    mutating func compile(_ type: AvroType, _ paths: [Path]) -> Int32 {
        guard !paths.isEmpty else { return plain(type) }
        let type = schema.resolve(type)
        let here = paths.filter { $0.rest.isEmpty }.map(\.slot)
        let deeper = paths.filter { !$0.rest.isEmpty }
        switch type {
        case .null:
            let n = add(.init(op: .nullSlots, a: Int32(children.count), b: Int32(paths.count), plain: false))
            children += paths.map(\.slot)
            return n
        case .union(let branches):
            let kids = branches.map { compile($0, paths) }
            let n = add(.init(op: .union, a: Int32(children.count), b: Int32(kids.count), plain: false))
            children += kids
            return n
        case .record, .array, .map:
            let below = deeper.isEmpty ? -1 : container(type, deeper)
            guard let slot = here.first else { return below }
            return add(.init(op: .json, slot: slot, a: plain(type), b: below, plain: false))
        default:
            // A leaf: paths that go deeper find nothing.
            guard let slot = here.first else { return plain(type) }
            return leaf(type, slot: slot)
        }
    }

    /// A record, array or map with the paths that continue below it.
    mutating func container(_ type: AvroType, _ paths: [Path]) -> Int32 {
        switch type {
        case .record(_, let fields):
            let kids = fields.map { f in
                compile(f.type, paths.compactMap { p in
                    if case .member(f.name) = p.rest.first! { return (p.rest.dropFirst(), p.slot) }
                    return nil
                })
            }
            let n = add(.init(op: .record, a: Int32(children.count), b: Int32(kids.count), plain: false))
            children += kids
            return n
        case .array(let items):
            var byIndex: [Int: [Path]] = [:]
            for p in paths { if case .index(let i) = p.rest.first! { byIndex[i, default: []].append((p.rest.dropFirst(), p.slot)) } }
            let compiled = byIndex.keys.sorted().map { i in AvroProgram.Edge(index: Int64(i), nameStart: 0, nameCount: 0, node: compile(items, byIndex[i]!)) }
            let n = add(.init(op: .array, a: plain(items), b: Int32(edges.count), c: Int32(compiled.count), plain: compiled.isEmpty))
            edges += compiled
            return n
        case .map(let values):
            var byKey: [String: [Path]] = [:]
            for p in paths { if case .member(let k) = p.rest.first! { byKey[k, default: []].append((p.rest.dropFirst(), p.slot)) } }
            var compiled: [AvroProgram.Edge] = []
            for k in byKey.keys.sorted() {
                let node = compile(values, byKey[k]!)
                compiled.append(.init(index: -1, nameStart: Int32(bytes.count), nameCount: Int32(k.utf8.count), node: node))
                bytes += k.utf8
            }
            let n = add(.init(op: .map, a: plain(values), b: Int32(edges.count), c: Int32(compiled.count), plain: compiled.isEmpty))
            edges += compiled
            return n
        default:
            return plain(type)
        }
    }
}

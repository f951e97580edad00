import SluiceCore
import SluiceJob

/// What a value (a field's value, an array element, a map value) is read for: recorded into `slot`
/// (−1: not recorded; a message is rendered as JSON), and walked with `message` for the paths below it.
final class ProtoValuePlan: Sendable {
    enum Kind: UInt8 { case scalar, enumeration, message, wellKnown, map }
    let type: ProtoType
    let slot: Int32
    let message: ProtoMessagePlan?
    /// The symbols of an enum: number → the symbol's range in the program's `symbols`.
    let symbols: [Int: Range<Int32>]
    /// `type` flattened, so that decoding switches on plain values (no indirect enum on the hot path).
    let kind: Kind
    let scalar: ProtoScalar
    let wellKnown: ProtoWellKnown
    let messageIndex: Int
    let wireType: UInt8

    init(type: ProtoType, slot: Int32, message: ProtoMessagePlan?, symbols: [Int: Range<Int32>]) {
        self.type = type
        self.slot = slot
        self.message = message
        self.symbols = symbols
        wireType = type.wireType
        var kind = Kind.map, scalar = ProtoScalar.bytes, wellKnown = ProtoWellKnown.empty, messageIndex = -1
        switch type {
        case .scalar(let s): kind = .scalar; scalar = s
        case .enumeration: kind = .enumeration
        case .message(let m): kind = .message; messageIndex = m
        case .wellKnown(let w): kind = .wellKnown; wellKnown = w
        case .map: kind = .map
        }
        self.kind = kind
        self.scalar = scalar
        self.wellKnown = wellKnown
        self.messageIndex = messageIndex
    }
}

/// A field some path goes through.
final class ProtoFieldPlan: Sendable {
    let field: ProtoField
    /// A singular field's value.
    let single: ProtoValuePlan?
    /// A repeated field or map rendered whole as JSON into this slot (−1: none).
    let wholeSlot: Int32
    /// Elements of a repeated field that paths address, by index.
    let elements: [(index: Int, plan: ProtoValuePlan)]
    /// Values of a map that paths address, by key text.
    let entries: [(key: [UInt8], plan: ProtoValuePlan)]
    /// The counter of this repeated field's elements, among its message's.
    let counter: Int
    /// `field`'s facts the walk needs, as plain values.
    let number: Int
    let isMap: Bool
    let packable: Bool
    let elementWireType: UInt8

    init(field: ProtoField, single: ProtoValuePlan?, wholeSlot: Int32, elements: [(index: Int, plan: ProtoValuePlan)],
         entries: [(key: [UInt8], plan: ProtoValuePlan)], counter: Int) {
        self.field = field
        number = field.number
        isMap = if case .map = field.type { true } else { false }
        packable = field.isPackable
        elementWireType = field.elementWireType
        self.single = single
        self.wholeSlot = wholeSlot
        self.elements = elements
        self.entries = entries
        self.counter = counter
    }
}

/// A message some path goes into: its addressed fields by number, and what its slots hold when the
/// message is there but a field is not (proto3 defaults, NULL for fields with presence).
final class ProtoMessagePlan: Sendable {
    let message: Int
    /// Field number → index + 1 into `fields` (0: no path goes through that field).
    let lookup: [Int32]
    let fields: [ProtoFieldPlan]
    /// Slot values set on entering the message.
    let entry: [(slot: Int32, value: AvroValue)]
    /// Repeated fields and maps rendered whole (indexes into `fields`), after the message is walked.
    let whole: [Int]
    let counters: Int

    init(message: Int, lookup: [Int32], fields: [ProtoFieldPlan], entry: [(slot: Int32, value: AvroValue)], whole: [Int], counters: Int) {
        self.message = message
        self.lookup = lookup
        self.fields = fields
        self.entry = entry
        self.whole = whole
        self.counters = counters
    }

    func plan(number: Int) -> ProtoFieldPlan? {
        guard number < lookup.count else { return nil }
        let i = lookup[number]
        return i == 0 ? nil : fields[Int(i) - 1]
    }
}

/// A compiled decoder for one message of a `.proto` schema and the paths a job maps: it walks the
/// wire encoding once, follows only the fields paths go through, skips the rest by wire type, and
/// records what each path finds (`AvroValue`, ranges of the value's bytes, no copies).
final class ProtoProgram: Sendable {
    let schema: ProtoSchema
    let root: ProtoMessagePlan
    /// Enum symbols' text.
    let symbols: [UInt8]
    let slotCount: Int

    /// The bytes of an enum symbol recorded in a `symbol` value.
    func symbol(_ v: AvroValue) -> UnsafeRawBufferPointer {
        symbols.withUnsafeBytes { all in
            UnsafeRawBufferPointer(rebasing: all[Int(v.start)..<Int(v.end)])
        }
    }

    init(schema: ProtoSchema, message: Int, paths: [[PathComponent]]) {
        var compiler = ProtoCompiler(schema: schema)
        root = compiler.message(message, paths.enumerated().map { (ArraySlice($0.element), Int32($0.offset)) })
        symbols = compiler.symbols
        self.schema = schema
        slotCount = paths.count
    }
}

/// The programs of one registry schema: one per message a message-index array can name.
final class ProtoPrograms: Sendable {
    let schema: ProtoSchema
    let first: ProtoProgram?
    let byIndexes: [[Int]: ProtoProgram]

    init(schema: ProtoSchema, paths: [[PathComponent]]) {
        self.schema = schema
        var out: [[Int]: ProtoProgram] = [:]
        func add(_ m: Int, _ indexes: [Int]) {
            out[indexes] = ProtoProgram(schema: schema, message: m, paths: paths)
            for (j, n) in schema.messages[m].nested.enumerated() { add(n, indexes + [j]) }
        }
        for (i, m) in schema.topLevel.enumerated() { add(m, [i]) }
        byIndexes = out
        first = out[[0]]
    }
}

/// Builds a `ProtoProgram`'s plans.
struct ProtoCompiler {
    typealias Path = (rest: ArraySlice<PathComponent>, slot: Int32)
    let schema: ProtoSchema
    var symbols: [UInt8] = []
    var enumSymbols: [Int: [Int: Range<Int32>]] = [:]

    init(schema: ProtoSchema) { self.schema = schema }

    mutating func symbolTable(_ e: Int) -> [Int: Range<Int32>] {
        if let t = enumSymbols[e] { return t }
        var t: [Int: Range<Int32>] = [:]
        for v in schema.enums[e].values where t[v.number] == nil {
            let start = Int32(symbols.count)
            symbols += v.name.utf8
            t[v.number] = start..<Int32(symbols.count)
        }
        enumSymbols[e] = t
        return t
    }

    /// The plan of message `m` for `paths` (each continuing inside it).
    mutating func message(_ m: Int, _ paths: [Path]) -> ProtoMessagePlan {
        var byField: [Int: [Path]] = [:]
        for p in paths {
            guard case .member(let name) = p.rest.first, let f = schema.messages[m].fields.firstIndex(where: { $0.name == name }) else { continue }
            byField[f, default: []].append((p.rest.dropFirst(), p.slot))
        }
        var fields: [ProtoFieldPlan] = []
        var entry: [(slot: Int32, value: AvroValue)] = []
        var whole: [Int] = []
        var counters = 0
        for f in byField.keys.sorted() {
            let field = schema.messages[m].fields[f]
            let plan = self.field(field, byField[f]!, counter: field.repeated ? counters : -1)
            if field.repeated { counters += 1 }
            if plan.wholeSlot >= 0 { whole.append(fields.count) }
            entry += entryValues(plan)
            fields.append(plan)
        }
        var lookup = [Int32](repeating: 0, count: (fields.map(\.field.number).max() ?? 0) + 1)
        for (i, f) in fields.enumerated() { lookup[f.field.number] = Int32(i + 1) }
        return ProtoMessagePlan(message: m, lookup: lookup, fields: fields, entry: entry, whole: whole, counters: counters)
    }

    /// What a field's slots hold when its message is there and the field is not: its type's default
    /// (implicit presence), or NULL, for every path below it too.
    func entryValues(_ plan: ProtoFieldPlan) -> [(slot: Int32, value: AvroValue)] {
        guard let single = plan.single else { return [] }
        var out: [(slot: Int32, value: AvroValue)] = []
        if single.slot >= 0 {
            out.append((single.slot, plan.field.explicitPresence ? AvroValue(kind: .null) : Self.defaultValue(single)))
        }
        single.message.map { Self.allSlots($0, into: &out) }
        return out
    }

    /// Every slot below a message plan, as NULL (the message is absent).
    static func allSlots(_ m: ProtoMessagePlan, into out: inout [(slot: Int32, value: AvroValue)]) {
        for f in m.fields {
            if f.wholeSlot >= 0 { out.append((f.wholeSlot, AvroValue(kind: .null))) }
            if let s = f.single {
                if s.slot >= 0 { out.append((s.slot, AvroValue(kind: .null))) }
                s.message.map { allSlots($0, into: &out) }
            }
        }
    }

    /// A scalar's or enum's default: 0, false, empty text or bytes, the first symbol.
    static func defaultValue(_ plan: ProtoValuePlan) -> AvroValue {
        switch plan.type {
        case .scalar(.string): return AvroValue(kind: .string)
        case .scalar(.bytes): return AvroValue(kind: .bytes)
        case .scalar(.bool): return AvroValue(kind: .boolean)
        case .scalar(.float): return AvroValue(kind: .float)
        case .scalar(.double): return AvroValue(kind: .double)
        case .scalar: return AvroValue(kind: .long)
        case .enumeration:
            // The first symbol declared (proto3 requires it to be 0).
            guard let first = plan.symbols.min(by: { $0.value.lowerBound < $1.value.lowerBound }) else { return AvroValue(kind: .long) }
            return AvroValue(kind: .symbol, start: first.value.lowerBound, end: first.value.upperBound)
        default: return AvroValue(kind: .null)
        }
    }

    mutating func field(_ field: ProtoField, _ paths: [Path], counter: Int) -> ProtoFieldPlan {
        let here = paths.first(where: { $0.rest.isEmpty })?.slot ?? -1
        let deeper = paths.filter { !$0.rest.isEmpty }
        if !field.repeated {
            return ProtoFieldPlan(field: field, single: value(field.type, slot: here, deeper), wholeSlot: -1,
                                  elements: [], entries: [], counter: counter)
        }
        if case .map(_, let valueType) = field.type {
            var byKey: [String: [Path]] = [:]
            for p in deeper { if case .member(let k) = p.rest.first! { byKey[k, default: []].append((p.rest.dropFirst(), p.slot)) } }
            let entries = byKey.keys.sorted().map { k in (key: Array(k.utf8), plan: value(valueType, slot: slotHere(byKey[k]!), byKey[k]!.filter { !$0.rest.isEmpty })) }
            return ProtoFieldPlan(field: field, single: nil, wholeSlot: here, elements: [], entries: entries, counter: counter)
        }
        var byIndex: [Int: [Path]] = [:]
        for p in deeper { if case .index(let i) = p.rest.first! { byIndex[i, default: []].append((p.rest.dropFirst(), p.slot)) } }
        let elements = byIndex.keys.sorted().map { i in (index: i, plan: value(field.type, slot: slotHere(byIndex[i]!), byIndex[i]!.filter { !$0.rest.isEmpty })) }
        return ProtoFieldPlan(field: field, single: nil, wholeSlot: here, elements: elements, entries: [], counter: counter)
    }

    func slotHere(_ paths: [Path]) -> Int32 { paths.first(where: { $0.rest.isEmpty })?.slot ?? -1 }

    /// A value of `type` recorded into `slot` with `deeper` paths continuing inside it (only a
    /// message has fields below it; other paths find nothing and stay missing).
    mutating func value(_ type: ProtoType, slot: Int32, _ deeper: [Path]) -> ProtoValuePlan {
        var plan: ProtoMessagePlan? = nil
        if case .message(let m) = type, !deeper.isEmpty { plan = message(m, deeper) }
        var symbols: [Int: Range<Int32>] = [:]
        if case .enumeration(let e) = type { symbols = symbolTable(e) }
        return ProtoValuePlan(type: type, slot: slot, message: plan, symbols: symbols)
    }
}

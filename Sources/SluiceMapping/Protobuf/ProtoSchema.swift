/// The scalar types of Protobuf fields.
public enum ProtoScalar: String, Sendable, Hashable, CaseIterable {
    case double, float, int32, int64, uint32, uint64, sint32, sint64
    case fixed32, fixed64, sfixed32, sfixed64, bool, string, bytes

    /// The wire type a value of this type is written with when not packed.
    var wireType: UInt8 {
        switch self {
        case .double, .fixed64, .sfixed64: 1
        case .float, .fixed32, .sfixed32: 5
        case .string, .bytes: 2
        default: 0
        }
    }
}

/// The well-known types of `google/protobuf/*.proto` that paths read as values.
public enum ProtoWellKnown: String, Sendable, Hashable, CaseIterable {
    case timestamp = "Timestamp", duration = "Duration", empty = "Empty"
    case doubleValue = "DoubleValue", floatValue = "FloatValue", int64Value = "Int64Value"
    case uint64Value = "UInt64Value", int32Value = "Int32Value", uint32Value = "UInt32Value"
    case boolValue = "BoolValue", stringValue = "StringValue", bytesValue = "BytesValue"

    /// The wrapped scalar of a wrapper type (its field 1).
    var wrapped: ProtoScalar? {
        switch self {
        case .doubleValue: .double
        case .floatValue: .float
        case .int64Value: .int64
        case .uint64Value: .uint64
        case .int32Value: .int32
        case .uint32Value: .uint32
        case .boolValue: .bool
        case .stringValue: .string
        case .bytesValue: .bytes
        default: nil
        }
    }

    /// The files that declare them (the only imports a schema may have).
    static let files = ["google/protobuf/timestamp.proto", "google/protobuf/duration.proto",
                        "google/protobuf/wrappers.proto", "google/protobuf/empty.proto"]
}

/// A field's type, resolved.
public indirect enum ProtoType: Sendable, Hashable {
    case scalar(ProtoScalar)
    /// Index into `ProtoSchema.enums`.
    case enumeration(Int)
    /// Index into `ProtoSchema.messages`.
    case message(Int)
    case wellKnown(ProtoWellKnown)
    /// `map<K, V>`: a repeated entry message with the key as field 1 and the value as field 2.
    case map(key: ProtoScalar, value: ProtoType)
}

public struct ProtoField: Sendable, Hashable {
    public var name: String
    public var number: Int
    public var type: ProtoType
    public var repeated: Bool
    /// Packed repeated scalars (`[packed = …]`; proto3 packs by default). Readers accept both forms.
    public var packed: Bool
    /// The field has presence (proto2 `optional`/`required`, proto3 `optional`, a oneof member, a
    /// message): absent, it reads NULL rather than its type's default.
    public var explicitPresence: Bool
    /// The oneof it belongs to.
    public var oneof: String?
}

public struct ProtoMessage: Sendable, Hashable {
    public var fullName: String
    public var fields: [ProtoField]
    /// Indexes into `ProtoSchema.messages` of the messages declared inside, in order (the
    /// Confluent message-index array counts them).
    public var nested: [Int]
    /// Field number → index into `fields`.
    var byNumber: [Int: Int] = [:]
}

public struct ProtoEnum: Sendable, Hashable {
    public var fullName: String
    public var values: [(name: String, number: Int)]

    public static func == (a: ProtoEnum, b: ProtoEnum) -> Bool {
        a.fullName == b.fullName && a.values.map(\.name) == b.values.map(\.name) && a.values.map(\.number) == b.values.map(\.number)
    }

    public func hash(into h: inout Hasher) { h.combine(fullName) }
}

/// Why a `.proto` text is not a schema Sluice can read.
public struct ProtoSchemaError: Error, Sendable, CustomStringConvertible {
    public var message: String
    /// The line (from 1) where it was found.
    public var line: Int
    public var description: String { "line \(line): \(message)" }
}

/// A `.proto` file as a Schema Registry holds it: its messages (nested ones too) and enums, the
/// types of their fields resolved.
public struct ProtoSchema: Sendable, Hashable {
    public var syntax: Int
    public var package: String
    /// Every message, top-level and nested, in declaration order.
    public var messages: [ProtoMessage] = []
    public var enums: [ProtoEnum] = []
    /// The top-level messages, in order (message index 0 is the first).
    public var topLevel: [Int] = []

    /// Parses `.proto` text (proto2 or proto3): `syntax`, `package`, imports of the well-known types,
    /// options (ignored), messages, enums, oneofs, maps, `reserved` (ignored); services and
    /// extensions are skipped.
    public init(parsing text: String) throws(ProtoSchemaError) {
        var parser = ProtoParser(text: text)
        try parser.parseFile()
        syntax = parser.syntax
        package = parser.package
        messages = parser.messages.map { ProtoMessage(fullName: $0.fullName, fields: [], nested: $0.nested) }
        enums = parser.enums
        topLevel = parser.topLevel
        for (i, m) in parser.messages.enumerated() {
            for var f in m.fields {
                if let v = f.mapValueName { f.mapValue = try parser.resolve(v, in: m.fullName, line: f.line) }
                let type = try parser.resolve(f.typeName, in: m.fullName, line: f.line)
                let field = try Self.field(f, type, syntax: syntax)
                messages[i].byNumber[f.number] = messages[i].fields.count
                messages[i].fields.append(field)
            }
        }
    }

    static func field(_ f: ProtoParser.RawField, _ type: ProtoType, syntax: Int) throws(ProtoSchemaError) -> ProtoField {
        var type = type
        if let value = f.mapValue {
            guard case .scalar(let k) = type, k != .double, k != .float, k != .bytes else {
                throw ProtoSchemaError(message: "map field '\(f.name)' has a key type that maps cannot have", line: f.line)
            }
            type = .map(key: k, value: value)
        }
        var packable = false
        if case .scalar(let s) = type, s != .string, s != .bytes { packable = true }
        if case .enumeration = type { packable = true }
        let repeated = f.label == "repeated" || f.mapValue != nil
        let presence: Bool
        switch type {
        case .message, .wellKnown: presence = true
        default: presence = f.oneof != nil || f.label == "optional" || f.label == "required" || (syntax == 2 && !repeated)
        }
        return ProtoField(name: f.name, number: f.number, type: type, repeated: repeated,
                          packed: repeated && packable && (f.packed ?? (syntax == 3)),
                          explicitPresence: presence, oneof: f.oneof)
    }

    /// The message a Confluent message-index array names: `[i]` the i-th top-level message, `[i, j]`
    /// the j-th message nested in it, and so on.
    public func message(at indexes: [Int]) -> Int? {
        guard let first = indexes.first, first >= 0, first < topLevel.count else { return nil }
        var m = topLevel[first]
        for i in indexes.dropFirst() {
            guard i >= 0, i < messages[m].nested.count else { return nil }
            m = messages[m].nested[i]
        }
        return m
    }

    public func field(_ message: Int, number: Int) -> ProtoField? {
        messages[message].byNumber[number].map { messages[message].fields[$0] }
    }
}

/// The tokens and grammar of `.proto` files.
struct ProtoParser {
    struct RawField {
        var name: String
        var number: Int
        var label: String?
        var typeName: String
        var mapValue: ProtoType?
        var mapValueName: String?
        var packed: Bool?
        var oneof: String?
        var line: Int
    }

    struct RawMessage {
        var fullName: String
        var fields: [RawField] = []
        var nested: [Int] = []
    }

    enum Token: Equatable {
        case word(String)
        case string(String)
        case symbol(Character)
    }

    var tokens: [(Token, Int)] = []
    var at = 0
    var syntax = 2
    var package = ""
    var messages: [RawMessage] = []
    var enums: [ProtoEnum] = []
    var topLevel: [Int] = []

    init(text: String) {
        tokens = Self.tokenize(text)
    }

    /// Words (identifiers, numbers, dotted names), quoted strings and single-character symbols;
    /// comments dropped.
    static func tokenize(_ text: String) -> [(Token, Int)] {
        var out: [(Token, Int)] = []
        let chars = Array(text)
        var i = 0, line = 1
        while i < chars.count {
            let c = chars[i]
            if c == "\n" { line += 1; i += 1; continue }
            if c.isWhitespace { i += 1; continue }
            if c == "/", i + 1 < chars.count, chars[i + 1] == "/" {
                while i < chars.count, chars[i] != "\n" { i += 1 }
                continue
            }
            if c == "/", i + 1 < chars.count, chars[i + 1] == "*" {
                i += 2
                while i + 1 < chars.count, !(chars[i] == "*" && chars[i + 1] == "/") { if chars[i] == "\n" { line += 1 }; i += 1 }
                i += 2
                continue
            }
            if c == "\"" || c == "'" {
                var s = ""
                i += 1
                while i < chars.count, chars[i] != c {
                    if chars[i] == "\\", i + 1 < chars.count { s.append(chars[i]); i += 1 }
                    s.append(chars[i])
                    i += 1
                }
                i += 1
                out.append((.string(s), line))
                continue
            }
            if c.isLetter || c.isNumber || c == "_" || c == "." || ((c == "-" || c == "+") && i + 1 < chars.count && (chars[i + 1].isNumber || chars[i + 1] == "i" || chars[i + 1] == ".")) {
                var w = String(c)
                i += 1
                while i < chars.count, chars[i].isLetter || chars[i].isNumber || chars[i] == "_" || chars[i] == "." { w.append(chars[i]); i += 1 }
                out.append((.word(w), line))
                continue
            }
            out.append((.symbol(c), line))
            i += 1
        }
        return out
    }

    var line: Int { at < tokens.count ? tokens[at].1 : (tokens.last?.1 ?? 1) }

    func fail(_ message: String) -> ProtoSchemaError { ProtoSchemaError(message: message, line: line) }

    func peek() -> Token? { at < tokens.count ? tokens[at].0 : nil }

    mutating func next() throws(ProtoSchemaError) -> Token {
        guard at < tokens.count else { throw fail("the schema ends early") }
        at += 1
        return tokens[at - 1].0
    }

    mutating func word() throws(ProtoSchemaError) -> String {
        guard case .word(let w) = try next() else { at -= 1; throw fail("expected a name, found \(describe(peek()))") }
        return w
    }

    mutating func expect(_ c: Character) throws(ProtoSchemaError) {
        guard try next() == .symbol(c) else { at -= 1; throw fail("expected '\(c)', found \(describe(peek()))") }
    }

    mutating func accept(_ c: Character) -> Bool {
        if peek() == .symbol(c) { at += 1; return true }
        return false
    }

    func describe(_ t: Token?) -> String {
        switch t {
        case .word(let w)?: "'\(w)'"
        case .string(let s)?: "\"\(s)\""
        case .symbol(let c)?: "'\(c)'"
        case nil: "the end"
        }
    }

    /// Skips to the end of a statement (`;`), or past a balanced `{…}` block when one comes first.
    mutating func skipStatement() throws(ProtoSchemaError) {
        var depth = 0
        while true {
            switch try next() {
            case .symbol("{"): depth += 1
            case .symbol("}"):
                depth -= 1
                if depth == 0 { _ = accept(";"); return }
            case .symbol(";") where depth == 0: return
            default: break
            }
        }
    }

    mutating func parseFile() throws(ProtoSchemaError) {
        while let t = peek() {
            switch t {
            case .word("syntax"):
                at += 1
                try expect("=")
                guard case .string(let s) = try next() else { throw fail("syntax must be \"proto2\" or \"proto3\"") }
                guard s == "proto2" || s == "proto3" else { throw fail("syntax \"\(s)\" is not supported: proto2 or proto3") }
                syntax = s == "proto3" ? 3 : 2
                try expect(";")
            case .word("edition"):
                throw fail("editions are not supported: the schema must use syntax proto2 or proto3")
            case .word("package"):
                at += 1
                package = try word()
                try expect(";")
            case .word("import"):
                at += 1
                if peek() == .word("public") || peek() == .word("weak") { at += 1 }
                guard case .string(let file) = try next() else { throw fail("import needs a quoted file name") }
                guard ProtoWellKnown.files.contains(file) else {
                    throw fail("import \"\(file)\" is not supported: only the well-known types \(ProtoWellKnown.files.joined(separator: ", ")) can be imported (schema references are not resolved)")
                }
                try expect(";")
            case .word("option"), .word("service"), .word("extend"):
                try skipStatement()
            case .word("message"):
                at += 1
                topLevel.append(try parseMessage(scope: package))
            case .word("enum"):
                at += 1
                try parseEnum(scope: package)
            case .symbol(";"):
                at += 1
            default:
                throw fail("unexpected \(describe(t)) at the top level")
            }
        }
    }

    static func qualified(_ scope: String, _ name: String) -> String { scope.isEmpty ? name : scope + "." + name }

    /// `message Name { … }` (the keyword read); its index in `messages`.
    mutating func parseMessage(scope: String) throws(ProtoSchemaError) -> Int {
        let name = Self.qualified(scope, try word())
        let index = messages.count
        messages.append(RawMessage(fullName: name))
        try expect("{")
        while !accept("}") {
            guard let t = peek() else { throw fail("message \(name) is not closed with '}'") }
            switch t {
            case .word("message"):
                at += 1
                let n = try parseMessage(scope: name)
                messages[index].nested.append(n)
            case .word("enum"):
                at += 1
                try parseEnum(scope: name)
            case .word("option"), .word("reserved"), .word("extensions"), .word("extend"):
                try skipStatement()
            case .word("oneof"):
                at += 1
                let group = try word()
                try expect("{")
                while !accept("}") {
                    if peek() == .word("option") { try skipStatement(); continue }
                    messages[index].fields.append(try parseField(oneof: group))
                }
            case .symbol(";"):
                at += 1
            default:
                let field = try parseField(oneof: nil)
                messages[index].fields.append(field)
                if let value = field.mapValueName { messages[index].nested.append(mapEntry(field, value, in: name)) }
            }
        }
        return index
    }

    /// The message protoc generates for a map field, where the field is declared (`attrs` →
    /// `AttrsEntry`, key 1, value 2): Confluent's message indexes count it among the nested messages.
    mutating func mapEntry(_ field: RawField, _ value: String, in scope: String) -> Int {
        var camel = "", upper = true
        for c in field.name {
            if c == "_" { upper = true; continue }
            camel += upper ? c.uppercased() : String(c)
            upper = false
        }
        var entry = RawMessage(fullName: Self.qualified(scope, camel + "Entry"))
        entry.fields = [RawField(name: "key", number: 1, typeName: field.typeName, oneof: nil, line: field.line),
                        RawField(name: "value", number: 2, typeName: value, oneof: nil, line: field.line)]
        messages.append(entry)
        return messages.count - 1
    }

    /// `[label] type name = N [options];` or `map<K, V> name = N [options];`.
    mutating func parseField(oneof: String?) throws(ProtoSchemaError) -> RawField {
        let line = self.line
        var label: String? = nil
        if case .word(let w)? = peek(), ["optional", "required", "repeated"].contains(w) { label = w; at += 1 }
        var typeName = try word()
        var mapValueName: String? = nil
        if typeName == "group" { throw fail("proto2 groups are not supported") }
        if typeName == "map", accept("<") {
            typeName = try word()
            try expect(",")
            mapValueName = try word()
            try expect(">")
        }
        let name = try word()
        try expect("=")
        guard let number = Int(try word()), number > 0, number < 1 << 29 else { throw fail("field '\(name)' needs a number from 1 to 536870911") }
        var packed: Bool? = nil
        if accept("[") {
            var depth = 1
            var previous: Token? = nil
            while depth > 0 {
                let t = try next()
                switch t {
                case .symbol("["), .symbol("{"): depth += 1
                case .symbol("]"), .symbol("}"): depth -= 1
                case .word(let v) where previous == .symbol("=") && at >= 3 && tokens[at - 3].0 == .word("packed"):
                    packed = v == "true"
                default: break
                }
                previous = t
            }
        }
        try expect(";")
        var field = RawField(name: name, number: number, label: label, typeName: typeName, packed: packed, oneof: oneof, line: line)
        field.mapValueName = mapValueName
        return field
    }

    /// `enum Name { A = 0; … }` (the keyword read).
    mutating func parseEnum(scope: String) throws(ProtoSchemaError) {
        let name = Self.qualified(scope, try word())
        var values: [(name: String, number: Int)] = []
        try expect("{")
        while !accept("}") {
            guard let t = peek() else { throw fail("enum \(name) is not closed with '}'") }
            switch t {
            case .word("option"), .word("reserved"): try skipStatement()
            case .symbol(";"): at += 1
            default:
                let symbol = try word()
                try expect("=")
                let text = try word()
                guard let number = Int(text) ?? (text.hasPrefix("0x") ? Int(text.dropFirst(2), radix: 16) : nil) else {
                    throw fail("enum value \(symbol) needs a number")
                }
                values.append((symbol, number))
                if peek() == .symbol("[") { try skipStatement(); continue }
                try expect(";")
            }
        }
        enums.append(ProtoEnum(fullName: name, values: values))
    }

    /// A type name as written in message `scope`: a scalar, a well-known type, or the innermost
    /// message or enum of that name (a leading dot: fully qualified).
    func resolve(_ written: String, in scope: String, line: Int) throws(ProtoSchemaError) -> ProtoType {
        if let s = ProtoScalar(rawValue: written) { return .scalar(s) }
        let name = written.hasPrefix(".") ? String(written.dropFirst()) : written
        if name.hasPrefix("google.protobuf."), let w = ProtoWellKnown(rawValue: String(name.dropFirst(16))) {
            return .wellKnown(w)
        }
        var candidates: [String] = []
        if written.hasPrefix(".") {
            candidates = [name]
        } else {
            var s = scope
            while true {
                candidates.append(Self.qualified(s, name))
                if s.isEmpty { break }
                s = s.lastIndex(of: ".").map { String(s[..<$0]) } ?? ""
            }
        }
        for c in candidates {
            if let m = messages.firstIndex(where: { $0.fullName == c }) { return .message(m) }
            if let e = enums.firstIndex(where: { $0.fullName == c }) { return .enumeration(e) }
        }
        throw ProtoSchemaError(message: "type '\(written)' is not declared in the schema (schema references and imports other than the well-known types are not resolved)", line: line)
    }
}

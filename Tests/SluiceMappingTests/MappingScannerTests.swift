import Foundation
import PropertyBased
import Testing
@testable import SluiceCore
@testable import SluiceJob
@testable import SluiceMapping

/// A tiny deterministic generator so that one 64-bit seed from PropertyBased describes a document.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random JSON trees, serialised with random whitespace and escapes.
indirect enum RandomJSON {
    case object([(String, RandomJSON)])
    case array([RandomJSON])
    case string(String)
    case number(String)
    case bool(Bool)
    case null

    static let names = ["a", "b", "a.b", "x y", "é", "AA", "__key__", "[0]", "q\"t", "back\\slash", "ünï", "😀", "", "n\nl"]
    static let strings = ["", "hello", "two words", "quote\"inside", "tab\there", "ünïcødé", "😀 emoji", "a\\b", "/slash", "\u{01}ctl"]
    static let numbers = ["0", "-0", "1", "-17", "3.25", "1e3", "-2.5E-3", "123456789012", "0.1", "9007199254740993", "1E+2"]

    static func generate(_ rng: inout SplitMix, depth: Int) -> RandomJSON {
        let pick = Int.random(in: 0..<(depth > 0 ? 8 : 5), using: &rng)
        switch pick {
        case 0: return .string(strings.randomElement(using: &rng)!)
        case 1: return .number(numbers.randomElement(using: &rng)!)
        case 2: return .bool(Bool.random(using: &rng))
        case 3: return .null
        case 4: return .string(strings.randomElement(using: &rng)!)
        case 5, 6:
            var used = Set<String>()
            var members: [(String, RandomJSON)] = []
            for _ in 0..<Int.random(in: 0...5, using: &rng) {
                let name = names.randomElement(using: &rng)!
                if used.insert(name).inserted { members.append((name, generate(&rng, depth: depth - 1))) }
            }
            return .object(members)
        default:
            return .array((0..<Int.random(in: 0...4, using: &rng)).map { _ in generate(&rng, depth: depth - 1) })
        }
    }

    static func ws(_ rng: inout SplitMix) -> String {
        [" ", "", "", "\n  ", "\t", ""].randomElement(using: &rng)!
    }

    static func quote(_ s: String, _ rng: inout SplitMix) -> String {
        var out = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += Bool.random(using: &rng) ? "\\t" : "\\u0009"
            case "/": out += Bool.random(using: &rng) ? "/" : "\\/"
            default:
                if u.value < 0x20 {
                    out += String(format: "\\u%04x", u.value)
                } else if u.value > 0xFFFF, Bool.random(using: &rng) {
                    let v = u.value - 0x10000
                    out += String(format: "\\u%04X\\u%04X", 0xD800 + (v >> 10), 0xDC00 + (v & 0x3FF))
                } else if u.value < 0x80, Int.random(in: 0..<6, using: &rng) == 0 {
                    out += String(format: "\\u%04x", u.value)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "\""
    }

    func serialize(_ rng: inout SplitMix) -> String {
        switch self {
        case .string(let s): return RandomJSON.quote(s, &rng)
        case .number(let n): return n
        case .bool(let b): return b ? "true" : "false"
        case .null: return "null"
        case .array(let items):
            return "[" + RandomJSON.ws(&rng) + items.map { $0.serialize(&rng) }.joined(separator: "," + RandomJSON.ws(&rng)) + RandomJSON.ws(&rng) + "]"
        case .object(let members):
            return "{" + RandomJSON.ws(&rng) + members.map { RandomJSON.quote($0.0, &rng) + RandomJSON.ws(&rng) + ":" + RandomJSON.ws(&rng) + $0.1.serialize(&rng) }
                .joined(separator: "," + RandomJSON.ws(&rng)) + RandomJSON.ws(&rng) + "}"
        }
    }

    /// A random path: mostly along the tree, sometimes off it.
    func randomPath(_ rng: inout SplitMix) -> [PathComponent] {
        var path: [PathComponent] = []
        var node: RandomJSON? = self
        repeat {
            switch node {
            case .object(let members) where !members.isEmpty && Int.random(in: 0..<5, using: &rng) > 0:
                let (name, child) = members.randomElement(using: &rng)!
                path.append(.member(name))
                node = child
            case .array(let items) where !items.isEmpty && Int.random(in: 0..<5, using: &rng) > 0:
                let i = Int.random(in: 0..<items.count, using: &rng)
                path.append(.index(i))
                node = items[i]
            default:
                // Off the tree.
                path.append(Bool.random(using: &rng) ? .member(RandomJSON.names.randomElement(using: &rng)!) : .index(Int.random(in: 0...5, using: &rng)))
                node = nil
            }
        } while node != nil && Int.random(in: 0..<4, using: &rng) > 0
        return path
    }
}

/// What Foundation finds at a path.
func foundationValue(_ root: Any, _ path: [PathComponent]) -> Any? {
    var node: Any = root
    for c in path {
        switch c {
        case .member(let m):
            guard let d = node as? [String: Any], let v = d[m] else { return nil }
            node = v
        case .index(let i):
            guard let a = node as? [Any], i < a.count else { return nil }
            node = a[i]
        }
    }
    return node
}

/// Structural equality of Foundation JSON values.
func jsonEqual(_ a: Any, _ b: Any) -> Bool {
    if let x = a as? [String: Any], let y = b as? [String: Any] {
        return x.count == y.count && x.allSatisfy { k, v in y[k].map { jsonEqual(v, $0) } ?? false }
    }
    if let x = a as? [Any], let y = b as? [Any] {
        return x.count == y.count && zip(x, y).allSatisfy { jsonEqual($0, $1) }
    }
    if let x = a as? String, let y = b as? String { return x == y }
    if a is NSNull || b is NSNull { return a is NSNull && b is NSNull }
    if let x = a as? NSNumber, let y = b as? NSNumber { return x.isEqual(y) }
    return false
}

@Suite struct MappingScannerTests {
    func scan(_ doc: String, _ paths: [[PathComponent]]) -> (JSONScanError?, [String?]) {
        var scanner = JSONPathScanner(paths: paths)
        let bytes = Array(doc.utf8)
        let error = bytes.withUnsafeBytes { scanner.scan($0) }
        return (error, paths.indices.map { i in
            let s = scanner.span(i)
            return s.isPresent ? String(decoding: bytes[s.start..<s.end], as: UTF8.self) : nil
        })
    }

    @Test func findsSpansOfEveryKind() {
        let doc = #"{"s":"x\ty","n":-1.5e3,"t":true,"f":false,"z":null,"o":{"k":[1,2]},"a":[{},[]]}"#
        let (err, spans) = scan(doc, [[.member("s")], [.member("n")], [.member("t")], [.member("f")], [.member("z")],
                                      [.member("o")], [.member("o"), .member("k"), .index(1)], [.member("a"), .index(1)],
                                      [.member("missing")], [.member("s"), .member("deeper")]])
        #expect(err == nil)
        #expect(spans == [#""x\ty""#, "-1.5e3", "true", "false", "null", #"{"k":[1,2]}"#, "2", "[]", nil, nil])
    }

    @Test func lastDuplicateMemberWins() {
        let (_, spans) = scan(#"{"a":{"x":1},"a":{"y":2}}"#, [[.member("a"), .member("x")], [.member("a"), .member("y")]])
        #expect(spans == [nil, "2"])
    }

    @Test func samePathTwiceFillsBothSlots() {
        let (_, spans) = scan(#"{"a":1}"#, [[.member("a")], [.member("a")]])
        #expect(spans == ["1", "1"])
    }

    @Test func escapedMemberNamesMatch() {
        let (_, spans) = scan(#"{"\u0061\u002eb":1,"\ud83d\ude00":2}"#, [[.member("a.b")], [.member("😀")]])
        #expect(spans == ["1", "2"])
    }

    @Test(arguments: ["", " ", "{", "[1,]", "{\"a\":}", "{\"a\" 1}", "[1 2]", "01", "1.", "-", "tru", "nul",
                      "\"abc", "\"\\x\"", "\"\\u12\"", "{\"a\":1}}", "[1]x", "{a:1}", "\"a\u{01}b\"", "[1,2", "1e", "+1"])
    func rejectsInvalidJSON(doc: String) {
        #expect(scan(doc, [[.member("a")]]).0 != nil)
    }

    @Test func rejectsTooDeepNesting() {
        let deep = String(repeating: "[", count: JSONPathScanner.maxDepth + 1) + String(repeating: "]", count: JSONPathScanner.maxDepth + 1)
        #expect(scan(deep, []).0 != nil)
        let ok = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(scan(ok, []).0 == nil)
    }

    @Test func randomDocumentsAgreeWithFoundation() async {
        await propertyCheck(count: 300, input: Gen.uint64()) { seed in
            try Self.checkAgreement(seed: seed)
        }
    }

    static func checkAgreement(seed: UInt64) throws {
        var rng = SplitMix(state: seed)
        let tree = RandomJSON.generate(&rng, depth: 4)
        let text = tree.serialize(&rng)
        let paths = (0..<Int.random(in: 1...6, using: &rng)).map { _ in tree.randomPath(&rng) }
        let data = Data(text.utf8)
        guard let root = try? JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed]) else {
            Issue.record("Foundation rejected generated JSON: \(text)")
            return
        }
        var scanner = JSONPathScanner(paths: paths)
        let bytes = Array(text.utf8)
        let error = bytes.withUnsafeBytes { scanner.scan($0) }
        #expect(error == nil, "\(text)")
        for (i, path) in paths.enumerated() {
            let span = scanner.span(i)
            let expected = foundationValue(root, path)
            let field = SourceField.valuePath(path).description
            guard let expected else {
                #expect(!span.isPresent, "\(field) in \(text) (paths \(paths))")
                continue
            }
            guard span.isPresent else {
                Issue.record("\(field) missing in \(text) (paths \(paths))")
                continue
            }
            let ours = try JSONSerialization.jsonObject(with: Data(bytes[span.start..<span.end]), options: [.fragmentsAllowed])
            #expect(jsonEqual(ours, expected), "\(field) in \(text)")
        }
    }

    @Test func fieldProgramStringsAgreeWithFoundation() async throws {
        // Strings unescaped by the program equal Foundation's decoding.
        await propertyCheck(count: 200, input: Gen.uint64()) { seed in
            var rng = SplitMix(state: seed)
            let s = RandomJSON.strings.shuffled(using: &rng).prefix(3).joined(separator: "\u{e9}")
            let doc = "{\"k\":" + RandomJSON.quote(s, &rng) + "}"
            let program = try FieldProgram(mapping: [("k", ColumnSpec(name: "k", type: .string))])
            let row = try program.evaluate(OwnedRecord(value: Array(doc.utf8))).get()
            let foundation = try JSONSerialization.jsonObject(with: Data(doc.utf8)) as? [String: Any]
            #expect(row[0] == .string(foundation?["k"] as? String ?? "<none>"))
        }
    }

    @Test func randomBytesNeverCrash() async {
        await propertyCheck(count: 500, input: Gen.uint8().array(of: 0...200)) { bytes in
            var scanner = JSONPathScanner(paths: [[.member("a")], [.index(0)], [.member("a"), .index(1), .member("b")]])
            _ = bytes.withUnsafeBytes { scanner.scan($0) }
            let program = try FieldProgram(mapping: [("a", ColumnSpec(name: "a", type: .string)),
                                                     ("[0]", ColumnSpec(name: "b", type: .bigint)),
                                                     ("__key__.x", ColumnSpec(name: "c", type: .datetime))])
            _ = program.evaluate(OwnedRecord(key: bytes, value: bytes))
        }
    }

    @Test func mutatedDocumentsAgreeWithFoundationOnValidity() async {
        await propertyCheck(count: 400, input: Gen.uint64()) { seed in
            var rng = SplitMix(state: seed)
            let tree = RandomJSON.generate(&rng, depth: 3)
            var bytes = Array(tree.serialize(&rng).utf8)
            let alphabet = Array("{}[]\",:0123456789-+.eEtrufalsn \\u".utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) where !bytes.isEmpty {
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: bytes.remove(at: i)
                case 1: bytes.insert(alphabet.randomElement(using: &rng)!, at: i)
                default: bytes[i] = alphabet.randomElement(using: &rng)!
                }
            }
            // Only documents that stay valid UTF-8: UTF-8 is checked where values are converted, not here.
            guard let text = String(validating: bytes, as: UTF8.self) else { return }
            // Foundation on Linux accepts a trailing comma (`[1,]`); RFC 8259 and this scanner do not.
            if text.range(of: #",\s*[\]}]"#, options: .regularExpression) != nil { return }
            // Foundation also rejects numbers beyond Double's range (`1e999`), which are valid syntax;
            // the field program reports those as overflow when converting.
            if text.range(of: #"[eE][+-]?0*[0-9]{3,}"#, options: .regularExpression) != nil { return }
            var scanner = JSONPathScanner(paths: [[.member("a")]])
            let ours = bytes.withUnsafeBytes { scanner.scan($0) } == nil
            let theirs = (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) != nil
            #expect(ours == theirs, "\(String(decoding: bytes, as: UTF8.self))")
        }
    }
}


/// The byte-level helpers agree with the standard library.
@Suite struct MappingFastTextTests {
    @Test func utf8ValidationAgreesWithTheStandardLibrary() async {
        await propertyCheck(count: 1000, input: Gen.uint8().array(of: 0...24)) { bytes in
            // Bias towards multi-byte sequences: also check with each byte forced into the high half.
            for candidate in [bytes, bytes.map { $0 | 0x80 }, bytes.map { $0 < 0x40 ? $0 : $0 | 0xC0 }] {
                let ours = candidate.withUnsafeBytes { FastText.isValidUTF8($0) }
                #expect(ours == (String(validating: candidate, as: UTF8.self) != nil), "\(candidate)")
            }
        }
        for s in ["", "ascii only text", "é", "你好", "😀", "mixed é 你 😀 text that is longer than eight bytes"] {
            #expect(Array(s.utf8).withUnsafeBytes { FastText.isValidUTF8($0) })
        }
        for bad: [UInt8] in [[0xC0, 0x80], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xF8], [0x80], [0xE4, 0xBD]] {
            #expect(!bad.withUnsafeBytes { FastText.isValidUTF8($0) })
        }
    }

    @Test func fastDoubleIsExact() async {
        await propertyCheck(count: 1000, input: Gen.int64(in: -999_999_999_999_999...999_999_999_999_999), Gen.int(in: 0...20)) { m, decimals in
            var text = String(m.magnitude)
            if decimals > 0 {
                if text.count <= decimals { text = String(repeating: "0", count: decimals - text.count + 1) + text }
                text.insert(".", at: text.index(text.endIndex, offsetBy: -decimals))
            }
            if m < 0 { text = "-" + text }
            let fast = Array(text.utf8).withUnsafeBytes { FastText.fastDouble($0) }
            if let fast { #expect(fast == Double(text)!, "\(text)") }
        }
    }

    @Test func deepDocumentsGrowTheStack() {
        let depth = 300
        let doc = String(repeating: "{\"a\":", count: depth) + "7" + String(repeating: "}", count: depth)
        var scanner = JSONPathScanner(paths: [Array(repeating: .member("a"), count: depth), [.member("a"), .member("b")]])
        let bytes = Array(doc.utf8)
        #expect(bytes.withUnsafeBytes { scanner.scan($0) } == nil)
        let span = scanner.span(0)
        #expect(span.isPresent && bytes[span.start] == UInt8(ascii: "7"))
        #expect(!scanner.span(1).isPresent)
    }
}

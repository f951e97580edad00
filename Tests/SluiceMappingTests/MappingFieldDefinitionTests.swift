import Foundation
import Testing
@testable import SluiceCore
@testable import SluiceJob
@testable import SluiceMapping

/// The seed's JSON example (tutorial step 3) and the field-definition syntax.
@Suite struct MappingFieldDefinitionTests {
    static let seedDocument = """
    {
      "a": {
        "a1": "hello"
      },
      "b": "world",
      "c": [
        "xxxxxxx",
        "yyyyyyy"
      ],
      "d": [
        { "AA": "this", "BB": "is_data" },
        { "AA": "that", "BB": "is_also_data" }
      ],
      "a.b": "unreachable"
    }
    """

    func extract(_ definition: String, from document: String = seedDocument) throws -> Value {
        let program = try FieldProgram(mapping: [(definition, ColumnSpec(name: "x", type: .string))])
        switch program.evaluate(OwnedRecord(value: Array(document.utf8))) {
        case .success(let row): return row[0]
        case .failure(let dirty): throw dirty
        }
    }

    @Test(arguments: [
        ("a.a1", "hello"),
        ("b", "world"),
        ("c[1]", "yyyyyyy"),
        ("d[0].AA", "this"),
        ("['a.b']", "unreachable"),
        ("[\"a.b\"]", "unreachable"),
        ("__value__.b", "world"),
        ("d[1]['BB']", "is_also_data"),
        ("c", #"["xxxxxxx","yyyyyyy"]"#),
        ("a", #"{"a1":"hello"}"#),
        ("d[1]", #"{"AA":"that","BB":"is_also_data"}"#),
    ])
    func seedTableYieldsTheSeedsValues(definition: String, expected: String) throws {
        #expect(try extract(definition) == .string(expected))
    }

    @Test func dottedNameIsNotRetrievableAndExplained() throws {
        // `a.b` reads member b of member a, which the seed document lacks: NULL, as DataWorks gives nothing.
        #expect(try extract("a.b") == .null)
        // The validator rejects it with the seed's explanation when it sees a sample record.
        let issues = SourceField.check("a.b", sample: Array(Self.seedDocument.utf8))
        #expect(issues.count == 1)
        let issue = try #require(issues.first)
        #expect(issue.severity == .error)
        #expect(issue.message.contains("'.' separates members"))
        #expect(issue.message.contains("['a.b']"))
        // The bracketed form is fine, and so is a.a1.
        #expect(SourceField.check("['a.b']", sample: Array(Self.seedDocument.utf8)).isEmpty)
        #expect(SourceField.check("a.a1", sample: Array(Self.seedDocument.utf8)).isEmpty)
        // With missingField: dirty, the dirty reason carries the same explanation.
        let program = try FieldProgram(mapping: [("a.b", ColumnSpec(name: "x", type: .string))],
                                       options: FieldProgramOptions(missingField: .dirty))
        guard case .failure(let dirty) = program.evaluate(OwnedRecord(value: Array(Self.seedDocument.utf8))) else {
            Issue.record("expected a dirty record")
            return
        }
        #expect(dirty.reason.kind == .missingField)
        #expect(dirty.reason.message.contains("['a.b']"))
        #expect(dirty.column == "x")
        #expect(dirty.field == "a.b")
    }

    @Test func deeperDottedNamesAreExplainedToo() throws {
        let doc = Array(#"{"x":{"y.z":1}}"#.utf8)
        let issue = try #require(SourceField.check("x.y.z", sample: doc).first)
        #expect(issue.message.contains("x['y.z']"))
    }

    @Test func parsesEveryKind() throws {
        #expect(try SourceField(parsing: "__key__") == .builtin(.key))
        #expect(try SourceField(parsing: "__timestamp__") == .builtin(.timestamp))
        #expect(try SourceField(parsing: "'abc'") == .constant("abc"))
        #expect(try SourceField(parsing: "''") == .constant(""))
        #expect(try SourceField(parsing: "'a.b[0]'") == .constant("a.b[0]"))
        #expect(try SourceField(parsing: "b") == .valuePath([.member("b")]))
        #expect(try SourceField(parsing: "d[0].AA") == .valuePath([.member("d"), .index(0), .member("AA")]))
        #expect(try SourceField(parsing: "[2][0]") == .valuePath([.index(2), .index(0)]))
        #expect(try SourceField(parsing: "['it\\'s']") == .valuePath([.member("it's")]))
        #expect(try SourceField(parsing: "__key__.id") == .keyPath([.member("id")]))
        #expect(try SourceField(parsing: "__key__['a.b'][1]") == .keyPath([.member("a.b"), .index(1)]))
        #expect(try SourceField(parsing: "['__key__']") == .valuePath([.member("__key__")]))
    }

    @Test func canonicalSpellingRoundTrips() throws {
        for text in ["a.a1", "c[1]", "d[0].AA", "['a.b']", "['a.b'].c[2]", "__key__.id", "__key__['x.y']",
                     "__offset__", "'const'", "['__key__']", "[0].a"] {
            let field = try SourceField(parsing: text)
            #expect(try SourceField(parsing: field.description) == field, "\(text) → \(field.description)")
        }
    }

    @Test(arguments: [
        ("", 0), ("a..b", 2), (".a", 0), ("a.", 2), ("a[", 1), ("a[x]", 2), ("a[-1]", 2), ("a[]", 2),
        ("'abc", 4), ("a]", 1), ("['a'", 4), ("__offset__.x", 10), ("a.[0]", 2), ("a'b", 1),
    ])
    func rejectsMalformedDefinitionsWithPositions(text: String, position: Int) {
        #expect(throws: FieldDefinitionError.self) { try SourceField(parsing: text) }
        do {
            _ = try SourceField(parsing: text)
        } catch {
            #expect(error.position == position, "\(text): \(error)")
            #expect(SourceField.check(text).first?.position == position)
            #expect(SourceField.check(text).first?.severity == .error)
        }
    }

    @Test func warnsAboutLookalikeBuiltins() {
        #expect(SourceField.check("__KEY__").first?.severity == .warning)
        #expect(SourceField.check("__KEY__").first?.message.contains("__key__") == true)
        #expect(SourceField.check("__topic__").first?.severity == .warning)
        #expect(SourceField.check("__key__").isEmpty)
        #expect(SourceField.check("['__topic__']").isEmpty)
    }

    @Test func mappingNames() throws {
        #expect(try SourceField(parsing: "__key__").mappingName == "key")
        #expect(try SourceField(parsing: "a.a1").mappingName == "a1")
        #expect(try SourceField(parsing: "__key__.id").mappingName == "id")
        #expect(try SourceField(parsing: "c[1]").mappingName == nil)
    }
}

import Testing
@testable import SluiceCore
@testable import SluiceJob
@testable import SluiceMapping

/// The seed's mapping rules and helpers: by name, by position, one-to-one.
@Suite struct MappingRulesTests {
    let fields = ["__key__", "__value__", "a.a1", "d[0].AA", "__key__.id", "'const'", "c[1]", "a..b"]
    let columns = ["ID", "key", "aa", "A1", "extra", "Value"]

    @Test func byNameMatchesLastComponentOrBareBuiltinIgnoringCase() {
        let p = MappingRules.byName(fields: fields, columns: columns)
        #expect(p.mapping == [
            FieldMapping(from: "__key__", to: "key"),
            FieldMapping(from: "__value__", to: "Value"),
            FieldMapping(from: "a.a1", to: "A1"),
            FieldMapping(from: "d[0].AA", to: "aa"),
            FieldMapping(from: "__key__.id", to: "ID"),
        ])
        #expect(p.unmappedFields == ["'const'", "c[1]", "a..b"])
        #expect(p.unmappedColumns == ["extra"])
    }

    @Test func byNameUsesEachColumnOnce() {
        let p = MappingRules.byName(fields: ["x.id", "y.id"], columns: ["id"])
        #expect(p.mapping == [FieldMapping(from: "x.id", to: "id")])
        #expect(p.unmappedFields == ["y.id"])
        #expect(p.unmappedColumns.isEmpty)
    }

    @Test func byPositionPairsInOrder() {
        let p = MappingRules.byPosition(fields: ["a", "b", "c"], columns: ["x", "y"])
        #expect(p.mapping == [FieldMapping(from: "a", to: "x"), FieldMapping(from: "b", to: "y")])
        #expect(p.unmappedFields == ["c"] && p.unmappedColumns.isEmpty)
        let q = MappingRules.byPosition(fields: ["a"], columns: ["x", "y"])
        #expect(q.unmappedFields.isEmpty && q.unmappedColumns == ["y"])
    }

    @Test func oneToOneInBothDirections() {
        let conflicts = MappingRules.conflicts(in: [
            FieldMapping(from: "a.b", to: "x"),
            FieldMapping(from: "c", to: "y"),
            FieldMapping(from: "a['b']", to: "z"),   // same field as mapping[0]
            FieldMapping(from: "d", to: "Y"),        // same column as mapping[1]
            FieldMapping(from: "'k'", to: "u"),
            FieldMapping(from: "'k'", to: "v"),      // constants may repeat
        ])
        #expect(conflicts == [
            MappingRules.Conflict(side: .field, first: 0, second: 2, name: "a['b']"),
            MappingRules.Conflict(side: .column, first: 1, second: 3, name: "Y"),
        ])
        #expect(conflicts[0].description.contains("mapping[0] and mapping[2]"))
        #expect(conflicts[1].description.contains("mapping[1] and mapping[3]"))
        #expect(MappingRules.conflicts(in: [FieldMapping(from: "a", to: "a"), FieldMapping(from: "b", to: nil)]).isEmpty)
    }

    @Test func programRejectsConflicts() {
        #expect(throws: SluiceError.self) {
            try FieldProgram(mapping: [("a", ColumnSpec(name: "x", type: .string)), ("a", ColumnSpec(name: "y", type: .string))])
        }
    }

    @Test func unmappedFieldsAreNotRead() throws {
        // Only built-ins mapped: values that are not JSON are fine.
        let program = try FieldProgram(mapping: [("__offset__", ColumnSpec(name: "o", type: .bigint))])
        #expect(!program.parsesValueJSON && !program.parsesKeyJSON)
        #expect(try program.evaluate(OwnedRecord(offset: 9, key: [0xFF], value: Array("{{{".utf8))).get() == [.int(9)])
    }
}

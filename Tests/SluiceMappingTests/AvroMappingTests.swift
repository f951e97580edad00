import Foundation
import Testing
import SluiceCore
import SluiceJob
@testable import SluiceMapping

/// Avro binary, written by hand from the specification (the integration tests check the same
/// decoding against fastavro's encoder).
struct AvroBytes {
    var bytes: [UInt8] = []

    mutating func long(_ v: Int64) {
        var z = UInt64(bitPattern: (v << 1) ^ (v >> 63))
        while z >= 0x80 {
            bytes.append(UInt8(z & 0x7F) | 0x80)
            z >>= 7
        }
        bytes.append(UInt8(z))
    }
    mutating func string(_ s: String) { long(Int64(s.utf8.count)); bytes += s.utf8 }
    mutating func raw(_ b: [UInt8]) { long(Int64(b.count)); bytes += b }
    mutating func double(_ d: Double) { withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes += $0 } }
    mutating func float(_ f: Float) { withUnsafeBytes(of: f.bitPattern.littleEndian) { bytes += $0 } }
    mutating func bool(_ b: Bool) { bytes.append(b ? 1 : 0) }
}

@Suite("Avro values")
struct AvroMappingTests {
    static let orderSchema = """
    {"type": "record", "name": "Order", "namespace": "shop", "fields": [
      {"name": "id", "type": "long"},
      {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
        {"name": "name", "type": "string"}, {"name": "vip", "type": "boolean"}]}},
      {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
        {"name": "sku", "type": "string"}, {"name": "qty", "type": "int"}]}}},
      {"name": "attrs", "type": {"type": "map", "values": "string"}},
      {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}},
      {"name": "note", "type": ["null", "string"], "default": null},
      {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 10, "scale": 2}},
      {"name": "day", "type": {"type": "int", "logicalType": "date"}},
      {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
      {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
      {"name": "score", "type": "double"},
      {"name": "backup", "type": ["null", "Customer"]}
    ]}
    """

    /// One order, encoded; `note` and `backup` null when nil.
    static func order(id: Int64 = 42, note: String? = "fragile", amountCents: Int64 = -12345, blocks: Bool = false) -> [UInt8] {
        var w = AvroBytes()
        w.long(id)
        w.string("Ada"); w.bool(true)
        if blocks {
            // Two blocks, the first with its byte size (negative count).
            var item = AvroBytes(); item.string("A-1"); item.long(2)
            w.long(-1); w.long(Int64(item.bytes.count)); w.bytes += item.bytes
            w.long(1); w.string("B-2"); w.long(5)
        } else {
            w.long(2); w.string("A-1"); w.long(2); w.string("B-2"); w.long(5)
        }
        w.long(0)
        w.long(2); w.string("color"); w.string("red"); w.string("size"); w.string("L"); w.long(0)
        w.long(1)
        if let note { w.long(1); w.string(note) } else { w.long(0) }
        // decimal: two's complement big-endian
        let be = withUnsafeBytes(of: amountCents.bigEndian) { Array($0) }
        var trimmed = ArraySlice(be)
        while trimmed.count > 1, (trimmed.first == 0 && trimmed.dropFirst().first! & 0x80 == 0) || (trimmed.first == 0xFF && trimmed.dropFirst().first! & 0x80 != 0) { trimmed = trimmed.dropFirst() }
        w.raw(Array(trimmed))
        w.long(19_723)                 // 2024-01-01
        w.long(1_704_110_400_123)      // 2024-01-01T12:00:00.123Z
        w.string("6f1c2e4a-0d3b-4c5e-9f70-1a2b3c4d5e6f")
        w.double(2.5)
        w.long(0)
        return w.bytes
    }

    static func program(_ fields: [(String, ColumnType)], options: FieldProgramOptions? = nil, schema: String = orderSchema) throws -> FieldProgram {
        var o = options ?? FieldProgramOptions()
        o.valueFormat = .avro(.inline(schema))
        return try FieldProgram(mapping: fields.map { ($0.0, ColumnSpec(name: "c\($0.0.count)_\(abs($0.0.hashValue % 1000))", type: $0.1)) }, options: o)
    }

    static func record(_ value: [UInt8]?) -> OwnedRecord {
        OwnedRecord(partition: 1, offset: 7, timestamp: 1_700_000_000_000, key: nil, value: value)
    }

    @Test func pathsReachRecordsArraysMapsEnumsUnionsAndLogicalTypes() throws {
        let p = try Self.program([
            ("id", .bigint), ("customer.name", .string), ("customer.vip", .boolean), ("items[0].sku", .string),
            ("items[1].qty", .int), ("attrs.size", .string), ("status", .string), ("note", .string),
            ("amount", .decimal(precision: 10, scale: 2)), ("day", .date), ("at", .datetime), ("ref", .string),
            ("score", .double), ("items[5].sku", .string), ("attrs.missing", .string), ("backup.name", .string),
        ])
        let row = try p.evaluate(Self.record(Self.order())).get()
        #expect(row == [.int(42), .string("Ada"), .bool(true), .string("A-1"), .int(5), .string("L"), .string("PAID"),
                        .string("fragile"), .decimal("-123.45"), .date(19_723), .datetime(1_704_110_400_123),
                        .string("6f1c2e4a-0d3b-4c5e-9f70-1a2b3c4d5e6f"), .double(2.5), .null, .null, .null])
    }

    @Test func sizedBlocksAreSkippedOrRead() throws {
        let p = try Self.program([("items[1].sku", .string), ("status", .string)])
        #expect(try p.evaluate(Self.record(Self.order(blocks: true))).get() == [.string("B-2"), .string("PAID")])
        let q = try Self.program([("status", .string)])
        #expect(try q.evaluate(Self.record(Self.order(blocks: true))).get() == [.string("PAID")])
    }

    @Test func wholeRecordsArraysAndMapsAreJSON() throws {
        let p = try Self.program([("customer", .json), ("attrs", .string), ("items", .string), ("customer.name", .string), ("status", .json)])
        let row = try p.evaluate(Self.record(Self.order())).get()
        #expect(row == [.string(#"{"name":"Ada","vip":true}"#), .string(#"{"color":"red","size":"L"}"#),
                        .string(#"[{"sku":"A-1","qty":2},{"sku":"B-2","qty":5}]"#), .string("Ada"), .string(#""PAID""#)])
    }

    @Test func nullUnionBranchAndNullValueGiveNull() throws {
        let p = try Self.program([("note", .string), ("id", .bigint)])
        #expect(try p.evaluate(Self.record(Self.order(note: nil))).get() == [.null, .int(42)])
        #expect(try p.evaluate(Self.record(nil)).get() == [.null, .null])
    }

    @Test func logicalTypesAsTextAndNumbers() throws {
        let fields: [(String, ColumnType)] = [("day", .string), ("at", .string), ("amount", .string)]
        let row = try Self.program(fields).evaluate(Self.record(Self.order())).get()
        let expected: [Value] = [.string("2024-01-01"), .string("2024-01-01T12:00:00.123Z"), .string("-123.45")]
        #expect(row == expected)
        let numbers = try Self.program([("at", .bigint), ("day", .int)]).evaluate(Self.record(Self.order())).get()
        #expect(numbers == [.int(1_704_110_400_123), .int(19_723)])
    }

    @Test func decimalsOfAnyWidth() {
        func text(_ bytes: [UInt8], _ scale: Int) -> String {
            var out: [UInt8] = []
            bytes.withUnsafeBytes { AvroText.decimal($0, scale: scale, into: &out) }
            return String(decoding: out, as: UTF8.self)
        }
        #expect(text([0x30, 0x39], 2) == "123.45")
        #expect(text([0xCF, 0xC7], 2) == "-123.45")
        #expect(text([], 0) == "0")
        #expect(text([0x05], 3) == "0.005")
        // 2^80 = 1208925819614629174706176, and its negation.
        #expect(text([0x01] + Array(repeating: 0, count: 10), 4) == "120892581961462917470.6176")
        #expect(text([0xFF] + Array(repeating: 0, count: 10), 0) == "-1208925819614629174706176")
    }

    @Test func corruptValuesAreDirtyWithTheReason() throws {
        let p = try Self.program([("id", .bigint), ("status", .string)])
        var bytes = Self.order()
        bytes.removeLast(20)
        guard case .failure(let d) = p.evaluate(Self.record(bytes)) else { Issue.record("expected dirty"); return }
        #expect(d.reason.kind == .notAvro && d.offset == 7 && d.partition == 1)
        #expect(d.reason.message.contains("does not decode as Avro"), "\(d.reason.message)")
        guard case .failure(let extra) = p.evaluate(Self.record(Self.order() + [0])) else { Issue.record("expected dirty"); return }
        #expect(extra.reason.message.contains("1 bytes are left"), "\(extra.reason.message)")
    }

    @Test func missingPathsFollowMissingField() throws {
        var o = FieldProgramOptions()
        o.missingField = .dirty
        let p = try Self.program([("nope", .string)], options: o)
        guard case .failure(let d) = p.evaluate(Self.record(Self.order())) else { Issue.record("expected dirty"); return }
        #expect(d.reason.kind == .missingField && d.reason.message.contains("'nope'"))
    }

    @Test func schemasParseWithNamesAndRecursion() throws {
        let s = try AvroSchema(parsing: """
        {"type": "record", "name": "Node", "namespace": "t", "fields": [
          {"name": "v", "type": "int"}, {"name": "next", "type": ["null", "Node"]}]}
        """)
        #expect(s.named["t.Node"] != nil)
        #expect(s.canHold([.member("next"), .member("next"), .member("v")]))
        #expect(!s.canHold([.member("w")]))
        // A linked list of three: 1 → 2 → 3.
        var w = AvroBytes()
        w.long(1); w.long(1); w.long(2); w.long(1); w.long(3); w.long(0)
        let p = try Self.program([("next.next.v", .bigint), ("v", .bigint)], schema: #"{"type": "record", "name": "Node", "namespace": "t", "fields": [{"name": "v", "type": "int"}, {"name": "next", "type": ["null", "Node"]}]}"#)
        #expect(try p.evaluate(Self.record(w.bytes)).get() == [.int(3), .int(1)])
        // A crafted list 100,000 deep is dirty, not a stack overflow.
        var deep = AvroBytes()
        for _ in 0..<100_000 { deep.long(1); deep.long(1) }
        deep.long(1); deep.long(0)
        guard case .failure(let d) = p.evaluate(Self.record(deep.bytes)) else { Issue.record("expected dirty"); return }
        #expect(d.reason.message.contains("nests deeper than 512"), "\(d.reason.message)")
        let whole = try Self.program([("next", .string)], schema: #"{"type": "record", "name": "Node", "namespace": "t", "fields": [{"name": "v", "type": "int"}, {"name": "next", "type": ["null", "Node"]}]}"#)
        #expect(try whole.evaluate(Self.record(w.bytes)).get() == [.string(#"{"v":2,"next":{"v":3,"next":null}}"#)])
        guard case .failure(let d2) = whole.evaluate(Self.record(deep.bytes)) else { Issue.record("expected dirty"); return }
        #expect(d2.reason.message.contains("nests deeper than 512"), "\(d2.reason.message)")
        for bad in ["{", #"{"type": "record", "name": "R"}"#, #"["int", "int"]"#, #"{"type": "Unknown"}"#] {
            #expect(throws: AvroSchemaError.self) { try AvroSchema(parsing: bad) }
        }
    }

    @Test func jobFilesTakeAvroKeys() throws {
        let yaml = """
        name: orders
        source:
          bootstrapServers: 127.0.0.1:9092
          topic: orders
          valueFormat: avro
          schemaRegistry: { url: "http://127.0.0.1:8081", username: sluice, password: "${env:REGISTRY_PASSWORD}" }
        columns: [id, customer.name]
        destination: { type: discard, table: t, columns: [id, name] }
        schedule:
          cycle: hour
          parameters: { startTime: "$[yyyymmddhh24-1/24]0000", endTime: "$[yyyymmddhh24]0000" }
        """
        let job = try JobLoader.parse(data: Data(yaml.utf8), fileName: "orders.yaml")
        #expect(job.spec.source.valueFormat == .avro(.registry))
        #expect(job.spec.source.schemaRegistry == SchemaRegistrySpec(url: "http://127.0.0.1:8081", username: .literal("sluice"), password: .env("REGISTRY_PASSWORD")))
        let shown = JobEmitter.yaml(job.spec, secrets: .redact).text
        #expect(shown.contains("valueFormat: avro") && shown.contains("${env:REGISTRY_PASSWORD}"))
        let again = try JobLoader.parse(data: Data(shown.utf8), fileName: "orders.yaml")
        #expect(again.spec.source == job.spec.source)

        let literal = yaml.replacingOccurrences(of: "\"${env:REGISTRY_PASSWORD}\"", with: "hunter2")
        let redacted = JobEmitter.yaml(try JobLoader.parse(data: Data(literal.utf8), fileName: "o.yaml").spec, secrets: .redact).text
        #expect(!redacted.contains("hunter2") && redacted.contains("******"))

        let missing = yaml.replacingOccurrences(of: "  schemaRegistry: { url: \"http://127.0.0.1:8081\", username: sluice, password: \"${env:REGISTRY_PASSWORD}\" }\n", with: "")
        #expect(throws: JobFileError.self) { try JobLoader.parse(data: Data(missing.utf8), fileName: "o.yaml") }
    }
}

@Suite("Avro job validation")
struct AvroJobValidationTests {
    static func job(_ source: String, columns: String = "[id, customer.name]") -> String {
        """
        name: orders
        source:
          bootstrapServers: 127.0.0.1:9092
          topic: orders
          valueFormat: avro
        \(source)
        columns: \(columns)
        destination: { type: discard, table: t, columns: [a, b] }
        schedule:
          cycle: hour
          parameters: { startTime: "$[yyyymmddhh24-1/24]0000", endTime: "$[yyyymmddhh24]0000" }
        """
    }

    static func diagnostics(_ yaml: String) -> [Diagnostic] {
        do {
            return try JobLoader.parse(data: Data(yaml.utf8), fileName: "o.yaml").warnings
        } catch let e as JobFileError {
            return e.diagnostics
        } catch {
            return [Diagnostic(file: "", path: "", message: "\(error)")]
        }
    }

    @Test func anInlineSchemaIsParsedAndTheMappedFieldsChecked() throws {
        let schema = #"  avroSchema: '{"type": "record", "name": "Order", "fields": [{"name": "id", "type": "long"}, {"name": "customer", "type": {"type": "record", "name": "C", "fields": [{"name": "name", "type": "string"}]}}]}'"#
        #expect(Self.diagnostics(Self.job(schema)).isEmpty)
        let warned = Self.diagnostics(Self.job(schema, columns: "[id, customer.nmae]"))
        #expect(warned.count == 1 && warned[0].severity == .warning && warned[0].path == "columns[1]"
                && warned[0].message.contains("'customer.nmae' is not in the Avro schema"), "\(warned)")
        let bad = Self.diagnostics(Self.job(#"  avroSchema: '{"type": "record", "name": "Order"}'"#))
        #expect(bad.contains { $0.severity == .error && $0.path == "source.avroSchema" && $0.message.contains("has no \"fields\" list") }, "\(bad)")
    }

    @Test func exactlyOneSchemaSourceAndAnHTTPURL() {
        let none = Self.diagnostics(Self.job(""))
        #expect(none.contains { $0.severity == .error && $0.message.contains("missing `schemaRegistry`") }, "\(none)")
        let two = Self.diagnostics(Self.job("  avroSchemaFile: o.avsc\n  schemaRegistry: { url: \"http://r:8081\" }"))
        #expect(two.contains { $0.severity == .error && $0.message.contains("give one of") }, "\(two)")
        let url = Self.diagnostics(Self.job("  schemaRegistry: { url: \"http://u:p@r:8081\" }"))
        #expect(url.contains { $0.path == "source.schemaRegistry.url" && !$0.message.contains("u:p@") }, "\(url)")
        let literal = Self.diagnostics(Self.job("  schemaRegistry: { url: \"http://r:8081\", username: u, password: hunter2 }"))
        #expect(literal.contains { $0.severity == .warning && $0.path == "source.schemaRegistry.password" } && !literal.contains { $0.message.contains("hunter2") }, "\(literal)")
        let json = Self.diagnostics(Self.job("  avroSchemaFile: o.avsc").replacingOccurrences(of: "valueFormat: avro", with: "valueFormat: json"))
        #expect(json.contains { $0.severity == .warning && $0.path == "source.avroSchemaFile" }, "\(json)")
    }
}

@Suite("Avro keys")
struct AvroKeyTests {
    @Test func keyPathsReadAvroKeysBesideJSONOrAvroValues() throws {
        var o = FieldProgramOptions()
        o.keyFormat = .avro(.inline(#"{"type": "record", "name": "K", "fields": [{"name": "tenant", "type": "string"}, {"name": "n", "type": "long"}]}"#))
        let program = try FieldProgram(mapping: [("__key__.tenant", ColumnSpec(name: "t", type: .string)),
                                                 ("__key__.n", ColumnSpec(name: "n", type: .bigint)),
                                                 ("a", ColumnSpec(name: "a", type: .bigint))], options: o)
        var key = AvroBytes()
        key.string("acme"); key.long(-3)
        let row = try program.evaluate(OwnedRecord(key: key.bytes, value: Array(#"{"a": 5}"#.utf8))).get()
        #expect(row == [.string("acme"), .int(-3), .int(5)])
        guard case .failure(let d) = program.evaluate(OwnedRecord(key: [2], value: Array(#"{"a": 5}"#.utf8))) else {
            Issue.record("expected dirty"); return
        }
        #expect(d.reason.kind == .notAvro && d.reason.message.hasPrefix("the key does not decode as Avro with the job's Avro key schema"), "\(d.reason.message)")
        #expect(try program.evaluate(OwnedRecord(key: nil, value: Array(#"{"a": 5}"#.utf8))).get() == [.null, .null, .int(5)])
    }
}

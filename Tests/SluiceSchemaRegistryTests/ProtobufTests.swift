import Foundation
import Testing
import SluiceCore
import SluiceJob
@testable import SluiceMapping
@testable import SluiceSchemaRegistry

/// Protobuf's wire encoding, written by hand from the encoding documentation.
struct ProtoBytes {
    var bytes: [UInt8] = []

    mutating func varint(_ v: UInt64) {
        var z = v
        while z >= 0x80 { bytes.append(UInt8(z & 0x7F) | 0x80); z >>= 7 }
        bytes.append(UInt8(z))
    }
    mutating func tag(_ number: Int, _ wt: UInt8) { varint(UInt64(number) << 3 | UInt64(wt)) }
    mutating func int(_ number: Int, _ v: Int64) { tag(number, 0); varint(UInt64(bitPattern: v)) }
    mutating func sint(_ number: Int, _ v: Int64) { tag(number, 0); varint(UInt64(bitPattern: (v << 1) ^ (v >> 63))) }
    mutating func bytes(_ number: Int, _ b: [UInt8]) { tag(number, 2); varint(UInt64(b.count)); bytes += b }
    mutating func string(_ number: Int, _ s: String) { self.bytes(number, Array(s.utf8)) }
    mutating func double(_ number: Int, _ d: Double) { tag(number, 1); withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes += $0 } }
    mutating func fixed32(_ number: Int, _ v: UInt32) { tag(number, 5); withUnsafeBytes(of: v.littleEndian) { bytes += $0 } }
    mutating func message(_ number: Int, _ build: (inout ProtoBytes) -> Void) {
        var m = ProtoBytes()
        build(&m)
        self.bytes(number, m.bytes)
    }
}

@Suite("Protobuf values through the Schema Registry")
struct ProtobufTests {
    static let schema = """
    syntax = "proto3";
    package shop;
    import "google/protobuf/timestamp.proto";
    import "google/protobuf/wrappers.proto";
    import "google/protobuf/duration.proto";
    option java_package = "com.example.shop"; // ignored

    message Order {
      int64 id = 1;
      Customer customer = 2;
      repeated Item items = 3;
      map<string, string> attrs = 4;
      Status status = 5;
      oneof payment { string card = 6; Cash cash = 7; }
      google.protobuf.Timestamp at = 8;
      google.protobuf.Int64Value discount = 9;
      repeated int32 scores = 10 [packed = true];
      double total = 11;
      sint32 delta = 12;
      uint64 big = 13;
      bytes blob = 14;
      optional string note = 15;
      google.protobuf.StringValue coupon = 16;
      google.protobuf.Duration wait = 17;
      fixed32 code = 18;
      reserved 20, 21;
      enum Status { NEW = 0; PAID = 1; SHIPPED = 2; }
      message Item { string sku = 1; int32 qty = 2; }
      message Cash { string currency = 1; }
    }
    message Customer { string name = 1; bool vip = 2; }
    message Other { string x = 1; }
    """

    static func order() -> [UInt8] {
        var w = ProtoBytes()
        w.int(1, 42)
        w.message(2) { $0.string(1, "Ada"); $0.int(2, 1) }
        w.message(3) { $0.string(1, "A-1"); $0.int(2, 2) }
        w.message(3) { $0.string(1, "B-2"); $0.int(2, 5) }
        w.message(4) { $0.string(1, "color"); $0.string(2, "red") }
        w.message(4) { $0.string(1, "size"); $0.string(2, "L") }
        w.int(5, 1)
        w.message(7) { $0.string(1, "EUR") }
        w.message(8) { $0.int(1, 1_704_110_400); $0.int(2, 123_456_000) }
        w.message(9) { $0.int(1, 250) }
        var packed = ProtoBytes(); packed.varint(7); packed.varint(8); packed.varint(9)
        w.bytes(10, packed.bytes)
        w.double(11, 19.5)
        w.sint(12, -3)
        w.int(13, -1)     // uint64 max
        w.bytes(14, [0xDE, 0xAD])
        w.message(17) { $0.int(1, 90); $0.int(2, 500_000_000) }
        w.fixed32(18, 7)
        w.int(99, 5)      // an unknown field, skipped
        return w.bytes
    }

    /// Confluent framing: magic byte, schema id, message indexes (`[0]` as the single byte 0).
    static func framed(_ id: Int, _ message: [UInt8], indexes: [UInt8] = [0]) -> [UInt8] {
        [0, 0, 0, 0, UInt8(id)] + indexes + message
    }

    static func rows(_ url: String, _ fields: [(String, ColumnType)], _ values: [[UInt8]?]) async throws -> (RowBatch, [DirtyRecord]) {
        var options = FieldProgramOptions()
        options.valueFormat = .protobuf
        let program = try FieldProgram(mapping: fields.enumerated().map { ($0.element.0, ColumnSpec(name: "c\($0.offset)", type: $0.element.1)) },
                                       options: options, avro: .registry(SchemaRegistryClient(url: url)))
        let batch = OwnedRecordBatch(values.enumerated().map { OwnedRecord(partition: 3, offset: Int64($0.offset), value: $0.element) })
        var rows = RowBatch(columns: program.columns)
        var dirty = DirtyCollector()
        try await program.runSplit(batch, into: &rows, dirty: &dirty)
        return (rows, dirty.takeRecords())
    }

    @Test func pathsReachNestedRepeatedMapsEnumsOneofsAndWellKnownTypes() async throws {
        try await SchemaRegistryClientTests.withRegistry { registry, url in
            let id = try await SchemaRegistryClientTests.register(registry, "orders-value", Self.schema, type: "PROTOBUF")
            let fields: [(String, ColumnType)] = [
                ("id", .bigint), ("customer.name", .string), ("customer.vip", .boolean), ("items[1].sku", .string),
                ("items[0].qty", .int), ("attrs.size", .string), ("status", .string), ("cash.currency", .string),
                ("card", .string), ("at", .timestamp), ("discount", .bigint), ("scores[2]", .int),
                ("total", .double), ("delta", .int), ("big", .string), ("note", .string), ("coupon", .string),
                ("wait", .string), ("code", .bigint), ("items", .string), ("attrs", .string), ("customer", .string),
                ("items[5].sku", .string), ("nope", .string)]
            let (rows, dirty) = try await Self.rows(url, fields, [Self.framed(id, Self.order())])
            #expect(dirty.isEmpty, "\(dirty.map(\.reason.message))")
            let row = (0..<fields.count).map { rows[0, $0] }
            #expect(row[0] == .int(42) && row[1] == .string("Ada") && row[2] == .bool(true) && row[3] == .string("B-2"))
            #expect(row[4] == .int(2) && row[5] == .string("L") && row[6] == .string("PAID") && row[7] == .string("EUR"))
            #expect(row[8] == .null, "a oneof member that was not written")
            #expect(row[9] == .timestamp(seconds: 1_704_110_400, nanos: 123_456_000))
            #expect(row[10] == .int(250) && row[11] == .int(9) && row[12] == .double(19.5) && row[13] == .int(-3))
            #expect(row[14] == .string("18446744073709551615") && row[15] == .null && row[16] == .null)
            #expect(row[17] == .string("90.500s") && row[18] == .int(7))
            #expect(row[19] == .string(#"[{"sku":"A-1","qty":2},{"sku":"B-2","qty":5}]"#))
            #expect(row[20] == .string(#"{"color":"red","size":"L"}"#))
            #expect(row[21] == .string(#"{"name":"Ada","vip":true}"#))
            #expect(row[22] == .null && row[23] == .null, "missing paths")
            let (text, _) = try await Self.rows(url, [("at", .string), ("at.seconds", .bigint)], [Self.framed(id, Self.order())])
            #expect(text[0, 0] == .string("2024-01-01T12:00:00.123456Z") && text[0, 1] == .null)
        }
    }

    @Test func absentScalarsGiveDefaultsAndAbsentMessagesNull() async throws {
        try await SchemaRegistryClientTests.withRegistry { registry, url in
            let id = try await SchemaRegistryClientTests.register(registry, "orders-value", Self.schema, type: "PROTOBUF")
            var w = ProtoBytes()
            w.message(2) { $0.string(1, "Bo") }
            let fields: [(String, ColumnType)] = [("id", .bigint), ("status", .string), ("customer.vip", .boolean),
                                                  ("customer.name", .string), ("discount", .bigint), ("at", .timestamp), ("cash.currency", .string)]
            let (rows, dirty) = try await Self.rows(url, fields, [Self.framed(id, w.bytes), Self.framed(id, []), nil])
            #expect(dirty.isEmpty)
            #expect((0..<7).map { rows[0, $0] } == [.int(0), .string("NEW"), .bool(false), .string("Bo"), .null, .null, .null])
            #expect((0..<7).map { rows[1, $0] } == [.int(0), .string("NEW"), .null, .null, .null, .null, .null])
            #expect((0..<7).map { rows[2, $0] } == Array(repeating: .null, count: 7), "a null value")
        }
    }

    @Test func messageIndexesPickTheMessage() async throws {
        try await SchemaRegistryClientTests.withRegistry { registry, url in
            let id = try await SchemaRegistryClientTests.register(registry, "orders-value", Self.schema, type: "PROTOBUF")
            var item = ProtoBytes(); item.string(1, "Z-9")
            var other = ProtoBytes(); other.string(1, "x!")
            // [0, 0]: the first message nested in Order (Item, declared after the map field attrs, whose
            // entry message protoc generates where the field is, is [0, 1]); [2]: Other; [5]: none.
            let values = [Self.framed(id, item.bytes, indexes: [4, 0, 2]), Self.framed(id, other.bytes, indexes: [2, 4]),
                          Self.framed(id, other.bytes, indexes: [2, 10])]
            let (rows, dirty) = try await Self.rows(url, [("sku", .string), ("x", .string)], values)
            #expect(rows.rowCount == 2 && rows[0, 0] == .string("Z-9") && rows[1, 1] == .string("x!"))
            #expect(dirty.count == 1 && dirty[0].offset == 2 && dirty[0].partition == 3)
            #expect(dirty.first?.reason.message == "the value names message index [5] of schema id \(id), which has no such message (3 top-level messages)")
        }
    }

    @Test func unknownIdsCorruptBytesAndOtherSchemaTypesAreDirty() async throws {
        try await SchemaRegistryClientTests.withRegistry { registry, url in
            let id = try await SchemaRegistryClientTests.register(registry, "orders-value", Self.schema, type: "PROTOBUF")
            let avro = try await SchemaRegistryClientTests.register(registry, "a-value", SchemaRegistryClientTests.order)
            var bad = Self.order()
            bad.removeLast(5)
            let values: [[UInt8]?] = [Self.framed(99, Self.order()), Self.framed(id, bad), Array("{}".utf8),
                                      Self.framed(avro, [2]), Self.framed(id, [0x0F]), Self.framed(id, Self.order())]
            let (rows, dirty) = try await Self.rows(url, [("id", .bigint)], values)
            #expect(rows.rowCount == 1 && rows[0, 0] == .int(42))
            let reasons = dirty.map(\.reason.message)
            #expect(dirty.map(\.offset) == [0, 1, 2, 3, 4])
            #expect(reasons[0] == "schema id 99 is not in the schema registry at \(url)")
            #expect(reasons[1].hasPrefix("the value does not decode as Protobuf with schema id \(id): "), "\(reasons[1])")
            #expect(reasons[2].hasPrefix("the value is not Confluent-framed Protobuf: it starts with 0x7b"))
            #expect(reasons[3] == "schema id \(avro) is an AVRO schema, not Protobuf (valueFormat: protobuf)")
            #expect(reasons[4].contains("wire type 7"), "\(reasons[4])")
        }
    }

    @Test func keysDecodeAsProtobufBesideJSONValues() async throws {
        try await SchemaRegistryClientTests.withRegistry { registry, url in
            let id = try await SchemaRegistryClientTests.register(registry, "orders-key", Self.schema, type: "PROTOBUF")
            var options = FieldProgramOptions()
            options.keyFormat = .protobuf
            let program = try FieldProgram(mapping: [("__key__.customer.name", ColumnSpec(name: "n", type: .string)), ("v", ColumnSpec(name: "v", type: .bigint))],
                                           options: options, avroKey: .registry(SchemaRegistryClient(url: url)))
            let batch = OwnedRecordBatch([
                OwnedRecord(partition: 0, offset: 0, key: Self.framed(id, Self.order()), value: Array(#"{"v": 5}"#.utf8)),
                OwnedRecord(partition: 0, offset: 1, key: Array("plain".utf8), value: Array(#"{"v": 6}"#.utf8)),
            ])
            var rows = RowBatch(columns: program.columns)
            var dirty = DirtyCollector()
            try await program.runSplit(batch, into: &rows, dirty: &dirty)
            #expect(rows.rowCount == 1 && rows[0, 0] == .string("Ada") && rows[0, 1] == .int(5))
            #expect(dirty.takeRecords().first?.reason.message.hasPrefix("the key is not Confluent-framed Protobuf") == true)
        }
    }

    @Test func deeplyNestedGroupsAreDirtyNotAStackOverflow() async throws {
        try await SchemaRegistryClientTests.withRegistry { registry, url in
            let id = try await SchemaRegistryClientTests.register(registry, "orders-value", Self.schema, type: "PROTOBUF")
            // 100,000 start-group tags of unknown field 50 (skipped, but each nests in the last).
            let nested: [UInt8] = (0..<200_000).map { $0 % 2 == 0 ? 0x93 : 0x03 }
            let (rows, dirty) = try await Self.rows(url, [("id", .bigint)], [Self.framed(id, nested)])
            #expect(rows.rowCount == 0 && dirty.first?.reason.message.contains("nests deeper than 100 levels") == true, "\(dirty.map(\.reason.message))")
        }
    }

    @Test func theRegistryDownFailsTheRun() async throws {
        let url = "http://127.0.0.1:1"
        await #expect(throws: SluiceError.self) {
            _ = try await Self.rows(url, [("id", .bigint)], [Self.framed(1, Self.order())])
        }
    }

    @Test func theParserReadsTheSubsetAndRejectsWhatItCannotResolve() throws {
        let s = try ProtoSchema(parsing: """
        syntax = "proto2";
        package a.b;
        message Outer {
          required int32 id = 1 [default = 5];
          optional group_like.Inner inner = 2;
          repeated sfixed64 xs = 3 [packed=true];
          map<int32, Outer> children = 4;
          extensions 100 to 199;
          message Inner { optional string s = 1; }
        }
        message group_like { message Inner { optional bytes b = 1; } }
        enum E { option allow_alias = true; A = 0; B = 1; C = 1; }
        service S { rpc Get (Outer) returns (Outer); }
        """)
        #expect(s.syntax == 2 && s.topLevel.count == 2 && s.enums.first?.values.count == 3)
        let outer = s.messages[s.topLevel[0]]
        #expect(outer.fields.map(\.name) == ["id", "inner", "xs", "children"])
        guard case .message(let m) = outer.fields[1].type else { Issue.record("inner is a message"); return }
        #expect(s.messages[m].fullName == "a.b.group_like.Inner")
        #expect(outer.fields[2].packed && outer.fields[0].explicitPresence)
        guard case .map(.int32, .message) = outer.fields[3].type else { Issue.record("children is a map"); return }
        #expect(throws: ProtoSchemaError.self) { try ProtoSchema(parsing: "syntax = \"proto3\"; import \"other.proto\"; message M { Other o = 1; }") }
        #expect(throws: ProtoSchemaError.self) { try ProtoSchema(parsing: "syntax = \"proto3\"; message M { Unknown o = 1; }") }
        do {
            _ = try ProtoSchema(parsing: "syntax = \"proto3\";\nmessage M {\n  int32 x = ;\n}")
        } catch {
            #expect(error.description.hasPrefix("line 3: "), "\(error)")
        }
    }
}

@Suite("dev-registry and serialized file descriptors")
struct ProtoDescriptorTextTests {
    /// shop/order.proto of Scripts/proto_produce.py as confluent-kafka's ProtobufSerializer registers it.
    static let serialized = "ChBzaG9wL29yZGVyLnByb3RvEgRzaG9wGh9nb29nbGUvcHJvdG9idWYvdGltZXN0YW1wLnByb3RvGh5nb29nbGUvcHJvdG9idWYvd3JhcHBlcnMucHJvdG8i7AQKBU9yZGVyEgoKAmlkGAEgASgDEiYKCGN1c3RvbWVyGAIgASgLMhQuc2hvcC5PcmRlci5DdXN0b21lchIfCgVpdGVtcxgDIAMoCzIQLnNob3AuT3JkZXIuSXRlbRIlCgVhdHRycxgEIAMoCzIWLnNob3AuT3JkZXIuQXR0cnNFbnRyeRIiCgZzdGF0dXMYBSABKA4yEi5zaG9wLk9yZGVyLlN0YXR1cxIOCgRjYXJkGAYgASgJSAASIAoEY2FzaBgHIAEoCzIQLnNob3AuT3JkZXIuQ2FzaEgAEiYKAmF0GAggASgLMhouZ29vZ2xlLnByb3RvYnVmLlRpbWVzdGFtcBItCghkaXNjb3VudBgJIAEoCzIbLmdvb2dsZS5wcm90b2J1Zi5JbnQ2NFZhbHVlEg4KBnNjb3JlcxgKIAMoBRIMCgRmbGFnGAsgASgIEgsKA3JhdxgMIAEoDBINCgVkZWx0YRgNIAEoEhIRCgRub3RlGA4gASgJSAGIAQEaJwoIQ3VzdG9tZXISDAoEbmFtZRgBIAEoCRINCgVlbWFpbBgCIAEoCRovCgRJdGVtEgsKA3NrdRgBIAEoCRILCgNxdHkYAiABKAUSDQoFcHJpY2UYAyABKAEaJwoEQ2FzaBIQCghjdXJyZW5jeRgBIAEoCRINCgVjZW50cxgCIAEoAxosCgpBdHRyc0VudHJ5EgsKA2tleRgBIAEoCRINCgV2YWx1ZRgCIAEoCToCOAEiKAoGU3RhdHVzEgcKA05FVxAAEggKBFBBSUQQARILCgdTSElQUEVEEAJCCQoHcGF5bWVudEIHCgVfbm90ZWIGcHJvdG8z"

    @Test func aSerializedDescriptorIsStoredAsProtoTextWithMapsWhereTheirEntriesWere() async throws {
        let registry = DevRegistry()
        let body = try JSONEncoder().encode(["schema": Self.serialized, "schemaType": "PROTOBUF"])
        let answer = await registry.handle(method: "POST", path: "/subjects/orders-value/versions", body: body)
        #expect(answer.status == 200, "\(String(decoding: answer.body, as: UTF8.self))")
        let got = await registry.handle(method: "GET", path: "/schemas/ids/1", body: Data())
        let object = try JSONSerialization.jsonObject(with: got.body) as? [String: Any]
        #expect(object?["schemaType"] as? String == "PROTOBUF")
        let text = try #require(object?["schema"] as? String)
        #expect(text.contains("map<string, string> attrs = 4;") && text.contains("optional string note = 14;")
                && text.contains("oneof payment {") && text.contains(".google.protobuf.Timestamp at = 8;"), "\(text)")
        let schema = try ProtoSchema(parsing: text)
        let order = try #require(schema.message(at: [0]))
        // The descriptor's nested types: Customer, Item, Cash, AttrsEntry: the same indexes after parsing.
        #expect(try [1, 2, 3].map { try #require(schema.message(at: [0, $0])) }.map { schema.messages[$0].fullName }
                == ["shop.Order.Item", "shop.Order.Cash", "shop.Order.AttrsEntry"])
        #expect(schema.messages[order].fields.count == 14)
        let refused = await registry.handle(method: "POST", path: "/subjects/x/versions",
                                            body: try JSONEncoder().encode(["schema": "bm90IGEgZGVzY3JpcHRvcg==", "schemaType": "PROTOBUF"]))
        #expect(refused.status == 422)
    }
}

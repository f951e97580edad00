// `--formats`: the same logical records as JSON, as Avro (plain binary with the job's schema, and
// Confluent-framed with a registry schema id) and as Confluent-framed Protobuf, through field programs
// with the same ten columns.
import Foundation
import SluiceCore
import SluiceJob
import SluiceMapping

/// Avro binary encoding, enough for the benchmark's records.
struct AvroWriter {
    var bytes: [UInt8] = []
    mutating func long(_ v: Int64) {
        var z = UInt64(bitPattern: (v << 1) ^ (v >> 63))
        while z >= 0x80 { bytes.append(UInt8(z & 0x7F) | 0x80); z >>= 7 }
        bytes.append(UInt8(z))
    }
    mutating func string(_ s: String) { long(Int64(s.utf8.count)); bytes += s.utf8 }
    mutating func double(_ d: Double) { withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes += $0 } }
}

/// Protobuf's wire encoding, enough for the benchmark's records.
struct ProtoWriter {
    var bytes: [UInt8] = []
    mutating func varint(_ v: UInt64) {
        var z = v
        while z >= 0x80 { bytes.append(UInt8(z & 0x7F) | 0x80); z >>= 7 }
        bytes.append(UInt8(z))
    }
    mutating func bytes(_ number: Int, _ b: [UInt8]) { varint(UInt64(number << 3 | 2)); varint(UInt64(b.count)); bytes += b }
    mutating func string(_ number: Int, _ s: String) { self.bytes(number, Array(s.utf8)) }
    mutating func double(_ number: Int, _ d: Double) { varint(UInt64(number << 3 | 1)); withUnsafeBytes(of: d.bitPattern.littleEndian) { bytes += $0 } }
}

/// The schemas of the framed variants, as a registry would give them: Avro as id 7, Protobuf as id 8.
struct FixedRegistry: AvroSchemaRegistry {
    let location = "benchmark"
    let text: String
    var proto = ""
    func schema(id: Int32) async throws(SluiceError) -> RegisteredSchema {
        switch id {
        case 7: .avro(text)
        case 8: .protobuf(proto)
        default: .notFound
        }
    }
}

enum FormatComparison {
    static let schema = """
    {"type": "record", "name": "Event", "fields": [
      {"name": "event_id", "type": "string"}, {"name": "user", "type": "string"},
      {"name": "a", "type": {"type": "record", "name": "A", "fields": [{"name": "a1", "type": "string"}]}},
      {"name": "b", "type": "string"}, {"name": "c", "type": {"type": "array", "items": "string"}},
      {"name": "d", "type": {"type": "array", "items": {"type": "record", "name": "D", "fields": [
        {"name": "AA", "type": "string"}, {"name": "BB", "type": "string"}]}}},
      {"name": "amount", "type": "double"}, {"name": "pad", "type": "string"}]}
    """

    static let protoSchema = """
    syntax = "proto3";
    message Event {
      string event_id = 1; string user = 2; A a = 3; string b = 4; repeated string c = 5;
      repeated D d = 6; double amount = 7; string pad = 8;
      message A { string a1 = 1; }
      message D { string AA = 1; string BB = 2; }
    }
    """

    /// Record `i` as Protobuf, Confluent-framed (schema id 8, message index [0]).
    static func proto(_ i: Int) -> [UInt8] {
        let users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
        var w = ProtoWriter()
        w.string(1, "e-\(i)"); w.string(2, users[i % users.count])
        var a = ProtoWriter(); a.string(1, "hello-\(i % 1000)"); w.bytes(3, a.bytes)
        w.string(4, "world"); w.string(5, "x"); w.string(5, "y\(i % 7)")
        var d = ProtoWriter(); d.string(1, "this"); d.string(2, "is_data"); w.bytes(6, d.bytes)
        w.double(7, Double(i * 7919 % 100_000) / 100); w.string(8, String(repeating: "x", count: 30))
        return [0, 0, 0, 0, 8, 0] + w.bytes
    }

    /// Record `i` (the shape `sluice loadgen` produces) as JSON text and as Avro binary.
    static func logical(_ i: Int) -> (json: [UInt8], avro: [UInt8], key: String) {
        let users = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi"]
        let user = users[i % users.count], filler = String(repeating: "x", count: 30)
        let amount = Double(i * 7919 % 100_000) / 100
        let json = #"{"event_id":"e-\#(i)","user":"\#(user)","a":{"a1":"hello-\#(i % 1000)"},"b":"world","c":["x","y\#(i % 7)"],"d":[{"AA":"this","BB":"is_data"}],"amount":\#(amount),"pad":"\#(filler)"}"#
        var w = AvroWriter()
        w.string("e-\(i)"); w.string(user); w.string("hello-\(i % 1000)"); w.string("world")
        w.long(2); w.string("x"); w.string("y\(i % 7)"); w.long(0)
        w.long(1); w.string("this"); w.string("is_data"); w.long(0)
        w.double(amount); w.string(filler)
        return (Array(json.utf8), w.bytes, user)
    }

    static let definitions = ["__key__", "__partition__", "__offset__", "__timestamp__", "__headers__",
                              "event_id", "a.a1", "c[1]", "d[0].AA", "amount"]
    static let columns = [
        ColumnSpec(name: "k", type: .string), ColumnSpec(name: "kafka_partition", type: .bigint),
        ColumnSpec(name: "kafka_offset", type: .bigint), ColumnSpec(name: "kafka_ts", type: .bigint),
        ColumnSpec(name: "headers", type: .string), ColumnSpec(name: "event_id", type: .string),
        ColumnSpec(name: "a1", type: .string), ColumnSpec(name: "c1", type: .string),
        ColumnSpec(name: "d0aa", type: .string), ColumnSpec(name: "amount", type: .double),
    ]

    static func batch(_ n: Int, _ value: (Int) -> [UInt8]) -> OwnedRecordBatch {
        OwnedRecordBatch((0..<n).map { i in
            OwnedRecord(partition: Int32(i % 3), offset: Int64(i), timestamp: 1_669_075_200_000 + Int64(i) * 86,
                        key: Array(logical(i).key.utf8), value: value(i),
                        headers: [KafkaHeader(name: "source", value: Array("loadgen".utf8)),
                                  KafkaHeader(name: "seq", value: Array(String(i).utf8))])
        })
    }

    static func run(_ o: Options, paths only: Bool) async throws {
        let n = o.distinct
        let defs = only ? Array(definitions.suffix(5)) : definitions
        let cols = only ? Array(columns.suffix(5)) : columns
        let mapping = Array(zip(defs, cols))
        var avroOptions = FieldProgramOptions()
        avroOptions.valueFormat = .avro(.inline(schema))
        var framedOptions = FieldProgramOptions()
        framedOptions.valueFormat = .avro(.registry)
        var protoOptions = FieldProgramOptions()
        protoOptions.valueFormat = .protobuf
        let variants: [(String, FieldProgram, OwnedRecordBatch)] = [
            ("JSON", try FieldProgram(mapping: mapping), batch(n) { logical($0).json }),
            ("Avro (avroSchema)", try FieldProgram(mapping: mapping, options: avroOptions), batch(n) { logical($0).avro }),
            ("Avro (registry)", try FieldProgram(mapping: mapping, options: framedOptions, avro: .registry(FixedRegistry(text: schema))),
             batch(n) { [0, 0, 0, 0, 7] + logical($0).avro }),
            ("Protobuf (registry)", try FieldProgram(mapping: mapping, options: protoOptions,
                                                     avro: .registry(FixedRegistry(text: schema, proto: protoSchema))), batch(n) { proto($0) }),
        ]
        print("sluice-bench-mapping --formats: \(only ? "5 paths" : "5 built-ins + 5 paths") (event_id, a.a1, c[1], d[0].AA, amount), \(n) distinct loadgen-shaped records, \(o.seconds) CPU-s per run, 1 thread")
        print("format              value bytes   records/s (CPU)   ns CPU/record   vs JSON")
        var base = 0.0
        var slowest = Double.infinity
        for (name, program, batch) in variants {
            try await program.avro?.prepare(batch)
            var rows = RowBatch(columns: cols, reservingRows: n)
            // The rows must be the same whatever the format.
            var check = RowBatch(columns: cols)
            var dirty = DirtyCollector()
            try program.run(OwnedRecordBatch(Array(batch.records.prefix(2))), into: &check, dirty: &dirty)
            precondition(dirty.dirtyCount == 0 && check[1, cols.count - 4] == .string("hello-1") && check[1, cols.count - 3] == .string("y1"),
                         "unexpected row \(check.row(1))")
            let r = try measure(seconds: o.seconds, batch) { b in
                rows.removeAll(keepingCapacity: true)
                var dirty = DirtyCollector()
                try program.run(b, into: &rows, dirty: &dirty)
                return rows.rowCount
            }
            if base == 0 { base = r.cpu } else { slowest = min(slowest, r.cpu / base) }
            let bytes = Double(batch.records.reduce(0) { $0 + $1.value!.count }) / Double(n)
            print(name.padding(toLength: 20, withPad: " ", startingAt: 0) + String(format: "%11.0f   %15.0f   %13.0f   %6.2fx", bytes, r.cpu, 1e9 / r.cpu, r.cpu / base))
        }
        print("target: Avro and Protobuf ≥ 0.5× JSON's records per CPU-second: \(slowest >= 0.5 ? "met" : "missed")"
              + String(format: " (slowest variant %.2fx)", slowest))
    }
}

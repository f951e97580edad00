import Foundation

/// A serialized `google.protobuf.FileDescriptorProto` (the base64 form Confluent's Protobuf serializers
/// register) as `.proto` text, the form the registry answers with. Covers what `ProtoSchema` reads:
/// syntax, package, imports, messages (map entries as `map<K, V>`), enums, oneofs, labels, `packed`.
enum ProtoDescriptorText {
    /// One field of a serialized message: its number, and its varint or its bytes.
    struct Field {
        var number: Int
        var varint: UInt64 = 0
        var bytes: [UInt8] = []
        var string: String { String(decoding: bytes, as: UTF8.self) }
    }

    struct Malformed: Error {}

    /// The fields of a serialized message (groups refused: descriptors have none).
    static func fields(_ b: [UInt8]) throws -> [Field] {
        var out: [Field] = []
        var pos = 0
        func varint() throws -> UInt64 {
            var acc: UInt64 = 0, shift: UInt64 = 0
            while pos < b.count {
                let byte = b[pos]
                pos += 1
                acc |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return acc }
                shift += 7
                if shift > 63 { throw Malformed() }
            }
            throw Malformed()
        }
        while pos < b.count {
            let tag = try varint()
            var f = Field(number: Int(tag >> 3))
            switch tag & 7 {
            case 0: f.varint = try varint()
            case 1, 5:
                let n = tag & 7 == 1 ? 8 : 4
                guard b.count - pos >= n else { throw Malformed() }
                pos += n
            case 2:
                let n = try varint()
                guard n <= UInt64(b.count - pos) else { throw Malformed() }
                f.bytes = Array(b[pos..<pos + Int(n)])
                pos += Int(n)
            default: throw Malformed()
            }
            out.append(f)
        }
        return out
    }

    /// The `.proto` text of base64 `text`, or nil when it is not a serialized file descriptor.
    static func proto(base64 text: String) -> String? {
        guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), !data.isEmpty,
              let file = try? fields(Array(data)) else { return nil }
        var out = ""
        let syntax = file.last(where: { $0.number == 12 })?.string ?? "proto2"
        out += "syntax = \"\(syntax)\";\n"
        if let package = file.last(where: { $0.number == 2 })?.string { out += "package \(package);\n" }
        for dep in file where dep.number == 3 { out += "import \"\(dep.string)\";\n" }
        do {
            for m in file where m.number == 4 { out += try message(m.bytes, indent: "") }
            for e in file where e.number == 5 { out += try enumeration(e.bytes, indent: "") }
        } catch {
            return nil
        }
        return out
    }

    static let scalarNames = [1: "double", 2: "float", 3: "int64", 4: "uint64", 5: "int32", 6: "fixed64", 7: "fixed32",
                              8: "bool", 9: "string", 12: "bytes", 13: "uint32", 15: "sfixed32", 16: "sfixed64",
                              17: "sint32", 18: "sint64"]

    static func message(_ b: [UInt8], indent: String) throws -> String {
        // Nested types nest the recursion: a crafted descriptor must not exhaust the stack.
        guard indent.count <= 200 else { throw Malformed() }
        let m = try fields(b)
        let name = m.last(where: { $0.number == 1 })?.string ?? ""
        // Map entries (nested types with option map_entry) become map<K, V> fields, declared where the
        // entry type is among the nested ones: a parser regenerates the entry there, so that message
        // indexes count the nested messages as the descriptor does.
        var entries: [String: (key: String, value: String)] = [:]
        var nested: [(bytes: [UInt8], entry: String?)] = []
        for n in m where n.number == 3 {
            let nf = try fields(n.bytes)
            let isEntry = try nf.filter { $0.number == 7 }.contains { o in try fields(o.bytes).contains { $0.number == 7 && $0.varint != 0 } }
            guard isEntry else { nested.append((n.bytes, nil)); continue }
            let kv = try nf.filter { $0.number == 2 }.map { f in try fieldType(try fields(f.bytes)) }
            let entryName = nf.last(where: { $0.number == 1 })?.string ?? ""
            if kv.count == 2 { entries[entryName] = (kv[0], kv[1]) }
            nested.append(([], entryName))
        }
        let oneofs = try m.filter { $0.number == 8 }.map { o in try fields(o.bytes).last(where: { $0.number == 1 })?.string ?? "" }
        var plain = "", groups = [String](repeating: "", count: oneofs.count), maps: [String: String] = [:]
        for f in m where f.number == 2 {
            let ff = try fields(f.bytes)
            let proto3Optional = ff.contains { $0.number == 17 && $0.varint != 0 }
            let line = try field(ff, entries: entries, proto3Optional: proto3Optional)
            if line.hasPrefix("map<"), let entry = try fieldType(ff).split(separator: ".").last {
                maps[String(entry)] = indent + "  " + line + "\n"
            } else if !proto3Optional, let o = ff.last(where: { $0.number == 9 }), Int(o.varint) < groups.count {
                groups[Int(o.varint)] += indent + "    " + line + "\n"
            } else {
                plain += indent + "  " + line + "\n"
            }
        }
        var out = indent + "message \(name) {\n" + plain
        for (i, g) in groups.enumerated() where !g.isEmpty { out += indent + "  oneof \(oneofs[i]) {\n" + g + indent + "  }\n" }
        for n in nested { out += try n.entry.map { maps[$0] ?? "" } ?? message(n.bytes, indent: indent + "  ") }
        for e in m where e.number == 4 { out += try enumeration(e.bytes, indent: indent + "  ") }
        return out + indent + "}\n"
    }

    static func fieldType(_ ff: [Field]) throws -> String {
        let type = Int(ff.last(where: { $0.number == 5 })?.varint ?? 0)
        if let s = scalarNames[type] { return s }
        guard let name = ff.last(where: { $0.number == 6 })?.string else { throw Malformed() }
        return name
    }

    static func field(_ ff: [Field], entries: [String: (key: String, value: String)], proto3Optional: Bool) throws -> String {
        let name = ff.last(where: { $0.number == 1 })?.string ?? ""
        let number = ff.last(where: { $0.number == 3 })?.varint ?? 0
        let label = ff.last(where: { $0.number == 4 })?.varint ?? 1
        let type = try fieldType(ff)
        let entryName = type.split(separator: ".").last.map(String.init) ?? ""
        var options = ""
        if let o = ff.last(where: { $0.number == 8 }), let packed = try fields(o.bytes).last(where: { $0.number == 2 }) {
            options = " [packed = \(packed.varint != 0)]"
        }
        if label == 3, let kv = entries[entryName] { return "map<\(kv.key), \(kv.value)> \(name) = \(number);" }
        let prefix = label == 3 ? "repeated " : label == 2 ? "required " : proto3Optional ? "optional " : ""
        return "\(prefix)\(type) \(name) = \(number)\(options);"
    }

    static func enumeration(_ b: [UInt8], indent: String) throws -> String {
        let e = try fields(b)
        var out = indent + "enum \(e.last(where: { $0.number == 1 })?.string ?? "") {\n"
        for v in e where v.number == 2 {
            let vf = try fields(v.bytes)
            let number = Int32(truncatingIfNeeded: vf.last(where: { $0.number == 2 })?.varint ?? 0)
            out += indent + "  \(vf.last(where: { $0.number == 1 })?.string ?? "") = \(number);\n"
        }
        return out + indent + "}\n"
    }
}

import SluiceJob

/// Avro schema resolution (the specification's "Schema Resolution"): whether data written with one
/// schema can be read with another. BACKWARD compatibility of a new schema is `canRead(reader: new,
/// writer: latest)`.
public struct AvroCompatibility {
    let reader: AvroSchema
    let writer: AvroSchema
    /// Pairs of named types being compared, so that recursive types end.
    private var visiting: Set<String> = []

    /// The problems found reading `writer`'s data with `reader`; empty when it can.
    public static func problems(reader: AvroSchema, writer: AvroSchema) -> [String] {
        var c = AvroCompatibility(reader: reader, writer: writer)
        var out: [String] = []
        c.check(reader.root, writer.root, at: "", &out)
        return out
    }

    init(reader: AvroSchema, writer: AvroSchema) {
        self.reader = reader
        self.writer = writer
    }

    static func shortName(_ full: String) -> String {
        full.split(separator: ".").last.map(String.init) ?? full
    }

    mutating func check(_ r0: AvroType, _ w0: AvroType, at path: String, _ out: inout [String]) {
        let r = reader.resolve(r0), w = writer.resolve(w0)
        let here = path.isEmpty ? "the value" : path
        switch (r, w) {
        case (_, .union(let wb)):
            for (i, b) in wb.enumerated() {
                var sub: [String] = []
                check(r, b, at: path, &sub)
                if !sub.isEmpty { out.append("\(here): the writer's union branch \(i) (\(b.branchName)) cannot be read: \(sub[0])") }
            }
        case (.union(let rb), _):
            let fits = rb.contains { b in
                var sub: [String] = []
                check(b, w, at: path, &sub)
                return sub.isEmpty
            }
            if !fits { out.append("\(here): no branch of the reader's union reads the writer's \(w.branchName)") }
        case (.record(let rn, let rf), .record(let wn, let wf)):
            guard Self.shortName(rn) == Self.shortName(wn) else {
                out.append("\(here): record \(wn) is read as record \(rn)")
                return
            }
            let key = rn + "|" + wn
            guard visiting.insert(key).inserted else { return }
            defer { visiting.remove(key) }
            for f in rf {
                if let g = wf.first(where: { $0.name == f.name }) {
                    check(f.type, g.type, at: path.isEmpty ? f.name : "\(path).\(f.name)", &out)
                } else if !f.hasDefault {
                    out.append("\(here): field \(f.name) is new and has no default")
                }
            }
        case (.enumeration(let rn, let rs), .enumeration(let wn, let ws)):
            if Self.shortName(rn) != Self.shortName(wn) { out.append("\(here): enum \(wn) is read as enum \(rn)") }
            let missing = ws.filter { !rs.contains($0) }
            if !missing.isEmpty { out.append("\(here): enum symbols \(missing.joined(separator: ", ")) are no longer in \(rn)") }
        case (.fixed(let rn, let rs, _), .fixed(let wn, let ws, _)):
            if Self.shortName(rn) != Self.shortName(wn) || rs != ws {
                out.append("\(here): fixed \(wn) (\(ws) bytes) is read as fixed \(rn) (\(rs) bytes)")
            }
        case (.array(let ri), .array(let wi)):
            check(ri, wi, at: path + "[]", &out)
        case (.map(let rv), .map(let wv)):
            check(rv, wv, at: path + "{}", &out)
        default:
            if !Self.promotes(from: w, to: r) { out.append("\(here): \(w.branchName) is read as \(r.branchName)") }
        }
    }

    /// The primitives a reader may read from a writer's: the same, or a promotion.
    static func promotes(from w: AvroType, to r: AvroType) -> Bool {
        switch (w, r) {
        case (.null, .null), (.boolean, .boolean), (.int, .int), (.long, .long), (.float, .float),
             (.double, .double), (.bytes, .bytes), (.string, .string): true
        case (.int, .long), (.int, .float), (.int, .double), (.long, .float), (.long, .double), (.float, .double): true
        case (.string, .bytes), (.bytes, .string): true
        default: false
        }
    }
}

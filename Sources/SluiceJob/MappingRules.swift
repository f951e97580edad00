/// The seed's mapping helpers ("map fields with same name", "map fields in same line") and the
/// one-to-one rule, as pure functions over source field definitions and destination columns.
public enum MappingRules {
    /// A proposed mapping plus what it leaves out.
    public struct Proposal: Sendable, Equatable {
        /// Source field definition → column name, in source order.
        public var mapping: [FieldMapping]
        /// Source field definitions that map to no column (they will not be read).
        public var unmappedFields: [String]
        /// Columns that no field maps to (they get NULL).
        public var unmappedColumns: [String]
    }

    /// Maps each source field to the column whose name equals, ignoring case, the field's name: a
    /// path's last member (`a.a1` → `a1`, `__key__.id` → `id`), a built-in's name without underscores
    /// (`__key__` → `key`), a constant's text. Each column is used once: the first matching field
    /// wins. Fields that do not parse are left unmapped.
    public static func byName(fields: [String], columns: [String]) -> Proposal {
        var used = Set<Int>()
        var mapping: [FieldMapping] = []
        var unmapped: [String] = []
        for f in fields {
            guard let name = (try? SourceField(parsing: f))?.mappingName?.lowercased(),
                  let c = columns.indices.first(where: { !used.contains($0) && columns[$0].lowercased() == name })
            else {
                unmapped.append(f)
                continue
            }
            used.insert(c)
            mapping.append(FieldMapping(from: f, to: columns[c]))
        }
        return Proposal(mapping: mapping, unmappedFields: unmapped,
                        unmappedColumns: columns.indices.filter { !used.contains($0) }.map { columns[$0] })
    }

    /// Maps the i-th field to the i-th column; the surplus on either side stays unmapped.
    public static func byPosition(fields: [String], columns: [String]) -> Proposal {
        let n = min(fields.count, columns.count)
        return Proposal(mapping: (0..<n).map { FieldMapping(from: fields[$0], to: columns[$0]) },
                        unmappedFields: Array(fields[n...]), unmappedColumns: Array(columns[n...]))
    }

    /// A violation of the one-to-one rule: entries `first` and `second` of the mapping (0-based)
    /// use the same source field or the same column.
    public struct Conflict: Sendable, Equatable, CustomStringConvertible {
        public enum Side: String, Sendable { case field, column }
        public var side: Side
        public var first: Int
        public var second: Int
        public var name: String

        public var description: String {
            switch side {
            case .field:
                "source field '\(name)' is mapped twice (mapping[\(first)] and mapping[\(second)]); a source field maps to at most one column"
            case .column:
                "column '\(name)' is mapped twice (mapping[\(first)] and mapping[\(second)]); a column takes at most one source field"
            }
        }
    }

    /// Checks that no source field and no column is used twice. Fields are compared as parsed
    /// (`a.b` and `a['b']` are the same field); constants are exempt (the same text may fill two
    /// columns). Columns are compared ignoring case. Entries without a column are skipped.
    public static func conflicts(in mapping: [FieldMapping]) -> [Conflict] {
        var out: [Conflict] = []
        var fields: [String: Int] = [:]
        var columns: [String: Int] = [:]
        for (i, m) in mapping.enumerated() {
            let parsed = try? SourceField(parsing: m.from)
            if case .constant = parsed {} else {
                let key = parsed?.description ?? m.from
                if let first = fields[key] {
                    out.append(Conflict(side: .field, first: first, second: i, name: m.from))
                } else {
                    fields[key] = i
                }
            }
            if let to = m.to {
                let key = to.lowercased()
                if let first = columns[key] {
                    out.append(Conflict(side: .column, first: first, second: i, name: to))
                } else {
                    columns[key] = i
                }
            }
        }
        return out
    }
}

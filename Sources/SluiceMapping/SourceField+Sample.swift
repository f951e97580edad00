import SluiceCore
import SluiceJob

extension SourceField {
    /// `check(_:)`, and, when `sample` (a record value, JSON) lacks the path, an explanation: if the
    /// sample has a member whose name is the path's dotted text (the seed's `a.b`), the result is an
    /// error saying that `.` separates members and that `['a.b']` reads that member.
    public static func check(_ text: String, sample: [UInt8]) -> [FieldDefinitionIssue] {
        var issues = check(text)
        if case .valuePath(let path)? = try? SourceField(parsing: text),
           let note = explainMissing(path: path, definition: text, in: sample) {
            issues.append(note)
        }
        return issues
    }

    /// When `path` is missing from `document` but a member named by the dotted text exists (the seed's
    /// `a.b`), explains why and how to address it. Nil when the path is present or no such member exists.
    static func explainMissing(path: [PathComponent], definition: String,
                               in document: [UInt8]) -> FieldDefinitionIssue? {
        let paths = [path]
        let result = document.withUnsafeBytes { raw -> (found: Bool, valid: Bool) in
            var scanner = JSONPathScanner(paths: paths)
            let r = scanner.scan(raw)
            return (scanner.span(0).isPresent, r == nil)
        }
        guard result.valid, !result.found else { return nil }
        // Try every split of the member run into one dotted name: a.b.c → ['a.b'].c, a['b.c'], ['a.b.c'].
        let members = path.enumerated().compactMap { i, c -> (Int, String)? in
            if case .member(let m) = c { return (i, m) }
            return nil
        }
        guard members.count >= 2 else { return nil }
        for start in 0..<path.count {
            for end in (start + 1)..<path.count {
                let run = path[start...end]
                guard run.allSatisfy({ if case .member = $0 { true } else { false } }) else { break }
                let joined = run.map { if case .member(let m) = $0 { m } else { "" } }.joined(separator: ".")
                let candidate = Array(path[..<start]) + [.member(joined)] + Array(path[(end + 1)...])
                let found = document.withUnsafeBytes { raw -> Bool in
                    var scanner = JSONPathScanner(paths: [candidate])
                    _ = scanner.scan(raw)
                    return scanner.span(0).isPresent
                }
                if found {
                    return FieldDefinitionIssue(
                        severity: .error, position: 0,
                        message: "'\(definition)' is not retrievable: the value has a member named \"\(joined)\", but in a field definition '.' separates members, so '\(definition)' looks for member '\(run.last.map { if case .member(let m) = $0 { m } else { "" } } ?? "")' inside another member; write \(SourceField.valuePath(candidate).description) to read \"\(joined)\"")
                }
            }
        }
        return nil
    }
}

import Foundation
import SluiceCore

/// Walks a `DocNode` tree and collects every problem as a `Diagnostic` with its path, so that a job
/// file reports all its errors at once.
final class DocReader {
    let file: String
    private(set) var diagnostics: [Diagnostic] = []

    init(file: String) { self.file = file }

    var hasErrors: Bool { diagnostics.contains { $0.severity == .error } }

    func error(_ path: String, _ message: String, line: Int? = nil) {
        diagnostics.append(Diagnostic(file: file, path: path, message: message + lineSuffix(line)))
    }

    func warning(_ path: String, _ message: String, line: Int? = nil) {
        diagnostics.append(Diagnostic(file: file, path: path, message: message + lineSuffix(line), severity: .warning))
    }

    private func lineSuffix(_ line: Int?) -> String { line.map { " (line \($0))" } ?? "" }

    static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
    static func index(_ path: String, _ i: Int) -> String { "\(path)[\(i)]" }

    // MARK: scalars

    func string(_ node: DocNode?, _ path: String) -> String? {
        guard let node else { return nil }
        switch node {
        case .scalar(let s, _, _): return s
        case .null: return nil
        default:
            error(path, "expected a string, found \(node.kindName)", line: node.line)
            return nil
        }
    }

    func int(_ node: DocNode?, _ path: String, in range: ClosedRange<Int64>? = nil) -> Int64? {
        guard let node, let s = string(node, path) else { return nil }
        guard let v = Int64(s.trimmingCharacters(in: .whitespaces)) else {
            error(path, "expected a whole number, found '\(s)'", line: node.line)
            return nil
        }
        if let range, !range.contains(v) {
            error(path, "\(v) is out of range: expected \(range.lowerBound)…\(range.upperBound)", line: node.line)
            return nil
        }
        return v
    }

    func double(_ node: DocNode?, _ path: String) -> Double? {
        guard let node, let s = string(node, path) else { return nil }
        guard let v = Double(s.trimmingCharacters(in: .whitespaces)), v.isFinite else {
            error(path, "expected a number, found '\(s)'", line: node.line)
            return nil
        }
        return v
    }

    func bool(_ node: DocNode?, _ path: String) -> Bool? {
        guard let node, let s = string(node, path) else { return nil }
        switch s.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default:
            error(path, "expected true or false, found '\(s)'", line: node.line)
            return nil
        }
    }

    /// An enumeration value, case-insensitive, with a did-you-mean.
    func choice<T: RawRepresentable & CaseIterable>(_ node: DocNode?, _ path: String, _: T.Type,
                                                   aliases: [String: T] = [:]) -> T? where T.RawValue == String {
        guard let node, let s = string(node, path) else { return nil }
        let key = s.trimmingCharacters(in: .whitespaces)
        if let v = T.allCases.first(where: { $0.rawValue.lowercased() == key.lowercased() }) { return v }
        if let v = aliases.first(where: { $0.key.lowercased() == key.lowercased() })?.value { return v }
        let names = T.allCases.map(\.rawValue) + aliases.keys.sorted()
        error(path, "'\(s)' is not one of \(names.joined(separator: ", "))" + didYouMean(key, names), line: node.line)
        return nil
    }

    /// A duration: a number of seconds, or `90s`, `5m`, `2h`, `1d`, `1h30m`.
    func duration(_ node: DocNode?, _ path: String) -> Double? {
        guard let node, let s = string(node, path) else { return nil }
        guard let seconds = DurationText.seconds(s) else {
            error(path, "'\(s)' is not a duration; write seconds (60) or 90s, 5m, 2h, 1d", line: node.line)
            return nil
        }
        return seconds
    }

    /// An IANA time zone name, checked.
    func timeZone(_ node: DocNode?, _ path: String) -> String? {
        guard let node, let s = string(node, path) else { return nil }
        guard TimeZone(identifier: s) != nil else {
            error(path, "'\(s)' is not an IANA time zone (e.g. Asia/Shanghai, UTC, America/New_York)"
                  + didYouMean(s, TimeZone.knownTimeZoneIdentifiers), line: node.line)
            return nil
        }
        return s
    }

    /// A list of scalars; a single comma-separated string is accepted too.
    func stringList(_ node: DocNode?, _ path: String) -> [String]? {
        guard let node else { return nil }
        switch node {
        case .null: return nil
        case .scalar(let s, _, _):
            return s.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        case .sequence(let items, _):
            var out: [String] = []
            for (i, item) in items.enumerated() {
                if let s = string(item, DocReader.index(path, i)) { out.append(s) }
            }
            return out
        case .mapping:
            error(path, "expected a list, found a mapping", line: node.line)
            return nil
        }
    }

    func sequence(_ node: DocNode?, _ path: String) -> [DocNode]? {
        guard let node else { return nil }
        switch node {
        case .sequence(let items, _): return items
        case .null: return nil
        default:
            error(path, "expected a list, found \(node.kindName)", line: node.line)
            return nil
        }
    }

    func mapping(_ node: DocNode?, _ path: String) -> MapView? {
        guard let node else { return nil }
        switch node {
        case .mapping(let pairs, let line): return MapView(reader: self, path: path, pairs: pairs, line: line)
        case .null: return nil
        default:
            error(path, "expected a mapping, found \(node.kindName)", line: node.line)
            return nil
        }
    }
}

/// A mapping being read: remembers which keys were used so that `finish` reports unknown ones.
final class MapView {
    let reader: DocReader
    let path: String
    let pairs: [(key: String, value: DocNode)]
    let line: Int?
    private var used = Set<String>()

    init(reader: DocReader, path: String, pairs: [(key: String, value: DocNode)], line: Int?) {
        self.reader = reader
        self.path = path
        self.pairs = pairs
        self.line = line
    }

    var keys: [String] { pairs.map(\.key) }

    func has(_ key: String) -> Bool { pairs.contains { $0.key == key } }

    /// The node at `key`, marking the key as known.
    func node(_ key: String) -> DocNode? {
        used.insert(key)
        return pairs.first { $0.key == key }?.value
    }

    func path(_ key: String) -> String { DocReader.join(path, key) }

    func string(_ key: String) -> String? { reader.string(node(key), path(key)) }
    func int(_ key: String, in range: ClosedRange<Int64>? = nil) -> Int64? { reader.int(node(key), path(key), in: range) }
    func double(_ key: String) -> Double? { reader.double(node(key), path(key)) }
    func bool(_ key: String) -> Bool? { reader.bool(node(key), path(key)) }
    func duration(_ key: String) -> Double? { reader.duration(node(key), path(key)) }
    func stringList(_ key: String) -> [String]? { reader.stringList(node(key), path(key)) }
    func sequence(_ key: String) -> [DocNode]? { reader.sequence(node(key), path(key)) }
    func mapping(_ key: String) -> MapView? { reader.mapping(node(key), path(key)) }
    func choice<T: RawRepresentable & CaseIterable>(_ key: String, _ type: T.Type, aliases: [String: T] = [:]) -> T?
    where T.RawValue == String {
        reader.choice(node(key), path(key), type, aliases: aliases)
    }

    /// A required string: reports its absence.
    func required(_ key: String, what: String) -> String? {
        guard has(key) else {
            reader.error(path, "missing `\(key)`: \(what)", line: line)
            used.insert(key)
            return nil
        }
        let s = string(key)
        if let s, s.trimmingCharacters(in: .whitespaces).isEmpty {
            reader.error(path(key), "must not be empty: \(what)", line: line)
            return nil
        }
        return s
    }

    /// Marks keys as known without reading them (accepted and ignored).
    func accept(_ keys: String...) { used.formUnion(keys) }

    /// Reports every key that was never asked for, with a did-you-mean among `known`.
    func finish(known: [String] = []) {
        let candidates = Array(used) + known
        for (key, value) in pairs where !used.contains(key) {
            reader.error(path(key), "unknown key `\(key)`" + didYouMean(key, candidates), line: value.line)
        }
    }
}

/// " (did you mean `x`?)" for the closest candidate within a small edit distance, else "".
func didYouMean(_ word: String, _ candidates: [String]) -> String {
    let w = word.lowercased()
    var best: (String, Int)?
    for c in Set(candidates) {
        let d = editDistance(w, c.lowercased())
        if d <= max(2, w.count / 3), best == nil || d < best!.1 || (d == best!.1 && c < best!.0) { best = (c, d) }
    }
    return best.map { "; did you mean `\($0.0)`?" } ?? ""
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    if a.isEmpty { return b.count }
    if b.isEmpty { return a.count }
    var prev = Array(0...b.count)
    var cur = [Int](repeating: 0, count: b.count + 1)
    for i in 1...a.count {
        cur[0] = i
        for j in 1...b.count {
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        swap(&prev, &cur)
    }
    return prev[b.count]
}

/// Durations as people write them in job files and flags: seconds (`60`) or `90s`, `5m`, `2h`, `1d`,
/// `1h30m`.
public enum DurationText {
    /// The seconds `text` stands for, or nil when it is not a duration.
    public static func seconds(_ text: String) -> Double? {
        if let v = Double(text) { return v >= 0 ? v : nil }
        guard !text.isEmpty else { return nil }
        var total = 0.0
        var number = ""
        for c in text.lowercased() {
            if c.isNumber || c == "." { number.append(c); continue }
            guard let n = Double(number) else { return nil }
            switch c {
            case "s": total += n
            case "m": total += n * 60
            case "h": total += n * 3600
            case "d": total += n * 86400
            default: return nil
            }
            number = ""
        }
        return number.isEmpty ? total : nil
    }
}

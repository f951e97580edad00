import Foundation
import Yams
import SluiceCore

/// A parsed job document, format-neutral: YAML and JSON files both become this tree so that one
/// reader validates both with the same paths and messages.
indirect enum DocNode: Sendable {
    /// A scalar as written. `plain` is false for quoted scalars (YAML quotes, every JSON string), so
    /// that `"123"` stays a string while `123` may be read as a number.
    case scalar(String, plain: Bool, line: Int?)
    case sequence([DocNode], line: Int?)
    case mapping([(key: String, value: DocNode)], line: Int?)
    case null(line: Int?)

    var line: Int? {
        switch self {
        case .scalar(_, _, let l), .sequence(_, let l), .mapping(_, let l), .null(let l): l
        }
    }

    /// What kind of thing this is, for "expected a list, found a string" messages.
    var kindName: String {
        switch self {
        case .scalar(let s, let plain, _):
            if plain, Int64(s) != nil || Double(s) != nil { return "a number" }
            if plain, ["true", "false", "yes", "no"].contains(s.lowercased()) { return "a boolean" }
            return "a string"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        case .null: return "null"
        }
    }
}

/// Parses job file bytes into a `DocNode`, or a whole-file diagnostic.
enum DocumentParser {
    static let maxDepth = 64
    /// Values a document may expand to. YAML aliases repeat the node they name, so a small file can
    /// stand for billions of values ("billion laughs"); job files have a few hundred.
    static let maxNodes = 100_000
    /// Bytes of a job file.
    static let maxBytes = 4 << 20

    static func parse(data: Data, fileName: String) -> Result<DocNode, Diagnostic> {
        func fail(_ message: String) -> Result<DocNode, Diagnostic> {
            .failure(Diagnostic(file: fileName, path: "", message: message))
        }
        if data.isEmpty || data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            return fail("the file is empty; a job needs at least `source`, `columns` and `destination`")
        }
        if data.count > maxBytes {
            return fail("the file has \(data.count) bytes, more than a job file may (\(maxBytes >> 20) MiB)")
        }
        if data.contains(0) {
            return fail("this is not a text file (it contains NUL bytes); a job file is YAML or JSON")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            return fail("this is not UTF-8 text; a job file is YAML or JSON in UTF-8")
        }
        let first = text.first(where: { !$0.isWhitespace && $0 != "\u{FEFF}" })
        let node: DocNode
        do {
            if first == "{" || first == "[" {
                do { node = try parseJSON(data) } catch let e as DepthError { throw e } catch {
                    return fail("JSON syntax error: \(jsonMessage(error, text: text))")
                }
            } else {
                guard let yaml = try Yams.compose(yaml: text) else {
                    return fail("the file holds no document; a job needs at least `source`, `columns` and `destination`")
                }
                var budget = maxNodes
                node = try convert(yaml, depth: 0, budget: &budget)
            }
        } catch let error as YamlError {
            return fail("YAML syntax error: \(describe(error))")
        } catch let error as DepthError {
            return fail(error.message)
        } catch {
            return fail("cannot read the document: \(error)")
        }
        guard case .mapping = node else {
            return fail("the document is \(node.kindName); a job file is a mapping (`name:`, `source:`, … or DataWorks `{\"type\":\"job\",…}`)")
        }
        return .success(node)
    }

    private struct DepthError: Error { let message: String }

    private static func convert(_ node: Node, depth: Int, budget: inout Int) throws -> DocNode {
        guard depth < maxDepth else { throw DepthError(message: "the document is nested more than \(maxDepth) levels deep") }
        budget -= 1
        guard budget >= 0 else {
            throw DepthError(message: "the document expands to more than \(maxNodes) values (YAML aliases repeat the node they name); a job file holds a few hundred")
        }
        let line = node.mark.map { $0.line }
        switch node {
        case .scalar(let s):
            if s.style == .plain, ["", "~", "null", "Null", "NULL"].contains(s.string) { return .null(line: line) }
            return .scalar(s.string, plain: s.style == .plain, line: line)
        case .sequence(let seq):
            var items: [DocNode] = []
            for item in seq { items.append(try convert(item, depth: depth + 1, budget: &budget)) }
            return .sequence(items, line: line)
        case .mapping(let map):
            var pairs: [(key: String, value: DocNode)] = []
            for (k, v) in map {
                guard case .scalar(let ks) = k else {
                    throw DepthError(message: "line \(line ?? 0): a mapping key must be a plain string")
                }
                pairs.append((ks.string, try convert(v, depth: depth + 1, budget: &budget)))
            }
            return .mapping(pairs, line: line)
        case .alias:
            throw DepthError(message: "line \(line ?? 0): YAML aliases are not supported in job files")
        }
    }

    private static func parseJSON(_ data: Data) throws -> DocNode {
        let object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        return try convertJSON(object, depth: 0)
    }

    private static func convertJSON(_ object: Any, depth: Int) throws -> DocNode {
        guard depth < maxDepth else { throw DepthError(message: "the document is nested more than \(maxDepth) levels deep") }
        switch object {
        case is NSNull:
            return .null(line: nil)
        case let s as String:
            return .scalar(s, plain: false, line: nil)
        case let n as NSNumber:
            if String(cString: n.objCType) == "c" { return .scalar(n.boolValue ? "true" : "false", plain: true, line: nil) }
            return .scalar(n.stringValue, plain: true, line: nil)
        case let a as [Any]:
            return .sequence(try a.map { try convertJSON($0, depth: depth + 1) }, line: nil)
        case let d as [String: Any]:
            // JSONSerialization does not keep key order; sort for stable messages.
            return .mapping(try d.keys.sorted().map { ($0, try convertJSON(d[$0]!, depth: depth + 1)) }, line: nil)
        default:
            return .scalar("\(object)", plain: true, line: nil)
        }
    }

    private static func describe(_ error: YamlError) -> String {
        switch error {
        case let .scanner(context, problem, mark, _), let .parser(context, problem, mark, _),
             let .composer(context, problem, mark, _):
            let ctx = context.map { " (\($0.text))" } ?? ""
            return "\(problem)\(ctx) at line \(mark.line), column \(mark.column)"
        case let .reader(problem, offset, _, _):
            return "\(problem)" + (offset.map { " at byte \($0)" } ?? "")
        case let .duplicatedKeysInMapping(duplicates, context):
            return "duplicate keys \(duplicates.joined(separator: ", ")) at line \(context.mark.line)"
        default:
            return "\(error)"
        }
    }

    /// Foundation's message, with "around character N" turned into a line and column.
    private static func jsonMessage(_ error: Error, text: String) -> String {
        let ns = error as NSError
        var detail = (ns.userInfo[NSDebugDescriptionErrorKey] as? String) ?? ns.localizedDescription
        if let r = detail.range(of: #"character (\d+)"#, options: .regularExpression),
           let offset = Int(detail[r].dropFirst("character ".count)) {
            var line = 1, column = 1
            for (i, c) in text.utf16.enumerated() {
                if i >= offset { break }
                if c == 10 { line += 1; column = 1 } else { column += 1 }
            }
            detail = detail.replacingCharacters(in: r, with: "line \(line), column \(column)")
        }
        return detail
    }
}

import SluiceCore

/// A named scheduling parameter, e.g. `startTime = $[yyyymmddhh24-1/24]0000`. Order is kept.
public struct ParameterDefinition: Sendable, Hashable {
    public var name: String
    public var expression: String
    public init(name: String, expression: String) {
        self.name = name
        self.expression = expression
    }
}

/// One compiled parameter value (`$[yyyymmddhh24-1/24]0000`, `${yyyymm}01`, `'abc'`, `$bizdate`, …)
/// that references no other parameter. Compile once, evaluate per instance.
public struct ParameterExpression: Sendable {
    public let text: String
    let parts: [ExpressionPart]

    /// Throws `SluiceError(.invalidInput)` whose message points at the offending character.
    public init(_ text: String, subject: String? = nil) throws {
        do {
            self = try ParameterExpression(parsing: text, subject: subject)
        } catch {
            throw error.sluiceError
        }
    }

    /// Checks `text` as one parameter of a set, where `position(name)` gives the index of the set's
    /// parameter `name` (nil for names the set lacks); throws the pointed error.
    public static func check(_ text: String, parameterIndex position: @escaping (String) -> Int?) throws(ExpressionError) {
        var parser = ExpressionParser(text: text, mode: .parameterValue, resolve: position)
        _ = try parser.parse(subject: nil)
    }

    /// The same, throwing the structured `ExpressionError` (position and reason).
    public init(parsing text: String, subject: String? = nil) throws(ExpressionError) {
        var parser = ExpressionParser(text: text, mode: .parameterValue, resolve: { _ in nil })
        self.text = text
        self.parts = try parser.parse(subject: subject)
    }

    public func evaluate(_ context: EvaluationContext) -> String {
        PartsRenderer.render(parts, context, UnsafeBufferPointer(start: nil, count: 0))
    }

    /// The built-ins the expression uses.
    public var builtins: Set<BuiltinValue> { ExpressionPart.builtins(in: parts) }
}

extension ExpressionPart {
    static func builtins(in parts: [ExpressionPart]) -> Set<BuiltinValue> {
        Set(parts.compactMap { if case .builtin(let b) = $0 { b } else { nil } })
    }
}

extension BuiltinValue {
    /// `$jobid`, `$nodeid` and `$taskid`: values only a job's instance has.
    public var namesTheJob: Bool { self == .jobid || self == .nodeid || self == .taskid }
}

/// A job's parameters compiled together: values may reference each other as `${name}` (evaluated in
/// dependency order; a cycle is an error naming it). Evaluation cannot fail.
public struct CompiledParameterSet: Sendable {
    /// Parameter names in declaration order.
    public let names: [String]
    public let definitions: [ParameterDefinition]
    private let parts: [[ExpressionPart]]
    /// Indices into `names` in an order where every reference is evaluated before its user.
    private let order: [Int]
    private let indexByName: [String: Int]

    /// Throws `SluiceError(.invalidInput)` for a bad name, a duplicate, an invalid expression (pointed
    /// at the character), an unknown `${name}` or a reference cycle.
    public init(_ definitions: [ParameterDefinition]) throws {
        var indexByName: [String: Int] = [:]
        for (i, d) in definitions.enumerated() {
            guard CompiledParameterSet.isValidName(d.name) else {
                throw SluiceError.invalid("invalid parameter name `\(d.name)`",
                                          hint: "names start with a letter or `_` and contain letters, digits, `_` or `.`")
            }
            if indexByName[d.name] != nil {
                throw SluiceError.invalid("parameter `\(d.name)` is declared twice")
            }
            indexByName[d.name] = i
        }
        var parts: [[ExpressionPart]] = []
        var edges: [[(index: Int, position: Int)]] = []
        var parsers: [ExpressionParser] = []
        for d in definitions {
            var parser = ExpressionParser(text: d.expression, mode: .parameterValue, resolve: { indexByName[$0] })
            do {
                parts.append(try parser.parse(subject: "parameter \(d.name)"))
            } catch {
                throw error.sluiceError
            }
            edges.append(parser.references)
            parsers.append(parser)
        }
        // Depth-first topological sort; a back edge is a cycle.
        var state = [UInt8](repeating: 0, count: definitions.count)  // 0 new, 1 on stack, 2 done
        var order: [Int] = []
        var stack: [Int] = []
        func visit(_ i: Int) throws {
            state[i] = 1
            stack.append(i)
            for edge in edges[i] {
                if state[edge.index] == 1 {
                    let cycleStart = stack.firstIndex(of: edge.index)!
                    let cycle = (stack[cycleStart...] + [edge.index]).map { definitions[$0].name }
                    let failure = ExpressionParser.Failure(
                        position: edge.position,
                        reason: "parameters reference each other in a cycle: " + cycle.joined(separator: " → "))
                    throw parsers[i].error(failure, subject: "parameter \(definitions[i].name)").sluiceError
                }
                if state[edge.index] == 0 { try visit(edge.index) }
            }
            stack.removeLast()
            state[i] = 2
            order.append(i)
        }
        for i in definitions.indices where state[i] == 0 { try visit(i) }
        self.names = definitions.map(\.name)
        self.definitions = definitions
        self.parts = parts
        self.order = order
        self.indexByName = indexByName
    }

    static func isValidName(_ name: String) -> Bool {
        guard let first = name.utf8.first else { return false }
        func letter(_ b: UInt8) -> Bool { (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z") }
        guard letter(first) || first == UInt8(ascii: "_") else { return false }
        return name.utf8.allSatisfy {
            letter($0) || ($0 >= 0x30 && $0 <= 0x39) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
        }
    }

    public func index(of name: String) -> Int? { indexByName[name] }

    /// The built-ins the parameters use.
    public var builtins: Set<BuiltinValue> { parts.reduce(into: []) { $0.formUnion(ExpressionPart.builtins(in: $1)) } }

    /// Throws `SluiceError(.invalidInput)` naming the parameter when one of its expressions formats a
    /// date outside the years 0001–9999 for `context` (`$[yyyymmdd-1000000]`).
    public func checkDates(_ context: EvaluationContext) throws {
        for (i, p) in parts.enumerated() {
            try DateRange.check(p, text: definitions[i].expression, subject: "parameter \(names[i])", context)
        }
    }

    /// Evaluates every parameter for one instance.
    public func evaluate(_ context: EvaluationContext) -> ResolvedParameters {
        var values = [String](repeating: "", count: names.count)
        evaluate(context, into: &values)
        return ResolvedParameters(names: names, values: values, context: context)
    }

    /// Evaluates into a reused buffer (resized to `names.count`), in declaration order: the
    /// allocation-free path for callers that evaluate many instances.
    public func evaluate(_ context: EvaluationContext, into values: inout [String]) {
        if values.count != names.count { values = [String](repeating: "", count: names.count) }
        values.withUnsafeMutableBufferPointer { buffer in
            let readOnly = UnsafeBufferPointer(buffer)
            for i in order {
                buffer[i] = PartsRenderer.render(parts[i], context, readOnly)
            }
        }
    }

    /// Compiles a job string (`ds=${partition}`, `${startTime}`) against these parameters: `${name}`
    /// must name one of them; expressions and built-ins (`${bdp.system.bizdate}`, `$[yyyymmdd]`) work
    /// too. `subject` names the field in error messages (e.g. `destination.partition`).
    public func template(_ text: String, subject: String? = nil) throws -> ParameterTemplate {
        do {
            return try template(parsing: text, subject: subject)
        } catch {
            throw error.sluiceError
        }
    }

    /// The same, throwing the structured `ExpressionError`.
    public func template(parsing text: String, subject: String? = nil) throws(ExpressionError) -> ParameterTemplate {
        let indexByName = self.indexByName
        var parser = ExpressionParser(text: text, mode: .template, resolve: { indexByName[$0] })
        let parts = try parser.parse(subject: subject)
        return ParameterTemplate(text: text, parts: parts, parameterCount: names.count, subject: subject)
    }

    /// Compiles a value written as a parameter's value would be (quotes are constants), whose
    /// `${name}` may name these parameters: `sluice params --param x=… '${x}'`.
    public func value(_ text: String, subject: String? = nil) throws -> ParameterTemplate {
        let indexByName = self.indexByName
        var parser = ExpressionParser(text: text, mode: .parameterValue, resolve: { indexByName[$0] })
        do {
            return ParameterTemplate(text: text, parts: try parser.parse(subject: subject),
                                     parameterCount: names.count, subject: subject)
        } catch {
            throw error.sluiceError
        }
    }
}

/// A job string compiled against a `CompiledParameterSet`; render it with that set's results.
public struct ParameterTemplate: Sendable {
    public let text: String
    let parts: [ExpressionPart]
    let parameterCount: Int
    /// The field it came from, for errors.
    let subject: String?

    /// True when the text holds no reference or expression.
    public var isConstant: Bool {
        parts.allSatisfy { if case .literal = $0 { true } else { false } }
    }

    /// The built-ins the text uses itself (not through parameters).
    public var builtins: Set<BuiltinValue> { ExpressionPart.builtins(in: parts) }

    /// Throws `SluiceError(.invalidInput)` when an expression of the text formats a date outside the
    /// years 0001–9999 for `context`.
    public func checkDates(_ context: EvaluationContext) throws {
        try DateRange.check(parts, text: text, subject: subject, context)
    }

    public func render(_ resolved: ResolvedParameters) -> String {
        precondition(resolved.values.count == parameterCount,
                     "ParameterTemplate rendered with the results of a different parameter set")
        return resolved.values.withUnsafeBufferPointer { values in
            PartsRenderer.render(parts, resolved.context, values)
        }
    }
}

/// The evaluated parameters of one instance, in declaration order.
public struct ResolvedParameters: Sendable, Equatable {
    public let names: [String]
    public let values: [String]
    public let context: EvaluationContext

    public subscript(name: String) -> String? {
        names.firstIndex(of: name).map { values[$0] }
    }

    /// `(name, value)` in declaration order.
    public var pairs: [(name: String, value: String)] {
        zip(names, values).map { ($0, $1) }
    }

    /// Substitutes references and expressions in a one-off string (compiles it each call; use
    /// `CompiledParameterSet.template` for strings rendered per instance). An unknown `${name}` throws
    /// `SluiceError(.invalidInput)` naming it.
    public func substitute(_ text: String, subject: String? = nil) throws -> String {
        let names = self.names
        var parser = ExpressionParser(text: text, mode: .template, resolve: { names.firstIndex(of: $0) })
        do {
            let parts = try parser.parse(subject: subject)
            return values.withUnsafeBufferPointer { PartsRenderer.render(parts, context, $0) }
        } catch {
            throw error.sluiceError
        }
    }

    public static func == (a: ResolvedParameters, b: ResolvedParameters) -> Bool {
        a.names == b.names && a.values == b.values && a.context.scheduledTime == b.context.scheduledTime
            && a.context.businessDate == b.context.businessDate && a.context.zone == b.context.zone
    }
}

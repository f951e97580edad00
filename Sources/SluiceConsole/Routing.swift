import Foundation
import Hummingbird
import NIOCore
import SluiceCore

/// An answer other than success: its status and what to tell the user (never a secret).
struct ConsoleError: Error {
    var status: HTTPResponse.Status
    var message: String
    var hint: String?

    static func badRequest(_ message: String, hint: String? = nil) -> ConsoleError { ConsoleError(status: .badRequest, message: message, hint: hint) }
    static func notFound(_ message: String, hint: String? = nil) -> ConsoleError { ConsoleError(status: .notFound, message: message, hint: hint) }

    /// A Sluice error as an answer: invalid input and refusals are the client's (400 or 409), the rest 500.
    static func from(_ error: any Error) -> ConsoleError {
        if let e = error as? ConsoleError { return e }
        if let e = error as? SluiceError {
            switch e.kind {
            case .invalidInput: return ConsoleError(status: e.message.hasPrefix("there is no") ? .notFound : .badRequest,
                                                   message: e.message, hint: e.hint)
            case .state: return ConsoleError(status: .conflict, message: e.message, hint: e.hint)
            default: return ConsoleError(status: .internalServerError, message: e.message, hint: e.hint)
            }
        }
        return ConsoleError(status: .internalServerError, message: "\(error)")
    }
}

/// Who made a request: a user of a token (by bearer header or by the session cookie of a login).
struct Caller: Sendable {
    var user: String?
    /// The session's CSRF token, when the caller came with the session cookie.
    var session: Sessions.Session?
    var sessionID: String?
    var viaBearer = false
}

/// One request as a handler sees it.
struct Call: Sendable {
    let console: Console
    let request: Request
    let params: [String: String]
    let query: [String: String]
    let caller: Caller
    let cookies: [String: String]

    var path: String { request.uri.path }
    var isAPI: Bool { path.hasPrefix("/api/") }

    /// The path parameter `name` as an instance id.
    func id(_ name: String = "id") throws -> Int64 {
        guard let text = params[name], let id = Int64(text), id > 0 else {
            throw ConsoleError.badRequest("'\(params[name] ?? "")' is not an instance id", hint: "ids are positive numbers, as the instance list shows")
        }
        return id
    }

    /// The request's form (`application/x-www-form-urlencoded`), at most 64 KiB.
    func form() async throws -> [String: String] {
        let body = request.body
        let buffer: ByteBuffer
        do { buffer = try await body.collect(upTo: 64 * 1024) } catch {
            throw ConsoleError(status: .contentTooLarge, message: "the form is larger than 64 KiB")
        }
        let text = String(buffer: buffer)
        if text.isEmpty { return [:] }
        guard let form = URLText.decodeForm(text) else { throw ConsoleError.badRequest("the form is not URL-encoded") }
        return form
    }
}

typealias Handler = @Sendable (Call) async throws -> Response

/// A method and a path pattern (`/instances/:id`).
struct Route: Sendable {
    let method: HTTPRequest.Method
    let segments: [Substring]
    let handler: Handler

    init(_ method: HTTPRequest.Method, _ pattern: String, _ handler: @escaping Handler) {
        self.method = method
        self.segments = pattern.split(separator: "/")
        self.handler = handler
    }

    /// The path parameters when `path` matches.
    func match(_ path: [Substring]) -> [String: String]? {
        guard path.count == segments.count else { return nil }
        var params: [String: String] = [:]
        for (pattern, part) in zip(segments, path) {
            if pattern.hasPrefix(":") {
                guard let value = URLText.decode(String(part), plusIsSpace: false) else { return nil }
                params[String(pattern.dropFirst())] = value
            } else if pattern != part {
                return nil
            }
        }
        return params
    }
}

/// The routes: the handler of a request, 404 for an unknown path, 405 (with Allow) for a known
/// path and another method.
struct RouteTable: Sendable {
    var routes: [Route] = []

    mutating func add(_ method: HTTPRequest.Method, _ pattern: String, _ handler: @escaping Handler) {
        routes.append(Route(method, pattern, handler))
    }

    enum Found {
        case handler(Handler, [String: String])
        case wrongMethod(allowed: [String])
        case none
    }

    func find(_ method: HTTPRequest.Method, path: String) -> Found {
        let parts = path.split(separator: "/")
        var allowed: [String] = []
        for r in routes {
            guard let params = r.match(parts) else { continue }
            if r.method == method || (method == .head && r.method == .get) { return .handler(r.handler, params) }
            allowed.append(r.method.rawValue)
        }
        return allowed.isEmpty ? .none : .wrongMethod(allowed: allowed)
    }
}

/// Cookies of a request, tolerant of malformed headers (a malformed pair is skipped).
enum CookieText {
    static func parse(_ headers: HTTPFields) -> [String: String] {
        var out: [String: String] = [:]
        for header in headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { continue }
                let name = parts[0].trimmingCharacters(in: .whitespaces)
                let value = parts[1].trimmingCharacters(in: .whitespaces)
                guard !name.isEmpty, value.utf8.count <= 256 else { continue }
                out[name] = value
            }
        }
        return out
    }

    static func set(_ name: String, _ value: String, maxAge: Int) -> String {
        "\(name)=\(value); Path=/; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)"
    }
}

/// Logged-in sessions, in memory: a console restart logs everyone out.
actor Sessions {
    struct Session: Sendable {
        var user: String
        var csrf: String
        var expires: Date
    }

    static let lifetime: TimeInterval = 12 * 3600
    private var sessions: [String: Session] = [:]

    func create(user: String) -> (id: String, session: Session) {
        let now = Date()
        sessions = sessions.filter { $0.value.expires > now }
        let id = Random.token(bytes: 32)
        let s = Session(user: user, csrf: Random.token(), expires: now.addingTimeInterval(Self.lifetime))
        sessions[id] = s
        return (id, s)
    }

    func find(_ id: String) -> Session? {
        guard let s = sessions[id], s.expires > Date() else { return nil }
        return s
    }

    func remove(_ id: String) { sessions[id] = nil }
}

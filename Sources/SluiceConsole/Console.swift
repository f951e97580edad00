import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SluiceCore
import SluiceLedger
import SluiceRuntime
import Synchronization

/// The console: its ledger connections, job files, sessions, the runs it started, and the routes.
/// Every request goes through `respond`: limits, routing, authentication, and errors as pages (or
/// JSON under /api/), with the security headers on every answer.
final class Console: Sendable {
    let config: ConsoleConfiguration
    /// The ledger actions go through.
    let ledger: any Ledger
    /// Connections for the pages' reads (SQLite serves one statement at a time per connection).
    let readers: [any Ledger]
    let jobs: JobCatalog
    let sessions = Sessions()
    let launcher: Launcher
    let cache = AnswerCache()
    let lag: LagCache
    let logger: Logger
    private let next = AtomicCounter()
    let routes: RouteTable

    init(config: ConsoleConfiguration, ledger: any Ledger, readers: [any Ledger], logger: Logger) {
        self.config = config
        self.ledger = ledger
        self.readers = readers.isEmpty ? [ledger] : readers
        self.jobs = JobCatalog(roots: config.jobRoots, datasources: config.datasources)
        self.launcher = Launcher(config: config, logger: logger)
        self.lag = LagCache()
        self.logger = logger
        var table = RouteTable()
        Console.addRoutes(to: &table)
        self.routes = table
    }

    /// A ledger connection for a read, taken in turn.
    var reader: any Ledger { readers[next.next() % readers.count] }

    var readOnly: Bool { config.tokens.isEmpty }

    static let maxURILength = 4096

    func respond(_ request: Request) async -> Response {
        var response: Response
        if request.uri.string.utf8.count > Self.maxURILength {
            response = errorResponse(ConsoleError(status: .uriTooLong, message: "the request's URI is longer than \(Self.maxURILength) bytes"),
                                     api: request.uri.path.hasPrefix("/api/"), caller: Caller())
        } else {
            response = await route(request)
        }
        Self.secure(&response.headers)
        if request.method == .head { response.body = ResponseBody() }
        return response
    }

    private func route(_ request: Request) async -> Response {
        let path = request.uri.path
        let api = path.hasPrefix("/api/")
        let cookies = CookieText.parse(request.headers)
        let caller = await identify(request, cookies: cookies)
        let rawPath = request.uri.string.prefix { $0 != "?" && $0 != "#" }
        guard rawPath.hasPrefix("/"), URLText.decode(String(rawPath), plusIsSpace: false) != nil else {
            return errorResponse(.badRequest("the request's path is not a valid URL path"), api: rawPath.hasPrefix("/api/"), caller: caller)
        }
        switch routes.find(request.method, path: path) {
        case .none:
            return errorResponse(.notFound("there is no page \(path)", hint: "start at /instances"), api: api, caller: caller)
        case .wrongMethod(let allowed):
            var r = errorResponse(ConsoleError(status: .methodNotAllowed, message: "\(request.method.rawValue) is not allowed on \(path)",
                                               hint: "use \(allowed.joined(separator: " or "))"), api: api, caller: caller)
            r.headers[.allow] = allowed.joined(separator: ", ")
            return r
        case .handler(let handler, let params):
            guard let query = request.uri.query.map({ URLText.decodeForm($0) }) ?? [:] else {
                return errorResponse(.badRequest("the query string is not URL-encoded"), api: api, caller: caller)
            }
            let call = Call(console: self, request: request, params: params, query: query, caller: caller, cookies: cookies)
            if let refused = refuseReading(call) { return refused }
            do {
                return try await handler(call)
            } catch {
                let e = ConsoleError.from(error)
                if e.status.code >= 500 { logger.error("\(request.method.rawValue) \(path): \(e.message)") }
                return errorResponse(e, api: api, caller: caller)
            }
        }
    }

    /// The caller, from a bearer token or a session cookie.
    private func identify(_ request: Request, cookies: [String: String]) async -> Caller {
        if let auth = request.headers[.authorization], auth.lowercased().hasPrefix("bearer ") {
            let token = String(auth.dropFirst(7)).trimmingCharacters(in: .whitespaces)
            return Caller(user: config.tokens.user(token: token), viaBearer: true)
        }
        if let id = cookies[Self.sessionCookie], let s = await sessions.find(id) {
            return Caller(user: s.user, session: s, sessionID: id)
        }
        return Caller()
    }

    static let sessionCookie = "sluice_session"
    static let loginCSRFCookie = "sluice_login"

    /// With tokens, everything but the login page, the probes, /metrics and the static files needs a
    /// user: pages send the browser to the login form, the API answers 401.
    private func refuseReading(_ call: Call) -> Response? {
        guard !readOnly, call.caller.user == nil else { return nil }
        let open = ["/login", "/healthz", "/readyz", "/metrics"].contains(call.path) || call.path.hasPrefix("/static/")
        if open { return nil }
        if call.isAPI || call.caller.viaBearer || call.request.method != .get {
            var r = errorResponse(ConsoleError(status: .unauthorized, message: "a token is needed",
                                               hint: "send Authorization: Bearer TOKEN, or log in at /login"), api: call.isAPI, caller: call.caller)
            r.headers[.wwwAuthenticate] = "Bearer realm=\"sluice\""
            return r
        }
        return Self.redirect("/login" + URLText.query([("next", call.request.uri.string)]))
    }

    // MARK: answers

    static func secure(_ h: inout HTTPFields) {
        h[.contentSecurityPolicy] = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        h[.xContentTypeOptions] = "nosniff"
        h[HTTPField.Name("X-Frame-Options")!] = "DENY"
        h[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        if h[.cacheControl] == nil { h[.cacheControl] = "no-store" }
    }

    static func redirect(_ location: String, cookies: [String] = []) -> Response {
        var h = HTTPFields()
        h[.location] = location
        for c in cookies { h.append(HTTPField(name: .setCookie, value: c)) }
        return Response(status: .seeOther, headers: h)
    }

    static func html(_ page: HTML, status: HTTPResponse.Status = .ok, cookies: [String] = []) -> Response {
        var h = HTTPFields()
        h[.contentType] = "text/html; charset=utf-8"
        for c in cookies { h.append(HTTPField(name: .setCookie, value: c)) }
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(string: page.text)))
    }

    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        jsonData(try InstanceViews.json(value), status: status)
    }

    static func jsonData(_ data: Data, status: HTTPResponse.Status = .ok) -> Response {
        var h = HTTPFields()
        h[.contentType] = "application/json; charset=utf-8"
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(data: data)))
    }

    static func text(_ body: String, type: String = "text/plain; charset=utf-8", status: HTTPResponse.Status = .ok) -> Response {
        var h = HTTPFields()
        h[.contentType] = type
        return Response(status: status, headers: h, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }

    struct ErrorBody: Encodable {
        var error: String
        var hint: String?
        var status: Int
    }

    func errorResponse(_ e: ConsoleError, api: Bool, caller: Caller) -> Response {
        if api {
            return (try? Self.json(ErrorBody(error: e.message, hint: e.hint, status: e.status.code), status: e.status))
                ?? Self.text(e.message, status: e.status)
        }
        let body: HTML = """
            <section class="error"><h1>\(String(e.status.code)) \(e.status.reasonPhrase)</h1><p>\(e.message)</p>\(e.hint.map { HTML("<p class=\"hint\">\($0)</p>") } ?? "")</section>
            """
        return Self.html(Layout.page(title: "\(e.status.code) \(e.status.reasonPhrase)", console: self, caller: caller, body: body), status: e.status)
    }
}

/// A counter shared across tasks.
final class AtomicCounter: Sendable {
    private let value = Mutex(0)
    func next() -> Int { value.withLock { $0 &+= 1; return $0 & Int.max } }
}

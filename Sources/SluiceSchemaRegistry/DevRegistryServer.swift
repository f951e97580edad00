import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOCore
import SluiceCore

/// The development Schema Registry over HTTP (Hummingbird): `DevRegistry`'s REST subset, answers
/// in `application/vnd.schemaregistry.v1+json`, and optional HTTP basic authentication.
public enum DevRegistryServer {
    /// A user the registry accepts (HTTP basic authentication).
    public struct User: Sendable {
        public var name: String
        public var password: Secret
        public init(name: String, password: Secret) {
            self.name = name
            self.password = password
        }

        /// `USER:PASSWORD`, `USER:env:VARIABLE` or `USER:file:PATH` (one trailing newline dropped).
        public init(parsing text: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws(SluiceError) {
            guard let colon = text.firstIndex(of: ":"), colon != text.startIndex else {
                throw SluiceError.invalid("--user takes USER:PASSWORD, USER:env:VARIABLE or USER:file:PATH")
            }
            name = String(text[..<colon])
            let rest = String(text[text.index(after: colon)...])
            if rest.hasPrefix("env:") {
                let variable = String(rest.dropFirst(4))
                guard let v = environment[variable] else { throw SluiceError.invalid("--user \(name): environment variable \(variable) is not set") }
                password = Secret(v)
            } else if rest.hasPrefix("file:") {
                let path = String(rest.dropFirst(5))
                guard let data = FileManager.default.contents(atPath: path), var v = String(data: data, encoding: .utf8) else {
                    throw SluiceError.invalid("--user \(name): the file \(path) cannot be read")
                }
                if v.hasSuffix("\n") { v.removeLast() }
                password = Secret(v)
            } else {
                password = Secret(rest)
            }
        }
    }

    /// The application on `host:port` (0: a free port); `onListening` gets the bound port.
    public static func make(host: String, port: Int, users: [User], registry: DevRegistry = DevRegistry(),
                            logger: Logger = Logger(label: "sluice.dev-registry"),
                            onListening: @escaping @Sendable (Int) async -> Void) -> some ApplicationProtocol {
        Application(
            responder: DevRegistryResponder(registry: registry, users: users),
            configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: nil),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger)
    }
}

struct DevRegistryResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let registry: DevRegistry
    /// Accepted `Authorization` header values; empty = no authentication.
    let accepted: Set<String>

    init(registry: DevRegistry, users: [DevRegistryServer.User]) {
        self.registry = registry
        accepted = Set(users.map { "Basic " + Data("\($0.name):\($0.password.reveal())".utf8).base64EncodedString() })
    }

    func respond(to request: Request, context: BasicRequestContext) async throws -> Response {
        if !accepted.isEmpty, !accepted.contains(request.headers[.authorization] ?? "") {
            var r = Self.json(401, Data(#"{"error_code":401,"message":"Unauthorized"}"#.utf8))
            r.headers[.wwwAuthenticate] = "Basic realm=\"dev-registry\""
            return r
        }
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: 4 << 20) } catch {
            return Self.json(413, Data(#"{"error_code":413,"message":"the body is larger than 4 MiB"}"#.utf8))
        }
        let answer = await registry.handle(method: request.method.rawValue, path: request.uri.path, body: Data(buffer: body))
        return Self.json(answer.status, answer.body)
    }

    static func json(_ status: Int, _ body: Data) -> Response {
        var h = HTTPFields()
        h[.contentType] = "application/vnd.schemaregistry.v1+json"
        return Response(status: HTTPResponse.Status(code: status), headers: h, body: ResponseBody(byteBuffer: ByteBuffer(data: body)))
    }
}

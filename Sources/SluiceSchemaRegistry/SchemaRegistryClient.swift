import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SluiceCore
import SluiceMapping

/// A Confluent Schema Registry over HTTP (`GET /schemas/ids/{id}`), with optional basic
/// authentication. Requests are asynchronous (AsyncHTTPClient on SwiftNIO's event loops): a fetch
/// never blocks a thread of the cooperative pool.
public struct SchemaRegistryClient: AvroSchemaRegistry {
    /// The registry's base URL, without a trailing slash and without credentials.
    public let location: String
    private let authorization: String?
    private let timeout: TimeAmount

    /// `url` is `http(s)://host:port[/path]`; `username` and `password` (both or neither) are sent as
    /// HTTP basic authentication and appear nowhere else. A request gets `timeout` in all: connecting
    /// is retried within it (a registry restarting is waited for), then the run fails.
    public init(url: String, username: String? = nil, password: Secret? = nil, timeout: TimeAmount = .seconds(10)) {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        location = base
        if let username, let password {
            authorization = "Basic " + Data("\(username):\(password.reveal())".utf8).base64EncodedString()
        } else {
            authorization = nil
        }
        self.timeout = timeout
    }

    public func schema(id: Int32) async throws(SluiceError) -> RegisteredSchema {
        let (status, body) = try await get("/schemas/ids/\(id)", what: "schema id \(id)")
        switch status {
        case 200:
            guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any],
                  let text = object["schema"] as? String else {
                throw SluiceError(.failed, "schema registry \(location) answered schema id \(id) with a body that has no \"schema\" text",
                                  code: "registry.answer", retriable: false)
            }
            let type = (object["schemaType"] as? String)?.uppercased() ?? "AVRO"
            switch type {
            case "AVRO": return .avro(text)
            case "PROTOBUF": return .protobuf(text)
            default: return .other(type: type)
            }
        case 404:
            return .notFound
        case 401, 403:
            throw SluiceError(.failed, "schema registry \(location) refused the request for schema id \(id) (HTTP \(status)): check source.schemaRegistry.username and password",
                              code: "registry.auth", retriable: false)
        default:
            throw SluiceError(.failed, "schema registry \(location) answered HTTP \(status) for schema id \(id)\(Self.message(body)): run again when it answers",
                              code: "registry.unavailable")
        }
    }

    /// A GET against the registry: the status and the body.
    func get(_ path: String, what: String) async throws(SluiceError) -> (Int, Data) {
        var request = HTTPClientRequest(url: location + path)
        request.headers.add(name: "Accept", value: "application/vnd.schemaregistry.v1+json, application/json")
        if let authorization { request.headers.add(name: "Authorization", value: authorization) }
        do {
            let response = try await HTTPClient.shared.execute(request, timeout: timeout)
            let body = try await response.body.collect(upTo: 16 << 20)
            return (Int(response.status.code), Data(buffer: body))
        } catch {
            throw SluiceError(.failed, "schema registry \(location) cannot be reached for \(what) (\(Self.describe(error))): check source.schemaRegistry.url and that the registry is up",
                              code: "registry.unreachable")
        }
    }

    /// The registry's `message`, when its error body has one.
    static func message(_ body: Data) -> String {
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any],
              let m = object["message"] as? String else { return "" }
        return " (\(m))"
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError {
            switch e {
            case .connectTimeout: return "connection timed out"
            case .deadlineExceeded: return "no answer in time"
            default: return "\(e)"
            }
        }
        let text = "\(error)"
        if text.contains("connectionRefused") || text.contains("Connection refused") { return "connection refused" }
        return text.count > 200 ? String(text.prefix(200)) + "…" : text
    }
}

import Synchronization
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SluiceCore
import SluiceJob

/// How to reach a MaxCompute project, with secrets already resolved.
public struct MaxComputeConfig: Sendable {
    /// Service endpoint, e.g. `https://service.cn-hangzhou.maxcompute.aliyun.com/api`.
    public var endpoint: String
    /// Tunnel endpoint; nil = discovered through the service endpoint.
    public var tunnelEndpoint: String?
    public var project: String
    /// Schema (three-level model); nil = the project's default.
    public var schema: String?
    public var credentials: MaxComputeCredentials
    /// Region for v4 signing; nil = v2 signing.
    public var region: String?

    public init(endpoint: String, tunnelEndpoint: String? = nil, project: String, schema: String? = nil,
                credentials: MaxComputeCredentials, region: String? = nil) {
        self.endpoint = endpoint
        self.tunnelEndpoint = tunnelEndpoint
        self.project = project
        self.schema = schema
        self.credentials = credentials
        self.region = region
    }

    /// The connection with its credentials, which the application resolved from its secret
    /// references. Throws when they are empty.
    public init(connection: MaxComputeConnection, credentials: MaxComputeCredentials) throws {
        guard !credentials.accessKeyId.isEmpty, !credentials.accessKeySecret.isEmpty else {
            throw SluiceError.invalid("MaxCompute destination: accessKeyId and accessKeySecret must not be empty")
        }
        var credentials = credentials
        if credentials.securityToken?.isEmpty == true { credentials.securityToken = nil }
        self.init(endpoint: connection.endpoint, tunnelEndpoint: connection.tunnelEndpoint, project: connection.project,
                  schema: connection.schema?.isEmpty == true ? nil : connection.schema,
                  credentials: credentials, region: connection.region)
    }
}

/// Retries of failed requests: 5xx answers and connection errors, with exponential backoff.
public struct RetryPolicy: Sendable {
    /// Total attempts, including the first.
    public var attempts: Int
    public var initialDelay: Duration
    public var maxDelay: Duration

    public init(attempts: Int = 5, initialDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(10)) {
        self.attempts = max(1, attempts)
        self.initialDelay = initialDelay
        self.maxDelay = maxDelay
    }

    func delay(afterAttempt n: Int) -> Duration {
        var d = initialDelay
        for _ in 1..<max(n, 1) { d = d * 2 }
        return min(d, maxDelay)
    }
}

/// A column of a MaxCompute table as the service describes it. `type` is nil for types Sluice does
/// not write (ARRAY, MAP, STRUCT, JSON, …); `typeName` is the service's spelling.
public struct MaxComputeColumn: Sendable, Equatable {
    public var name: String
    public var typeName: String
    public var type: ColumnType?
    public var nullable: Bool

    public init(name: String, typeName: String, nullable: Bool = true) {
        self.name = name
        self.typeName = typeName
        self.type = ColumnType(parsing: typeName)
        self.nullable = nullable
    }
}

/// A table's data columns and partition keys.
public struct MaxComputeTableSchema: Sendable, Equatable {
    public var columns: [MaxComputeColumn]
    public var partitionKeys: [MaxComputeColumn]
    public init(columns: [MaxComputeColumn], partitionKeys: [MaxComputeColumn]) {
        self.columns = columns
        self.partitionKeys = partitionKeys
    }
}

/// A tunnel upload session as the server reports it.
public struct UploadSessionInfo: Sendable {
    public var id: String
    public var status: String
    public var schema: MaxComputeTableSchema
    public var uploadedBlocks: [Int]
    public var maxFieldSize: Int?
}

/// A MaxCompute REST client: table metadata and SQL through the service endpoint, batch uploads
/// through the tunnel endpoint. Every request is signed; secrets never appear in errors.
public final class MaxComputeClient: Sendable {
    public let config: MaxComputeConfig
    public let retry: RetryPolicy
    /// Interval between SQL instance status polls.
    public let pollInterval: Duration
    private let http: HTTPClient
    private let signer: RequestSigner
    private let now: @Sendable () -> Date
    private let sleep: @Sendable (Duration) async throws -> Void
    private let discoveredTunnel = Mutex<String?>(nil)
    private let requestTimeout: TimeAmount

    /// The process-wide HTTP client of MaxCompute clients (never shut down, like `HTTPClient.shared`).
    /// Failed connection attempts are not retried inside the pool, so that a refused connection
    /// surfaces at once and goes through `RetryPolicy`, not at the request deadline.
    public static let defaultHTTPClient: HTTPClient = {
        var configuration = HTTPClient.Configuration()
        configuration.timeout = HTTPClient.Configuration.Timeout(connect: .seconds(10), read: .seconds(300))
        configuration.connectionPool.retryConnectionEstablishment = false
        configuration.httpVersion = .http1Only
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
    }()

    public init(config: MaxComputeConfig, httpClient: HTTPClient = MaxComputeClient.defaultHTTPClient,
                retry: RetryPolicy = RetryPolicy(),
                pollInterval: Duration = .milliseconds(500), requestTimeout: TimeAmount = .seconds(600),
                now: @escaping @Sendable () -> Date = { Date() },
                sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }) {
        self.config = config
        self.http = httpClient
        self.retry = retry
        self.pollInterval = pollInterval
        self.requestTimeout = requestTimeout
        self.signer = RequestSigner(credentials: config.credentials, region: config.region)
        self.now = now
        self.sleep = sleep
    }

    // MARK: - Paths

    var projectPath: String { "/projects/\(Self.encodePath(config.project))" }

    func tablePath(_ table: String) -> String {
        if let schema = config.schema {
            return "\(projectPath)/schemas/\(Self.encodePath(schema))/tables/\(Self.encodePath(table))"
        }
        return "\(projectPath)/tables/\(Self.encodePath(table))"
    }

    /// The partition spec as the tunnel takes it: `ds=20221122,hh=10`.
    static func tunnelPartition(_ p: PartitionSpec) -> String {
        p.entries.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
    }

    // MARK: - Metadata

    /// The tunnel endpoint: configured, or discovered once through the service endpoint.
    public func tunnelEndpoint() async throws -> String {
        if let t = config.tunnelEndpoint, !t.isEmpty { return Self.trimSlash(t) }
        if let t = discoveredTunnel.withLock({ $0 }) { return t }
        let r = try await send(.GET, service: true, path: "\(projectPath)/tunnel", query: [("service", nil)],
                               operation: "tunnel endpoint discovery")
        let host = String(decoding: r.body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !host.isEmpty, !host.contains(" ") else {
            throw SluiceError(.destination, "MaxCompute tunnel endpoint discovery returned no host",
                              hint: "set destination tunnelEndpoint")
        }
        let scheme = config.endpoint.lowercased().hasPrefix("http://") ? "http" : "https"
        let endpoint = host.contains("://") ? Self.trimSlash(host) : "\(scheme)://\(host)"
        discoveredTunnel.withLock { $0 = endpoint }
        return endpoint
    }

    /// The table's schema, or nil when the table does not exist.
    public func tableSchema(_ table: String) async throws -> MaxComputeTableSchema? {
        let r = try await send(.GET, service: true, path: tablePath(table), query: [],
                               operation: "reading the schema of table \(table)", allow: [404])
        if r.status == 404 { return nil }
        let text = String(decoding: r.body, as: UTF8.self)
        guard let json = MiniXML.text(of: "Schema", in: text) else {
            throw SluiceError(.destination, "MaxCompute table \(table): the answer has no <Schema>")
        }
        return try Self.parseSchemaJSON(Data(json.utf8), what: "table \(table)")
    }

    /// Whether `partition` exists in `table`.
    public func partitionExists(table: String, partition: PartitionSpec) async throws -> Bool {
        let spec = partition.entries.map { "\($0.key)='\($0.value)'" }.joined(separator: ",")
        let r = try await send(.GET, service: true, path: tablePath(table), query: [("partition", spec)],
                               operation: "checking partition \(partition) of \(table)", allow: [404])
        return r.status != 404
    }

    static func parseSchemaJSON(_ data: Data, what: String) throws -> MaxComputeTableSchema {
        guard let obj = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw SluiceError(.destination, "MaxCompute \(what): the schema is not valid JSON")
        }
        func columns(_ key: String) -> [MaxComputeColumn] {
            let list = (obj[key] as? [[String: Any]]) ?? (obj[key.prefix(1).uppercased() + key.dropFirst()] as? [[String: Any]]) ?? []
            return list.map { c in
                let name = (c["name"] as? String) ?? (c["Name"] as? String) ?? ""
                let type = (c["type"] as? String) ?? (c["Type"] as? String) ?? ""
                let nullable = (c["nullable"] as? Bool) ?? (c["Nullable"] as? Bool) ?? (c["isNullable"] as? Bool) ?? true
                return MaxComputeColumn(name: name, typeName: type, nullable: nullable)
            }
        }
        return MaxComputeTableSchema(columns: columns("columns"), partitionKeys: columns("partitionKeys"))
    }

    // MARK: - SQL

    /// Runs one SQL statement through the instances API and returns the result text (CSV with a
    /// header line for queries). Throws with the service's error text when the task fails.
    public func runSQL(_ sql: String) async throws -> String {
        var statement = sql.trimmingCharacters(in: .whitespacesAndNewlines)
        if !statement.hasSuffix(";") { statement += ";" }
        let cdata = statement.replacingOccurrences(of: "]]>", with: "]]]]><![CDATA[>")
        let body = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Instance><Job><Priority>9</Priority><Tasks><SQL>"
            + "<Name>AnonymousSQLTask</Name><Config><Property><Name>settings</Name>"
            + "<Value>{&quot;odps.sql.type.system.odps2&quot;:&quot;true&quot;}</Value></Property></Config>"
            + "<Query><![CDATA[\(cdata)]]></Query></SQL></Tasks><DAG><RunMode>Sequence</RunMode></DAG></Job></Instance>"
        let r = try await send(.POST, service: true, path: "\(projectPath)/instances", query: [],
                               contentType: "application/xml", body: Array(body.utf8), operation: "submitting SQL")
        guard let location = r.headers.first(name: "Location"), let id = location.split(separator: "/").last else {
            throw SluiceError(.destination, "MaxCompute SQL submission returned no instance Location")
        }
        let instance = "\(projectPath)/instances/\(id)"
        var status = ""
        var polls = 0
        while true {
            let s = try await send(.GET, service: true, path: instance, query: [("taskstatus", nil)],
                                   operation: "polling SQL instance \(id)")
            let text = String(decoding: s.body, as: UTF8.self)
            // Task status case varies between service versions (pyodps upper-cases it too).
            status = (MiniXML.text(of: "Status", in: MiniXML.text(of: "Task", in: text) ?? "") ?? "").uppercased()
            let instanceStatus = (MiniXML.text(of: "Status", in: text) ?? "").uppercased()
            if ["SUCCESS", "FAILED", "CANCELLED"].contains(status) { break }
            if instanceStatus == "TERMINATED" && status.isEmpty { status = "FAILED"; break }
            polls += 1
            try await sleep(polls < 10 ? pollInterval : pollInterval * 4)
        }
        let result = try await send(.GET, service: true, path: instance, query: [("result", nil)],
                                    operation: "reading the result of SQL instance \(id)")
        let text = MiniXML.text(of: "Result", in: String(decoding: result.body, as: UTF8.self)) ?? ""
        guard status == "SUCCESS" else {
            // MaxCompute refused the statement: it would refuse it again.
            throw SluiceError(.destination, "MaxCompute SQL \(status.lowercased()) (instance \(id)): \(text.trimmingCharacters(in: .whitespacesAndNewlines))",
                              retriable: status != "FAILED")
        }
        return text
    }

    /// `ALTER TABLE … ADD IF NOT EXISTS PARTITION (…)`.
    public func addPartition(table: String, partition: PartitionSpec) async throws {
        guard !partition.isEmpty else { return }
        _ = try await runSQL(Self.addPartitionSQL(project: config.project, schema: config.schema, table: table,
                                                   partition: partition))
    }

    public static func addPartitionSQL(project: String, schema: String?, table: String, partition: PartitionSpec) -> String {
        let spec = partition.entries.map { "\(quoteIdentifier($0.key))=\(quoteLiteral($0.value))" }.joined(separator: ",")
        return "ALTER TABLE \(qualifiedName(project: project, schema: schema, table: table)) ADD IF NOT EXISTS PARTITION (\(spec));"
    }

    /// `CREATE TABLE IF NOT EXISTS p.t (…) PARTITIONED BY (… STRING);`, for `sluice ddl`.
    public static func createTableDDL(project: String, schema: String? = nil, table: String, columns: [ColumnSpec],
                                      partitionKeys: [String], ifNotExists: Bool = true) -> String {
        var sql = "CREATE TABLE \(ifNotExists ? "IF NOT EXISTS " : "")\(qualifiedName(project: project, schema: schema, table: table)) ("
        sql += columns.map { "\(quoteIdentifier($0.name)) \($0.type)\($0.nullable ? "" : " NOT NULL")" }.joined(separator: ", ")
        sql += ")"
        if !partitionKeys.isEmpty {
            sql += " PARTITIONED BY (" + partitionKeys.map { "\(quoteIdentifier($0)) STRING" }.joined(separator: ", ") + ")"
        }
        return sql + ";"
    }

    /// Creates the table (no error when it exists).
    public func createTable(_ table: String, columns: [ColumnSpec], partitionKeys: [String]) async throws {
        _ = try await runSQL(Self.createTableDDL(project: config.project, schema: config.schema, table: table,
                                                 columns: columns, partitionKeys: partitionKeys))
    }

    static func qualifiedName(project: String, schema: String?, table: String) -> String {
        var parts = [project]
        if let schema { parts.append(schema) }
        parts.append(quoteIdentifier(table))
        return parts.joined(separator: ".")
    }

    static func quoteIdentifier(_ s: String) -> String { "`" + s.replacingOccurrences(of: "`", with: "``") + "`" }

    static func quoteLiteral(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }

    // MARK: - Tunnel

    /// Creates an upload session; `overwrite` replaces the partition at commit.
    public func createUploadSession(table: String, partition: PartitionSpec, overwrite: Bool) async throws -> UploadSessionInfo {
        var query: [(String, String?)] = [("uploads", nil)]
        if !partition.isEmpty { query.append(("partition", Self.tunnelPartition(partition))) }
        if overwrite { query.append(("overwrite", "true")) }
        let r = try await send(.POST, service: false, path: tablePath(table), query: query,
                               operation: "creating an upload session for \(table) \(partition)")
        return try Self.parseSession(r.body, what: "upload session for \(table)")
    }

    /// The session's state and uploaded block list.
    public func uploadStatus(table: String, partition: PartitionSpec, uploadId: String) async throws -> UploadSessionInfo {
        let r = try await send(.GET, service: false, path: tablePath(table), query: sessionQuery(partition, uploadId),
                               operation: "reading upload session \(uploadId)")
        return try Self.parseSession(r.body, what: "upload session \(uploadId)")
    }

    /// The session's state, or nil when the tunnel no longer knows it (HTTP 404: expired, or never
    /// created).
    public func uploadStatusIfKnown(table: String, partition: PartitionSpec, uploadId: String) async throws -> UploadSessionInfo? {
        let r = try await send(.GET, service: false, path: tablePath(table), query: sessionQuery(partition, uploadId),
                               operation: "reading upload session \(uploadId)", allow: [404])
        if r.status == 404 { return nil }
        return try Self.parseSession(r.body, what: "upload session \(uploadId)")
    }

    /// Uploads one block (replacing a block with the same id). `body` is already compressed when
    /// `deflated`. Retried as a whole under the same block id.
    public func uploadBlock(table: String, partition: PartitionSpec, uploadId: String, blockId: Int,
                            body: [UInt8], deflated: Bool) async throws {
        var query = sessionQuery(partition, uploadId)
        query.insert(("blockid", String(blockId)), at: 1)
        var extra: [(String, String)] = []
        if deflated { extra.append(("Content-Encoding", "deflate")) }
        _ = try await send(.PUT, service: false, path: tablePath(table), query: query,
                           contentType: "application/octet-stream", extraHeaders: extra, body: body,
                           operation: "uploading block \(blockId) of session \(uploadId)")
    }

    /// Commits every uploaded block of the session.
    public func commitUpload(table: String, partition: PartitionSpec, uploadId: String) async throws {
        _ = try await send(.POST, service: false, path: tablePath(table), query: sessionQuery(partition, uploadId),
                           operation: "committing upload session \(uploadId)")
    }

    private func sessionQuery(_ partition: PartitionSpec, _ uploadId: String) -> [(String, String?)] {
        var q: [(String, String?)] = [("uploadid", uploadId)]
        if !partition.isEmpty { q.append(("partition", Self.tunnelPartition(partition))) }
        return q
    }

    static func parseSession(_ body: [UInt8], what: String) throws -> UploadSessionInfo {
        guard let obj = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] else {
            throw SluiceError(.destination, "MaxCompute \(what): the answer is not JSON")
        }
        let id = (obj["UploadID"] as? String) ?? ""
        let status = (obj["Status"] as? String) ?? ""
        var schema = MaxComputeTableSchema(columns: [], partitionKeys: [])
        if let s = obj["Schema"] as? [String: Any] {
            schema = try parseSchemaJSON(JSONSerialization.data(withJSONObject: s), what: what)
        }
        let blocks: [Int] = ((obj["UploadedBlockList"] as? [Any]) ?? []).compactMap { item in
            if let d = item as? [String: Any] { return Self.int(d["BlockID"]) }
            return Self.int(item)
        }
        return UploadSessionInfo(id: id, status: status, schema: schema, uploadedBlocks: blocks,
                                 maxFieldSize: int(obj["MaxFieldSize"]))
    }

    private static func int(_ v: Any?) -> Int? {
        if let n = v as? NSNumber { return n.intValue }
        if let s = v as? String { return Int(s) }
        return nil
    }

    // MARK: - Transport

    struct Response {
        var status: Int
        var headers: HTTPHeaders
        var body: [UInt8]
    }

    func send(_ method: HTTPMethod, service: Bool, path: String, query: [(String, String?)],
              contentType: String = "", extraHeaders: [(String, String)] = [], body: [UInt8]? = nil,
              operation: String, allow: Set<Int> = []) async throws -> Response {
        let base = service ? Self.trimSlash(config.endpoint) : try await tunnelEndpoint()
        var fullQuery = query
        fullQuery.append(("curr_project", config.project))
        let queryString = fullQuery.map { k, v in v.map { "\(k)=\(Self.encodeQuery($0))" } ?? k }.joined(separator: "&")
        let url = base + path + "?" + queryString
        var attempt = 0
        while true {
            attempt += 1
            let date = now()
            var request = HTTPClientRequest(url: url)
            request.method = method
            var headers: [(String, String)] = [("Date", HTTPDate.rfc1123(date))]
            if !contentType.isEmpty { headers.append(("Content-Type", contentType)) }
            if !service { headers.append(("x-odps-tunnel-version", "6")) }
            headers.append(contentsOf: extraHeaders)
            if let token = config.credentials.securityToken { headers.append(("authorization-sts-token", token.reveal())) }
            let toSign = RequestSigner.stringToSign(
                method: method.rawValue, contentType: contentType, date: headers[0].1, headers: headers,
                canonicalResource: RequestSigner.canonicalResource(path: path, query: fullQuery.map { ($0.0, $0.1.map(Self.encodeQuery)) }))
            headers.append(("Authorization", signer.authorization(stringToSign: toSign, date: date)))
            for (k, v) in headers { request.headers.add(name: k, value: v) }
            if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
            do {
                let response = try await http.execute(request, timeout: requestTimeout)
                var buffer = try await response.body.collect(upTo: 256 << 20)
                let bytes = buffer.readBytes(length: buffer.readableBytes) ?? []
                let status = Int(response.status.code)
                if (200..<300).contains(status) || allow.contains(status) {
                    return Response(status: status, headers: response.headers, body: bytes)
                }
                let failure = Self.httpError(status: status, headers: response.headers, body: bytes,
                                             operation: operation, endpoint: base)
                if status < 500 || attempt >= retry.attempts { throw failure }
            } catch let error as SluiceError {
                throw error
            } catch is CancellationError {
                throw CancellationError()
            } catch {
                if attempt >= retry.attempts {
                    throw SluiceError(.destination, "MaxCompute \(operation) failed: cannot reach \(base): \(error)",
                                      hint: "check the endpoint and the network")
                }
            }
            try await sleep(retry.delay(afterAttempt: attempt))
        }
    }

    static func httpError(status: Int, headers: HTTPHeaders, body: [UInt8], operation: String, endpoint: String) -> SluiceError {
        let text = String(decoding: body, as: UTF8.self)
        var code = "", message = "", requestId = headers.first(name: "x-odps-request-id") ?? ""
        if let obj = try? JSONSerialization.jsonObject(with: Data(body)) as? [String: Any] {
            code = (obj["Code"] as? String) ?? ""
            message = (obj["Message"] as? String) ?? ""
            if requestId.isEmpty { requestId = (obj["RequestId"] as? String) ?? "" }
        } else if text.contains("<Error") || text.contains("<Code>") {
            code = MiniXML.text(of: "Code", in: text) ?? ""
            message = MiniXML.text(of: "Message", in: text) ?? ""
            if requestId.isEmpty { requestId = MiniXML.text(of: "RequestId", in: text) ?? "" }
        } else {
            message = String(text.prefix(300))
        }
        var s = "MaxCompute \(operation) failed: HTTP \(status)"
        if !code.isEmpty { s += " \(code)" }
        if !message.isEmpty { s += ": \(message.trimmingCharacters(in: .whitespacesAndNewlines))" }
        if !requestId.isEmpty { s += " (request id \(requestId))" }
        var hint: String?
        switch status {
        case 401, 403: hint = "check accessKeyId/accessKeySecret and the account's permissions on the project"
        case 404 where code.contains("NoSuchProject"): hint = "check the project name and the endpoint's region"
        case 404 where code.contains("NoSuchPartition"): hint = "the partition does not exist yet"
        default: hint = nil
        }
        return SluiceError(.destination, s, hint: hint)
    }

    static func trimSlash(_ s: String) -> String {
        var s = s
        while s.hasSuffix("/") { s.removeLast() }
        return s
    }

    private static let unreserved: CharacterSet = {
        var c = CharacterSet.alphanumerics.intersection(CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"))
        c.insert(charactersIn: "-._~")
        return c
    }()

    static func encodeQuery(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? s }
    static func encodePath(_ s: String) -> String { s.addingPercentEncoding(withAllowedCharacters: unreserved) ?? s }
}

/// Just enough XML reading for the service's small answers: the text of the first element with a
/// given name, CDATA unwrapped and entities decoded.
enum MiniXML {
    static func text(of element: String, in xml: String) -> String? {
        guard let open = xml.range(of: "<\(element)>") ?? xml.range(of: "<\(element) ") else { return nil }
        var start = open.upperBound
        if xml[open].hasSuffix(" ") {
            guard let gt = xml[start...].firstIndex(of: ">") else { return nil }
            if xml[xml.index(before: gt)] == "/" { return "" }
            start = xml.index(after: gt)
        }
        guard let close = xml.range(of: "</\(element)>", range: start..<xml.endIndex) else { return nil }
        var inner = String(xml[start..<close.lowerBound])
        // A nested element of the same name is not expected in these documents.
        if inner.contains("<![CDATA[") {
            var out = ""
            var rest = Substring(inner)
            while let a = rest.range(of: "<![CDATA[") {
                out += decodeEntities(String(rest[..<a.lowerBound]))
                guard let b = rest.range(of: "]]>", range: a.upperBound..<rest.endIndex) else { break }
                out += rest[a.upperBound..<b.lowerBound]
                rest = rest[b.upperBound...]
            }
            out += decodeEntities(String(rest))
            inner = out
        } else {
            inner = decodeEntities(inner)
        }
        return inner
    }

    static func decodeEntities(_ s: String) -> String {
        guard s.contains("&") else { return s }
        return s.replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">")
            .replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&apos;", with: "'")
            .replacingOccurrences(of: "&amp;", with: "&")
    }
}

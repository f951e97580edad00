import Crypto
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import SluiceCore
import SluiceMaxComputeWire

/// A MaxCompute-compatible server for tests: the service endpoint under `/api` (tunnel discovery,
/// table metadata, SQL instances) and the tunnel endpoint at the root (upload sessions), on one
/// 127.0.0.1 port. Every request's signature is verified (v2 or v4), every block is decoded with CRC
/// checks, sessions follow the tunnel's rules, and faults can be injected.
final class MaxComputeTestServer: Sendable {
    struct Table {
        var columns: [(name: String, type: String, nullable: Bool)]
        var partitionKeys: [String]
        /// Canonical partition (`ds=1,hh=2`, "" when unpartitioned) → rows.
        var partitions: [String: [[Value]]]
        var specs: [ColumnSpec] { columns.map { ColumnSpec(name: $0.name, type: ColumnType(parsing: $0.type) ?? .binary, nullable: $0.nullable) } }
    }

    struct Session {
        var table: String
        var partition: String
        var overwrite: Bool
        var blocks: [Int: [[Value]]] = [:]
        var status = "NORMAL"
    }

    struct Instance {
        var status: String
        var result: String
        var pollsBeforeDone = 1
    }

    struct State {
        var tables: [String: Table] = [:]
        var sessions: [String: Session] = [:]
        var instances: [String: Instance] = [:]
        var nextId = 1
        var blockFailures: [Int: Int] = [:]
        var commitFailures = 0
        var commitAnswersLost = 0
        var sessionCreateFailures = 0
        var signatureFailures: [String] = []
        var requests: [String] = []
        var signed: [(method: String, uri: String, headers: [(String, String)])] = []
        var sql: [String] = []
        var blockUploads: [Int: Int] = [:]
        var lostBlocks: Set<Int> = []
        var uploadHeaders: [HTTPHeaders] = []
        /// Sluice always sends `curr_project`; pyodps does not on every request.
        var requireCurrProject = true
    }

    let project: String
    let accessKeyId: String
    let accessKeySecret: String
    let securityToken: String?
    let state = NIOLockedValueBox(State())
    private let channel = NIOLockedValueBox<Channel?>(nil)
    let port: Int

    var serviceEndpoint: String { "http://127.0.0.1:\(port)/api" }
    var tunnelEndpoint: String { "http://127.0.0.1:\(port)" }

    private init(port: Int, project: String, accessKeyId: String, accessKeySecret: String, securityToken: String?) {
        self.port = port
        self.project = project
        self.accessKeyId = accessKeyId
        self.accessKeySecret = accessKeySecret
        self.securityToken = securityToken
    }

    static func start(project: String = "proj", accessKeyId: String = "test-ak", accessKeySecret: String = "test-secret-value",
                      securityToken: String? = nil) async throws -> MaxComputeTestServer {
        let box = NIOLockedValueBox<MaxComputeTestServer?>(nil)
        let bootstrap = ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Handler(server: box))
                }
            }
        let ch = try await bootstrap.bind(host: "127.0.0.1", port: 0).get()
        let server = MaxComputeTestServer(port: ch.localAddress!.port!, project: project, accessKeyId: accessKeyId,
                                          accessKeySecret: accessKeySecret, securityToken: securityToken)
        server.channel.withLockedValue { $0 = ch }
        box.withLockedValue { $0 = server }
        return server
    }

    func shutdown() async {
        let ch = channel.withLockedValue { $0 }
        try? await ch?.close()
    }

    // MARK: - Test controls

    func createTable(_ name: String, columns: [(String, String)], partitionKeys: [String] = [], notNull: Set<String> = []) {
        state.withLockedValue {
            $0.tables[name] = Table(columns: columns.map { ($0.0, $0.1, !notNull.contains($0.0)) }, partitionKeys: partitionKeys,
                                    partitions: partitionKeys.isEmpty ? ["": []] : [:])
        }
    }

    func rows(_ table: String, _ partition: String = "") -> [[Value]]? {
        state.withLockedValue { $0.tables[table]?.partitions[partition] }
    }

    func setRows(_ table: String, _ partition: String, _ rows: [[Value]]) {
        state.withLockedValue { $0.tables[table]?.partitions[partition] = rows }
    }

    func acceptMissingCurrProject() { state.withLockedValue { $0.requireCurrProject = false } }
    func failBlockUpload(_ blockId: Int, times: Int = 1) { state.withLockedValue { $0.blockFailures[blockId] = times } }
    /// The block is acknowledged but not stored (the session's block list will lack it).
    func loseBlock(_ blockId: Int) { state.withLockedValue { _ = $0.lostBlocks.insert(blockId) } }
    var uploadHeaders: [HTTPHeaders] { state.withLockedValue { $0.uploadHeaders } }
    /// The next commit is applied but answered with a 502, as if the answer were lost on the way.
    func loseCommitAnswer() { state.withLockedValue { $0.commitAnswersLost = 1 } }
    func failCommit(times: Int) { state.withLockedValue { $0.commitFailures = times } }
    func failSessionCreate(times: Int) { state.withLockedValue { $0.sessionCreateFailures = times } }
    var signatureFailures: [String] { state.withLockedValue { $0.signatureFailures } }
    var requests: [String] { state.withLockedValue { $0.requests } }
    /// Every request as received: method, target, headers.
    var signedRequests: [(method: String, uri: String, headers: [(String, String)])] { state.withLockedValue { $0.signed } }
    var sqlStatements: [String] { state.withLockedValue { $0.sql } }
    func blockUploads(_ id: Int) -> Int { state.withLockedValue { $0.blockUploads[id] ?? 0 } }
    func sessionStatuses() -> [String] { state.withLockedValue { $0.sessions.values.map(\.status) } }

    // MARK: - Requests

    struct Request {
        var method: String
        var path: String          // raw, percent-encoded
        var query: [(String, String)]  // decoded; "" for bare keys
        var rawQuery: String
        var headers: HTTPHeaders
        var body: [UInt8]

        func param(_ name: String) -> String? { query.first { $0.0 == name }?.1 }
        func has(_ name: String) -> Bool { query.contains { $0.0 == name } }
    }

    struct Response {
        var status: Int
        var headers: [(String, String)] = []
        var body: [UInt8] = []

        static func xmlError(_ status: Int, _ code: String, _ message: String) -> Response {
            Response(status: status, headers: [("Content-Type", "application/xml"), ("x-odps-request-id", "REQ-\(code)")],
                     body: Array("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>\(code)</Code><Message><![CDATA[\(message)]]></Message><RequestId>REQ-\(code)</RequestId><HostId>localhost</HostId></Error>".utf8))
        }

        static func jsonError(_ status: Int, _ code: String, _ message: String) -> Response {
            let obj: [String: Any] = ["Code": code, "Message": message, "RequestId": "REQ-\(code)"]
            return Response(status: status, headers: [("Content-Type", "application/json")],
                            body: Array(try! JSONSerialization.data(withJSONObject: obj)))
        }

        static func xml(_ s: String, status: Int = 200) -> Response {
            Response(status: status, headers: [("Content-Type", "application/xml")], body: Array(s.utf8))
        }

        static func json(_ obj: Any) -> Response {
            Response(status: 200, headers: [("Content-Type", "application/json")],
                     body: Array(try! JSONSerialization.data(withJSONObject: obj)))
        }
    }

    static func decode(_ s: String) -> String { s.removingPercentEncoding ?? s }

    func handle(method: String, uri: String, headers: HTTPHeaders, body: [UInt8]) -> Response {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let rawQuery = parts.count > 1 ? String(parts[1]) : ""
        let query: [(String, String)] = rawQuery.split(separator: "&").map { item in
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (Self.decode(String(kv[0])), kv.count > 1 ? Self.decode(String(kv[1])) : "")
        }
        let request = Request(method: method, path: String(parts[0]), query: query, rawQuery: rawQuery, headers: headers, body: body)
        state.withLockedValue {
            $0.requests.append("\(method) \(uri)")
            $0.signed.append((method, uri, headers.map { ($0.name, $0.value) }))
        }
        let service = request.path.hasPrefix("/api/")
        let relative = service ? String(request.path.dropFirst(4)) : request.path
        if let problem = verifySignature(request, relativePath: relative) {
            state.withLockedValue { $0.signatureFailures.append("\(method) \(uri): \(problem)") }
            return service ? .xmlError(401, "SignatureNotMatch", "signature mismatch: \(problem)")
                : .jsonError(401, "SignatureNotMatch", "signature mismatch: \(problem)")
        }
        let strict = state.withLockedValue { $0.requireCurrProject }
        guard request.param("curr_project") == project || (!strict && request.param("curr_project") == nil) else {
            return .xmlError(400, "InvalidParameter", "curr_project missing or wrong")
        }
        let segments = relative.split(separator: "/").map { Self.decode(String($0)) }
        guard segments.count >= 2, segments[0] == "projects" else { return .xmlError(404, "NoSuchObject", "unknown path \(relative)") }
        guard segments[1] == project else {
            return service ? .xmlError(404, "NoSuchProject", "project \(segments[1]) does not exist")
                : .jsonError(404, "NoSuchProject", "project \(segments[1]) does not exist")
        }
        var rest = Array(segments.dropFirst(2))
        if rest.count >= 2, rest[0] == "schemas" { rest.removeFirst(2) }
        if service { return handleService(request, rest) }
        guard request.headers.first(name: "x-odps-tunnel-version") == "6" else {
            return .jsonError(400, "InvalidVersion", "x-odps-tunnel-version must be 6")
        }
        guard rest.count == 2, rest[0] == "tables" else { return .jsonError(404, "NoSuchObject", "unknown tunnel path") }
        return handleTunnel(request, table: rest[1])
    }

    /// An independent implementation of the v2/v4 check; returns the problem, nil when valid.
    func verifySignature(_ r: Request, relativePath: String) -> String? {
        guard let auth = r.headers.first(name: "Authorization"), auth.hasPrefix("ODPS ") else { return "no ODPS Authorization" }
        guard let date = r.headers.first(name: "Date"), date.hasSuffix(" GMT") else { return "no RFC 1123 Date" }
        if let token = securityToken, r.headers.first(name: "authorization-sts-token") != token { return "STS token missing" }
        let credential = auth.dropFirst(5)
        guard let colon = credential.lastIndex(of: ":") else { return "malformed Authorization" }
        let scope = credential[..<colon].split(separator: "/")
        let signature = String(credential[credential.index(after: colon)...])
        guard scope.first.map(String.init) == accessKeyId else { return "unknown AccessKey id" }
        var lines = [r.method, r.headers.first(name: "Content-MD5") ?? "", r.headers.first(name: "Content-Type") ?? "", date]
        var odps: [(String, String)] = []
        for h in r.headers where h.name.lowercased().hasPrefix("x-odps-") { odps.append((h.name.lowercased(), h.value)) }
        for (k, v) in odps.sorted(by: { $0.0 < $1.0 }) { lines.append("\(k):\(v)") }
        var resource = Self.decode(relativePath)
        if !r.query.isEmpty {
            resource += "?" + r.query.sorted { $0.0 < $1.0 }.map { $0.1.isEmpty ? $0.0 : "\($0.0)=\($0.1)" }.joined(separator: "&")
        }
        lines.append(resource)
        let message = Data(lines.joined(separator: "\n").utf8)
        let key: SymmetricKey
        if scope.count == 5 {
            guard scope[3] == "odps", scope[4] == "aliyun_v4_request" else { return "malformed v4 scope" }
            var k = SymmetricKey(data: Data(("aliyun_v4" + accessKeySecret).utf8))
            for part in [String(scope[1]), String(scope[2]), "odps", "aliyun_v4_request"] {
                k = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: k)))
            }
            key = k
        } else if scope.count == 1 {
            key = SymmetricKey(data: Data(accessKeySecret.utf8))
        } else {
            return "malformed credential scope"
        }
        let expected = Data(HMAC<Insecure.SHA1>.authenticationCode(for: message, using: key)).base64EncodedString()
        return expected == signature ? nil : "expected \(expected) for \(lines.joined(separator: "\\n"))"
    }

    // MARK: Service endpoint

    func handleService(_ r: Request, _ rest: [String]) -> Response {
        switch (r.method, rest.count) {
        case ("GET", 1) where rest[0] == "tunnel" && r.has("service"):
            return Response(status: 200, body: Array("127.0.0.1:\(port)".utf8))
        case ("GET", 2) where rest[0] == "tables":
            return state.withLockedValue { s in
                guard let t = s.tables[rest[1]] else { return .xmlError(404, "NoSuchTable", "table \(rest[1]) does not exist") }
                if let p = r.param("partition") {
                    guard t.partitions[Self.canonicalPartition(p)] != nil else {
                        return .xmlError(404, "NoSuchPartition", "partition \(p) does not exist")
                    }
                }
                let json = String(decoding: try! JSONSerialization.data(withJSONObject: Self.schemaJSON(t)), as: UTF8.self)
                return .xml("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Table><Name>\(rest[1])</Name><Schema><![CDATA[\(json)]]></Schema></Table>")
            }
        case ("POST", 1) where rest[0] == "instances":
            let xml = String(decoding: r.body, as: UTF8.self)
            guard r.headers.first(name: "Content-Type") == "application/xml",
                  let start = xml.range(of: "<Query><![CDATA["), let end = xml.range(of: "]]></Query>") else {
                return .xmlError(400, "InvalidXml", "no SQL query in the instance XML")
            }
            let sql = String(xml[start.upperBound..<end.lowerBound])
            return state.withLockedValue { s in
                s.sql.append(sql)
                let id = "20240102030405\(s.nextId)gtest"
                s.nextId += 1
                s.instances[id] = runSQL(sql, &s)
                return Response(status: 201, headers: [("Location", "\(serviceEndpoint)/projects/\(project)/instances/\(id)")])
            }
        case ("GET", 2) where rest[0] == "instances":
            return state.withLockedValue { s in
                guard var inst = s.instances[rest[1]] else { return .xmlError(404, "NoSuchInstance", "no instance \(rest[1])") }
                if r.has("taskstatus") {
                    let running = inst.pollsBeforeDone > 0
                    inst.pollsBeforeDone -= 1
                    s.instances[rest[1]] = inst
                    return .xml("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Instance><Status>\(running ? "Running" : "Terminated")</Status><Tasks><Task Type=\"SQL\"><Name>AnonymousSQLTask</Name><Status>\(running ? "Running" : inst.status == "Failed" ? "FAILED" : inst.status)</Status></Task></Tasks></Instance>")
                }
                if r.has("result") {
                    return .xml("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Instance><Tasks><Task Type=\"SQL\"><Name>AnonymousSQLTask</Name><Result Transform=\"false\" Format=\"text\"><![CDATA[\(inst.result)]]></Result></Task></Tasks></Instance>")
                }
                if r.query.allSatisfy({ $0.0 == "curr_project" || $0.0 == "instancestatus" }) {
                    let running = inst.pollsBeforeDone > 0
                    inst.pollsBeforeDone -= 1
                    s.instances[rest[1]] = inst
                    return .xml("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Instance><Name>\(rest[1])</Name><Status>\(running ? "Running" : "Terminated")</Status></Instance>")
                }
                return .xmlError(400, "InvalidParameter", "unsupported instance request")
            }
        default:
            return .xmlError(404, "NoSuchObject", "unsupported service request \(r.method) \(rest)")
        }
    }

    static func schemaJSON(_ t: Table) -> [String: Any] {
        ["columns": t.columns.map { ["name": $0.name, "type": $0.type, "nullable": $0.nullable, "comment": ""] as [String: Any] },
         "partitionKeys": t.partitionKeys.map { ["name": $0, "type": "string", "comment": ""] }]
    }

    /// `ds='1', hh=2` or `ds=1/hh=2` → `ds=1,hh=2`.
    static func canonicalPartition(_ p: String) -> String {
        p.split(whereSeparator: { $0 == "," || $0 == "/" }).map { part in
            let kv = part.split(separator: "=", maxSplits: 1)
            var v = kv.count > 1 ? String(kv[1]).trimmingCharacters(in: .whitespaces) : ""
            if v.count >= 2, v.first == "'" || v.first == "\"" { v = String(v.dropFirst().dropLast()) }
            return "\(kv[0].trimmingCharacters(in: .whitespaces).lowercased())=\(v)"
        }.joined(separator: ",")
    }

    // MARK: SQL

    func runSQL(_ sqlText: String, _ s: inout State) -> Instance {
        let sql = sqlText.trimmingCharacters(in: .whitespacesAndNewlines).trimmingCharacters(in: CharacterSet(charactersIn: ";"))
        func fail(_ m: String) -> Instance { Instance(status: "Failed", result: "ODPS-0130161:[1,1] \(m)") }
        func tableName(_ raw: Substring) -> String {
            let name = raw.split(separator: ".").last.map(String.init) ?? String(raw)
            return name.trimmingCharacters(in: CharacterSet(charactersIn: "`")).replacingOccurrences(of: "``", with: "`")
        }
        func partitionValues(_ text: Substring) -> String {
            Self.canonicalPartition(text.split(separator: ",").map { $0.replacingOccurrences(of: "`", with: "") }.joined(separator: ","))
        }
        if let m = sql.wholeMatch(of: /(?i)CREATE\s+TABLE\s+(IF\s+NOT\s+EXISTS\s+)?(\S+)\s*\((.*?)\)(\s+PARTITIONED\s+BY\s*\((.*)\))?/) {
            let name = tableName(m.2)
            if s.tables[name] != nil {
                return m.1 != nil ? Instance(status: "Success", result: "OK") : fail("Table or view already exists - \(name)")
            }
            func defs(_ text: Substring) -> [(String, String, Bool)] {
                var out: [(String, String, Bool)] = []
                var depth = 0, current = ""
                for ch in text + "," {
                    if ch == "(" { depth += 1 } else if ch == ")" { depth -= 1 }
                    if ch == "," && depth == 0 {
                        let words = current.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1)
                        if words.count == 2 {
                            let type = words[1].replacingOccurrences(of: " NOT NULL", with: "")
                            out.append((String(words[0]).trimmingCharacters(in: CharacterSet(charactersIn: "`")), type.lowercased(),
                                        !words[1].uppercased().contains("NOT NULL")))
                        }
                        current = ""
                    } else {
                        current.append(ch)
                    }
                }
                return out
            }
            let cols = defs(m.3)
            guard cols.allSatisfy({ ColumnType(parsing: $0.1) != nil }) else { return fail("bad column type in \(m.3)") }
            let keys = m.5.map { defs($0).map(\.0) } ?? []
            s.tables[name] = Table(columns: cols.map { ($0.0, $0.1, $0.2) }, partitionKeys: keys, partitions: keys.isEmpty ? ["": []] : [:])
            return Instance(status: "Success", result: "OK")
        }
        if let m = sql.wholeMatch(of: /(?i)ALTER\s+TABLE\s+(\S+)\s+ADD\s+IF\s+NOT\s+EXISTS\s+PARTITION\s*\((.*)\)/) {
            let name = tableName(m.1)
            guard var t = s.tables[name] else { return fail("Table not found - \(name)") }
            let spec = partitionValues(m.2)
            guard spec.split(separator: ",").map({ String($0.split(separator: "=")[0]) }) == t.partitionKeys.map({ $0.lowercased() }) else {
                return fail("partition spec \(spec) does not match the table's keys")
            }
            if t.partitions[spec] == nil { t.partitions[spec] = [] }
            s.tables[name] = t
            return Instance(status: "Success", result: "OK")
        }
        if let m = sql.wholeMatch(of: /(?i)SELECT\s+\*\s+FROM\s+(\S+)(\s+WHERE\s+(.*))?/) {
            let name = tableName(m.1)
            guard let t = s.tables[name] else { return fail("Table not found - \(name)") }
            var filter: [String: String] = [:]
            if let w = m.3 {
                for cond in w.split(separator: /(?i)\s+AND\s+/) {
                    let kv = Self.canonicalPartition(String(cond)).split(separator: "=", maxSplits: 1)
                    guard kv.count == 2 else { return fail("unsupported WHERE \(w)") }
                    filter[String(kv[0])] = String(kv[1])
                }
            }
            var csv = (t.columns.map(\.name) + t.partitionKeys).map(Self.csvField).joined(separator: ",") + "\n"
            for (spec, rows) in t.partitions.sorted(by: { $0.key < $1.key }) {
                let values = spec.isEmpty ? [] : spec.split(separator: ",").map { String($0.split(separator: "=", maxSplits: 1)[1]) }
                let keyed = Dictionary(uniqueKeysWithValues: zip(t.partitionKeys.map { $0.lowercased() }, values))
                guard filter.allSatisfy({ keyed[$0.key] == $0.value }) else { continue }
                for row in rows {
                    csv += (row.map(Self.csvValue) + values.map(Self.csvField)).joined(separator: ",") + "\n"
                }
            }
            return Instance(status: "Success", result: csv)
        }
        if let m = sql.wholeMatch(of: /(?i)SELECT\s+(?:(.+?),\s*)?COUNT\(\*\)\s+FROM\s+(\S+)(?:\s+GROUP\s+BY\s+(.+))?/) {
            let name = tableName(m.2)
            guard let t = s.tables[name] else { return fail("Table not found - \(name)") }
            let keys = (m.1.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "").lowercased() } }) ?? []
            guard keys == (m.3.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: "`", with: "").lowercased() } } ?? []),
                  keys.isEmpty || keys == t.partitionKeys.map({ $0.lowercased() }) else {
                return fail("the test server counts by the partition keys only: \(sql)")
            }
            var csv = (keys + ["_c\(keys.count)"]).joined(separator: ",") + "\n"
            if keys.isEmpty {
                csv += "\(t.partitions.values.reduce(0) { $0 + $1.count })\n"
            } else {
                for (spec, rows) in t.partitions.sorted(by: { $0.key < $1.key }) where !rows.isEmpty {
                    let values = spec.split(separator: ",").map { String($0.split(separator: "=", maxSplits: 1)[1]) }
                    csv += (values.map(Self.csvField) + [String(rows.count)]).joined(separator: ",") + "\n"
                }
            }
            return Instance(status: "Success", result: csv)
        }
        return fail("Parse exception - the test server does not support: \(sql)")
    }

    static func csvField(_ s: String) -> String {
        s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
            ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    static func csvValue(_ v: Value) -> String {
        switch v {
        case .null: return "\\N"
        case .int(let i): return String(i)
        case .double(let d): return String(d)
        case .float(let f): return String(f)
        case .decimal(let s): return s
        case .string(let s): return csvField(s)
        case .binary(let b): return csvField(String(decoding: b, as: UTF8.self))
        case .bool(let b): return b ? "true" : "false"
        case .datetime(let ms): return String(ms)
        case .date(let d): return String(d)
        case .timestamp(let sec, let n): return "\(sec).\(n)"
        }
    }

    // MARK: Tunnel endpoint

    func sessionJSON(_ id: String, _ session: Session, _ table: Table) -> Response {
        .json(["UploadID": id, "Status": session.status, "Schema": Self.schemaJSON(table),
               "UploadedBlockList": session.blocks.keys.sorted().map { ["BlockID": $0, "CreateTime": 0, "Date": "", "FileName": "", "RecordCount": session.blocks[$0]!.count, "Version": 0] },
               "MaxFieldSize": 8 * 1024 * 1024, "IsOverwrite": session.overwrite] as [String: Any])
    }

    func handleTunnel(_ r: Request, table name: String) -> Response {
        state.withLockedValue { s in
            guard let table = s.tables[name] else { return .jsonError(404, "NoSuchTable", "table \(name) does not exist") }
            let partition = r.param("partition").map(Self.canonicalPartition) ?? ""
            if r.method == "POST" && r.has("uploads") {
                if s.sessionCreateFailures > 0 {
                    s.sessionCreateFailures -= 1
                    return .jsonError(503, "ServiceUnavailable", "injected session failure")
                }
                guard table.partitions[partition] != nil else {
                    return .jsonError(404, "NoSuchPartition", "partition \(partition) does not exist")
                }
                let id = "UPLOAD\(s.nextId)"
                s.nextId += 1
                let session = Session(table: name, partition: partition, overwrite: r.param("overwrite") == "true")
                s.sessions[id] = session
                return sessionJSON(id, session, table)
            }
            guard let id = r.param("uploadid"), var session = s.sessions[id] else {
                return .jsonError(404, "NoSuchUpload", "no such upload session")
            }
            guard session.table == name, session.partition == partition else {
                return .jsonError(400, "InvalidPartitionSpec", "session \(id) is for another table or partition")
            }
            switch r.method {
            case "GET":
                return sessionJSON(id, session, table)
            case "PUT":
                guard session.status == "NORMAL" else { return .jsonError(400, "StatusConflict", "session is \(session.status)") }
                guard let blockText = r.param("blockid"), let block = Int(blockText), (0..<20_000).contains(block) else {
                    return .jsonError(400, "InvalidBlockID", "block id must be 0…19999")
                }
                guard r.headers.first(name: "Content-Type") == "application/octet-stream" else {
                    return .jsonError(400, "InvalidContentType", "blocks are application/octet-stream")
                }
                s.blockUploads[block, default: 0] += 1
                s.uploadHeaders.append(r.headers)
                if let n = s.blockFailures[block], n > 0 {
                    s.blockFailures[block] = n - 1
                    return .jsonError(500, "InternalServerError", "injected failure of block \(block)")
                }
                var bytes = r.body
                switch r.headers.first(name: "Content-Encoding") {
                case nil: break
                case "deflate"?:
                    guard let plain = try? Zlib.decompress(bytes) else { return .jsonError(400, "MalformedDataStream", "bad zlib stream") }
                    bytes = plain
                case let other?:
                    return .jsonError(400, "UnsupportedEncoding", "Content-Encoding \(other)")
                }
                do {
                    session.blocks[block] = try TunnelStreamDecoder(columns: table.specs).decode(bytes)
                } catch {
                    return .jsonError(400, "MalformedDataStream", "block \(block): \(error)")
                }
                if !s.lostBlocks.contains(block) { s.sessions[id] = session }
                return Response(status: 200)
            case "POST":
                guard session.status == "NORMAL" else { return .jsonError(400, "StatusConflict", "session is \(session.status)") }
                if s.commitFailures > 0 {
                    s.commitFailures -= 1
                    return .jsonError(500, "InternalServerError", "injected commit failure")
                }
                let rows = session.blocks.keys.sorted().flatMap { session.blocks[$0]! }
                var t = table
                t.partitions[partition] = session.overwrite ? rows : (t.partitions[partition] ?? []) + rows
                s.tables[name] = t
                session.status = "CLOSED"
                s.sessions[id] = session
                if s.commitAnswersLost > 0 {
                    s.commitAnswersLost -= 1
                    return .jsonError(502, "BadGateway", "injected lost commit answer")
                }
                return sessionJSON(id, session, t)
            default:
                return .jsonError(405, "MethodNotAllowed", r.method)
            }
        }
    }

    // MARK: - NIO plumbing

    final class Handler: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let server: NIOLockedValueBox<MaxComputeTestServer?>
        var head: HTTPRequestHead?
        var body: [UInt8] = []

        init(server: NIOLockedValueBox<MaxComputeTestServer?>) { self.server = server }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let h):
                head = h
                body = []
            case .body(var buf):
                body += buf.readBytes(length: buf.readableBytes) ?? []
            case .end:
                guard let head, let server = server.withLockedValue({ $0 }) else { return }
                let r = server.handle(method: head.method.rawValue, uri: head.uri, headers: head.headers, body: body)
                var headers = HTTPHeaders(r.headers)
                headers.add(name: "Content-Length", value: String(r.body.count))
                headers.add(name: "Connection", value: head.isKeepAlive ? "keep-alive" : "close")
                context.write(wrapOutboundOut(.head(HTTPResponseHead(version: head.version, status: .init(statusCode: r.status), headers: headers))), promise: nil)
                context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(bytes: r.body)))), promise: nil)
                let keepAlive = head.isKeepAlive
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                    if !keepAlive { channel.close(promise: nil) }
                }
                self.head = nil
            }
        }
    }
}

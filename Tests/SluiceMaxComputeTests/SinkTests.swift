import Foundation
import NIOConcurrencyHelpers
import SluiceCore
@testable import SluiceMaxCompute
import Testing
import SluiceJob

let eventColumns = [ColumnSpec(name: "k", type: .string), ColumnSpec(name: "v", type: .bigint),
                    ColumnSpec(name: "ts", type: .datetime)]

func eventRows(_ range: Range<Int>, tag: String) -> [[Value]] {
    range.map { [.string("\(tag)-\($0)"), .int(Int64($0)), .datetime(1_704_164_645_000 + Int64($0))] }
}

func batch(_ rows: [[Value]], columns: [ColumnSpec] = eventColumns) -> RowBatch {
    var b = RowBatch(columns: columns)
    for r in rows { b.append(row: r) }
    return b
}

let provenance = WriteProvenance(job: "test", instanceId: "i1", topic: "events")

/// A server with table `events (k string, v bigint, ts datetime) PARTITIONED BY (ds)`.
func startServer(securityToken: String? = nil) async throws -> MaxComputeTestServer {
    let server = try await MaxComputeTestServer.start(securityToken: securityToken)
    server.createTable("events", columns: [("k", "string"), ("v", "bigint"), ("ts", "datetime")], partitionKeys: ["ds"])
    return server
}

func makeClient(_ server: MaxComputeTestServer, secret: String? = nil, configuredTunnel: Bool = false, region: String? = nil,
                token: String? = nil) -> MaxComputeClient {
    let config = MaxComputeConfig(endpoint: server.serviceEndpoint, tunnelEndpoint: configuredTunnel ? server.tunnelEndpoint : nil,
                                  project: server.project,
                                  credentials: MaxComputeCredentials(accessKeyId: server.accessKeyId,
                                                                     accessKeySecret: Secret(secret ?? server.accessKeySecret),
                                                                     securityToken: token.map { Secret($0) }),
                                  region: region)
    return MaxComputeClient(config: config, retry: RetryPolicy(attempts: 3, initialDelay: .milliseconds(1)),
                            pollInterval: .milliseconds(1))
}

func makeSink(_ client: MaxComputeClient, mode: WriteMode = .overwrite, compress: UploadCompression = .none,
              blockSize: Int = 64 << 20, concurrency: Int = 1, columns: [String] = ["k", "v", "ts"]) -> MaxComputeSink {
    let connection = MaxComputeConnection(endpoint: client.config.endpoint, project: client.config.project,
                                          accessKeyId: .literal("unused"), accessKeySecret: .literal("unused"))
    let destination = DestinationSpec(kind: .maxcompute(connection), table: "events", partition: "ds=${partition}",
                                      columns: columns, writeMode: mode, compress: compress, blockSizeBytes: blockSize)
    return MaxComputeSink(client: client, destination: destination, settings: JobSettings(concurrency: concurrency))
}

@Suite(.timeLimit(.minutes(2))) struct SinkTests {
    @Test func overwriteReplacesThePartitionOnlyAtCommit() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let client = makeClient(server)
        let sink = makeSink(client, blockSize: 200, concurrency: 3)
        let ds = try PartitionSpec(parsing: "ds=20240101")
        try await sink.prepare(columns: eventColumns, partitionKeys: ["ds"])

        let first = try await sink.open(partition: ds, mode: .overwrite, columns: eventColumns, provenance: provenance)
        try await first.write(batch(eventRows(0..<3, tag: "old")))
        #expect(try await first.commit() == CommitResult(rowsWritten: 3))
        #expect(server.rows("events", "ds=20240101") == eventRows(0..<3, tag: "old"))
        #expect(server.sqlStatements.contains { $0.contains("ADD IF NOT EXISTS PARTITION (`ds`='20240101')") })

        let second = try await sink.open(partition: ds, mode: .overwrite, columns: eventColumns, provenance: provenance)
        for chunk in stride(from: 0, to: 40, by: 10) {
            try await second.write(batch(eventRows(chunk..<(chunk + 10), tag: "new")))
        }
        // Written but not committed: readers still see the old content.
        #expect(server.rows("events", "ds=20240101") == eventRows(0..<3, tag: "old"))
        let before = try await client.runSQL("SELECT * FROM events WHERE ds='20240101'")
        #expect(before.split(separator: "\n").count == 4)
        #expect(before.contains("old-2"))
        #expect(try await second.commit() == CommitResult(rowsWritten: 40))
        // A committed session refuses further blocks.
        let uploadId = try #require(second as? MaxComputePartitionWriter).uploadId
        await #expect(throws: SluiceError.self) {
            try await client.uploadBlock(table: "events", partition: ds, uploadId: uploadId, blockId: 99, body: [], deflated: false)
        }
        #expect(server.rows("events", "ds=20240101") == eventRows(0..<40, tag: "new"))
        let after = try await client.runSQL("SELECT * FROM events WHERE ds='20240101'")
        #expect(after.hasPrefix("k,v,ts,ds\nnew-0,0,1704164645000,20240101\n"))
        #expect(!after.contains("old"))
        // Several blocks were written, the tunnel was discovered, every signature was valid.
        #expect(server.blockUploads(3) == 1)
        #expect(server.requests.contains { $0.hasPrefix("GET /api/projects/proj/tunnel?service") })
        #expect(server.signatureFailures == [])
    }

    @Test func appendAddsRowsWithDeflateV4AndConfiguredTunnel() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let client = makeClient(server, configuredTunnel: true, region: "cn-hangzhou")
        let sink = makeSink(client, mode: .append, compress: .deflate, blockSize: 100, concurrency: 2)
        let ds = try PartitionSpec(parsing: "ds=20240102")
        server.createTable("events", columns: [("k", "string"), ("v", "bigint"), ("ts", "datetime")], partitionKeys: ["ds"])
        for run in 0..<2 {
            let w = try await sink.open(partition: ds, mode: .append, columns: eventColumns, provenance: provenance)
            try await w.write(batch(eventRows(0..<5, tag: "run\(run)")))
            _ = try await w.commit()
        }
        #expect(server.rows("events", "ds=20240102") == eventRows(0..<5, tag: "run0") + eventRows(0..<5, tag: "run1"))
        #expect(!server.requests.contains { $0.contains("/tunnel?service") })
        #expect(server.signatureFailures == [])
    }

    @Test func aBlockUploadThatFailsOnceIsRetriedUnderTheSameId() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        server.failBlockUpload(1, times: 1)
        let sink = makeSink(makeClient(server), blockSize: 150, concurrency: 2)
        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .overwrite, columns: eventColumns,
                                    provenance: provenance)
        try await w.write(batch(eventRows(0..<30, tag: "r")))
        #expect(try await w.commit() == CommitResult(rowsWritten: 30))
        #expect(server.blockUploads(1) == 2)
        #expect(server.blockUploads(0) == 1)
        #expect(server.rows("events", "ds=1") == eventRows(0..<30, tag: "r"))
    }

    @Test func aFailingCommitLeavesThePartitionUnchanged() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let old = eventRows(0..<2, tag: "keep")
        server.setRows("events", "ds=1", old)
        server.failCommit(times: 100)
        let sink = makeSink(makeClient(server))
        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .overwrite, columns: eventColumns,
                                    provenance: provenance)
        try await w.write(batch(eventRows(0..<5, tag: "lost")))
        let error = await #expect(throws: SluiceError.self) { try await w.commit() }
        #expect(error?.message.contains("committing upload session") == true)
        #expect(error?.message.contains("request id REQ-InternalServerError") == true)
        #expect(server.rows("events", "ds=1") == old)
        #expect(server.sessionStatuses() == ["NORMAL"])
    }

    @Test func abortLeavesThePartitionUnchanged() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let old = eventRows(0..<2, tag: "keep")
        server.setRows("events", "ds=1", old)
        let sink = makeSink(makeClient(server), blockSize: 50, concurrency: 4)
        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .overwrite, columns: eventColumns,
                                    provenance: provenance)
        try await w.write(batch(eventRows(0..<20, tag: "lost")))
        await w.abort()
        #expect(server.rows("events", "ds=1") == old)
        #expect(!server.sessionStatuses().contains("CLOSED"))
    }

    @Test func aSchemaMismatchIsAClearErrorBeforeAnyUpload() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let sink = makeSink(makeClient(server))
        let jobColumns = [ColumnSpec(name: "k", type: .bigint), ColumnSpec(name: "missing", type: .string),
                          ColumnSpec(name: "ds", type: .string)]
        let error = await #expect(throws: SluiceError.self) {
            try await sink.prepare(columns: jobColumns, partitionKeys: ["dt"])
        }
        let message = error?.message ?? ""
        #expect(message.contains("column k is BIGINT in the job but STRING in the table"))
        #expect(message.contains("column missing (STRING) is not in the table"))
        #expect(message.contains("column ds is a partition key of the table"))
        #expect(message.contains("partition keys: the job has dt, the table has ds"))
        #expect(!server.requests.contains { $0.contains("uploads") })
    }

    @Test func aMissingTableSuggestsDDLAndCreateTableMakesIt() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let client = makeClient(server)
        let connection = MaxComputeConnection(endpoint: server.serviceEndpoint, project: "proj",
                                              accessKeyId: .env("MC_ID"), accessKeySecret: .env("MC_SECRET"))
        let destination = DestinationSpec(kind: .maxcompute(connection), table: "fresh", partition: "ds=${p}")
        let sink = try MaxComputeSink(destination: destination, settings: JobSettings(),
                                      credentials: MaxComputeCredentials(accessKeyId: server.accessKeyId,
                                                                         accessKeySecret: Secret(server.accessKeySecret)))
        let error = await #expect(throws: SluiceError.self) { try await sink.prepare(columns: eventColumns, partitionKeys: ["ds"]) }
        #expect(error?.hint?.contains("sluice ddl") == true)
        #expect(try await sink.tableColumns() == nil)

        let columns = [ColumnSpec(name: "k", type: .string), ColumnSpec(name: "amount", type: .decimal(precision: 18, scale: 2)),
                       ColumnSpec(name: "at", type: .timestamp, nullable: false)]
        let ddl = MaxComputeClient.createTableDDL(project: "proj", table: "fresh", columns: columns, partitionKeys: ["ds", "hh"])
        #expect(ddl == "CREATE TABLE IF NOT EXISTS proj.`fresh` (`k` STRING, `amount` DECIMAL(18,2), `at` TIMESTAMP NOT NULL) PARTITIONED BY (`ds` STRING, `hh` STRING);")
        #expect(sink.createTableDDL(columns: columns, partitionKeys: ["ds"]).hasPrefix("CREATE TABLE IF NOT EXISTS proj.`fresh` ("))
        _ = try await sink.createTable(columns: columns, partitionKeys: ["ds"])
        try await client.createTable("fresh", columns: columns, partitionKeys: ["ds"])  // exists: no error
        try await sink.prepare(columns: columns, partitionKeys: ["ds"])
        #expect(try await sink.tableColumns() == columns)
        let schema = try #require(try await client.tableSchema("fresh"))
        #expect(schema.partitionKeys.map(\.name) == ["ds"])
    }

    @Test func wrongCredentialsGiveAClearErrorWithoutTheSecret() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let client = makeClient(server, secret: "wrong-secret-123")
        let error = await #expect(throws: SluiceError.self) { try await client.tableSchema("events") }
        let text = "\(error.map { "\($0)" } ?? "")"
        #expect(text.contains("HTTP 401 SignatureNotMatch"))
        #expect(text.contains("request id REQ-SignatureNotMatch"))
        #expect(text.contains("hint: check accessKeyId/accessKeySecret"))
        #expect(!text.contains("wrong-secret-123"))
        #expect(!text.contains(server.accessKeySecret))
    }

    @Test func stsTokenIsSent() async throws {
        let server = try await startServer(securityToken: "sts-token-xyz")
        defer { Task { await server.shutdown() } }
        #expect(try await makeClient(server, token: "sts-token-xyz").tableSchema("events") != nil)
        await #expect(throws: SluiceError.self) { try await makeClient(server).tableSchema("events") }
    }

    @Test func transientServerErrorsAreRetried() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let client = makeClient(server)  // 3 attempts
        let ds = try PartitionSpec(parsing: "ds=x")
        try await client.addPartition(table: "events", partition: ds)
        server.failSessionCreate(times: 2)
        let session = try await client.createUploadSession(table: "events", partition: ds, overwrite: false)
        #expect(session.status == "NORMAL")
        server.failSessionCreate(times: 3)
        let error = await #expect(throws: SluiceError.self) {
            try await client.createUploadSession(table: "events", partition: ds, overwrite: false)
        }
        #expect(error?.message.contains("HTTP 503 ServiceUnavailable") == true)
    }

    @Test func sqlFailuresCarryTheServiceText() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let error = await #expect(throws: SluiceError.self) { try await makeClient(server).runSQL("DROP TABLE events") }
        #expect(error?.message.contains("the test server does not support: DROP TABLE events") == true)
    }

    @Test func noSuchPartitionAndNoSuchTableAreDistinguished() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let client = makeClient(server)
        let ds = try PartitionSpec(parsing: "ds=20240101")
        #expect(try await client.partitionExists(table: "events", partition: ds) == false)
        try await client.addPartition(table: "events", partition: ds)
        #expect(try await client.partitionExists(table: "events", partition: ds) == true)
        #expect(try await client.tableSchema("nope") == nil)
    }
}

@Suite(.timeLimit(.minutes(2))) struct MoreSinkTests {
    @Test func aBlockMissingFromTheServerListStopsTheCommit() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        server.setRows("events", "ds=1", eventRows(0..<1, tag: "keep"))
        server.loseBlock(1)
        let sink = makeSink(makeClient(server), blockSize: 100, concurrency: 2)
        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .overwrite, columns: eventColumns,
                                    provenance: provenance)
        try await w.write(batch(eventRows(0..<10, tag: "x")))
        let error = await #expect(throws: SluiceError.self) { try await w.commit() }
        #expect(error?.message.contains("missing [1]") == true)
        #expect(server.rows("events", "ds=1") == eventRows(0..<1, tag: "keep"))
        #expect(server.sessionStatuses() == ["NORMAL"])
    }

    @Test func aCommitWhoseAnswerWasLostIsRecognisedAsDone() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        server.loseCommitAnswer()
        let sink = makeSink(makeClient(server))
        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .overwrite, columns: eventColumns,
                                    provenance: provenance)
        try await w.write(batch(eventRows(0..<4, tag: "n")))
        #expect(try await w.commit() == CommitResult(rowsWritten: 4))
        #expect(server.rows("events", "ds=1") == eventRows(0..<4, tag: "n"))
        // The retried commit was refused (the session was closed), then the status showed it done.
        #expect(server.requests.filter { $0.hasPrefix("POST /projects/proj/tables/events?uploadid=") }.count == 2)
    }

    @Test func overwritingWithNoRowsEmptiesThePartitionAppendingNoneKeepsIt() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        let ds = try PartitionSpec(parsing: "ds=1")
        server.setRows("events", "ds=1", eventRows(0..<3, tag: "old"))
        let sink = makeSink(makeClient(server))
        let append = try await sink.open(partition: ds, mode: .append, columns: eventColumns, provenance: provenance)
        #expect(try await append.commit() == CommitResult(rowsWritten: 0))
        #expect(server.rows("events", "ds=1") == eventRows(0..<3, tag: "old"))
        let overwrite = try await sink.open(partition: ds, mode: .overwrite, columns: eventColumns, provenance: provenance)
        try await overwrite.write(batch([]))
        #expect(try await overwrite.commit() == CommitResult(rowsWritten: 0))
        #expect(server.rows("events", "ds=1") == [])
    }

    @Test func connectionErrorsAreRetriedThenReported() async throws {
        let server = try await MaxComputeTestServer.start()
        let endpoint = server.serviceEndpoint
        await server.shutdown()
        let sleeps = SleepCounter()
        let config = MaxComputeConfig(endpoint: endpoint, project: "proj",
                                      credentials: MaxComputeCredentials(accessKeyId: "a", accessKeySecret: Secret("do-not-print")))
        let client = MaxComputeClient(config: config, retry: RetryPolicy(attempts: 4, initialDelay: .milliseconds(1)),
                                      sleep: { _ in sleeps.increment() })
        let error = await #expect(throws: SluiceError.self) { try await client.tableSchema("events") }
        #expect(error?.message.contains("cannot reach \(endpoint)") == true)
        #expect(error.map { "\($0)" }?.contains("do-not-print") == false)
        #expect(sleeps.count == 3)
    }

    @Test func unpartitionedTableInASchemaWithTruncation() async throws {
        let server = try await MaxComputeTestServer.start()
        defer { Task { await server.shutdown() } }
        server.createTable("plain", columns: [("k", "string"), ("n", "int")])
        let config = MaxComputeConfig(endpoint: server.serviceEndpoint, project: "proj", schema: "default",
                                      credentials: MaxComputeCredentials(accessKeyId: server.accessKeyId,
                                                                         accessKeySecret: Secret(server.accessKeySecret)))
        let client = MaxComputeClient(config: config, retry: RetryPolicy(attempts: 2, initialDelay: .milliseconds(1)),
                                      pollInterval: .milliseconds(1))
        let connection = MaxComputeConnection(endpoint: server.serviceEndpoint, project: "proj", accessKeyId: .literal("x"),
                                              accessKeySecret: .literal("y"))
        let destination = DestinationSpec(kind: .maxcompute(connection), table: "plain", writeMode: .append, emptyAsNull: true,
                                          overLengthRule: .truncate, maxFieldLength: 3, compress: .deflate)
        let sink = MaxComputeSink(client: client, destination: destination, settings: JobSettings())
        let columns = [ColumnSpec(name: "n", type: .int), ColumnSpec(name: "k", type: .string)]
        try await sink.prepare(columns: columns, partitionKeys: [])
        let w = try await sink.open(partition: PartitionSpec(), mode: .append, columns: columns, provenance: provenance)
        try await w.write(batch([[.int(1), .string("abcdef")], [.int(2), .string("")], [.null, .string("xy")]], columns: columns))
        #expect(try await w.commit() == CommitResult(rowsWritten: 3))
        #expect(server.rows("plain") == [[.string("abc"), .int(1)], [.null, .int(2)], [.string("xy"), .null]])
        #expect(server.requests.allSatisfy { $0.contains("/schemas/default/") || $0.contains("/tunnel?") || $0.contains("/instances") })
        #expect(server.uploadHeaders.allSatisfy { $0.first(name: "Content-Encoding") == "deflate" && $0["Content-Length"].count == 1 })
        #expect(server.signatureFailures == [])
    }
}

final class SleepCounter: Sendable {
    private let value = NIOLockedValueBox(0)
    func increment() { value.withLockedValue { $0 += 1 } }
    var count: Int { value.withLockedValue { $0 } }
}

import Foundation
import SluiceCore
@testable import SluiceMaxCompute
import Testing

@Suite(.timeLimit(.minutes(2))) struct PyodpsSignerCrossCheckTests {
    /// Every request of a whole write (schema, SQL, tunnel discovery, session, blocks, status, commit)
    /// is signed again by pyodps's signer from what the server received; the values must agree.
    @Test(arguments: [nil, "cn-hangzhou"] as [String?])
    func pyodpsSignsOurRequestsIdentically(region: String?) async throws {
        let server = try await startServer(securityToken: "sts-token")
        defer { Task { await server.shutdown() } }
        let client = makeClient(server, region: region, token: "sts-token")
        let sink = makeSink(client, compress: .deflate, blockSize: 100, concurrency: 2)
        try await sink.prepare(columns: eventColumns, partitionKeys: ["ds"])
        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=2024-01-02 10:00 ü"), mode: .overwrite,
                                    columns: eventColumns, provenance: provenance)
        try await w.write(batch(eventRows(0..<10, tag: "s")))
        _ = try await w.commit()
        _ = try await client.runSQL("SELECT * FROM events WHERE ds='x'")

        let recorded = server.signedRequests
        #expect(recorded.count > 10)
        let base = "http://127.0.0.1:\(server.port)"
        let list: [[String: Any]] = recorded.map { r in
            ["method": r.method, "url": base + r.uri, "endpoint": r.uri.hasPrefix("/api/") ? base + "/api" : base,
             "headers": r.headers.map { [$0.0, $0.1] }, "region": region ?? NSNull()]
        }
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-mc-sign-\(UUID().uuidString).json")
        try JSONSerialization.data(withJSONObject: list).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let (status, out, err) = try await runProcess(findPython(), [resourcePath("pyodps_sign.py"), file.path,
                                                                      server.accessKeyId, server.accessKeySecret])
        try #require(status == 0, "\(err)")
        let theirs = out.split(separator: "\n").map(String.init)
        let ours = recorded.map { r in r.headers.first { $0.0.lowercased() == "authorization" }?.1 ?? "" }
        #expect(theirs.count == ours.count)
        for (i, (a, b)) in zip(ours, theirs).enumerated() where a != b {
            Issue.record("\(recorded[i].method) \(recorded[i].uri): sent \(a), pyodps signs \(b)")
        }
        #expect(server.signatureFailures == [])
    }
}

@Suite(.timeLimit(.minutes(2))) struct PyodpsClientAgainstTestServerTests {
    /// The test server is itself checked against the official SDK: pyodps's TableTunnel uploads two
    /// blocks (one deflated) with overwrite and commits them, then runs SQL through the instances API.
    @Test func pyodpsUploadsThroughTheTestServer() async throws {
        let server = try await startServer()
        defer { Task { await server.shutdown() } }
        server.setRows("events", "ds=py", eventRows(0..<5, tag: "old"))
        server.acceptMissingCurrProject()
        let (status, out, err) = try await runProcess(findPython(), [resourcePath("pyodps_upload.py"), server.serviceEndpoint,
                                                                      server.tunnelEndpoint, server.accessKeyId,
                                                                      server.accessKeySecret])
        try #require(status == 0, "\(err)\nlast requests: \(server.requests.suffix(3))")
        #expect(out.hasPrefix("ok\nk,v,ts,ds\npy-0,0,\\N,py\npy-1,1,\\N,py\npy-2,2,\\N,py\n"), "\(out)")
        #expect(server.rows("events", "ds=fromsql") == [])
        #expect(server.rows("events", "ds=py") == (0..<3).map { [.string("py-\($0)"), .int(Int64($0)), .null] })
        #expect(server.signatureFailures == [])
    }
}

import Foundation
import SluiceTestSupport
import Testing

@Suite("sluice dev-kafka command")
struct CommandTests {
    @Test("prints one ready line with the chosen port, serves clients, exits 0 on SIGTERM and SIGINT",
          arguments: [(SIGTERM, "2.2"), (SIGINT, "0.10.2")])
    func readyAndSignals(signal: Int32, version: String) async throws {
        let (broker, bootstrap) = try await DevKafkaProcess.ready(["--port", "0", "--kafka-version", version,
                                                                   "--topic", "events:3", "--topic", "audit:1:logappendtime"])
        #expect(bootstrap.hasPrefix("127.0.0.1:"))
        let port = try #require(Int(bootstrap.split(separator: ":").last ?? ""))
        #expect(port > 0)
        let kcat = try #require(which("kcat"))
        let list = try await run(kcat, ["-b", "127.0.0.1:\(port)", "-L"])
        #expect(list.stdout.contains("topic \"events\" with 3 partitions"))
        #expect(list.stdout.contains("topic \"audit\" with 1 partitions"))
        broker.process.signal(signal)
        #expect(await broker.process.wait(timeout: .seconds(30)) == 0)
        #expect(await broker.process.readLine() == nil, "only one line on stdout")
    }

    @Test("auto-created topics appear on first metadata request")
    func autoCreate() async throws {
        let (broker, address) = try await DevKafkaProcess.ready(["--port", "0", "--auto-create-topics", "--default-partitions", "2"])
        defer { broker.process.signal(SIGKILL) }
        let kcat = try #require(which("kcat"))
        let produced = try await run(kcat, ["-b", address, "-P", "-t", "fresh"], stdin: "x\n")
        #expect(produced.status == 0, "\(produced.stderr)")
        let list = try await run(kcat, ["-b", address, "-L", "-t", "fresh"])
        #expect(list.stdout.contains("topic \"fresh\" with 2 partitions"))
    }

    @Test("invalid flags exit 2", arguments: [["--kafka-version", "3.0"], ["--topic", "bad:0"], ["--port", "70000"]])
    func invalid(arguments: [String]) async throws {
        let result = try await SluiceBinary.run(["dev-kafka"] + arguments)
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
    }
}

import Foundation
import Testing

/// Starts `sluice dev-kafka` and returns the process and its first stdout line.
func startSluiceDevKafka(_ arguments: [String]) async throws -> (Process, String, Pipe) {
    try await withCheckedThrowingContinuation { (cont: CheckedContinuation<(Process, String, Pipe), Error>) in
        DispatchQueue.global().async {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: sluiceBinary)
            process.arguments = ["dev-kafka"] + arguments
            let out = Pipe()
            process.standardOutput = out
            process.standardError = FileHandle.nullDevice
            do { try process.run() } catch { cont.resume(throwing: error); return }
            var data = Data()
            while !data.contains(UInt8(ascii: "\n")) {
                let chunk = out.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                data += chunk
            }
            let line = String(decoding: data, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
            cont.resume(returning: (process, line, out))
        }
    }
}

/// Waits for the process to end; one still running after 30 s is killed (and fails its test).
func waitForExit(_ process: Process) async -> Int32 {
    await withCheckedContinuation { cont in
        DispatchQueue.global().asyncAfter(deadline: .now() + 30) {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        DispatchQueue.global().async {
            process.waitUntilExit()
            cont.resume(returning: process.terminationStatus)
        }
    }
}

@Suite("sluice dev-kafka command")
struct CommandTests {
    @Test("prints one ready line with the chosen port, serves clients, exits 0 on SIGTERM and SIGINT",
          arguments: [(SIGTERM, "2.2"), (SIGINT, "0.10.2")])
    func readyAndSignals(signal: Int32, version: String) async throws {
        let (process, line, out) = try await startSluiceDevKafka(["--port", "0", "--kafka-version", version,
                                                                  "--topic", "events:3", "--topic", "audit:1:logappendtime"])
        #expect(line.hasPrefix("ready 127.0.0.1:"))
        let port = try #require(Int(line.split(separator: ":").last ?? ""))
        #expect(port > 0)
        let kcat = try #require(which("kcat"))
        let list = try await run(kcat, ["-b", "127.0.0.1:\(port)", "-L"])
        #expect(list.stdout.contains("topic \"events\" with 3 partitions"))
        #expect(list.stdout.contains("topic \"audit\" with 1 partitions"))
        kill(process.processIdentifier, signal)
        #expect(await waitForExit(process) == 0)
        let rest = out.fileHandleForReading.readDataToEndOfFile()
        #expect(rest.isEmpty, "only one line on stdout")
    }

    @Test("auto-created topics appear on first metadata request")
    func autoCreate() async throws {
        let (process, line, _) = try await startSluiceDevKafka(["--port", "0", "--auto-create-topics", "--default-partitions", "2"])
        defer { process.terminate() }
        let address = String(line.dropFirst("ready ".count))
        let kcat = try #require(which("kcat"))
        let produced = try await run(kcat, ["-b", address, "-P", "-t", "fresh"], stdin: "x\n")
        #expect(produced.status == 0, "\(produced.stderr)")
        let list = try await run(kcat, ["-b", address, "-L", "-t", "fresh"])
        #expect(list.stdout.contains("topic \"fresh\" with 2 partitions"))
    }

    @Test("invalid flags exit 2", arguments: [["--kafka-version", "3.0"], ["--topic", "bad:0"], ["--port", "70000"]])
    func invalid(arguments: [String]) async throws {
        let result = try await run(sluiceBinary, ["dev-kafka"] + arguments)
        #expect(result.status == 2)
        #expect(result.stdout.isEmpty)
    }
}

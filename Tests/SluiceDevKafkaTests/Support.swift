import Foundation
import SluiceCore
import SluiceDevKafka

/// The output of a finished subprocess.
struct ProcessResult: Sendable {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program to completion off the cooperative pool, with `stdin` fed to it. A program still
/// running after `limit` seconds is terminated (a hung client fails its test instead of hanging it).
func run(_ executable: String, _ arguments: [String], stdin: String? = nil, limit: Double = 120) async throws -> ProcessResult {
    try await withCheckedThrowingContinuation { (cont: CheckedContinuation<ProcessResult, Error>) in
        DispatchQueue.global().async {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = arguments
            let out = Pipe(), err = Pipe(), input = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = input
            do {
                try process.run()
            } catch {
                cont.resume(throwing: error)
                return
            }
            DispatchQueue.global().asyncAfter(deadline: .now() + limit) {
                if process.isRunning { process.terminate() }
            }
            if let stdin { input.fileHandleForWriting.write(Data(stdin.utf8)) }
            try? input.fileHandleForWriting.close()
            let group = DispatchGroup()
            nonisolated(unsafe) var errData = Data()
            group.enter()
            DispatchQueue.global().async {
                errData = err.fileHandleForReading.readDataToEndOfFile()
                group.leave()
            }
            let outData = out.fileHandleForReading.readDataToEndOfFile()
            group.wait()
            process.waitUntilExit()
            cont.resume(returning: ProcessResult(status: process.terminationStatus,
                                                 stdout: String(decoding: outData, as: UTF8.self),
                                                 stderr: String(decoding: errData, as: UTF8.self)))
        }
    }
}

/// Finds a program on PATH.
func which(_ name: String) -> String? {
    for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
        let path = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
let scriptsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")

/// The `sluice` binary: `SLUICE_BIN`, else the debug build in the package.
var sluiceBinary: String {
    ProcessInfo.processInfo.environment["SLUICE_BIN"] ?? packageRoot.appendingPathComponent(".build/debug/sluice").path
}

/// Runs one of the Python client scripts and decodes its JSON line.
func runScript(_ script: String, _ arguments: [String]) async throws -> [String: Any] {
    let python = which("python3") ?? "/usr/bin/python3"
    let result = try await run(python, [scriptsDirectory.appendingPathComponent(script).path] + arguments)
    guard result.status == 0, let line = result.stdout.split(separator: "\n").last,
          let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        throw ScriptFailure(description: "\(script) exited \(result.status)\nstdout: \(result.stdout)\nstderr: \(result.stderr.suffix(3000))")
    }
    return json
}

struct ScriptFailure: Error, CustomStringConvertible { let description: String }

/// Kafka's answer to offset-for-timestamp over records given in offset order: the lowest offset whose
/// timestamp is ≥ target, or -1.
func expectedOffset(forTimestamp target: Int64, in timestamps: [Int64]) -> Int64 {
    for (i, ts) in timestamps.enumerated() where ts >= target { return Int64(i) }
    return -1
}

/// Targets around every timestamp, before the first and after the last.
func probeTargets(_ timestamps: [Int64]) -> [Int64] {
    var t = Set<Int64>([0])
    for ts in timestamps { t.insert(ts - 1); t.insert(ts); t.insert(ts + 1) }
    return t.sorted()
}

/// A fixed clock for LogAppendTime tests.
func fixedClock(_ ms: Int64) -> @Sendable () -> Int64 { { ms } }

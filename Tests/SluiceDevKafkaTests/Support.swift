import Foundation
import SluiceCore
import SluiceDevKafka
import SluiceTestSupport

/// Runs a program to completion with `stdin` fed to it; one still running after `limit` seconds is
/// killed (a hung client fails its test instead of hanging it).
func run(_ executable: String, _ arguments: [String], stdin: String? = nil, limit: Double = 120) async throws -> ProcessResult {
    try await Subprocess.run(executable, arguments, stdin: stdin, timeout: .seconds(limit))
}

/// Finds a program on PATH.
func which(_ name: String) -> String? { Subprocess.which(name) }

let scriptsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Scripts")

/// The `sluice` binary: `SLUICE_BIN`, else the debug build in the package.
var sluiceBinary: String { SluiceBinary.path }

/// Runs one of the Python client scripts and decodes its JSON line.
func runScript(_ script: String, _ arguments: [String]) async throws -> [String: Any] {
    let result = try await run(Subprocess.python, [scriptsDirectory.appendingPathComponent(script).path] + arguments)
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

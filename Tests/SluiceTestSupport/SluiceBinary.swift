import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The built `sluice` binary, run as a user would: `SLUICE_BIN` if set, else `.build/debug/sluice`
/// of this package.
public enum SluiceBinary {
    public static var path: String {
        if let b = ProcessInfo.processInfo.environment["SLUICE_BIN"], !b.isEmpty { return b }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/sluice").path
    }

    /// What a finished run printed, and how it ended.
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        /// Killed by a signal (`status` is then the signal number).
        public var signalled: Bool
    }

    /// The process environment with `extra` added.
    static func environment(_ extra: [String: String]) -> [String: String] {
        ProcessInfo.processInfo.environment.merging(extra) { _, new in new }
    }

    /// Starts the binary with its output discarded.
    public static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.environment = Self.environment(environment)
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        return p
    }

    /// Runs to completion without blocking a cooperative thread. `onStart` gets the process id
    /// once it runs (a test can signal it).
    @discardableResult
    public static func run(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
                           onStart: @Sendable (Int32) -> Void = { _ in }) async throws -> Result {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.environment = Self.environment(environment)
        if let directory { p.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-out-\(UUID().uuidString)")
        let err = FileManager.default.temporaryDirectory.appendingPathComponent("sluice-err-\(UUID().uuidString)")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(at: err) }
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: err)
        let ended: (Int32, Bool) = try await withCheckedThrowingContinuation { c in
            p.terminationHandler = { c.resume(returning: ($0.terminationStatus, $0.terminationReason == .uncaughtSignal)) }
            do {
                try p.run()
                onStart(p.processIdentifier)
            } catch {
                p.terminationHandler = nil
                c.resume(throwing: error)
            }
        }
        return Result(status: ended.0, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "", signalled: ended.1)
    }
}

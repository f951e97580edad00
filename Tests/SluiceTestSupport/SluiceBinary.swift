import Foundation

/// The package's root directory (this file is Tests/SluiceTestSupport/SluiceBinary.swift).
public let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The built `sluice` binary, run as a user would: `SLUICE_BIN` if set, else `.build/debug/sluice`
/// of this package.
public enum SluiceBinary {
    public static var path: String {
        if let b = ProcessInfo.processInfo.environment["SLUICE_BIN"], !b.isEmpty { return b }
        return packageRoot.appendingPathComponent(".build/debug/sluice").path
    }

    /// Runs the binary to completion (see `Subprocess.run`).
    @discardableResult
    public static func run(_ arguments: [String], stdin: String? = nil, environment: [String: String] = [:],
                           directory: String? = nil, timeout: Duration = .seconds(300),
                           onStart: @Sendable (Int32) -> Void = { _ in }) async throws -> ProcessResult {
        try await Subprocess.run(path, arguments, stdin: stdin, environment: environment, directory: directory,
                                 timeout: timeout, onStart: onStart)
    }

    /// Starts the binary as a long-running child whose standard output a test reads line by line.
    public static func start(_ arguments: [String], environment: [String: String] = [:], directory: String? = nil,
                             lines: Set<RunningProcess.Output> = [.standardOutput]) throws -> RunningProcess {
        try RunningProcess(path, arguments, environment: environment, directory: directory, lines: lines)
    }
}

/// `sluice dev-kafka` as a child process; both its outputs are read line by line (the ready line
/// on standard output; listener and admin lines on standard error).
public final class DevKafkaProcess: Sendable {
    public let process: RunningProcess

    /// Starts `sluice dev-kafka ARGUMENTS` (give `--port 0` or `--listener …`) without waiting.
    public init(launching arguments: [String], environment: [String: String] = [:]) throws {
        process = try SluiceBinary.start(["dev-kafka"] + arguments, environment: environment,
                                         lines: [.standardOutput, .standardError])
    }

    /// Starts `sluice dev-kafka ARGUMENTS` and waits for its ready line; returns the broker and its
    /// `host:port`.
    public static func ready(_ arguments: [String], environment: [String: String] = [:]) async throws -> (DevKafkaProcess, String) {
        let broker = try DevKafkaProcess(launching: arguments, environment: environment)
        return (broker, try await broker.readyAddress())
    }

    /// The address of the ready line, the first line on standard output.
    public func readyAddress() async throws -> String {
        guard let line = await process.readLine(), line.hasPrefix("ready ") else {
            process.signal(SIGKILL)
            let err = await process.readLines(from: .standardError, count: 20, timeout: .seconds(2))
            throw FixtureError("sluice dev-kafka did not print its ready line; stderr: \(err.joined(separator: "\n"))")
        }
        return String(line.dropFirst("ready ".count))
    }

    /// Up to `count` lines of standard error (listener and admin addresses), waiting at most `timeout`.
    public func errorLines(count: Int, timeout: Duration = .seconds(30)) async -> [String] {
        await process.readLines(from: .standardError, count: count, timeout: timeout)
    }

    /// Stops the broker (SIGTERM) and returns its exit status.
    @discardableResult
    public func stop() async -> Int32 {
        process.signal(SIGTERM)
        return await process.wait(timeout: .seconds(30))
    }
}

/// A fixture that could not be set up.
public struct FixtureError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// A directory of its own under the system's temporary directory, removed with the object.
public final class TemporaryDirectory: Sendable {
    public let path: String

    public init(prefix: String = "sluice-test") throws {
        path = NSTemporaryDirectory() + prefix + "-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }
}

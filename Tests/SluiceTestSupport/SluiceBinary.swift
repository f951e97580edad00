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
    public static func start(_ arguments: [String], environment: [String: String] = [:],
                             directory: String? = nil) throws -> RunningProcess {
        try RunningProcess(path, arguments, environment: environment, directory: directory)
    }
}

/// `sluice dev-kafka` as a child process, started and ready (its `ready host:port` line read).
public final class DevKafkaProcess: Sendable {
    public let process: RunningProcess
    /// `host:port` of the broker.
    public let bootstrap: String

    /// Starts `sluice dev-kafka --port 0 ARGUMENTS` and waits for its ready line.
    public init(_ arguments: [String]) async throws {
        process = try SluiceBinary.start(["dev-kafka", "--port", "0"] + arguments)
        guard let line = await process.readLine(), line.hasPrefix("ready ") else {
            process.signal(SIGKILL)
            throw FixtureError("sluice dev-kafka did not print its ready line; stderr: \(process.otherOutput)")
        }
        bootstrap = String(line.dropFirst("ready ".count))
    }

    /// Stops the broker (SIGTERM) and waits for it.
    public func stop() async {
        process.signal(SIGTERM)
        await process.wait(timeout: .seconds(10))
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

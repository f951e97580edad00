import Foundation
import Logging
import Synchronization
import SluiceCore

/// How log lines are written: human-readable text or JSON lines, on standard error.
public enum LogFormat: String, Sendable, CaseIterable {
    case text, json
}

/// The process's logging, set up once at the CLI's edge. Code below takes a `Logger` and adds its
/// metadata (job, instance, attempt, partition); the handler decides the format.
public enum SluiceLogging {
    private static let bootstrapped = Mutex(false)

    /// Installs the handler for the process (the first call wins; later ones change nothing).
    public static func bootstrap(format: LogFormat, level: Logger.Level = .info) {
        let first = bootstrapped.withLock { done in
            defer { done = true }
            return !done
        }
        guard first else { return }
        LoggingSystem.bootstrap { label in
            var handler: any LogHandler = switch format {
            case .text: TextLogHandler(label: label)
            case .json: JSONLogHandler(label: label)
            }
            handler.logLevel = level
            return handler
        }
    }
}

/// One line per record on standard error: time, level (when not info), message, then the
/// metadata as `key=value`.
public struct TextLogHandler: LineLogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = StandardError.write) {
        self.label = label
        self.write = write
    }

    public func log(event: LogEvent) {
        var line = Date().formatted(.iso8601)
        if event.level != .info { line += " \(event.level)" }
        line += " \(event.message)"
        let all = metadata.merging(event.metadata ?? [:]) { _, new in new }
        for key in all.keys.sorted() { line += " \(key)=\(all[key]!)" }
        write(line + "\n")
    }
}

/// One JSON object per record on standard error: `time`, `level`, `label`, `message` and the
/// metadata's keys.
public struct JSONLogHandler: LineLogHandler {
    public let label: String
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = StandardError.write) {
        self.label = label
        self.write = write
    }

    public func log(event: LogEvent) {
        var object: [String: String] = [:]
        for (k, v) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { _, new in new }) { object[k] = "\(v)" }
        object["time"] = Date().formatted(.iso8601)
        object["level"] = event.level.rawValue
        object["label"] = label
        object["message"] = "\(event.message)"
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(object) else { return }
        write(String(decoding: data, as: UTF8.self) + "\n")
    }
}

/// A handler whose metadata is a plain dictionary.
public protocol LineLogHandler: LogHandler {
    var metadata: Logger.Metadata { get set }
}

extension LineLogHandler {
    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
}

/// Whole lines to standard error, one writer at a time.
public enum StandardError {
    private static let lock = Mutex(())

    @Sendable public static func write(_ text: String) {
        lock.withLock { _ in FileHandle.standardError.write(Data(text.utf8)) }
    }
}

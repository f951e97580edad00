import Foundation
import Logging
import Synchronization
import SluiceLedger

/// The instance logs of the ledger as a destination of swift-log: a record whose metadata names an
/// `instance` goes both to the process's log (stderr, text or JSON) and into that instance's log in
/// the ledger, so code logs once. Records are kept in memory until `flush`, which the scheduler
/// awaits at the end of each pass and a run before it closes the ledger.
public final class LedgerLog: Sendable {
    private let ledger: any Ledger
    private let pending = Mutex<[(id: Int64, level: InstanceLogLine.Level, message: String)]>([])

    public init(ledger: any Ledger) { self.ledger = ledger }

    /// `logger` with this log behind its handler: it still writes where it wrote.
    public func attach(to logger: Logger) -> Logger {
        var attached = logger
        attached.handler = LedgerLogHandler(upstream: logger.handler, log: self)
        return attached
    }

    func enqueue(_ id: Int64, _ level: Logger.Level, _ message: String) {
        let mapped: InstanceLogLine.Level = switch level {
        case .trace, .debug, .info, .notice: .info
        case .warning: .warning
        case .error, .critical: .error
        }
        pending.withLock { $0.append((id, mapped, message)) }
    }

    /// Appends what was logged since the last flush to the ledger, in order, one transaction per
    /// instance and level run. A record the ledger refuses (its instance is gone) is dropped.
    public func flush() async {
        let records = pending.withLock { list in
            defer { list = [] }
            return list
        }
        var i = 0
        while i < records.count {
            var j = i
            while j < records.count, records[j].id == records[i].id, records[j].level == records[i].level { j += 1 }
            try? await ledger.appendLog(id: records[i].id, level: records[i].level, records[i..<j].map(\.message))
            i = j
        }
    }
}

/// Forwards every record to `upstream` and, when it names an instance, to the ledger's log.
struct LedgerLogHandler: LogHandler {
    var upstream: any LogHandler
    let log: LedgerLog

    var logLevel: Logger.Level {
        get { upstream.logLevel }
        set { upstream.logLevel = newValue }
    }

    var metadata: Logger.Metadata {
        get { upstream.metadata }
        set { upstream.metadata = newValue }
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { upstream[metadataKey: key] }
        set { upstream[metadataKey: key] = newValue }
    }

    func log(event: LogEvent) {
        upstream.log(event: event)
        let instance = event.metadata?["instance"] ?? metadata["instance"]
        if let instance, let id = Int64("\(instance)") { log.enqueue(id, event.level, "\(event.message)") }
    }
}

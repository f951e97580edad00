import Foundation
import SluiceCore
import SluiceTestSupport
import Synchronization
@_spi(Testing) @testable import SluiceKafka

/// A record to produce in tests.
struct TestRecord: Sendable {
    var partition: Int32
    var key: [UInt8]?
    var value: [UInt8]?
    /// nil: now.
    var timestamp: Int64?
    var headers: [KafkaHeader] = []
}

extension KafkaProducer {
    /// A quiet producer for tests.
    static func forTests(_ bootstrapServers: String) throws -> KafkaProducer {
        try KafkaProducer(bootstrapServers: bootstrapServers, config: ["log_level": "0"])
    }

    /// Sends `records` to `topic` and waits until they are delivered (after each one with `flushEach`:
    /// one produce request, so one record batch, per record), off the cooperative pool.
    func produce(_ records: [TestRecord], to topic: String, flushEach: Bool = false) async throws {
        try await perform { producer in
            for r in records {
                try producer.send(topic: topic, partition: r.partition, key: r.key, value: r.value,
                                  headers: r.headers, timestamp: r.timestamp)
                if flushEach { try producer.flush(timeoutSeconds: 30) }
            }
            try producer.flush(timeoutSeconds: 30)
        }
    }
}

/// A clock that moves only when told to.
final class ManualClock: Clock, @unchecked Sendable {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (a: Instant, b: Instant) -> Bool { a.offset < b.offset }
    }
    private let current = Mutex(Instant(offset: .zero))
    var now: Instant { current.withLock { $0 } }
    var minimumResolution: Duration { .zero }
    func advance(by d: Duration) { current.withLock { $0 = $0.advanced(by: d) } }
    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        while now < deadline { try await Task.sleep(for: .milliseconds(1)) }
    }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func uniqueTopic(_ prefix: String = "t") -> String { "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())" }

/// Records collected from a read, copied out of the batches.
final class Collected: @unchecked Sendable {
    var records: [OwnedRecord] = []
    var batches = 0
    var texts: [Value] = []
}

/// Runs a program to completion (never blocking the cooperative pool).
func run(_ executable: String, _ arguments: [String]) async throws -> ProcessResult {
    try await Subprocess.run(executable, arguments)
}

/// Finds a program on PATH.
func which(_ name: String) -> String? { Subprocess.which(name) }

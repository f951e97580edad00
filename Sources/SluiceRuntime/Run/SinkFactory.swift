import Foundation
import SluiceCore
import SluiceMaxCompute
import SluiceWarehouse

/// Builds the destination of a job.
public enum SinkFactory {
    /// The sink for `job`'s destination. Secrets are resolved here, at the edge.
    /// - Parameter lockTimeoutSeconds: how long a SQLite warehouse write waits for another writer.
    public static func make(job: LoadedJob, createTable: Bool, lockTimeoutSeconds: Double? = nil) throws -> any Sink {
        let d = job.spec.destination
        switch d.kind {
        case .sqlite:
            var sink = try WarehouseSink(destination: d, baseDirectory: job.directory, createTable: createTable)
            if let lockTimeoutSeconds { sink.lockTimeoutSeconds = lockTimeoutSeconds }
            return sink
        case .discard:
            return DiscardSink()
        case .maxcompute:
            return try MaxComputeSink(destination: d, settings: job.spec.settings, relativeTo: job.directory)
        case .unresolved(let name, _):
            throw SluiceError.invalid("destination data source '\(name)' is not resolved",
                                      hint: "pass --datasources FILE with an entry named \(name)")
        }
    }
}

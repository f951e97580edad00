import Foundation
import SluiceCore
import SluiceMaxCompute
import SluiceWarehouse
import SluiceJob

/// Builds the destination of a job: the one place that knows the destination kinds.
public enum Destinations {
    /// The destination of `job`. Secrets are resolved here, at the edge.
    /// - Parameters:
    ///   - createTable: its sink creates a missing table (`--create-table`).
    ///   - lockTimeoutSeconds: how long a SQLite warehouse write waits for another writer.
    public static func make(job: LoadedJob, createTable: Bool = false, lockTimeoutSeconds: Double? = nil) throws -> any Destination {
        let d = job.spec.destination
        switch d.kind {
        case .sqlite:
            var sink = try WarehouseSink(destination: d, baseDirectory: job.directory, createTable: createTable)
            if let lockTimeoutSeconds { sink.lockTimeoutSeconds = lockTimeoutSeconds }
            return WarehouseDestination(sink)
        case .discard:
            return DiscardDestination(table: d.table)
        case .maxcompute(let connection):
            let secrets = SecretResolver(relativeTo: job.directory)
            let credentials = MaxComputeCredentials(
                accessKeyId: try secrets.resolve(connection.accessKeyId).reveal(),
                accessKeySecret: try secrets.resolve(connection.accessKeySecret),
                securityToken: try connection.securityToken.map { try secrets.resolve($0) })
            return try MaxComputeSink(destination: d, settings: job.spec.settings, credentials: credentials)
        case .unresolved(let name, _):
            throw SluiceError.invalid("destination data source '\(name)' is not resolved",
                                      hint: "pass --datasources FILE with an entry named \(name)")
        }
    }

    /// The sink that writes `job`'s partitions.
    public static func sink(job: LoadedJob, createTable: Bool, lockTimeoutSeconds: Double? = nil) throws -> any Sink {
        try make(job: job, createTable: createTable, lockTimeoutSeconds: lockTimeoutSeconds).sink
    }
}

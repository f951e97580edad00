import Foundation
import SluiceCore
import SluiceMaxCompute
import SluicePostgres
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
            return WarehouseDestination(try warehouse(job, createTable: createTable, lockTimeoutSeconds: lockTimeoutSeconds))
        case .discard:
            return DiscardDestination(table: d.table)
        case .maxcompute(let connection):
            return try MaxComputeSink(destination: d, settings: job.spec.settings,
                                      credentials: credentials(connection, job: job))
        case .postgresql(let url):
            return PostgresDestination(PostgresSink(
                url: try postgresURL(url, job), table: d.table, partitionKeys: TableDDL.partitionKeys(template: d.partition),
                writeMode: d.writeMode, writtenColumns: d.columns == ["*"] ? nil : job.spec.mapping.compactMap(\.to),
                createTable: createTable))
        case .unresolved(let name, _):
            throw SluiceError.invalid("destination data source '\(name)' is not resolved",
                                      hint: "pass --datasources FILE with an entry named \(name)")
        }
    }

    /// The database an SQL node's statements run on (its `target`). Secrets are resolved here.
    public static func sqlTarget(job: LoadedJob, lockTimeoutSeconds: Double? = nil) throws -> any SQLTarget {
        let d = job.spec.destination
        switch d.kind {
        case .sqlite:
            return WarehouseStatements(try warehouse(job, createTable: false, lockTimeoutSeconds: lockTimeoutSeconds))
        case .maxcompute(let connection):
            let config = try MaxComputeConfig(connection: connection, credentials: credentials(connection, job: job))
            return MaxComputeStatements(client: MaxComputeClient(config: config))
        case .postgresql(let url):
            return PostgresStatements(url: try postgresURL(url, job))
        case .discard:
            throw SluiceError.invalid("an SQL node cannot run on the discard destination", hint: "set target.type to sqlite, postgresql or maxcompute")
        case .unresolved(let name, _):
            throw SluiceError.invalid("target data source '\(name)' is not resolved",
                                      hint: "pass --datasources FILE with an entry named \(name)")
        }
    }

    private static func warehouse(_ job: LoadedJob, createTable: Bool, lockTimeoutSeconds: Double?) throws -> WarehouseSink {
        var sink = try WarehouseSink(destination: job.spec.destination, baseDirectory: job.directory, createTable: createTable)
        if let lockTimeoutSeconds { sink.lockTimeoutSeconds = lockTimeoutSeconds }
        return sink
    }

    /// The PostgreSQL URL of a destination or target, its secret resolved.
    private static func postgresURL(_ url: SecretValue, _ job: LoadedJob) throws -> PostgresURL {
        try PostgresURL(parsing: try SecretResolver(relativeTo: job.directory).resolve(url).reveal())
    }

    /// The MaxCompute credentials of `connection`, its secret references resolved.
    static func credentials(_ connection: MaxComputeConnection, job: LoadedJob) throws -> MaxComputeCredentials {
        let secrets = SecretResolver(relativeTo: job.directory)
        return MaxComputeCredentials(
            accessKeyId: try secrets.resolve(connection.accessKeyId).reveal(),
            accessKeySecret: try secrets.resolve(connection.accessKeySecret),
            securityToken: try connection.securityToken.map { try secrets.resolve($0) })
    }

    /// The sink that writes `job`'s partitions.
    public static func sink(job: LoadedJob, createTable: Bool, lockTimeoutSeconds: Double? = nil) throws -> any Sink {
        try make(job: job, createTable: createTable, lockTimeoutSeconds: lockTimeoutSeconds).sink
    }
}

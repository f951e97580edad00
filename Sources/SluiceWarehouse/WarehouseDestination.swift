import Foundation
import SluiceCore
import SluiceJob

/// The embedded SQLite warehouse as a destination: a table in one warehouse file.
public struct WarehouseDestination: Destination {
    public var writer: WarehouseSink

    public init(_ writer: WarehouseSink) { self.writer = writer }

    public var table: String { writer.table }
    public var dialect: DDLDialect { .sqlite }
    public var sink: any Sink { writer }

    public func createTableDDL(columns: [ColumnSpec], partitionKeys: [String]) -> String {
        TableDDL.createTable(name: table, columns: columns, partitionKeys: partitionKeys, dialect: .sqlite)
    }

    public func createTable(columns: [ColumnSpec], partitionKeys: [String]) async throws -> String {
        var creating = writer
        creating.createTable = true
        let existed = try await creating.tableColumns() != nil
        try await creating.prepare(columns: columns, partitionKeys: partitionKeys)
        return existed ? "table '\(table)' already exists in \(writer.path) and matches the job"
            : "created table '\(table)' in \(writer.path)"
    }

    public func query(_ sql: String, format: ResultFormat, emit: @escaping @Sendable (String) -> Void) async throws {
        try await Warehouse(path: writer.path).query(sql, format: format, emit: emit)
    }

    public func partitions() async throws -> [PartitionInfo] {
        try await Warehouse(path: writer.path).partitions(table: table)
    }
}

/// `type: discard` as a destination: it keeps no table, so there is nothing to create or query.
public struct DiscardDestination: Destination {
    public var table: String

    public init(table: String) { self.table = table }

    public var dialect: DDLDialect { .sqlite }
    public var sink: any Sink { DiscardSink() }

    /// The warehouse's DDL for the table, for a job that moves from discard to the warehouse.
    public func createTableDDL(columns: [ColumnSpec], partitionKeys: [String]) -> String {
        TableDDL.createTable(name: table, columns: columns, partitionKeys: partitionKeys, dialect: .sqlite)
    }

    public func createTable(columns: [ColumnSpec], partitionKeys: [String]) async throws -> String {
        throw Self.keepsNothing
    }

    public func query(_ sql: String, format: ResultFormat, emit: @escaping @Sendable (String) -> Void) async throws {
        throw Self.keepsNothing
    }

    public func partitions() async throws -> [PartitionInfo] { throw Self.keepsNothing }

    static let keepsNothing = SluiceError.invalid("the destination is discard, not the SQLite warehouse: it counts rows, drops them and keeps no table",
                                                  hint: "give a warehouse .db file, or a job whose destination keeps its rows")
}

import Foundation
import SluiceCore
import SluiceSQLite

/// An SQL node's statements on a warehouse file: one immediate transaction, all of them or none.
public struct WarehouseStatements: SQLTarget {
    /// The warehouse's connection settings (its table is unused).
    public var warehouse: WarehouseSink

    public init(_ warehouse: WarehouseSink) { self.warehouse = warehouse }

    public var description: String { "warehouse \(warehouse.path)" }

    public func execute(_ script: SQLScript) async throws -> [Int64?] {
        guard FileManager.default.fileExists(atPath: warehouse.path) else {
            throw SluiceError(.destination, "no warehouse file at \(warehouse.path)",
                              hint: "check target.path (relative to the job file); the sync that fills the warehouse creates it",
                              retriable: false)
        }
        let db = try await warehouse.openDatabase(create: false)
        let description = self.description, waited = Int(warehouse.lockTimeoutSeconds)
        do {
            let changed = try await db.perform { c in try Self.transaction(script, on: c, description, waited: waited) }
            await WarehouseSink.close(db)
            return changed
        } catch {
            await WarehouseSink.close(db)
            throw error
        }
    }

    /// Runs every statement in one immediate transaction, rolled back when one fails.
    private static func transaction(_ script: SQLScript, on c: SQLiteConnection, _ description: String,
                                    waited: Int) throws -> [Int64?] {
        do {
            try c.execute("BEGIN IMMEDIATE")
        } catch let e as SQLiteError where e.isBusy {
            throw SluiceError(.destination, "\(description) is locked by another writer (waited \(waited) s)",
                              hint: "another sluice run or a sqlite3 session holds a write transaction; retry when it ends")
        }
        do {
            let changed = try script.statements.indices.map { i in try run(script, i, on: c, description) }
            try c.execute("COMMIT")
            return changed
        } catch {
            try? c.execute("ROLLBACK")
            throw error
        }
    }

    /// Runs statement `i`; returns the rows it changed (nil for one that only reads).
    private static func run(_ script: SQLScript, _ i: Int, on c: SQLiteConnection, _ description: String) throws -> Int64? {
        let before = c.totalChanges
        do {
            let statement = try c.prepare(script.statements[i])
            while try statement.step() {}
            return statement.isReadOnly ? nil : c.totalChanges - before
        } catch let e as SQLiteError {
            throw script.failure(at: i, on: description, e.message, retriable: e.isBusy)
        }
    }
}

import Foundation
import NIOCore
import PostgresNIO
import SluiceCore

/// An SQL node's statements on a PostgreSQL database: one transaction, all of them or none.
public struct PostgresStatements: SQLTarget {
    public var url: PostgresURL

    public init(url: PostgresURL) { self.url = url }

    public var description: String { "PostgreSQL \(url)" }

    public func execute(_ script: SQLScript) async throws -> [Int64?] {
        let place = PostgresPlace(url: url, table: "")
        let session: PostgresSession
        do {
            session = try await PostgresSession.open(url)
            try await session.execute("BEGIN")
        } catch {
            throw place.error(error, doing: "connecting to run the statements")
        }
        do {
            var changed: [Int64?] = []
            for i in script.statements.indices { changed.append(try await run(script, i, on: session)) }
            try await session.execute("COMMIT")
            await session.close()
            return changed
        } catch {
            await session.close(rollback: true)
            throw place.error(error, doing: "committing the statements")
        }
    }

    /// Runs statement `i`; returns the rows its command tag counts (nil for commands that count none).
    private func run(_ script: SQLScript, _ i: Int, on session: PostgresSession) async throws -> Int64? {
        do {
            let result: EventLoopFuture<PostgresQueryResult> = session.connection.query(
                PostgresQuery(unsafeSQL: script.statements[i]), logger: session.logger)
            let metadata = try await result.get().metadata
            return metadata.command == "SELECT" ? nil : metadata.rows.map(Int64.init)
        } catch {
            let state = PostgresPlace.sqlState(error)
            guard let state, let message = PostgresPlace.serverField(error, .message) else { throw error }
            // Classes 08 (connection), 40 (serialization, deadlock), 53 (resources), 55 (lock not
            // available) and 57 (operator intervention) may pass on a later attempt.
            let retriable = ["08", "40", "53", "55", "57"].contains(String(state.prefix(2)))
            throw script.failure(at: i, on: description, "\(message) (SQLSTATE \(state))", retriable: retriable)
        }
    }
}

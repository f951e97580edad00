import Foundation
import SluiceCore

/// An SQL node's statements in a MaxCompute project: one SQL instance each, in order. MaxCompute
/// has no transactions: when one fails, the statements before it stay done (as in DataWorks' ODPS
/// SQL node), so a node's statements should be safe to run again (INSERT OVERWRITE).
public struct MaxComputeStatements: SQLTarget {
    public let client: MaxComputeClient

    public init(client: MaxComputeClient) { self.client = client }

    public var description: String { "MaxCompute project \(client.config.project)" }

    public func execute(_ script: SQLScript) async throws -> [Int64?] {
        for i in script.statements.indices {
            do {
                _ = try await client.runSQL(script.statements[i])
            } catch let e as SluiceError {
                throw script.failure(at: i, on: description, e.message, retriable: e.isRetriable)
            }
        }
        return script.statements.map { _ in nil }
    }
}

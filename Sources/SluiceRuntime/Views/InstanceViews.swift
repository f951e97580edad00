import Foundation
import SluiceCore
import SluiceLedger

/// One row of an instance list: what `sluice instance list --json` prints and `GET /api/instances`
/// returns.
public struct InstanceListRow: Sendable, Hashable, Codable {
    public var instance: InstanceRecord
    /// The status as shown: the ledger's, or `skipped` for an instance the scheduler never ran.
    public var displayStatus: String
    public var skipReason: String?

    public init(instance: InstanceRecord, displayStatus: String, skipReason: String?) {
        self.instance = instance
        self.displayStatus = displayStatus
        self.skipReason = skipReason
    }

    /// The row's one-line note: why it was skipped or set to success, or the first line of its error.
    public var note: String {
        skipReason ?? instance.successReason.map { "set to success: \($0)" }
            ?? instance.error.map { String($0.split(separator: "\n").first ?? "") } ?? ""
    }
}

/// One attempt of an instance with what it measured.
public struct AttemptView: Sendable, Hashable, Codable {
    public var attempt: AttemptRecord
    /// Seconds per phase, when the attempt recorded them.
    public var phases: [String: Double]?
    public var bytesRead: Int64?
}

/// One instance in full: what `sluice instance show --json` prints and `GET /api/instances/ID`
/// returns.
public struct InstanceDetail: Sendable, Hashable, Codable {
    public var instance: InstanceRecord
    public var status: String
    public var skipReason: String?
    public var retryAt: Date?
    public var waitReason: String?
    public var plan: InstancePlan?
    public var attempts: [AttemptView]
    public var log: [InstanceLogLine]
    public var dirtyRecords: [LedgerDirtyRecord]
    /// What people did to the instance (rerun, kill, set-success), newest first.
    public var actions: [LedgerAction]
    /// The shards of the latest attempt of a sharded instance (empty otherwise).
    public var shards: [ShardRecord] = []
}

/// The instance views the CLI and the console share: the same ledger calls, the same types.
public enum InstanceViews {
    /// The status as shown: `skipped` for a dry-run instance the scheduler skipped.
    public static func displayStatus(_ r: InstanceRecord, skipReason: String?) -> String {
        if r.status == .dryRun, skipReason != nil { return "skipped" }
        return r.status.rawValue
    }

    /// A status filter as typed (`--status`, `?status=`): a ledger status, or `skipped`.
    public static func statusFilter(_ text: String?) throws -> (status: InstanceStatus?, onlySkipped: Bool) {
        guard let text, !text.isEmpty else { return (nil, false) }
        if text == "skipped" { return (.dryRun, true) }
        guard let status = InstanceStatus(rawValue: text) else {
            throw SluiceError.invalid("'\(text)' is not a status",
                                      hint: "one of \(InstanceStatus.allCases.map(\.rawValue).joined(separator: ", ")), skipped")
        }
        return (status, false)
    }

    /// The instances `filter` selects as rows; with `onlySkipped`, only those the scheduler skipped.
    public static func list(_ ledger: any Ledger, _ filter: InstanceFilter, onlySkipped: Bool = false) async throws -> [InstanceListRow] {
        var rows: [InstanceListRow] = []
        for r in try await ledger.instances(filter) {
            let skip = r.status == .dryRun ? try await ledger.schedulingState(id: r.id).skipReason : nil
            if onlySkipped && skip == nil { continue }
            rows.append(InstanceListRow(instance: r, displayStatus: displayStatus(r, skipReason: skip), skipReason: skip))
        }
        return rows
    }

    /// The instance in full, or nil when the ledger has no instance `id`.
    public static func detail(_ ledger: any Ledger, id: Int64, dirtyLimit: Int) async throws -> InstanceDetail? {
        guard let r = try await ledger.instance(id: id) else { return nil }
        let state = try await ledger.schedulingState(id: id)
        let metrics = try await ledger.attemptMetrics(id: id)
        let attempts = try await ledger.attempts(id: id).map { a in
            AttemptView(attempt: a, phases: metrics[a.attempt]?.phases, bytesRead: metrics[a.attempt]?.bytesRead)
        }
        return InstanceDetail(
            instance: r, status: displayStatus(r, skipReason: state.skipReason), skipReason: state.skipReason,
            retryAt: state.retryAt, waitReason: state.waitReason, plan: try await ledger.plan(id: id), attempts: attempts,
            log: try await ledger.log(id: id), dirtyRecords: try await ledger.dirtyRecords(id: id, limit: max(0, dirtyLimit)),
            actions: try await ledger.actions(job: nil, instanceId: id, limit: 50),
            shards: r.attempts > 0 ? try await ledger.shards(id: id, attempt: r.attempts) : [])
    }

    /// The JSON of the CLI's `--json` and of the console's API: sorted keys, ISO-8601 dates.
    public static func json<T: Encodable>(_ value: T, pretty: Bool = true) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(value)
    }

    public static func jsonString<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try json(value), as: UTF8.self)
    }
}

import Foundation
import SluiceCore
import SluiceSQLite

/// An attempt's commit as the ledger records it just before the destination's commit: what the
/// attempt read, and what the destination called the write. When the attempt's process dies between
/// the destination's commit and the ledger's record of the outcome, this is what settles it.
public struct CommitRecord: Sendable, Hashable, Codable {
    public var instanceId: Int64
    public var attempt: Int
    public var mode: WriteMode
    /// `type:table` of the destination, e.g. `sqlite:ods_events`.
    public var destination: String
    /// The destination partition, `ds=2022112210`.
    public var partition: String
    /// The destination's name for the write (MaxCompute: the upload session id).
    public var token: String?
    public var counts: InstanceCounts
    /// Per Kafka partition, the offset after the last record read.
    public var readEnds: [Int32: Int64]
    public var preparedAt: Date
    /// When the ledger learnt that the destination committed; nil until then.
    public var committedAt: Date?

    public init(instanceId: Int64, attempt: Int, mode: WriteMode, destination: String, partition: String,
                token: String?, counts: InstanceCounts, readEnds: [Int32: Int64], preparedAt: Date = Date(),
                committedAt: Date? = nil) {
        self.instanceId = instanceId
        self.attempt = attempt
        self.mode = mode
        self.destination = destination
        self.partition = partition
        self.token = token
        self.counts = counts
        self.readEnds = readEnds
        self.preparedAt = preparedAt
        self.committedAt = committedAt
    }
}

extension Ledger {
    /// Records the attempt's commit before the destination commits (replacing an earlier record of
    /// the same attempt). Refused when the instance has moved on to another attempt.
    public func prepareCommit(_ r: CommitRecord) async throws {
        let counts = try Self.json(r.counts), ends = try Self.json(r.readEnds)
        try await write("recording the commit of instance \(r.instanceId)") { c, now in
            let instance = try Self.requireInstance(c, id: r.instanceId)
            guard instance.attempts == r.attempt, instance.status == .running else {
                throw SluiceError(.state, "instance \(r.instanceId) is \(instance.status.rawValue) at attempt \(instance.attempts): attempt \(r.attempt) does not commit",
                                  hint: "another process ran or settled it meanwhile; see `sluice instance show \(r.instanceId)`")
            }
            try c.run("""
                INSERT OR REPLACE INTO commits (instance_id, attempt, mode, destination, partition, token, counts, read_ends,
                  prepared_at_ms)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                """, [.integer(r.instanceId), .integer(Int64(r.attempt)), .text(r.mode.rawValue), .text(r.destination),
                      .text(r.partition), r.token.map(SQLiteValue.text) ?? .null, .text(counts), .text(ends), .integer(now)])
        }
    }

    /// The commit record of one attempt of the instance, if that attempt reached its commit.
    public func commitRecord(id: Int64, attempt: Int) async throws -> CommitRecord? {
        try await read("reading the commit of instance \(id)") { c in
            try Self.fetchCommits(c, "instance_id = ?1 AND attempt = ?2", [.integer(id), .integer(Int64(attempt))]).first
        }
    }

    /// Every commit record of the instance, oldest attempt first.
    public func commitRecords(id: Int64) async throws -> [CommitRecord] {
        try await read("reading the commits of instance \(id)") { c in
            try Self.fetchCommits(c, "instance_id = ?1", [.integer(id)])
        }
    }

    /// Ends attempt `attempt` as succeeded after its destination committed, in one transaction: the
    /// offsets it read, its counts, the commit marked committed and `note` in the log. Refused when
    /// the instance has moved on to another attempt or was settled meanwhile. An instance killed
    /// after its destination committed becomes succeeded: the ledger says what was written.
    @discardableResult
    public func finishCommitted(id: Int64, attempt: Int, counts: InstanceCounts, readEnds: [Int32: Int64],
                                note: String? = nil) async throws -> InstanceRecord {
        try await write("recording the success of instance \(id)") { c, now in
            let r = try Self.requireInstance(c, id: id)
            guard r.attempts == attempt, r.status != .succeeded else {
                throw SluiceError(.state, "instance \(id) is \(r.status.rawValue) at attempt \(r.attempts): attempt \(attempt) is not recorded as succeeded")
            }
            for (p, end) in readEnds {
                try c.run("UPDATE plan_offsets SET read_to_offset = ?3 WHERE instance_id = ?1 AND partition = ?2",
                          [.integer(id), .integer(Int64(p)), .integer(end)])
            }
            try c.run("""
                UPDATE instances SET status = 'succeeded', finished_at_ms = ?2, error = NULL, records_read = ?3,
                  records_written = ?4, records_dirty = ?5, records_late = ?6, records_early = ?7, records_skipped = ?8
                WHERE id = ?1
                """, [.integer(id), .integer(now), .integer(counts.read), .integer(counts.written), .integer(counts.dirty),
                      .integer(counts.late), .integer(counts.early), .integer(counts.skipped)])
            try c.run("UPDATE commits SET committed_at_ms = ?3 WHERE instance_id = ?1 AND attempt = ?2",
                      [.integer(id), .integer(Int64(attempt)), .integer(now)])
            if let note {
                try c.run("INSERT INTO instance_logs (instance_id, attempt, at_ms, level, message) VALUES (?1, ?2, ?3, 'info', ?4)",
                          [.integer(id), .integer(Int64(attempt)), .integer(now), .text(note)])
            }
            return try Self.requireInstance(c, id: id)
        }
    }

    static func fetchCommits(_ c: SQLiteConnection, _ condition: String, _ bindings: [SQLiteValue]) throws -> [CommitRecord] {
        try c.query("""
            SELECT instance_id, attempt, mode, destination, partition, token, counts, read_ends, prepared_at_ms, committed_at_ms
            FROM commits WHERE \(condition) ORDER BY instance_id, attempt
            """, bindings).map { r in
            func int(_ i: Int) -> Int64? { if case .integer(let v) = r[i] { v } else { nil } }
            func text(_ i: Int) -> String? { if case .text(let v) = r[i] { v } else { nil } }
            let decoder = JSONDecoder()
            return CommitRecord(
                instanceId: int(0) ?? 0, attempt: Int(int(1) ?? 0), mode: WriteMode(rawValue: text(2) ?? "") ?? .overwrite,
                destination: text(3) ?? "", partition: text(4) ?? "", token: text(5),
                counts: (try? decoder.decode(InstanceCounts.self, from: Data((text(6) ?? "").utf8))) ?? InstanceCounts(),
                readEnds: (try? decoder.decode([Int32: Int64].self, from: Data((text(7) ?? "").utf8))) ?? [:],
                preparedAt: Date(epochMillis: int(8) ?? 0), committedAt: int(9).map(Date.init(epochMillis:)))
        }
    }

    static func json<T: Encodable>(_ value: T) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}

import Foundation

/// How a run writes its destination partition.
public enum WriteMode: String, Sendable, Hashable, Codable, CaseIterable {
    /// Replace the partition atomically at commit (DataWorks `truncate: true`).
    case overwrite
    /// Add rows to the partition (DataWorks `truncate: false`).
    case append
}

/// A resolved partition of a destination table: ordered `key=value` pairs, outermost first.
/// Empty for an unpartitioned table.
public struct PartitionSpec: Hashable, Sendable, CustomStringConvertible {
    public struct Entry: Hashable, Sendable {
        public var key: String
        public var value: String
        public init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }
    public var entries: [Entry]

    public init(_ entries: [Entry] = []) { self.entries = entries }

    /// Parses `ds=2022112210` or `ds=20221122,hh=10` (also `/` as separator). Empty text is the
    /// unpartitioned spec. Throws `SluiceError.invalidInput` for malformed text.
    public init(parsing text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.isEmpty { self.entries = []; return }
        var entries: [Entry] = []
        for part in trimmed.split(whereSeparator: { $0 == "," || $0 == "/" }) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = kv.first.map { String($0).trimmingCharacters(in: .whitespaces) } ?? ""
            guard kv.count == 2, !key.isEmpty else {
                throw SluiceError.invalid("partition '\(text)': '\(part)' is not key=value",
                                          hint: "write partitions as ds=20221122 or ds=20221122,hh=10")
            }
            var value = String(kv[1]).trimmingCharacters(in: .whitespaces)
            if value.count >= 2, let f = value.first, f == "'" || f == "\"", value.last == f {
                value = String(value.dropFirst().dropLast())
            }
            guard !value.isEmpty else {
                throw SluiceError.invalid("partition '\(text)': key '\(key)' has an empty value")
            }
            if let c = (key + value).unicodeScalars.first(where: { $0.properties.generalCategory == .control }) {
                let code = "U+" + String(c.value, radix: 16, uppercase: true).leftPadded(to: 4)
                throw SluiceError.invalid("partition \(text.debugDescription): key '\(key)' has a control character (\(code)) in it",
                                          hint: "partition values are printable text: check the partition parameter's value")
            }
            if entries.contains(where: { $0.key == key }) {
                throw SluiceError.invalid("partition '\(text)': key '\(key)' appears twice")
            }
            entries.append(Entry(key: key, value: value))
        }
        self.entries = entries
    }

    public var keys: [String] { entries.map(\.key) }
    public var isEmpty: Bool { entries.isEmpty }

    /// `ds=2022112210,hh=10`; empty when unpartitioned.
    public var description: String { entries.map { "\($0.key)=\($0.value)" }.joined(separator: ",") }
}

extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}

/// What a partition writer reports at commit.
public struct CommitResult: Sendable, Equatable {
    public var rowsWritten: Int64
    public init(rowsWritten: Int64) { self.rowsWritten = rowsWritten }
}

/// A destination: SQLite warehouse, MaxCompute, discard, ….
///
/// The runner calls `prepare` before reading any Kafka record (so schema problems fail fast), then
/// `open` for the instance's partition, writes row batches, and finally `commit` or `abort`.
public protocol Sink: Sendable {
    /// Checks the destination table against the columns the job writes and the partition keys, and
    /// creates what is allowed to be created. Throws `SluiceError` (kind `.destination` or
    /// `.invalidInput`) listing every difference.
    func prepare(columns: [ColumnSpec], partitionKeys: [String]) async throws

    /// The destination table's columns, in table order (without partition columns), when it exists.
    func tableColumns() async throws -> [ColumnSpec]?

    /// Opens the partition for writing. Nothing is visible to readers before `commit`.
    /// `provenance` says which instance writes and from which offsets; destinations that can store it
    /// atomically with the data (the SQLite warehouse) do, so `sluice partitions` can show it.
    func open(partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
              provenance: WriteProvenance) async throws -> any PartitionWriter

    /// Whether the write of one attempt of an instance was committed: asked when an attempt ended
    /// without recording its outcome (its process was killed between the destination's commit and
    /// the ledger), before anything is written again.
    func commitState(of write: WriteReference) async throws -> CommitState

    /// Whether an `append` write replaces the rows that earlier writes of the same instance added to
    /// the partition, in its own commit (the SQLite warehouse). When false, a second committed
    /// append of an instance adds its rows again (MaxCompute cannot delete rows), so reruns of such
    /// an instance are refused unless forced.
    var replacesEarlierAppends: Bool { get }
}

/// One attempt's write, as the ledger knows it before the destination's commit.
public struct WriteReference: Sendable, Hashable {
    /// The ledger that recorded the attempt (instance ids are unique per ledger).
    public var ledgerId: String
    public var job: String
    public var instanceId: String
    public var attempt: Int
    public var partition: PartitionSpec
    /// What the destination named the write before its commit (MaxCompute: the upload session id).
    public var token: String?

    public init(ledgerId: String, job: String, instanceId: String, attempt: Int, partition: PartitionSpec,
                token: String? = nil) {
        self.ledgerId = ledgerId
        self.job = job
        self.instanceId = instanceId
        self.attempt = attempt
        self.partition = partition
        self.token = token
    }
}

/// What a destination says of one attempt's write.
public enum CommitState: Sendable, Equatable {
    /// Committed: the rows are in the destination (`rows`, when the destination records it).
    case committed(rows: Int64?)
    /// Not committed: nothing of the attempt is visible.
    case notCommitted
    /// The destination cannot tell (e.g. a MaxCompute session that is closing or has expired).
    case unknown(String)
}

/// An open partition. Either `commit` or `abort` is called exactly once.
public protocol PartitionWriter: AnyObject, Sendable {
    /// Writes one batch of rows; `batch.columns` equal the columns given to `open`.
    func write(_ batch: RowBatch) async throws
    /// What the destination calls this write before its commit, stored in the ledger before
    /// `commit` so that a later run can ask `Sink.commitState` about it (MaxCompute: the upload
    /// session id). Nil when the destination finds the write by its provenance instead.
    var commitToken: String? { get }
    /// Makes the written rows visible atomically: readers see the old partition or the new one.
    /// `outcome` is what the run read, kept with the write where the destination stores provenance.
    func commit(_ outcome: WriteOutcome) async throws -> CommitResult
    /// Discards everything written; the destination is exactly as it was before `open`.
    func abort() async
}

extension PartitionWriter {
    public var commitToken: String? { nil }

    /// Commits with an empty outcome.
    public func commit() async throws -> CommitResult { try await commit(WriteOutcome()) }
}

/// What a run read for the rows it commits: its record counts and, per Kafka partition, the offset
/// after the last record read.
public struct WriteOutcome: Sendable, Hashable, Codable {
    public var read: Int64
    public var dirty: Int64
    public var late: Int64
    public var early: Int64
    public var skipped: Int64
    public var readEnds: [PartitionOffsets]

    public init(read: Int64 = 0, dirty: Int64 = 0, late: Int64 = 0, early: Int64 = 0, skipped: Int64 = 0,
                readEnds: [PartitionOffsets] = []) {
        self.read = read
        self.dirty = dirty
        self.late = late
        self.early = early
        self.skipped = skipped
        self.readEnds = readEnds
    }
}

/// The offsets one partition of a Kafka topic contributed to a write: `[from, to)`.
public struct PartitionOffsets: Sendable, Hashable, Codable {
    public var partition: Int32
    public var from: Int64
    public var to: Int64
    public init(partition: Int32, from: Int64, to: Int64) {
        self.partition = partition
        self.from = from
        self.to = to
    }
}

/// Who wrote a destination partition, and from what.
public struct WriteProvenance: Sendable, Hashable {
    public var job: String
    public var instanceId: String
    /// The attempt of the instance that writes (1 for the first run).
    public var attempt: Int
    /// The ledger that recorded the instance; with `instanceId` it names the instance uniquely.
    public var ledgerId: String
    /// The window `[start, end)` in epoch milliseconds, when the window is by time.
    public var windowStartMillis: Int64?
    public var windowEndMillis: Int64?
    public var topic: String
    public var offsets: [PartitionOffsets]

    public init(job: String, instanceId: String, attempt: Int = 1, ledgerId: String = "", windowStartMillis: Int64? = nil,
                windowEndMillis: Int64? = nil, topic: String, offsets: [PartitionOffsets] = []) {
        self.job = job
        self.instanceId = instanceId
        self.attempt = attempt
        self.ledgerId = ledgerId
        self.windowStartMillis = windowStartMillis
        self.windowEndMillis = windowEndMillis
        self.topic = topic
        self.offsets = offsets
    }
}

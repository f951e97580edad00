import SluiceCore
import SluiceJob
/// A record that could not be turned into a row, kept so that a user can see and replay it.
public struct DirtyRecord: Error, Sendable, Hashable {
    public var partition: Int32
    public var offset: Int64
    /// Milliseconds since the epoch, or −1.
    public var timestamp: Int64
    /// The destination column being filled, nil when the whole record failed (value not JSON).
    public var column: String?
    /// The source field definition of that column.
    public var field: String?
    public var reason: DirtyReason
    /// The key's first `DirtyCollector.maxRawBytes` bytes; nil for a null key.
    public var key: [UInt8]?
    public var keyTruncated: Bool
    /// The value's first `DirtyCollector.maxRawBytes` bytes; nil for a null value.
    public var value: [UInt8]?
    public var valueTruncated: Bool

    public init(partition: Int32, offset: Int64, timestamp: Int64, column: String?, field: String?,
                reason: DirtyReason, key: [UInt8]?, keyTruncated: Bool = false, value: [UInt8]?,
                valueTruncated: Bool = false) {
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.column = column
        self.field = field
        self.reason = reason
        self.key = key
        self.keyTruncated = keyTruncated
        self.value = value
        self.valueTruncated = valueTruncated
    }

    /// `partition 3 offset 1042: column amount (field a.amount): 'x' is not a number, for BIGINT`.
    public var summary: String {
        var s = "partition \(partition) offset \(offset)"
        if let column {
            s += ": column \(column)"
            if let field { s += " (field \(field))" }
        }
        return s + ": " + reason.message
    }
}

/// Counts dirty records, keeps them (bounded) for the ledger, and enforces `settings.errorLimit`.
///
/// - `records: N` throws as soon as more than N records are dirty (`0`: the first dirty record fails);
/// - `percentage: p` is checked by `finish()` against the records read;
/// - neither: dirty records are counted and kept, and the work goes on.
public struct DirtyCollector: Sendable {
    /// Bytes of the raw key and value kept per dirty record.
    public static let maxRawBytes = 4096

    public let limit: ErrorLimit
    /// How many dirty records are held until `takeRecords()`; later ones are counted only.
    public let maxKept: Int
    /// Dirty records so far.
    public private(set) var dirtyCount = 0
    /// Records seen so far (clean and dirty), as counted by field programs.
    public private(set) var readCount = 0
    /// Dirty records counted but not kept because `maxKept` records were waiting.
    public private(set) var discardedCount = 0
    public private(set) var records: [DirtyRecord] = []

    public init(limit: ErrorLimit = ErrorLimit(), maxKept: Int = 10_000) {
        self.limit = limit
        self.maxKept = maxKept
    }

    /// Values that `overLengthRule` truncated, set to NULL or kept whole, in rows that were written.
    public private(set) var overLengthCount = 0

    /// Counts records read (field programs call this once per batch).
    public mutating func countRead(_ n: Int) { readCount += n }

    /// Counts values `overLengthRule` applied to (field programs call this once per batch).
    public mutating func countOverLength(_ n: Int) { overLengthCount += n }

    /// Adds a dirty record; throws `.dirtyLimit` when the record limit is now exceeded.
    public mutating func add(_ record: DirtyRecord) throws(SluiceError) {
        dirtyCount += 1
        if records.count < maxKept { records.append(record) } else { discardedCount += 1 }
        try checkRecordLimit(last: record)
    }

    /// Throws `.dirtyLimit` when more records are dirty than `limit.records` allows; `last` is the
    /// dirty record that was counted last, when it is known.
    private func checkRecordLimit(last: DirtyRecord?) throws(SluiceError) {
        guard let max = limit.records, dirtyCount > max else { return }
        let at = last.map { " at \($0.summary)" } ?? ""
        throw SluiceError(
            .dirtyLimit,
            max == 0
                ? "dirty record\(at) (settings.errorLimit.record is 0: no dirty record allowed)"
                : "more than \(max) dirty records (settings.errorLimit.record = \(max))" + (last == nil ? "" : "; the last\(at)"),
            hint: "fix the mapping or the column types, or raise settings.errorLimit; `sluice instance dirty INSTANCE` lists the dirty records")
    }

    /// Adds what `later` collected from the records that follow this collector's (the second half of
    /// a split batch): its counts, then its dirty records in order. Throws `.dirtyLimit` when the
    /// record limit is now exceeded.
    public mutating func merge(_ later: DirtyCollector) throws(SluiceError) {
        readCount += later.readCount
        overLengthCount += later.overLengthCount
        for record in later.records { try add(record) }
        // Records `later` counted but did not keep: counted here too, after the kept ones.
        dirtyCount += later.discardedCount
        discardedCount += later.discardedCount
        try checkRecordLimit(last: nil)
    }

    /// Hands over the kept records (for the ledger) and frees their memory.
    public mutating func takeRecords() -> [DirtyRecord] {
        defer { records.removeAll() }
        return records
    }

    /// The end-of-run check of `percentage`.
    public func finish() throws(SluiceError) {
        try Self.finish(limit: limit, dirty: dirtyCount, read: readCount)
    }

    /// The end-of-run checks of both limits over counts collected elsewhere (the shards of one
    /// instance, each checked on its own already).
    public static func check(limit: ErrorLimit, dirty: Int, read: Int) throws(SluiceError) {
        var total = DirtyCollector(limit: limit)
        total.dirtyCount = dirty
        total.readCount = read
        try total.checkRecordLimit(last: nil)
        try total.finish()
    }

    private static func finish(limit: ErrorLimit, dirty dirtyCount: Int, read readCount: Int) throws(SluiceError) {
        guard let p = limit.percentage, readCount > 0 else { return }
        let ratio = Double(dirtyCount) / Double(readCount)
        if ratio > p {
            throw SluiceError(
                .dirtyLimit,
                "\(dirtyCount) of \(readCount) records are dirty (\(Self.percent(ratio))), more than settings.errorLimit.percentage (\(Self.percent(p)))",
                hint: "`sluice instance dirty INSTANCE` lists the dirty records; fix the mapping or raise the limit")
        }
    }

    static func percent(_ r: Double) -> String {
        let v = (r * 10000).rounded() / 100
        return "\(v)%"
    }
}

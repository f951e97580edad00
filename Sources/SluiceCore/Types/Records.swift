/// How a Kafka record's timestamp was set.
public enum TimestampType: String, Sendable, Hashable, Codable {
    /// Old message format (magic 0) or a broker without timestamps: the timestamp is −1.
    case notAvailable
    case createTime
    case logAppendTime
}

/// A Kafka record header. `value` is nil for a null header value.
public struct KafkaHeader: Sendable, Hashable {
    public var name: String
    public var value: [UInt8]?
    public init(name: String, value: [UInt8]?) {
        self.name = name
        self.value = value
    }
}

/// A batch of Kafka records as delivered by a reader. Implementations give zero-copy access to key
/// and value bytes for as long as the batch is alive; pointers passed to the closures must not escape.
///
/// The field program is generic over this protocol so that the librdkafka-backed batch and the
/// in-memory `OwnedRecordBatch` (tests, benchmarks) run the same specialised code.
public protocol RecordBatch {
    var count: Int { get }
    func partition(at index: Int) -> Int32
    func offset(at index: Int) -> Int64
    /// Milliseconds since the epoch, or −1 when not available.
    func timestamp(at index: Int) -> Int64
    func timestampType(at index: Int) -> TimestampType
    /// Calls `body` with the key bytes, or nil for a null key.
    func withKey<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R
    /// Calls `body` with the value bytes, or nil for a null value (a tombstone).
    func withValue<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R
    /// The record's headers, in order (repeated names allowed).
    func headers(at index: Int) -> [KafkaHeader]
    /// The number of the record's headers.
    func headerCount(at index: Int) -> Int
    /// Calls `body` with the record's header `header` (0-based, in order): its name's bytes and its
    /// value's (nil for a null value), without copying. The field program renders `__headers__` this way.
    func withHeader<R>(at index: Int, _ header: Int,
                       _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) throws -> R) rethrows -> R
}

extension RecordBatch {
    /// Through `headers(at:)`, which copies; batches override it.
    public func headerCount(at index: Int) -> Int { headers(at: index).count }

    /// Through `headers(at:)`, which copies; batches override it.
    public func withHeader<R>(at index: Int, _ header: Int,
                              _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        try headers(at: index)[header].withBytes(body)
    }
}

extension KafkaHeader {
    /// Calls `body` with the name's UTF-8 bytes and the value's bytes (nil for a null value).
    @inlinable
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        var name = self.name
        return try name.withUTF8 { n in
            guard let value else { return try body(UnsafeRawBufferPointer(n), nil) }
            return try value.withUnsafeBytes { try body(UnsafeRawBufferPointer(n), $0) }
        }
    }
}

/// A Kafka record that owns its bytes.
public struct OwnedRecord: Sendable, Hashable {
    public var partition: Int32
    public var offset: Int64
    public var timestamp: Int64
    public var timestampType: TimestampType
    public var key: [UInt8]?
    public var value: [UInt8]?
    public var headers: [KafkaHeader]

    public init(partition: Int32 = 0, offset: Int64 = 0, timestamp: Int64 = -1,
                timestampType: TimestampType = .createTime, key: [UInt8]? = nil, value: [UInt8]? = nil,
                headers: [KafkaHeader] = []) {
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.timestampType = timestampType
        self.key = key
        self.value = value
        self.headers = headers
    }
}

/// An in-memory record batch, for tests, benchmarks and replay of dirty records.
public struct OwnedRecordBatch: RecordBatch, Sendable {
    public var records: [OwnedRecord]
    public init(_ records: [OwnedRecord]) { self.records = records }

    // Inlinable, so that a field program's `run` is specialised for this batch in the caller's module.
    @inlinable public var count: Int { records.count }
    @inlinable public func partition(at index: Int) -> Int32 { records[index].partition }
    @inlinable public func offset(at index: Int) -> Int64 { records[index].offset }
    @inlinable public func timestamp(at index: Int) -> Int64 { records[index].timestamp }
    @inlinable public func timestampType(at index: Int) -> TimestampType { records[index].timestampType }
    @inlinable
    public func withKey<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let key = records[index].key else { return try body(nil) }
        return try key.withUnsafeBytes { try body($0) }
    }
    @inlinable
    public func withValue<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard let value = records[index].value else { return try body(nil) }
        return try value.withUnsafeBytes { try body($0) }
    }
    @inlinable public func headers(at index: Int) -> [KafkaHeader] { records[index].headers }
    @inlinable public func headerCount(at index: Int) -> Int { records[index].headers.count }
    @inlinable
    public func withHeader<R>(at index: Int, _ header: Int,
                              _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        try records[index].headers[header].withBytes(body)
    }
}

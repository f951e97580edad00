import NIOCore

/// A request that cannot be parsed: the broker closes the connection, as Kafka does.
struct WireError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A Kafka error code (the int16 in responses); the constants are the ones the broker answers with.
public struct KafkaErrorCode: RawRepresentable, Sendable, Hashable {
    public let rawValue: Int16
    public init(rawValue: Int16) { self.rawValue = rawValue }
    public static let none = KafkaErrorCode(rawValue: 0)
    public static let offsetOutOfRange = KafkaErrorCode(rawValue: 1)
    public static let corruptMessage = KafkaErrorCode(rawValue: 2)
    public static let unknownTopicOrPartition = KafkaErrorCode(rawValue: 3)
    public static let leaderNotAvailable = KafkaErrorCode(rawValue: 5)
    public static let notLeaderForPartition = KafkaErrorCode(rawValue: 6)
    public static let requestTimedOut = KafkaErrorCode(rawValue: 7)
    public static let messageTooLarge = KafkaErrorCode(rawValue: 10)
    public static let coordinatorNotAvailable = KafkaErrorCode(rawValue: 15)
    public static let notCoordinator = KafkaErrorCode(rawValue: 16)
    public static let invalidTopic = KafkaErrorCode(rawValue: 17)
    public static let illegalGeneration = KafkaErrorCode(rawValue: 22)
    public static let inconsistentGroupProtocol = KafkaErrorCode(rawValue: 23)
    public static let unknownMemberId = KafkaErrorCode(rawValue: 25)
    public static let rebalanceInProgress = KafkaErrorCode(rawValue: 27)
    public static let invalidTimestamp = KafkaErrorCode(rawValue: 32)
    public static let unsupportedVersion = KafkaErrorCode(rawValue: 35)
    public static let topicAlreadyExists = KafkaErrorCode(rawValue: 36)
    public static let invalidPartitions = KafkaErrorCode(rawValue: 37)
    public static let invalidReplicationFactor = KafkaErrorCode(rawValue: 38)
    public static let invalidRequest = KafkaErrorCode(rawValue: 42)
    public static let unsupportedForMessageFormat = KafkaErrorCode(rawValue: 43)
    public static let unknownServerError = KafkaErrorCode(rawValue: -1)
    public static let unsupportedCompressionType = KafkaErrorCode(rawValue: 76)
    public static let invalidRecord = KafkaErrorCode(rawValue: 87)
    public static let invalidRequiredAcks = KafkaErrorCode(rawValue: 21)
    public static let invalidSessionTimeout = KafkaErrorCode(rawValue: 26)
}

extension ByteBuffer {
    mutating func rInt8() throws -> Int8 {
        guard let v = readInteger(as: Int8.self) else { throw WireError("truncated int8") }
        return v
    }
    mutating func rInt16() throws -> Int16 {
        guard let v = readInteger(as: Int16.self) else { throw WireError("truncated int16") }
        return v
    }
    mutating func rInt32() throws -> Int32 {
        guard let v = readInteger(as: Int32.self) else { throw WireError("truncated int32") }
        return v
    }
    mutating func rInt64() throws -> Int64 {
        guard let v = readInteger(as: Int64.self) else { throw WireError("truncated int64") }
        return v
    }
    mutating func rBool() throws -> Bool { try rInt8() != 0 }

    /// A nullable STRING (int16 length, -1 = null).
    mutating func rNullableString() throws -> String? {
        let n = Int(try rInt16())
        if n < 0 { return nil }
        guard let s = readString(length: n) else { throw WireError("truncated string") }
        return s
    }
    mutating func rString() throws -> String {
        guard let s = try rNullableString() else { throw WireError("null string where one is required") }
        return s
    }
    /// A nullable BYTES (int32 length, -1 = null), as a slice sharing storage.
    mutating func rNullableBytes() throws -> ByteBuffer? {
        let n = Int(try rInt32())
        if n < 0 { return nil }
        guard let b = readSlice(length: n) else { throw WireError("truncated bytes") }
        return b
    }
    mutating func rBytes() throws -> ByteBuffer {
        try rNullableBytes() ?? ByteBuffer()
    }
    /// An ARRAY (int32 count, -1 = null). The count is checked against the bytes left, so a hostile
    /// count cannot make the broker allocate.
    mutating func rNullableArray<T>(_ element: (inout ByteBuffer) throws -> T) throws -> [T]? {
        let n = Int(try rInt32())
        if n < 0 { return nil }
        guard n <= readableBytes else { throw WireError("array count \(n) exceeds the request size") }
        var out: [T] = []
        out.reserveCapacity(n)
        for _ in 0..<n { out.append(try element(&self)) }
        return out
    }
    mutating func rArray<T>(_ element: (inout ByteBuffer) throws -> T) throws -> [T] {
        try rNullableArray(element) ?? []
    }

    /// Zig-zag varint (records v2).
    mutating func rVarint() throws -> Int64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard let byte = readInteger(as: UInt8.self) else { throw WireError("truncated varint") }
            result |= UInt64(byte & 0x7f) << shift
            if byte & 0x80 == 0 { break }
            shift += 7
            if shift > 63 { throw WireError("varint too long") }
        }
        return Int64(bitPattern: result >> 1) ^ -Int64(bitPattern: result & 1)
    }

    mutating func wInt8(_ v: Int8) { writeInteger(v) }
    mutating func wInt16(_ v: Int16) { writeInteger(v) }
    mutating func wInt32(_ v: Int32) { writeInteger(v) }
    mutating func wInt64(_ v: Int64) { writeInteger(v) }
    mutating func wBool(_ v: Bool) { writeInteger(v ? Int8(1) : Int8(0)) }
    mutating func wError(_ e: KafkaErrorCode) { writeInteger(e.rawValue) }
    mutating func wString(_ s: String) {
        writeInteger(Int16(s.utf8.count))
        writeString(s)
    }
    mutating func wNullableString(_ s: String?) {
        guard let s else { writeInteger(Int16(-1)); return }
        wString(s)
    }
    mutating func wNullableBytes(_ b: ByteBuffer?) {
        guard var b else { writeInteger(Int32(-1)); return }
        writeInteger(Int32(b.readableBytes))
        writeBuffer(&b)
    }
    mutating func wArray<T>(_ items: [T], _ element: (inout ByteBuffer, T) -> Void) {
        writeInteger(Int32(items.count))
        for item in items { element(&self, item) }
    }
    mutating func wVarint(_ v: Int64) {
        var u = UInt64(bitPattern: (v << 1) ^ (v >> 63))
        while u >= 0x80 {
            writeInteger(UInt8(truncatingIfNeeded: u) | 0x80)
            u >>= 7
        }
        writeInteger(UInt8(u))
    }
}

import CRdKafka
import SluiceCore
import Foundation

/// The librdkafka messages of one delivered batch. Owned by a read; the messages are destroyed when
/// the caller's closure has returned, and the buffer is reused for the next batch.
///
/// `@unchecked Sendable`: the client's queue fills it, then hands it to the reading task, which reads
/// it (two mapping threads may read disjoint messages at once) until the closure returns; only then
/// is it released and filled again. It is never written and read at the same time.
@usableFromInline
final class MessageBuffer: @unchecked Sendable {
    let capacity: Int
    @usableFromInline let messages: UnsafeMutablePointer<UnsafeMutablePointer<rd_kafka_message_t>?>
    var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        messages = .allocate(capacity: capacity)
        messages.initialize(repeating: nil, count: capacity)
    }

    func release() {
        for i in 0..<count {
            rd_kafka_message_destroy(messages[i])
            messages[i] = nil
        }
        count = 0
    }

    deinit {
        release()
        messages.deallocate()
    }
}

/// A batch of records read from Kafka, backed by librdkafka's own buffers: key and value bytes are
/// passed to the closures without copying. Valid only inside the `deliver` closure it was passed to;
/// it must not be kept. The per-record accessors are inlinable so that a field program specialised
/// for this batch type (in the caller's module) reads librdkafka's message fields directly.
///
/// Sendable so that two threads can convert disjoint records of it at once (`FieldProgram.runSplit`):
/// reading different messages concurrently is safe, and the caller still must not keep the batch
/// past its closure.
public struct KafkaRecordBatch: RecordBatch, Sendable {
    @usableFromInline let buffer: MessageBuffer
    public let count: Int

    init(buffer: MessageBuffer) {
        self.buffer = buffer
        self.count = buffer.count
    }

    @inlinable @inline(__always) func message(_ index: Int) -> UnsafeMutablePointer<rd_kafka_message_t> {
        precondition(index >= 0 && index < count, "record index out of range")
        return buffer.messages[index].unsafelyUnwrapped
    }

    @inlinable
    public func partition(at index: Int) -> Int32 { message(index).pointee.partition }
    @inlinable
    public func offset(at index: Int) -> Int64 { message(index).pointee.offset }

    @inlinable
    public func timestamp(at index: Int) -> Int64 {
        rd_kafka_message_timestamp(message(index), nil)
    }

    public func timestampType(at index: Int) -> TimestampType {
        var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
        _ = rd_kafka_message_timestamp(message(index), &type)
        switch type {
        case RD_KAFKA_TIMESTAMP_CREATE_TIME: return .createTime
        case RD_KAFKA_TIMESTAMP_LOG_APPEND_TIME: return .logAppendTime
        default: return .notAvailable
        }
    }

    @inlinable
    public func withKey<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        let m = message(index)
        guard let key = m.pointee.key else { return try body(nil) }
        return try body(UnsafeRawBufferPointer(start: key, count: m.pointee.key_len))
    }

    @inlinable
    public func withValue<R>(at index: Int, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        let m = message(index)
        guard let payload = m.pointee.payload else { return try body(nil) }
        return try body(UnsafeRawBufferPointer(start: payload, count: m.pointee.len))
    }

    public func headers(at index: Int) -> [KafkaHeader] {
        (0..<headerCount(at: index)).map { h in
            withHeader(at: index, h) { name, value in
                KafkaHeader(name: String(decoding: name, as: UTF8.self), value: value.map { Array($0) })
            }
        }
    }

    /// librdkafka's parsed headers of the message (parsed once, kept with the message), or nil.
    func headerList(_ index: Int) -> OpaquePointer? {
        var hdrs: OpaquePointer?
        guard rd_kafka_message_headers(message(index), &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        return hdrs
    }

    public func headerCount(at index: Int) -> Int {
        headerList(index).map { rd_kafka_header_cnt($0) } ?? 0
    }

    public func withHeader<R>(at index: Int, _ header: Int,
                              _ body: (UnsafeRawBufferPointer, UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        var name: UnsafePointer<CChar>?
        var value: UnsafeRawPointer?
        var size = 0
        guard let hdrs = headerList(index),
              rd_kafka_header_get_all(hdrs, header, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR else {
            preconditionFailure("header \(header) out of range")
        }
        let nameBytes = name.map { UnsafeRawBufferPointer(start: $0, count: strlen($0)) } ?? UnsafeRawBufferPointer(start: nil, count: 0)
        return try body(nameBytes, value.map { UnsafeRawBufferPointer(start: $0, count: size) })
    }

    /// Copies one record out of the batch (e.g. a dirty record to keep).
    public func owned(at i: Int) -> OwnedRecord {
        OwnedRecord(partition: partition(at: i), offset: offset(at: i), timestamp: timestamp(at: i),
                    timestampType: timestampType(at: i),
                    key: withKey(at: i) { $0.map { Array($0) } },
                    value: withValue(at: i) { $0.map { Array($0) } },
                    headers: headers(at: i))
    }

    /// Copies the batch into owned records (for tests and for keeping records beyond the closure).
    public func owned() -> OwnedRecordBatch {
        OwnedRecordBatch((0..<count).map { owned(at: $0) })
    }
}

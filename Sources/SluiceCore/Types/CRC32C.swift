/// CRC-32C (Castagnoli: reflected polynomial 0x82F63B78, init and xorout 0xFFFFFFFF), table-driven
/// with slicing-by-8. `CRC32C.checksum(Array("123456789".utf8)) == 0xE3069283`.
public struct CRC32C: @unchecked Sendable {  // `t` points to immutable tables
    @usableFromInline var state: UInt32 = 0xFFFF_FFFF
    /// The tables, cached so that the hot path does not go through the global's lazy initialiser.
    @usableFromInline let t: UnsafePointer<UInt32>

    public init() { t = crc32cTable }

    /// The checksum of everything fed so far.
    @inlinable public var value: UInt32 { ~state }

    @inlinable public mutating func reset() { state = 0xFFFF_FFFF }

    /// Feeds one byte.
    @inlinable public mutating func update(byte: UInt8) {
        state = t[Int((state ^ UInt32(byte)) & 0xFF)] ^ (state >> 8)
    }

    /// Feeds a 32-bit value as 4 little-endian bytes.
    @inlinable public mutating func update(uint32 v: UInt32) {
        let c = state ^ v
        state = t[3 * 256 + Int(c & 0xFF)] ^ t[2 * 256 + Int((c >> 8) & 0xFF)]
            ^ t[256 + Int((c >> 16) & 0xFF)] ^ t[Int(c >> 24)]
    }

    /// Feeds a 64-bit value as 8 little-endian bytes.
    @inlinable public mutating func update(uint64 v: UInt64) {
        let lo = state ^ UInt32(truncatingIfNeeded: v)
        let hi = UInt32(truncatingIfNeeded: v >> 32)
        state = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
            ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
            ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
            ^ t[256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
    }

    /// Feeds raw bytes.
    @inlinable public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard var p = bytes.baseAddress else { return }
        var n = bytes.count
        while n >= 8 {
            update(uint64: UInt64(littleEndian: p.loadUnaligned(as: UInt64.self)))
            p += 8
            n -= 8
        }
        while n > 0 {
            update(byte: p.load(as: UInt8.self))
            p += 1
            n -= 1
        }
    }

    /// Feeds the bytes of a collection.
    @inlinable public mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        if let done: Void = bytes.withContiguousStorageIfAvailable({ update(UnsafeRawBufferPointer($0)) }) {
            return done
        }
        for b in bytes { update(byte: b) }
    }

    /// The CRC-32C of `bytes`.
    public static func checksum<C: Collection>(_ bytes: C) -> UInt32 where C.Element == UInt8 {
        var c = CRC32C()
        c.update(bytes)
        return c.value
    }
}

/// Eight 256-entry tables, table k at offset k*256. Built once, never freed.
@usableFromInline nonisolated(unsafe) let crc32cTable: UnsafePointer<UInt32> = {
    let t = UnsafeMutablePointer<UInt32>.allocate(capacity: 8 * 256)
    for i in 0..<256 {
        var c = UInt32(i)
        for _ in 0..<8 { c = (c & 1) != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        t[i] = c
    }
    for k in 1..<8 {
        for i in 0..<256 {
            let prev = t[(k - 1) * 256 + i]
            t[k * 256 + i] = (prev >> 8) ^ t[Int(prev & 0xFF)]
        }
    }
    return UnsafePointer(t)
}()

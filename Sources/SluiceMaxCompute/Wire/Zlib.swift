import CSluiceCompression
import SluiceCore

/// zlib-format (RFC 1950: 2-byte header, deflate data, Adler-32 trailer) compression, as the tunnel
/// expects for `Content-Encoding: deflate`.
public enum Zlib {
    /// Compresses `bytes`; `level` 1 (fastest) … 9.
    public static func compress(_ bytes: [UInt8], level: Int32 = 1) throws -> [UInt8] {
        var bound = compressBound(uLong(bytes.count))
        var out = [UInt8](repeating: 0, count: Int(bound))
        let rc = out.withUnsafeMutableBufferPointer { dst in
            bytes.withUnsafeBufferPointer { src in
                compress2(dst.baseAddress, &bound, src.baseAddress, uLong(src.count), level)
            }
        }
        guard rc == Z_OK else { throw SluiceError(.failed, "zlib compression failed (code \(rc))") }
        out.removeSubrange(Int(bound)...)
        return out
    }

    /// Decompresses a complete zlib stream. Throws on corrupt data, a truncated stream, or bytes
    /// after the end of the stream.
    public static func decompress(_ bytes: [UInt8], sizeHint: Int = 0) throws -> [UInt8] {
        var capacity = max(sizeHint, bytes.count * 4, 64)
        while true {
            var outLength = uLong(capacity)
            var inLength = uLong(bytes.count)
            var out = [UInt8](repeating: 0, count: capacity)
            let rc = out.withUnsafeMutableBufferPointer { dst in
                bytes.withUnsafeBufferPointer { src in
                    uncompress2(dst.baseAddress, &outLength, src.baseAddress, &inLength)
                }
            }
            if rc == Z_BUF_ERROR && Int(outLength) == capacity {
                capacity *= 2
                continue
            }
            guard rc == Z_OK else { throw SluiceError(.failed, "zlib stream is corrupt or truncated (code \(rc))") }
            guard Int(inLength) == bytes.count else {
                throw SluiceError(.failed, "zlib stream is followed by \(bytes.count - Int(inLength)) extra bytes")
            }
            out.removeSubrange(Int(outLength)...)
            return out
        }
    }
}

import CSluiceCompression
import SluiceCore
import NIOCore

/// Kafka's compression codecs (attribute bits 0–2 of a batch or message).
enum CompressionCodec: Int8, Sendable {
    case none = 0, gzip = 1, snappy = 2, lz4 = 3, zstd = 4
}

/// Decompression of batch payloads through the Debian C libraries, and gzip compression for the
/// conversions the broker performs. Inputs are bounded: a payload may expand to at most `limit` bytes.
enum Codecs {
    static let limit = 64 << 20

    static func decompress(_ codec: CompressionCodec, _ input: ByteBuffer) throws -> ByteBuffer {
        let bytes = Array(input.readableBytesView)
        let out: [UInt8]
        switch codec {
        case .none: return input
        case .gzip: out = try inflate(bytes)
        case .snappy: out = try unsnappy(bytes)
        case .lz4: out = try unlz4(bytes)
        case .zstd: out = try unzstd(bytes)
        }
        var buffer = ByteBufferAllocator().buffer(capacity: out.count)
        buffer.writeBytes(out)
        return buffer
    }

    /// gzip or zlib stream (auto-detected), as Kafka producers write them.
    static func inflate(_ input: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 32, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw WireError("zlib init failed")
        }
        defer { inflateEnd(&stream) }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var input = input
        let status: Int32 = input.withUnsafeMutableBufferPointer { inBuf in
            stream.next_in = inBuf.baseAddress
            stream.avail_in = UInt32(inBuf.count)
            while true {
                let rc: Int32 = chunk.withUnsafeMutableBufferPointer { outBuf in
                    stream.next_out = outBuf.baseAddress
                    stream.avail_out = UInt32(outBuf.count)
                    return CSluiceCompression.inflate(&stream, Z_NO_FLUSH)
                }
                let produced = chunk.count - Int(stream.avail_out)
                out.append(contentsOf: chunk[0..<produced])
                if out.count > limit { return Z_MEM_ERROR }
                if rc == Z_STREAM_END { return Z_OK }
                if rc != Z_OK { return rc }
                if stream.avail_in == 0 && produced == 0 { return Z_BUF_ERROR }
            }
        }
        guard status == Z_OK else { throw WireError("gzip payload is corrupt (zlib \(status))") }
        return out
    }

    static func gzip(_ input: [UInt8]) throws -> [UInt8] {
        var stream = z_stream()
        guard deflateInit2_(&stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY,
                            ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw WireError("zlib init failed")
        }
        defer { deflateEnd(&stream) }
        var out = [UInt8](repeating: 0, count: Int(deflateBound(&stream, UInt(input.count))) + 32)
        var input = input
        let rc: Int32 = input.withUnsafeMutableBufferPointer { inBuf in
            out.withUnsafeMutableBufferPointer { outBuf in
                stream.next_in = inBuf.baseAddress
                stream.avail_in = UInt32(inBuf.count)
                stream.next_out = outBuf.baseAddress
                stream.avail_out = UInt32(outBuf.count)
                return deflate(&stream, Z_FINISH)
            }
        }
        guard rc == Z_STREAM_END else { throw WireError("gzip compression failed (zlib \(rc))") }
        out.removeLast(Int(stream.avail_out))
        return out
    }

    /// Compresses a payload the way producers do (gzip stream, raw snappy, LZ4 frame, zstd frame).
    static func compress(_ codec: CompressionCodec, _ input: [UInt8]) throws -> [UInt8] {
        switch codec {
        case .none:
            return input
        case .gzip:
            return try gzip(input)
        case .snappy:
            var length = snappy_max_compressed_length(input.count)
            var out = [UInt8](repeating: 0, count: length)
            let rc = input.withUnsafeBufferPointer { i in
                i.withMemoryRebound(to: CChar.self) { ic in
                    out.withUnsafeMutableBufferPointer { o in
                        o.withMemoryRebound(to: CChar.self) { oc in snappy_compress(ic.baseAddress, ic.count, oc.baseAddress, &length) }
                    }
                }
            }
            guard rc == SNAPPY_OK else { throw WireError("snappy compression failed") }
            out.removeLast(out.count - length)
            return out
        case .lz4:
            var out = [UInt8](repeating: 0, count: LZ4F_compressFrameBound(input.count, nil))
            let n = input.withUnsafeBufferPointer { i in
                out.withUnsafeMutableBufferPointer { o in LZ4F_compressFrame(o.baseAddress, o.count, i.baseAddress, i.count, nil) }
            }
            guard LZ4F_isError(n) == 0 else { throw WireError("lz4 compression failed") }
            out.removeLast(out.count - n)
            return out
        case .zstd:
            var out = [UInt8](repeating: 0, count: ZSTD_compressBound(input.count))
            let n = input.withUnsafeBufferPointer { i in
                out.withUnsafeMutableBufferPointer { o in ZSTD_compress(o.baseAddress, o.count, i.baseAddress, i.count, 3) }
            }
            guard ZSTD_isError(n) == 0 else { throw WireError("zstd compression failed") }
            out.removeLast(out.count - n)
            return out
        }
    }

    /// Raw snappy, or the xerial framing the Java client writes (magic `82 SNAPPY 00`, then
    /// version and compatible ints, then int32-length-prefixed raw snappy blocks).
    static func unsnappy(_ input: [UInt8]) throws -> [UInt8] {
        let xerial: [UInt8] = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00]
        if input.count >= 16 && Array(input[0..<8]) == xerial {
            var out = [UInt8]()
            var pos = 16
            while pos + 4 <= input.count {
                let n = Int(input[pos]) << 24 | Int(input[pos + 1]) << 16 | Int(input[pos + 2]) << 8 | Int(input[pos + 3])
                pos += 4
                guard n >= 0, pos + n <= input.count else { throw WireError("snappy xerial block truncated") }
                out += try rawUnsnappy(Array(input[pos..<(pos + n)]))
                if out.count > limit { throw WireError("snappy payload too large") }
                pos += n
            }
            return out
        }
        return try rawUnsnappy(input)
    }

    static func rawUnsnappy(_ input: [UInt8]) throws -> [UInt8] {
        var length = 0
        let ok = input.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { c in
                snappy_uncompressed_length(c.baseAddress, c.count, &length) == SNAPPY_OK
            }
        }
        guard ok, length <= limit else { throw WireError("snappy payload is corrupt") }
        var out = [UInt8](repeating: 0, count: length)
        var outLength = length
        let rc = input.withUnsafeBufferPointer { p in
            p.withMemoryRebound(to: CChar.self) { c in
                out.withUnsafeMutableBufferPointer { o in
                    o.withMemoryRebound(to: CChar.self) { oc in
                        snappy_uncompress(c.baseAddress, c.count, oc.baseAddress, &outLength)
                    }
                }
            }
        }
        guard rc == SNAPPY_OK else { throw WireError("snappy payload is corrupt") }
        out.removeLast(length - outLength)
        return out
    }

    static func unlz4(_ input: [UInt8]) throws -> [UInt8] {
        var ctx: OpaquePointer?
        guard LZ4F_isError(LZ4F_createDecompressionContext(&ctx, UInt32(LZ4F_VERSION))) == 0, let ctx else {
            throw WireError("lz4 init failed")
        }
        defer { LZ4F_freeDecompressionContext(ctx) }
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        var pos = 0
        while pos < input.count {
            var srcSize = input.count - pos
            var dstSize = chunk.count
            let rc = input.withUnsafeBufferPointer { src in
                chunk.withUnsafeMutableBufferPointer { dst in
                    LZ4F_decompress(ctx, dst.baseAddress, &dstSize, src.baseAddress! + pos, &srcSize, nil)
                }
            }
            if LZ4F_isError(rc) != 0 { throw WireError("lz4 payload is corrupt") }
            out.append(contentsOf: chunk[0..<dstSize])
            if out.count > limit { throw WireError("lz4 payload too large") }
            pos += srcSize
            if rc == 0 { break }
            if srcSize == 0 && dstSize == 0 { throw WireError("lz4 payload truncated") }
        }
        return out
    }

    static func unzstd(_ input: [UInt8]) throws -> [UInt8] {
        guard let ds = ZSTD_createDStream() else { throw WireError("zstd init failed") }
        defer { ZSTD_freeDStream(ds) }
        ZSTD_initDStream(ds)
        var out = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 128 << 10)
        try input.withUnsafeBufferPointer { src in
            var inBuf = ZSTD_inBuffer(src: src.baseAddress, size: src.count, pos: 0)
            while true {
                var produced = 0
                let rc = chunk.withUnsafeMutableBufferPointer { dst in
                    var outBuf = ZSTD_outBuffer(dst: dst.baseAddress, size: dst.count, pos: 0)
                    let rc = ZSTD_decompressStream(ds, &outBuf, &inBuf)
                    produced = outBuf.pos
                    return rc
                }
                if ZSTD_isError(rc) != 0 { throw WireError("zstd payload is corrupt") }
                out.append(contentsOf: chunk[0..<produced])
                if out.count > limit { throw WireError("zstd payload too large") }
                if inBuf.pos >= inBuf.size && produced < chunk.count { break }
            }
        }
        return out
    }
}

extension CRC32C {
    /// The CRC-32C of `buffer`'s bytes at absolute indices `[start, end)`: the checksum of record batches v2.
    static func checksum(_ buffer: ByteBuffer, from start: Int, to end: Int) -> UInt32 {
        buffer.withUnsafeReadableBytes { raw in
            var crc = CRC32C()
            crc.update(UnsafeRawBufferPointer(rebasing: raw[(start - buffer.readerIndex)..<(end - buffer.readerIndex)]))
            return crc.value
        }
    }
}

/// CRC-32 (IEEE, zlib's), the checksum of messages v0/v1.
enum CRC32 {
    static func checksum(_ buffer: ByteBuffer, from start: Int, to end: Int) -> UInt32 {
        buffer.withUnsafeReadableBytes { raw in
            let base = raw.baseAddress!.assumingMemoryBound(to: UInt8.self) + (start - buffer.readerIndex)
            return UInt32(crc32(0, base, UInt32(end - start)))
        }
    }
}

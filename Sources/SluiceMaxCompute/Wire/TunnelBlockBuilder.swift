import SluiceCore

/// One complete block: a record stream with its trailer, ready to upload.
public struct EncodedBlock: Sendable {
    /// The record stream (uncompressed).
    public var bytes: [UInt8]
    public var rows: Int64
    public init(bytes: [UInt8], rows: Int64) {
        self.bytes = bytes
        self.rows = rows
    }
}

/// Cuts a stream of rows into blocks of about `blockSize` bytes each (uncompressed; a block closes
/// after the row that reaches the size).
public struct TunnelBlockBuilder: Sendable {
    public private(set) var encoder: TunnelRecordEncoder
    public let blockSize: Int
    private var buffer = WireBuffer()
    /// Rows encoded in all blocks so far, including the open one.
    public private(set) var totalRows: Int64 = 0

    public init(encoder: TunnelRecordEncoder, blockSize: Int = 64 << 20) {
        self.encoder = encoder
        self.blockSize = max(blockSize, 1)
    }

    /// Rows in the open block.
    public var pendingRows: Int64 { encoder.recordCount }

    /// Encodes the rows of `batch`; returns the blocks that became full.
    public mutating func add(_ batch: RowBatch) throws -> [EncodedBlock] {
        var full: [EncodedBlock] = []
        try batch.withCells { cells in
            for r in 0..<cells.rowCount {
                try encoder.encodeRow(r, of: cells, into: &buffer)
                totalRows += 1
                if buffer.length >= blockSize { full.append(close()) }
            }
        }
        return full
    }

    /// Closes the open block; nil when it has no rows.
    public mutating func flush() -> EncodedBlock? {
        encoder.recordCount > 0 ? close() : nil
    }

    private mutating func close() -> EncodedBlock {
        let rows = encoder.recordCount
        encoder.finish(into: &buffer)
        // The block gets an exact-size copy; the buffer (up to twice the block size) is reused.
        return EncodedBlock(bytes: buffer.copyOut(), rows: rows)
    }
}

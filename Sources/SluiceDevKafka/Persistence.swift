import Foundation
import NIOCore
import SluiceCore

/// `--data-dir`: topics, records and committed offsets kept in a directory, reloaded at start.
///
/// Layout: `broker.conf` (the personality), `offsets.json` (committed offsets), and per topic a
/// directory `topics/<name>/` with `topic.conf`, and per partition `<p>.log` (the stored batches or
/// messages, exactly as served) and `<p>.start` (the log start offset after retention).
final class Persistence {
    let root: URL
    var handles: [String: FileHandle] = [:]

    init(directory: String, version: KafkaVersion) throws {
        root = URL(fileURLWithPath: directory, isDirectory: true)
        let fm = FileManager.default
        do {
            try fm.createDirectory(at: root.appendingPathComponent("topics"), withIntermediateDirectories: true)
        } catch {
            throw SluiceError(.failed, "dev-kafka cannot create its data directory \(directory): \(error.localizedDescription)",
                              hint: "pass a writable --data-dir")
        }
        let conf = root.appendingPathComponent("broker.conf")
        if let existing = try? String(contentsOf: conf, encoding: .utf8) {
            let stored = existing.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: "kafka-version ", with: "")
            guard stored == version.rawValue else {
                throw SluiceError(.invalidInput, "data directory \(directory) holds a Kafka \(stored) log, not \(version.rawValue)",
                                  hint: "use --kafka-version \(stored), or another --data-dir")
            }
        } else {
            try write("kafka-version \(version.rawValue)\n", to: conf)
        }
    }

    private func write(_ text: String, to url: URL) throws {
        do {
            try Data(text.utf8).write(to: url, options: .atomic)
        } catch {
            throw SluiceError(.failed, "dev-kafka cannot write \(url.path): \(error.localizedDescription)")
        }
    }

    private func topicDir(_ name: String) -> URL { root.appendingPathComponent("topics").appendingPathComponent(name) }

    func createTopic(_ t: DevKafkaTopic) throws {
        let dir = topicDir(t.name)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try write("partitions \(t.partitions)\ntimestamp \(t.logAppendTime ? "logappendtime" : "createtime")\n",
                  to: dir.appendingPathComponent("topic.conf"))
    }

    func deleteTopic(_ name: String) throws {
        for key in handles.keys where key.hasPrefix(name + "/") {
            try? handles[key]?.close()
            handles[key] = nil
        }
        try FileManager.default.removeItem(at: topicDir(name))
    }

    func append(_ chunk: Chunk, topic: String, partition: Int) throws {
        let key = "\(topic)/\(partition)"
        let handle: FileHandle
        if let h = handles[key] {
            handle = h
        } else {
            let url = topicDir(topic).appendingPathComponent("\(partition).log")
            if !FileManager.default.fileExists(atPath: url.path) {
                _ = FileManager.default.createFile(atPath: url.path, contents: nil)
            }
            handle = try FileHandle(forWritingTo: url)
            try handle.seekToEnd()
            handles[key] = handle
        }
        try handle.write(contentsOf: Data(chunk.bytes.readableBytesView))
    }

    func setLogStart(topic: String, partition: Int, offset: Int64) throws {
        try write("\(offset)\n", to: topicDir(topic).appendingPathComponent("\(partition).start"))
    }

    func saveOffsets(_ committed: [String: [String: [Int32: (offset: Int64, metadata: String?, epoch: Int32)]]]) throws {
        var json: [String: [String: [String: Int64]]] = [:]
        for (g, topics) in committed {
            for (t, parts) in topics {
                for (p, c) in parts { json[g, default: [:]][t, default: [:]][String(p)] = c.offset }
            }
        }
        let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
        try data.write(to: root.appendingPathComponent("offsets.json"), options: .atomic)
    }

    func loadOffsets() throws -> [String: [String: [Int32: (offset: Int64, metadata: String?, epoch: Int32)]]] {
        guard let data = try? Data(contentsOf: root.appendingPathComponent("offsets.json")),
              let json = try JSONSerialization.jsonObject(with: data) as? [String: [String: [String: Int64]]] else { return [:] }
        var out: [String: [String: [Int32: (offset: Int64, metadata: String?, epoch: Int32)]]] = [:]
        for (g, topics) in json {
            for (t, parts) in topics {
                for (p, o) in parts { if let p = Int32(p) { out[g, default: [:]][t, default: [:]][p] = (o, "", -1) } }
            }
        }
        return out
    }

    /// Every stored topic with its partitions' logs rebuilt.
    func load() throws -> [TopicState] {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: root.appendingPathComponent("topics").path)) ?? []
        var out: [TopicState] = []
        for name in names.sorted() {
            let dir = topicDir(name)
            guard let conf = try? String(contentsOf: dir.appendingPathComponent("topic.conf"), encoding: .utf8) else { continue }
            var partitions = 1
            var logAppend = false
            for line in conf.split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 2 && parts[0] == "partitions" { partitions = Int(parts[1]) ?? 1 }
                if parts.count == 2 && parts[0] == "timestamp" { logAppend = parts[1] == "logappendtime" }
            }
            let topic = TopicState(name: name, partitions: partitions, logAppendTime: logAppend)
            for p in 0..<partitions {
                let log = topic.partitions[p]
                let url = dir.appendingPathComponent("\(p).log")
                if let data = try? Data(contentsOf: url) {
                    var buffer = ByteBuffer(bytes: data)
                    do {
                        for chunk in try RecordFormat.indexStored(&buffer) { log.append(chunk, now: -1) }
                        if buffer.readableBytes > 0 {
                            let handle = try FileHandle(forWritingTo: url)
                            try handle.truncate(atOffset: UInt64(data.count - buffer.readableBytes))
                            try handle.close()
                        }
                    } catch {
                        throw SluiceError(.failed, "dev-kafka cannot read \(dir.path)/\(p).log: \(error)",
                                          hint: "the file is damaged; remove the topic directory to start it empty")
                    }
                }
                if let start = try? String(contentsOf: dir.appendingPathComponent("\(p).start"), encoding: .utf8),
                   let offset = Int64(start.trimmingCharacters(in: .whitespacesAndNewlines)) {
                    log.deleteRecords(before: offset)
                }
            }
            out.append(topic)
        }
        return out
    }
}

extension RecordFormat {
    /// Rebuilds the chunks (and their timestamp indexes) of a stored log: batches v2 one chunk each,
    /// messages v0/v1 one chunk per entry. A truncated last entry is ignored.
    static func indexStored(_ buffer: inout ByteBuffer) throws -> [Chunk] {
        var chunks: [Chunk] = []
        while buffer.readableBytes > 0 {
            guard buffer.readableBytes >= 17, let size = buffer.getInteger(at: buffer.readerIndex + 8, as: Int32.self),
                  size >= 0, Int(size) + 12 <= buffer.readableBytes else {
                // A write cut short by a crash: like Kafka's log recovery, the partial tail is dropped.
                break
            }
            let magic = buffer.getInteger(at: buffer.readerIndex + 16, as: Int8.self)!
            let entry = buffer.readSlice(length: Int(size) + 12)!
            if magic == 2 {
                let records = try decodeV2(entry)
                guard let first = records.first, let last = records.last else { continue }
                let attributes = entry.getInteger(at: entry.readerIndex + 21, as: Int16.self)!
                let maxTs = entry.getInteger(at: entry.readerIndex + 35, as: Int64.self)!
                chunks.append(Chunk(baseOffset: first.offset, lastOffset: last.offset, maxTimestamp: maxTs,
                                    timestamps: attributes & 0x08 != 0 ? nil : records.map(\.timestamp),
                                    bytes: entry, entryLastOffsets: [last.offset], entryPositions: [0], magic: 2))
            } else {
                guard let m = try parseMessageSet(entry).first else { continue }
                var stamps = [m.timestamp]
                var base = m.offset
                if m.attributes & 0x07 != 0, let codec = CompressionCodec(rawValue: m.attributes & 0x07) {
                    let inner = try parseMessageSet(try Codecs.decompress(codec, m.value ?? ByteBuffer()))
                    base = m.offset - Int64(inner.count) + 1
                    stamps = inner.map { m.attributes & 0x08 != 0 ? m.timestamp : $0.timestamp }
                }
                chunks.append(Chunk(baseOffset: base, lastOffset: m.offset, maxTimestamp: stamps.max() ?? -1, timestamps: stamps,
                                    bytes: entry, entryLastOffsets: [m.offset], entryPositions: [0], magic: m.magic))
            }
        }
        return chunks
    }
}

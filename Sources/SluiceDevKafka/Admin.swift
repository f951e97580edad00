import Foundation
import NIOCore
import NIOPosix
import SluiceCore

/// Splits the admin stream into lines.
struct LineDecoder: ByteToMessageDecoder {
    typealias InboundOut = String

    mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let nl = buffer.readableBytesView.firstIndex(of: UInt8(ascii: "\n")) else {
            if buffer.readableBytes > 4096 { throw WireError("admin line too long") }
            return .needMoreData
        }
        let line = buffer.readString(length: nl - buffer.readerIndex)!
        buffer.moveReaderIndex(forwardBy: 1)
        context.fireChannelRead(Self.wrapInboundOut(line.trimmingCharacters(in: .whitespacesAndNewlines)))
        return .continue
    }
}

/// The admin line protocol: one command per line, one reply line (`ok …` or `error …`).
final class AdminHandler: ChannelInboundHandler {
    typealias InboundIn = String
    typealias OutboundOut = ByteBuffer
    let broker: DevKafkaBroker

    init(broker: DevKafkaBroker) { self.broker = broker }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let reply = broker.runAdminCommand(unwrapInboundIn(data))
        var out = context.channel.allocator.buffer(capacity: reply.utf8.count + 1)
        out.writeString(reply + "\n")
        context.writeAndFlush(wrapOutboundOut(out), promise: nil)
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) { context.close(promise: nil) }
}

extension DevKafkaBroker {
    /// The admin commands, as documented in docs/dev-kafka.md.
    public static let adminHelp = """
        drop-connections | fail API_KEY COUNT ERROR_CODE | delay MS [API_KEY] | refuse MS | down MS | \
        delete-records TOPIC PARTITION OFFSET | create-topic NAME[:PARTITIONS[:logappendtime]] | \
        watermarks TOPIC PARTITION | produce TOPIC PARTITION TIMESTAMP_MS KEY|- VALUE… | help
        """

    /// Runs one admin command line and returns the reply line.
    public func runAdminCommand(_ line: String) -> String {
        let words = line.split(separator: " ", omittingEmptySubsequences: true).map(String.init)
        guard let command = words.first else { return "error empty command; " + Self.adminHelp }
        let args = Array(words.dropFirst())
        func int(_ i: Int) -> Int64? { i < args.count ? Int64(args[i]) : nil }
        switch (command, args.count) {
        case ("drop-connections", 0):
            return "ok \(dropAllConnections())"
        case ("fail", 3):
            guard let key = int(0), let count = int(1), let code = int(2),
                  let k = Int16(exactly: key), let c = Int16(exactly: code) else { break }
            failNextRequests(apiKey: k, count: Int(count), errorCode: c)
            return "ok"
        case ("delay", 1), ("delay", 2):
            guard let ms = int(0) else { break }
            if args.count == 2 {
                guard let key = int(1), let k = Int16(exactly: key) else { break }
                delayResponses(milliseconds: ms, apiKey: k)
            } else {
                delayResponses(milliseconds: ms)
            }
            return "ok"
        case ("down", 1):
            guard let ms = int(0) else { break }
            let broker = self
            Task { await broker.outage(milliseconds: ms) }
            return "ok"
        case ("refuse", 1):
            guard let ms = int(0) else { break }
            refuseConnections(milliseconds: ms)
            return "ok"
        case ("delete-records", 3):
            guard let p = int(1), let o = int(2), let p32 = Int32(exactly: p) else { break }
            do { try deleteRecords(topic: args[0], partition: p32, before: o) } catch { return "error \(error)" }
            return "ok \(watermarks(topic: args[0], partition: p32)?.low ?? -1)"
        case ("create-topic", 1):
            do { try createTopic(try DevKafkaTopic(parsing: args[0])) } catch { return "error \(error)" }
            return "ok"
        case ("watermarks", 2):
            guard let p = int(1), let p32 = Int32(exactly: p), let w = watermarks(topic: args[0], partition: p32) else {
                return "error no such topic partition"
            }
            return "ok \(w.low) \(w.high)"
        case ("produce", 5...):
            guard let p = int(1), let p32 = Int32(exactly: p), let ts = int(2) else { break }
            let key = args[3] == "-" ? nil : Array(args[3].utf8)
            let value = Array(args[4...].joined(separator: " ").utf8)
            do {
                let offset = try produce(topic: args[0], partition: p32, records: [OwnedRecord(timestamp: ts, key: key, value: value)])
                return "ok \(offset)"
            } catch {
                return "error \(error)"
            }
        case ("help", _):
            return "ok " + Self.adminHelp
        default:
            break
        }
        return "error cannot run '\(line)'; commands: " + Self.adminHelp
    }

    /// Starts the admin line protocol on `host:port` (0 picks a free port); returns the port.
    /// It stops with the broker.
    public func startAdmin(host: String = "127.0.0.1", port: Int) async throws -> Int {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { [self] channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ByteToMessageHandler(LineDecoder()))
                    try channel.pipeline.syncOperations.addHandler(AdminHandler(broker: self))
                }
            }
        do {
            let admin = try await bootstrap.bind(host: host, port: port).get()
            lifetime.futureResult.whenComplete { _ in admin.close(promise: nil) }
            return admin.localAddress?.port ?? port
        } catch {
            throw SluiceError(.failed, "dev-kafka cannot listen for admin commands on \(host):\(port): \(error)",
                              hint: "pick another --admin-port, or 0 for a free one")
        }
    }
}

import Foundation
import SluiceCore
import SluiceJob
import SluiceLedger
import SluiceMapping

/// Runs one claimed shard of an instance, in a `sluice worker` or in the coordinator: reads the
/// shard's part of the plan, maps it and writes it where the destination keeps it for the commit
/// (`ShardedSink.openShard`), then records the result under the claim's fence. The lease is renewed
/// while it runs; when the claim was taken over (this worker was thought dead), the shard stops and
/// what it wrote is removed, so only the new holder's rows reach the commit.
struct ShardRun<Source: WindowSource> {
    let source: Source
    let sink: any ShardedSink
    let program: FieldProgram
    let ledger: any Ledger
    let claimed: ClaimedShard
    let lease: Double
    let errorLimit: ErrorLimit
    let batchRows: Int
    let readOptions: ReadOptions
    let progress: RunProgress

    /// Runs the shard; returns whether its result was recorded (false: the claim was taken over).
    /// A failure is recorded on the shard (the coordinator fails the instance) and rethrown.
    func run() async throws -> Bool {
        let s = claimed.shard, set = claimed.set, sink = self.sink, ledger = self.ledger, lease = self.lease
        let started = ContinuousClock.now
        let work = Task {
            let partition = try PartitionSpec(parsing: set.partition)
            let transfer = TransferStage(
                source: source,
                open: { try await sink.openShard(token: set.token, shard: s.shard, fence: s.fence, partition: partition, columns: $0) },
                program: program, ledger: ledger, instanceId: s.instanceId, errorLimit: errorLimit, batchRows: batchRows,
                progress: progress)
            let t = try await transfer.run(s.plan, options: readOptions)
            _ = try await t.writer.commit(WriteOutcome())
            return t
        }
        let renew = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .milliseconds(Int(lease * 1000 / 3)))
                if Task.isCancelled { return }
                let held = try? await ledger.renewShard(id: s.instanceId, attempt: s.attempt, shard: s.shard, fence: s.fence,
                                                        leaseUntil: Date().addingTimeInterval(lease))
                if held == false { work.cancel(); return }
            }
        }
        defer { renew.cancel() }
        do {
            let t = try await withTaskCancellationHandler { try await work.value } onCancel: { work.cancel() }
            guard let writer = t.writer as? any ShardWriter else {
                throw SluiceError(.destination, "the destination's shard writer cannot say where its rows are")
            }
            let result = ShardResult(summary: t.summary, rows: t.rowsHanded, dirty: t.dirty, overLength: t.overLength,
                                     bytesRead: t.bytesRead, seconds: started.duration(to: .now).seconds, written: writer.written)
            if try await ledger.finishShard(id: s.instanceId, attempt: s.attempt, shard: s.shard, fence: s.fence, result: result, error: nil) {
                return true
            }
            await writer.discard()
            return false
        } catch {
            // Abandoned (the worker stops, or lost its claim): the lease runs out and another worker
            // redoes the shard; nothing is recorded.
            if Task.isCancelled || work.isCancelled { throw CancellationError() }
            let message = (error as? SluiceError)?.description ?? "\(error)"
            _ = try? await ledger.finishShard(id: s.instanceId, attempt: s.attempt, shard: s.shard, fence: s.fence,
                                              result: nil, error: message)
            throw error
        }
    }
}

extension ClaimedShard {
    /// `shard 2 of instance 17 (partitions 0@10–20, 3@0–400)`.
    var label: String {
        let ranges = shard.plan.partitions.map { "\($0.partition)@\($0.fromOffset)–\($0.toOffset)" }.joined(separator: ", ")
        return "shard \(shard.shard) of instance \(shard.instanceId) (partitions \(ranges))"
    }
}

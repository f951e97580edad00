import Foundation
import SluiceCore
import Synchronization

/// Progress of a running instance on a terminal: records, rate, and each partition's share of its
/// planned offsets, redrawn at most five times a second on one line of standard error. Silent when
/// standard error is not a terminal.
public final class RunProgress: Sendable {
    private struct State {
        var lastDraw = ContinuousClock.now
        var plan: [Int32: (from: Int64, to: Int64)] = [:]
        var positions: [Int32: Int64] = [:]
        var records: Int64 = 0
        var drawn = false
    }

    private let enabled: Bool
    private let started = ContinuousClock.now
    private let state = Mutex(State())

    public init(enabled: Bool = isatty(STDERR_FILENO) != 0) {
        self.enabled = enabled
    }

    public func planned(_ partitions: [(partition: Int32, from: Int64, to: Int64)]) {
        state.withLock { s in for p in partitions { s.plan[p.partition] = (p.from, p.to) } }
    }

    /// Counts the batch's records and the position each partition reached; redraws at most five
    /// times a second.
    public func advance<B: RecordBatch>(by batch: B) {
        guard enabled else { return }
        state.withLock { s in
            s.records += Int64(batch.count)
            for i in 0..<batch.count {
                let p = batch.partition(at: i)
                s.positions[p] = max(s.positions[p] ?? 0, batch.offset(at: i) + 1)
            }
            let now = ContinuousClock.now
            if s.lastDraw.duration(to: now) >= .milliseconds(200) {
                s.lastDraw = now
                draw(&s)
            }
        }
    }

    private func draw(_ s: inout State) {
        let elapsed = max(0.001, Double(started.duration(to: .now).components.seconds)
                          + Double(started.duration(to: .now).components.attoseconds) / 1e18)
        var line = "  \(s.records.formatted()) records  \(Int(Double(s.records) / elapsed).formatted())/s"
        for p in s.plan.keys.sorted() {
            let (from, to) = s.plan[p]!
            let share = to > from ? Double(min(max((s.positions[p] ?? from) - from, 0), to - from)) / Double(to - from) : 1
            line += "  p\(p) \(Int(share * 100))%"
        }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        s.drawn = true
    }

    /// Shows how far the shards of a sharded instance are (redrawn at most five times a second).
    public func shards(done: Int, running: Int, total: Int, rows: Int64) {
        guard enabled else { return }
        state.withLock { s in
            let now = ContinuousClock.now
            guard s.lastDraw.duration(to: now) >= .milliseconds(200) else { return }
            s.lastDraw = now
            let line = "  shards \(done)/\(total) done, \(running) running  \(rows.formatted()) rows written"
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
            s.drawn = true
        }
    }

    /// Clears the progress line.
    public func finish() {
        guard enabled, state.withLock({ $0.drawn }) else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}

private extension Int64 {
    func formatted() -> String { Int(self).formatted() }
}

private extension Int {
    func formatted() -> String {
        let s = String(self)
        var out = ""
        for (i, c) in s.reversed().enumerated() {
            if i > 0, i % 3 == 0, c != "-" { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }
}

import Foundation
import SluiceCore

/// Progress of a running instance on a terminal: records, rate, and each partition's share of its
/// planned offsets, redrawn at most five times a second on one line of standard error. Silent when
/// standard error is not a terminal.
public final class RunProgress: @unchecked Sendable {
    private let enabled: Bool
    private let started = ContinuousClock.now
    private var lastDraw = ContinuousClock.now
    private var plan: [Int32: (from: Int64, to: Int64)] = [:]
    private var positions: [Int32: Int64] = [:]
    private var records: Int64 = 0
    private var drawn = false

    public init(enabled: Bool = isatty(STDERR_FILENO) != 0) {
        self.enabled = enabled
    }

    public func planned(_ partitions: [(partition: Int32, from: Int64, to: Int64)]) {
        for p in partitions { plan[p.partition] = (p.from, p.to) }
    }

    /// Records `count` more records, the last of which were at `positions` (partition → next offset).
    public func advance<B: RecordBatch>(by batch: B) {
        guard enabled else { return }
        records += Int64(batch.count)
        for i in 0..<batch.count {
            let p = batch.partition(at: i)
            positions[p] = max(positions[p] ?? 0, batch.offset(at: i) + 1)
        }
        let now = ContinuousClock.now
        if lastDraw.duration(to: now) >= .milliseconds(200) {
            lastDraw = now
            draw()
        }
    }

    private func draw() {
        let elapsed = max(0.001, Double(started.duration(to: .now).components.seconds)
                          + Double(started.duration(to: .now).components.attoseconds) / 1e18)
        var line = "  \(records.formatted()) records  \(Int(Double(records) / elapsed).formatted())/s"
        for p in plan.keys.sorted() {
            let (from, to) = plan[p]!
            let share = to > from ? Double(min(max((positions[p] ?? from) - from, 0), to - from)) / Double(to - from) : 1
            line += "  p\(p) \(Int(share * 100))%"
        }
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        drawn = true
    }

    /// Clears the progress line.
    public func finish() {
        guard enabled, drawn else { return }
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

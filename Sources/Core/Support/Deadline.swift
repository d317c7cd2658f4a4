import Synchronization

/// Runs work against a deadline. The work goes on after the deadline passes (a function the
/// gateway stopped waiting for still runs to its end, as in AWS); the caller does not wait for it.
public enum Deadline {
    public enum Outcome<Value: Sendable>: Sendable {
        case finished(Value)
        case timedOut
    }

    private struct Race: Sendable {
        var settled = false
        var timer: Task<Void, Never>?

        /// Whether the caller is the first to settle the race.
        mutating func settle() -> Bool {
            defer { settled = true }
            return !settled
        }
    }

    /// The race, shared by the work, the timer and the caller.
    private final class Shared: Sendable {
        let race = Mutex(Race())
    }

    public static func race<Value: Sendable>(milliseconds: Int, _ work: @escaping @Sendable () async -> Value) async -> Outcome<Value> {
        let shared = Shared()
        return await withCheckedContinuation { (continuation: CheckedContinuation<Outcome<Value>, Never>) in
            Task {
                let value = await work()
                let (first, timer) = shared.race.withLock { race in (race.settle(), race.timer) }
                timer?.cancel()
                if first { continuation.resume(returning: .finished(value)) }
            }
            let timer = Task {
                try? await Task.sleep(for: .milliseconds(milliseconds))
                guard !Task.isCancelled, shared.race.withLock({ $0.settle() }) else { return }
                continuation.resume(returning: .timedOut)
            }
            let finished = shared.race.withLock { race in
                race.timer = timer
                return race.settled
            }
            if finished { timer.cancel() }
        }
    }
}

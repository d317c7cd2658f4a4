import Synchronization

/// Wakes one waiting task: `ring()` ends the current (or the next) `wait`, which also ends at its
/// deadline. Rings while nobody waits count once. For a producer and a consumer that must not poll.
public final class Doorbell: Sendable {
    private struct State {
        var rung = false
        var waiter: (id: UInt64, continuation: CheckedContinuation<Void, Never>)?
        /// The waiter's deadline, cancelled when the waiter goes before it.
        var timer: Task<Void, Never>?
        var waits: UInt64 = 0

        /// The waiter, taken (its timer stopped).
        mutating func takeWaiter() -> CheckedContinuation<Void, Never>? {
            guard let waiter else { return nil }
            self.waiter = nil
            timer?.cancel()
            timer = nil
            return waiter.continuation
        }
    }

    private let state = Mutex(State())

    public init() {}

    public func ring() {
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.waiter != nil else {
                state.rung = true
                return nil
            }
            return state.takeWaiter()
        }?.resume()
    }

    /// Until a ring (one since the last wait ended counts), the deadline, or cancellation. One
    /// waiter at a time.
    public func wait(until deadline: ContinuousClock.Instant? = nil) async {
        let id = state.withLock { state in
            state.waits += 1
            return state.waits
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state in
                    if state.rung || Task.isCancelled {
                        state.rung = false
                        return true
                    }
                    state.waiter = (id, continuation)
                    return false
                }
                if ready {
                    continuation.resume()
                } else if let deadline {
                    let timer = Task { [self] in
                        try? await Task.sleep(until: deadline, clock: .continuous)
                        wake(id)
                    }
                    // Kept only while its wait is (a ring may have taken the waiter already).
                    let kept = state.withLock { state in
                        guard state.waiter?.id == id else { return false }
                        state.timer = timer
                        return true
                    }
                    if !kept { timer.cancel() }
                }
            }
        } onCancel: {
            wake(id)
        }
    }

    /// Ends that wait, if it still waits.
    private func wake(_ id: UInt64) {
        state.withLock { state -> CheckedContinuation<Void, Never>? in
            guard state.waiter?.id == id else { return nil }
            return state.takeWaiter()
        }?.resume()
    }
}

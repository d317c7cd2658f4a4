import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Lambda
import LambdaShapes
import StevedoreCore
import Synchronization

/// Wakes agents' long polls when changes for their instance become durable.
///
/// Knows the highest assignment sequence that is durable, and per instance the sequence of its
/// last durable change. A poll that found nothing new waits "for anything after sequence n"; if
/// that already happened between its read and its wait, it returns at once, so no wake-up is lost.
public final class AssignmentNotifier: Sendable {
    private struct Waiter {
        var id: UInt64
        var after: Int
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        var durableSequence: Int
        var lastChange: [String: Int] = [:]
        var waiters: [String: [Waiter]] = [:]
        /// Waits released before their waiter registered (timeout or cancellation won the race).
        var released: Set<UInt64> = []
        var nextId: UInt64 = 0
        var shutDown = false
        /// Instances woken for something other than an assignment (a log request).
        var pokes: Set<String> = []
    }

    private let state: Mutex<State>

    init(durableSequence: Int) {
        state = Mutex(State(durableSequence: durableSequence))
    }

    /// Every assignment with a sequence up to this is on disk.
    public var durableSequence: Int { state.withLock { $0.durableSequence } }

    /// Called after a commit: everything up to `sequence` is durable; `instances` have news.
    func committed(upTo sequence: Int, instances: Set<String>) {
        let ready = state.withLock { state -> [Waiter] in
            state.durableSequence = max(state.durableSequence, sequence)
            var ready: [Waiter] = []
            for instance in instances {
                state.lastChange[instance] = max(state.lastChange[instance] ?? 0, sequence)
                ready += state.waiters.removeValue(forKey: instance) ?? []
            }
            return ready
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// Returns when the instance has a durable change after `after`, or after `timeout`, or when
    /// the calling task is cancelled.
    public func wait(for instance: String, after: Int, timeout: Duration) async {
        let id = state.withLock { state -> UInt64 in
            state.nextId += 1
            return state.nextId
        }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { continuation in
                    let resumeNow = self.state.withLock { state -> Bool in
                        if state.shutDown || state.released.remove(id) != nil || state.pokes.remove(instance) != nil { return true }
                        if (state.lastChange[instance] ?? 0) > after { return true }
                        state.waiters[instance, default: []].append(Waiter(id: id, after: after, continuation: continuation))
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask {
                try? await Task.sleep(for: timeout)
                self.release(instance: instance, id: id)
            }
            await group.next()
            group.cancelAll()
            self.release(instance: instance, id: id)
        }
        _ = state.withLock { $0.released.remove(id) }
    }

    /// Wakes an instance's poll (or its next one) without a new assignment.
    func poke(_ instance: String) {
        let ready = state.withLock { state -> [Waiter] in
            let waiting = state.waiters.removeValue(forKey: instance) ?? []
            if waiting.isEmpty { state.pokes.insert(instance) }
            return waiting
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// Waits registered now (tests poll it to know a wait has begun before they act).
    var waitingCount: Int { state.withLock { $0.waiters.values.reduce(0) { $0 + $1.count } } }

    /// The control plane is stopping: every poll returns now, and new ones do not wait.
    public var isShutDown: Bool { state.withLock { $0.shutDown } }

    func shutdown() {
        let waiters = state.withLock { state -> [Waiter] in
            state.shutDown = true
            defer { state.waiters = [:] }
            return state.waiters.values.flatMap { $0 }
        }
        for waiter in waiters { waiter.continuation.resume() }
    }

    /// Resumes a waiter that is still registered (timeout, cancellation).
    private func release(instance: String, id: UInt64) {
        let waiter = state.withLock { state -> Waiter? in
            guard let index = state.waiters[instance]?.firstIndex(where: { $0.id == id }) else {
                state.released.insert(id)
                return nil
            }
            return state.waiters[instance]!.remove(at: index)
        }
        waiter?.continuation.resume()
    }
}

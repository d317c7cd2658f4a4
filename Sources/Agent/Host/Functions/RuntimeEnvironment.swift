import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import AWSProtocols
import ECSShapes
import NIOCore
import StevedoreClient
import StevedoreCore

/// One execution environment's side of the Runtime API: the invocations waiting for it, the one
/// its runtime is working on, and how each ends.
///
/// Everything here runs on the environment's event loop (the Runtime API server's), so the
/// runtime's requests, invocations from the control plane, timers and container exits are
/// handled in one order without locks. Entry points from elsewhere hop onto the loop.
final class RuntimeEnvironment: @unchecked Sendable {
    /// A held `GET /invocation/next`: answers it with an invocation.
    typealias NextResponder = (AgentInvocation) -> Void

    struct Current {
        var invocation: AgentInvocation
        var startedAt: NIODeadline
        var logStart: Int
        var timer: Scheduled<Void>?
        var initDuration: Double?
    }

    let arn: String
    let spec: FunctionEnvironmentSpec
    let loop: any EventLoop
    /// Where results go (the agent's outbox to the control plane).
    let sink: @Sendable (InvocationResult) -> Void
    /// Asks the agent to stop the environment's container (timed out, failed to init).
    let retire: @Sendable (String) -> Void
    /// Reads the container's peak memory in MB, once its cgroup is known.
    var memoryProbe: (@Sendable () -> Int?)?

    private var queue: [AgentInvocation] = []
    private var pendingNext: (responder: NextResponder, connection: ObjectIdentifier)?
    private var current: Current?
    private let createdAt = NIODeadline.now()
    private var initDuration: Double?
    private var initReported = false
    private var initError: (type: String, body: Data)?
    private(set) var retired = false
    /// The environment's output not yet attached to an invocation's log.
    private var output: [UInt8] = []
    /// An invocation answered without its log: what the runtime wrote just before answering may
    /// still be on its way from Docker, so the log is sent on its own a moment later, or as soon
    /// as the next invocation starts (whichever comes first).
    private var pendingLog: (state: Current, duration: Double, errorType: String?, timer: Scheduled<Void>)?
    static let lateLogDelay = TimeAmount.milliseconds(40)

    init(
        arn: String, spec: FunctionEnvironmentSpec, loop: any EventLoop, sink: @escaping @Sendable (InvocationResult) -> Void,
        retire: @escaping @Sendable (String) -> Void
    ) {
        self.arn = arn
        self.spec = spec
        self.loop = loop
        self.sink = sink
        self.retire = retire
    }

    static let maximumPayload = 6 * 1024 * 1024 + 100

    // MARK: From the control plane

    func deliver(_ invocation: AgentInvocation) {
        loop.assertInEventLoop()
        if let initError {
            sink(result(invocation, status: .functionError, payload: initError.body, errorType: initError.type, retired: true, log: nil))
            retireNow("Runtime.InitError")
            return
        }
        if retired {
            // It never ran here: the control plane places it on another environment.
            var result = failure(invocation, type: "ServiceException", message: "The execution environment has stopped.", status: .environmentFailure)
            result.retryable = true
            sink(result)
            return
        }
        queue.append(invocation)
        startNext()
    }

    // MARK: From the runtime (Runtime API requests)

    func next(_ responder: @escaping NextResponder, connection: ObjectIdentifier) -> (status: Int, body: Data)? {
        loop.assertInEventLoop()
        if current != nil {
            return (403, Self.apiError("InvalidStateTransition", "State transition from Invoking to Ready failed for runtime: the current invocation has no response yet."))
        }
        if initDuration == nil {
            initDuration = Double((NIODeadline.now() - createdAt).nanoseconds) / 1_000_000
        }
        pendingNext = (responder, connection)
        startNext()
        return nil
    }

    func connectionClosed(_ connection: ObjectIdentifier) {
        if pendingNext?.connection == connection { pendingNext = nil }
    }

    func respond(id: String, body: Data) -> (status: Int, body: Data) {
        loop.assertInEventLoop()
        guard let current, current.invocation.id == id else {
            return (400, Self.apiError("InvalidRequestID", "Invalid request ID"))
        }
        guard body.count <= Self.maximumPayload else {
            let message = "Response payload size (\(body.count) bytes) exceeded maximum allowed payload size (6291556 bytes)."
            finish(status: .functionError, payload: Self.errorJSON("Function.ResponseSizeTooLarge", message), errorType: "Function.ResponseSizeTooLarge")
            return (413, Self.apiError("RequestEntityTooLarge", "Exceeded maximum allowed payload size (6291556 bytes)."))
        }
        _ = current
        finish(status: .success, payload: body, errorType: nil)
        return (202, Data(#"{"status":"OK"}"#.utf8))
    }

    func fail(id: String, headerType: String?, body: Data) -> (status: Int, body: Data) {
        loop.assertInEventLoop()
        guard let current, current.invocation.id == id else {
            return (400, Self.apiError("InvalidRequestID", "Invalid request ID"))
        }
        _ = current
        let (type, payload) = Self.errorPayload(headerType: headerType, body: body)
        finish(status: .functionError, payload: payload, errorType: type)
        return (202, Data(#"{"status":"OK"}"#.utf8))
    }

    /// `retiring: false` keeps the environment until an invocation has seen the error (an
    /// environment known broken before it starts: no bootstrap).
    func initFailed(headerType: String?, body: Data, retiring: Bool = true) -> (status: Int, body: Data) {
        loop.assertInEventLoop()
        let (type, payload) = Self.errorPayload(headerType: headerType, body: body)
        initError = (type, payload)
        for invocation in queue {
            sink(result(invocation, status: .functionError, payload: payload, errorType: type, retired: true, log: takeOutput(for: invocation)))
        }
        queue.removeAll()
        if current != nil { finish(status: .functionError, payload: payload, errorType: type, retire: true) }
        if retiring { retireNow("Runtime.InitError: \(type)") }
        return (202, Data(#"{"status":"OK"}"#.utf8))
    }

    // MARK: From the agent

    func appendOutput(_ bytes: [UInt8]) {
        loop.assertInEventLoop()
        output += bytes
        if output.count > 1 << 20 { output.removeFirst(output.count - (1 << 20)) }
    }

    /// The container stopped: the invocation in the runtime and those waiting fail as Lambda reports it.
    func containerStopped(exitCode: Int?, outOfMemory: Bool) {
        loop.assertInEventLoop()
        guard !retired else { return }
        sendPendingLog()
        retired = true
        let type = outOfMemory ? "Runtime.OutOfMemory" : "Runtime.ExitError"
        let reason = outOfMemory ? "signal: killed" : exitCode.map { $0 > 128 ? "signal: \(Self.signalName($0 - 128))" : "exit status \($0)" } ?? "exit status 1"
        if let current {
            let message = "RequestId: \(current.invocation.id) Error: Runtime exited with error: \(reason)"
            finish(status: .functionError, payload: Self.errorJSON(type, message), errorType: type, retire: true)
        }
        for invocation in queue {
            if let initError {
                sink(result(invocation, status: .functionError, payload: initError.body, errorType: initError.type, retired: true, log: takeOutput(for: invocation)))
            } else {
                let message = "RequestId: \(invocation.id) Error: Runtime exited with error: \(reason)"
                sink(result(invocation, status: .functionError, payload: Self.errorJSON(type, message), errorType: type, retired: true, log: takeOutput(for: invocation)))
            }
        }
        queue.removeAll()
    }

    /// The environment could not start (no code, no image): its invocations never ran.
    func startFailed(_ reason: String) {
        loop.assertInEventLoop()
        retired = true
        for invocation in queue {
            sink(failure(invocation, type: "ServiceException", message: "The execution environment could not start: \(reason)", status: .environmentFailure))
        }
        queue.removeAll()
    }

    // MARK: Internals

    private func startNext() {
        guard current == nil, let next = pendingNext, !queue.isEmpty else { return }
        // Output from here on is the next invocation's.
        sendPendingLog()
        let invocation = queue.removeFirst()
        pendingNext = nil
        let now = NIODeadline.now()
        let remaining = max(0, invocation.deadline - Int64(Date().timeIntervalSince1970 * 1000))
        let logStart = output.count
        var state = Current(invocation: invocation, startedAt: now, logStart: logStart)
        if !initReported {
            state.initDuration = initDuration
            initReported = true
        }
        let id = invocation.id
        state.timer = loop.scheduleTask(in: .milliseconds(remaining)) { [self] in self.timedOut(id) }
        current = state
        next.responder(invocation)
    }

    private func timedOut(_ id: String) {
        guard let current, current.invocation.id == id else { return }
        let seconds = Self.twoDecimals(Double(spec.timeout))
        let message = "RequestId: \(id) Error: Task timed out after \(seconds) seconds"
        finish(status: .functionError, payload: Self.errorJSON("Sandbox.Timedout", message), errorType: "Sandbox.Timedout", retire: true)
        retireNow("Sandbox.Timedout")
    }

    private func finish(status: InvocationResult.Status, payload: Data, errorType: String?, retire retiring: Bool = false) {
        guard let state = current else { return }
        state.timer?.cancel()
        current = nil
        let duration = Double((NIODeadline.now() - state.startedAt).nanoseconds) / 1_000_000
        if state.invocation.tailLogs {
            // Output written just before the response may still be on its way from Docker.
            loop.scheduleTask(in: .milliseconds(15)) { [self] in
                self.complete(state, status: status, payload: payload, errorType: errorType, retiring: retiring, duration: duration)
            }
        } else {
            complete(state, status: status, payload: payload, errorType: errorType, retiring: retiring, duration: duration)
        }
    }

    private func complete(
        _ state: Current, status: InvocationResult.Status, payload: Data, errorType: String?, retiring: Bool, duration: Double
    ) {
        let logErrorType = status == .success ? nil : errorType
        // A caller waiting for the log (tail), or an environment going away, gets it now.
        let deferLog = !state.invocation.tailLogs && !retiring && !retired
        let log = deferLog ? nil : invocationLog(state, duration: duration, errorType: logErrorType)
        var result = result(state.invocation, status: status, payload: payload, errorType: errorType, retired: retiring, log: log)
        result.durationMs = duration
        result.initDurationMs = state.initDuration
        result.maxMemoryUsedMB = maxMemoryUsed()
        sink(result)
        if deferLog {
            let id = state.invocation.id
            let timer = loop.scheduleTask(in: Self.lateLogDelay) { [self] in if pendingLog?.state.invocation.id == id { sendPendingLog() } }
            pendingLog = (state, duration, logErrorType, timer)
        }
        if !retiring && !retired { startNext() }
    }

    /// The log of the invocation last answered without one, with the output that came since.
    private func sendPendingLog() {
        guard let pending = pendingLog else { return }
        pendingLog = nil
        pending.timer.cancel()
        var late = InvocationResult(id: pending.state.invocation.id, environment: arn, status: .success, payload: Data())
        late.log = invocationLog(pending.state, duration: pending.duration, errorType: pending.errorType)
        late.lateLog = true
        late.version = spec.version
        sink(late)
    }

    private func retireNow(_ reason: String) {
        guard !retired else { return }
        retired = true
        retire(reason)
    }

    /// START, the environment's output since the invocation began (and init output before it), END and REPORT.
    private func invocationLog(_ state: Current, duration: Double, errorType: String?) -> Data {
        let id = state.invocation.id
        var text = Array("START RequestId: \(id) Version: \(spec.version)\n".utf8)
        text += output
        output.removeAll(keepingCapacity: true)
        if let last = text.last, last != 0x0A { text.append(0x0A) }
        let billed = Int(duration.rounded(.up))
        var report = "REPORT RequestId: \(id)\tDuration: \(Self.twoDecimals(duration)) ms\tBilled Duration: \(max(1, billed)) ms\tMemory Size: \(spec.memory) MB\tMax Memory Used: \(maxMemoryUsed() ?? 0) MB"
        if let initDuration = state.initDuration { report += "\tInit Duration: \(Self.twoDecimals(initDuration)) ms" }
        if let errorType, errorType == "Sandbox.Timedout" || errorType.hasPrefix("Runtime.") { report += "\tStatus: error\tError Type: \(errorType)" }
        text += Array("END RequestId: \(id)\n\(report)\t\n".utf8)
        return Data(text)
    }

    private func takeOutput(for invocation: AgentInvocation) -> Data {
        var text = Array("START RequestId: \(invocation.id) Version: \(spec.version)\n".utf8) + output
        output.removeAll()
        if let last = text.last, last != 0x0A { text.append(0x0A) }
        text += Array("END RequestId: \(invocation.id)\n".utf8)
        return Data(text)
    }

    private func result(
        _ invocation: AgentInvocation, status: InvocationResult.Status, payload: Data, errorType: String?, retired: Bool, log: Data?
    ) -> InvocationResult {
        InvocationResult(id: invocation.id, environment: arn, status: status, payload: payload, errorType: errorType, log: log, retired: retired)
    }

    private func failure(_ invocation: AgentInvocation, type: String, message: String, status: InvocationResult.Status) -> InvocationResult {
        InvocationResult(id: invocation.id, environment: arn, status: status, payload: Self.errorJSON(type, message), errorType: type, retired: true)
    }

    private var memorySample: (value: Int?, at: NIODeadline)?

    /// The cgroup's peak memory, read at most every 250 ms (a file read per invocation is not free).
    private func maxMemoryUsed() -> Int? {
        let now = NIODeadline.now()
        if let sample = memorySample, now - sample.at < .milliseconds(250) { return sample.value }
        let value = memoryProbe?()
        memorySample = (value, now)
        return value
    }

    /// `12.34` without Foundation's formatter (this runs for every invocation).
    static func twoDecimals(_ value: Double) -> String {
        let hundredths = Int((max(0, value) * 100).rounded())
        let fraction = hundredths % 100
        return "\(hundredths / 100).\(fraction < 10 ? "0" : "")\(fraction)"
    }

    // MARK: Wire helpers

    static func errorJSON(_ type: String, _ message: String) -> Data {
        let escaped = { (text: String) -> String in
            String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
        }
        return Data("{\"errorType\":\(escaped(type)),\"errorMessage\":\(escaped(message))}".utf8)
    }

    /// The Runtime API's own error body.
    static func apiError(_ type: String, _ message: String) -> Data {
        let escaped = { (text: String) -> String in
            String(decoding: (try? JSONEncoder().encode(text)) ?? Data("\"\"".utf8), as: UTF8.self)
        }
        return Data("{\"errorMessage\":\(escaped(message)),\"errorType\":\(escaped(type))}".utf8)
    }

    /// The error type from the header or, as the Python runtime client sends none, from the body.
    static func errorPayload(headerType: String?, body: Data) -> (String, Data) {
        // Decoding into a struct succeeds only for a JSON object.
        struct ErrorBody: Decodable { var errorType: String? }
        let object = try? JSONDecoder().decode(ErrorBody.self, from: body)
        let type = headerType.flatMap { $0.isEmpty ? nil : $0 } ?? object?.errorType ?? "Unhandled"
        if object != nil { return (type, body) }
        let message = String(decoding: body.prefix(4096), as: UTF8.self)
        return (type, errorJSON(type, message))
    }

    static func signalName(_ number: Int) -> String {
        switch number {
        case 9: return "killed"
        case 15: return "terminated"
        case 6: return "aborted"
        case 11: return "segmentation fault"
        default: return "signal \(number)"
        }
    }
}

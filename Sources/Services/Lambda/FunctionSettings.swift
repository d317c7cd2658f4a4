#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import LambdaShapes
import StevedoreCore

/// Limits and policies of the function service; `ecsd` flags set them, tests shorten the delays.
public struct FunctionSettings: Sendable, Equatable {
    /// Where function URLs are served (the gateway's listener).
    public var urlEndpoint = FunctionUrlEndpoint()
    /// Memory in MB: the range and the step values must be a multiple of (as Lambda before 2020).
    public var memoryRange = 128...3008
    public var memoryStep = 64
    public var defaultMemory = 128
    public var timeoutRange = 1...900
    public var defaultTimeout = 3
    /// `/tmp` in MB.
    public var ephemeralStorageRange = 512...10240
    public var defaultEphemeralStorage = 512
    public var maximumLayers = 5
    /// Bytes.
    public var synchronousPayloadLimit = 6 * 1024 * 1024
    public var asynchronousPayloadLimit = 1024 * 1024
    public var maximumZipSize = 50 * 1024 * 1024
    public var maximumUnzippedSize = 250 * 1024 * 1024
    public var environmentLimit = 4096
    /// Concurrent executions across the control plane, and the part reservations may not take.
    public var concurrencyLimit = 1000
    public var unreservedMinimum = 100
    /// Runtime name → image that runs it.
    public var runtimeImages: [String: String] = FunctionSettings.defaultRuntimeImages
    /// The cluster execution environments are placed in.
    public var cluster = "default"
    /// Idle environments are stopped after this long.
    public var idleTimeout: TimeInterval = 300
    /// How long an environment may take to start before the invocation waiting for it fails.
    public var startTimeout: TimeInterval = 120
    /// Delay before the first retry of a failed asynchronous event; the second waits twice as long.
    public var asyncRetryDelay: TimeInterval = 60
    /// Longest wait between deliveries of a throttled asynchronous event.
    public var asyncThrottleDelayMax: TimeInterval = 300

    public init() {}

    /// The image Stevedore builds itself for `provided` runtimes (busybox; the code brings its bootstrap).
    public static let providedImage = RuntimeImages.provided
    /// Built offline by `scripts/build-python-runtime.sh`.
    public static let pythonImage = RuntimeImages.python

    public static let defaultRuntimeImages: [String: String] = [
        "provided": providedImage, "provided.al2": providedImage, "provided.al2023": providedImage,
        "python3.11": pythonImage,
    ]

    /// Parses `RUNTIME=IMAGE`.
    public mutating func setRuntimeImage(_ assignment: String) throws(AWSError) {
        guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex,
            assignment.index(after: equals) != assignment.endIndex
        else { throw .invalidParameter("--runtime-image expects RUNTIME=IMAGE, e.g. python3.12=my/python:3.12; got '\(assignment)'.") }
        let runtime = String(assignment[..<equals])
        guard LambdaRuntime(rawValue: runtime) != nil else {
            throw .invalidParameter("--runtime-image: '\(runtime)' is not a Lambda runtime name. \(LambdaRuntime.invalidValueMessage(runtime))")
        }
        runtimeImages[runtime] = String(assignment[assignment.index(after: equals)...])
    }
}

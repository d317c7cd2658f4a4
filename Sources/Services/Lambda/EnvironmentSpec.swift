#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentProtocol
import LambdaShapes
import StevedoreCore

extension FunctionsState {
    /// The environment spec of one function version.
    public func environmentSpec(_ record: FunctionRecord, _ version: FunctionVersionRecord) -> FunctionEnvironmentSpec {
        let configuration = version.configuration
        let runtime = configuration.Runtime?.rawValue
        let kind: FunctionEnvironmentSpec.Kind =
            configuration.PackageType == .image ? .image : (runtime?.hasPrefix("python") == true ? .python : .provided)
        let image = version.imageUri ?? runtime.flatMap { settings.runtimeImages[$0] } ?? FunctionSettings.providedImage
        var environment = configuration.Environment?.Variables ?? [:]
        let memory = configuration.MemorySize ?? settings.defaultMemory
        let reserved: [String: String] = [
            "AWS_REGION": names.region, "AWS_DEFAULT_REGION": names.region,
            "AWS_LAMBDA_FUNCTION_NAME": record.name, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": String(memory),
            "AWS_LAMBDA_FUNCTION_VERSION": version.version, "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
            "AWS_LAMBDA_LOG_GROUP_NAME": configuration.LoggingConfig?.LogGroup ?? "/aws/lambda/\(record.name)",
            "AWS_LAMBDA_LOG_FORMAT": configuration.LoggingConfig?.LogFormat?.rawValue ?? "Text",
            "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": "/var/runtime",
            "LANG": "en_US.UTF-8", "TZ": ":UTC", "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
            "LD_LIBRARY_PATH": "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        ]
        environment.merge(reserved) { _, platform in platform }
        if let handler = configuration.Handler { environment["_HANDLER"] = handler }
        if kind == .python, let runtime {
            environment["AWS_EXECUTION_ENV"] = "AWS_Lambda_\(runtime)"
            environment["PYTHONPATH"] = "/var/runtime:/var/task:/opt/python"
            environment["PYTHONUNBUFFERED"] = "1"
        }
        let imageConfig = version.imageConfig
        return FunctionEnvironmentSpec(
            functionName: record.name, version: version.version, revisionId: version.revisionId, kind: kind, runtime: runtime,
            handler: configuration.Handler, image: image, entryPoint: imageConfig?.EntryPoint, command: imageConfig?.Command,
            workingDirectory: imageConfig?.WorkingDirectory, memory: memory,
            timeout: configuration.Timeout ?? settings.defaultTimeout,
            ephemeralStorage: configuration.EphemeralStorage?.Size ?? settings.defaultEphemeralStorage,
            environment: environment, codeHash: version.codeHash, layerHashes: version.layerHashes, role: configuration.Role)
    }
}

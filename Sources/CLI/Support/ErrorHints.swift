import ArgumentParser
import StevedoreCore

/// What to do next, for errors whose AWS wording (kept exact on the wire, where tools match on it)
/// does not say how to get on with ecsctl: ecsctl prints the error as the control plane sent it,
/// then the hint.
enum ErrorHints {
    /// The hint for an error, by its type and the start of its message; nil when none applies.
    static func hint(for error: AWSError) -> String? {
        let rules: [(type: String, prefix: String, hint: String)] = [
            ("InvalidParameterException", "The service cannot be stopped while it is scaled above 0",
             "scale it to 0 first (ecsctl service scale SERVICE 0), or delete it with --force."),
            ("InvalidParameterException", "Container instance ",
             "drain it first (ecsctl node drain INSTANCE) so its services move their tasks, or deregister it with force."),
            ("InvalidParameterException", "autoScalingGroupProvider is required",
             "a capacity provider is backed by an auto scaling group: create one with ecsctl capacity group create."),
            ("ClientException", "The specified Auto Scaling group ARN",
             "ecsctl capacity group ls lists the auto scaling groups."),
            ("ClusterNotFoundException", "", "ecsctl cluster ls lists the clusters; ecsctl cluster create NAME makes one."),
        ]
        guard let rule = rules.first(where: { error.type == $0.type && error.message.hasPrefix($0.prefix) }) else { return nil }
        if rule.prefix == "Container instance ", !error.message.contains("still has") { return nil }
        return rule.hint
    }
}

/// An AWS error as ecsctl shows it: the control plane's words, then a hint.
struct HintedError: Error, CustomStringConvertible {
    let error: AWSError
    let hint: String

    var description: String { "\(error.description)\nHint: \(hint)" }
}

extension ECSCtl {
    /// Runs the command; an AWS error that has a hint is shown with it.
    public static func main() async {
        do {
            var command = try parseAsRoot()
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch let error as AWSError {
            guard let hint = ErrorHints.hint(for: error) else { exit(withError: error) }
            exit(withError: HintedError(error: error, hint: hint))
        } catch {
            exit(withError: error)
        }
    }
}

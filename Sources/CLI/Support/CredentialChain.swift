import Foundation
import SigV4

/// Where `ecsctl` finds credentials, in the AWS CLI's order: a `--profile` given names a profile
/// of the shared credentials file; otherwise `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`
/// (with `AWS_SESSION_TOKEN`); otherwise `AWS_PROFILE` or `default` in `AWS_SHARED_CREDENTIALS_FILE`
/// or `~/.aws/credentials`. None found: requests go unsigned (a `--dev` cluster takes them).
enum CredentialChain {
    static func find(profile: String?, environment: [String: String]) -> AWSCredentials? {
        if profile == nil, let id = environment["AWS_ACCESS_KEY_ID"], let secret = environment["AWS_SECRET_ACCESS_KEY"], !id.isEmpty, !secret.isEmpty {
            return AWSCredentials(accessKeyId: id, secretAccessKey: secret, sessionToken: environment["AWS_SESSION_TOKEN"])
        }
        guard let text = try? String(contentsOfFile: sharedFile(environment), encoding: .utf8) else { return nil }
        return SharedCredentialsFile.parse(text)[profile ?? environment["AWS_PROFILE"] ?? "default"]
    }

    static func sharedFile(_ environment: [String: String]) -> String {
        environment["AWS_SHARED_CREDENTIALS_FILE"] ?? ((environment["HOME"] ?? NSHomeDirectory()) + "/.aws/credentials")
    }
}

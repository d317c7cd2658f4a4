import ArgumentParser
import Foundation
import StevedoreClient
import StevedoreCore

/// `ecsctl auth`: who you are, and the access keys of IAM users (made with IAM's own API, so
/// `aws iam` sees the same users, keys and policies).
struct AuthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "auth",
        abstract: "Access keys and who you are signed in as.",
        subcommands: [WhoAmI.self, KeyCommand.self]
    )

    struct WhoAmI: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "whoami", abstract: "The identity your credentials sign as (STS GetCallerIdentity).")

        @OptionGroup var global: GlobalOptions

        func run() async throws {
            let answer = try await global.client.query("GetCallerIdentity", service: "sts", version: "2011-06-15")
            print(answer.first("Arn") ?? "-")
        }
    }
}

struct KeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "key",
        abstract: "IAM users' access keys: create, list, remove.",
        subcommands: [Create.self, List.self, Remove.self]
    )

    /// Policies `--policy` names by a word instead of a file.
    static let builtInPolicies: [String: String] = [
        "admin": #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#,
        "read-only": """
            {"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["ecs:Describe*","ecs:List*","lambda:Get*","lambda:List*",\
            "sqs:Get*","sqs:List*","application-autoscaling:Describe*","autoscaling:Describe*","cloudwatch:Describe*",\
            "cloudwatch:GetMetricData","logs:GetLogEvents","iam:Get*","iam:List*"],"Resource":"*"}]}
            """,
    ]

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Make an access key for a user (created if new), and print it as a credentials-file profile.")

        @OptionGroup var global: GlobalOptions
        @Option(help: "The IAM user the key signs as.") var user: String
        @Option(help: "Also give the user a policy: admin, read-only, or a file holding an IAM policy document.") var policy: String?

        func run() async throws {
            let client = global.client
            do {
                _ = try await client.query("GetUser", [("UserName", user)])
            } catch let error as AWSError where error.type == "NoSuchEntity" {
                _ = try await client.query("CreateUser", [("UserName", user)])
            }
            if let policy {
                let (name, document) = try Self.policy(policy)
                _ = try await client.query("PutUserPolicy", [("UserName", user), ("PolicyName", name), ("PolicyDocument", document)])
            }
            let key = try await client.query("CreateAccessKey", [("UserName", user)])
            guard let id = key.first("AccessKeyId"), let secret = key.first("SecretAccessKey") else {
                throw CLIError("the control plane answered CreateAccessKey without a key: \(key.xml)")
            }
            print("[\(user)]\naws_access_key_id = \(id)\naws_secret_access_key = \(secret)")
            FileHandle.standardError.write(Data("Add this to ~/.aws/credentials (or a file named by AWS_SHARED_CREDENTIALS_FILE); the secret is not shown again.\n".utf8))
        }

        static func policy(_ text: String) throws -> (name: String, document: String) {
            if let document = KeyCommand.builtInPolicies[text] { return ("stevedore-" + text, document) }
            guard let data = FileManager.default.contents(atPath: text), let document = String(data: data, encoding: .utf8) else {
                throw ValidationError("--policy \(text): not admin, read-only or a readable file.")
            }
            let base = URL(fileURLWithPath: text).deletingPathExtension().lastPathComponent
            return (String(base.filter { $0.isLetter || $0.isNumber || "_+=,.@-".contains($0) }.prefix(128)), document)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List users' access keys.", aliases: ["list"])

        @OptionGroup var global: GlobalOptions
        @Option(help: "Only this user's keys.") var user: String?

        func run() async throws {
            let client = global.client
            let users = if let user { [user] } else { try await allUsers(client) }
            var rows: [[String]] = []
            for name in users {
                let keys = try await client.query("ListAccessKeys", [("UserName", name)])
                for (id, (status, created)) in zip(keys.all("AccessKeyId"), zip(keys.all("Status"), keys.all("CreateDate"))) {
                    rows.append([name, id, status, created])
                }
            }
            if global.output == .json {
                Printer.json(rows.map { ["UserName": $0[0], "AccessKeyId": $0[1], "Status": $0[2], "CreateDate": $0[3]] })
            } else {
                Printer.table(["USER", "ACCESS KEY", "STATUS", "CREATED"], rows)
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Delete an access key: it stops working at once.", aliases: ["delete"])

        @OptionGroup var global: GlobalOptions
        @Argument(help: "The access key id (AKIA…).") var accessKeyId: String
        @Option(help: "The key's user (found by listing when left out).") var user: String?

        func run() async throws {
            let client = global.client
            var owner = user
            if owner == nil {
                for name in try await allUsers(client) where try await client.query("ListAccessKeys", [("UserName", name)]).all("AccessKeyId").contains(accessKeyId) {
                    owner = name
                    break
                }
            }
            guard let owner else { throw CLIError("no user holds access key \(accessKeyId) (ecsctl auth key ls lists them)") }
            _ = try await client.query("DeleteAccessKey", [("UserName", owner), ("AccessKeyId", accessKeyId)])
            print("deleted \(accessKeyId) of \(owner)")
        }
    }
}

/// Every user's name, page by page.
private func allUsers(_ client: APIClient) async throws -> [String] {
    var names: [String] = []
    var marker: String?
    repeat {
        let page = try await client.query("ListUsers", marker.map { [("Marker", $0)] } ?? [])
        names += page.all("UserName")
        marker = page.first("IsTruncated") == "true" ? page.first("Marker") : nil
    } while marker != nil
    return names
}

// swift-tools-version:6.2
import PackageDescription

// One settings list for every target (see swift-style-anchors §9.13).
let swiftSettings: [SwiftSetting] = [
    // `any P` for existentials, so protocol seams are visible at the call site.
    .enableUpcomingFeature("ExistentialAny"),
    // A file sees only the modules it imports itself.
    .enableUpcomingFeature("MemberImportVisibility"),
]

let hummingbird = Target.Dependency.product(name: "Hummingbird", package: "hummingbird")
let hummingbirdTLS = Target.Dependency.product(name: "HummingbirdTLS", package: "hummingbird")
let nioSSL = Target.Dependency.product(name: "NIOSSL", package: "swift-nio-ssl")
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let serviceLifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let unixSignals = Target.Dependency.product(name: "UnixSignals", package: "swift-service-lifecycle")
let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
    .product(name: "NIOHTTP1", package: "swift-nio"),
]
// The server's connection guard sits between NIO's HTTP/1 codec and Hummingbird's typed requests.
let httpTypes: [Target.Dependency] = [
    .product(name: "HTTPTypes", package: "swift-http-types"), .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
]

let package = Package(
    name: "stevedore",
    products: [
        .executable(name: "ecsd", targets: ["ecsd"]),
        .executable(name: "ecs-agent", targets: ["ecs-agent"]),
        .executable(name: "ecsctl", targets: ["ecsctl"]),
        .executable(name: "stevedore-bench", targets: ["stevedore-bench"]),
        // The decoders libFuzzer drives (Fuzz/); not part of the product.
        .library(name: "StevedoreFuzzSurface", targets: ["StevedoreFuzzSurface"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        // Metrics' API (Hummingbird brings it in already); Prometheus' exposition is ours (Observability).
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.9.0"),
        // PostgreSQL's wire protocol, for `--store postgres://` (Storage).
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.21.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.34.1"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        // TLS for ecsd's listener (through HummingbirdTLS, which brings it in already).
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.2"),
    ],
    targets: [
        // MARK: Shared core: no IO, no clock reads.

        // ARNs, ids, seeded randomness, AWS errors, paging, stored records, the committer's protocol, JSON.
        // Persistent (structurally shared) collections: a copy of the state published to readers
        // costs the next write a path of a hash trie, not a copy of every task.
        .target(name: "StevedoreCore", dependencies: [.product(name: "HashTreeCollections", package: "swift-collections")], path: "Sources/Core"),
        // AWS's wire protocols: JSON 1.0/1.1 dispatch, REST-JSON routes, error shapes, the read cache.
        .target(name: "AWSProtocols", dependencies: ["StevedoreCore"], path: "Sources/Protocols"),
        // swift-metrics' handlers written in Prometheus' text format, and systemd's notify protocol. No Foundation.
        .target(name: "Observability", dependencies: ["StevedoreCore", logging, .product(name: "CoreMetrics", package: "swift-metrics")]),
        // Zip archives and digests (SHA-256, MD5, CRC-32), for code bundles and SQS checksums.
        .target(name: "Archives", dependencies: ["CZlib", .product(name: "Crypto", package: "swift-crypto")], path: "Sources/Archives"),
        // Signature Version 4: verifying the signatures of requests, and signing them.
        .target(
            name: "SigV4", dependencies: ["StevedoreCore", "Archives", .product(name: "Crypto", package: "swift-crypto")], path: "Sources/Security/SigV4"),
        // AES-GCM sealing of stored secrets (access keys' secrets, parameters, secrets).
        .target(name: "Sealing", dependencies: [.product(name: "Crypto", package: "swift-crypto")], path: "Sources/Security/Sealing"),

        // MARK: Wire shapes, generated from botocore's models (scripts/codegen/generate_shapes.py).

        .target(name: "ECSShapes", dependencies: ["StevedoreCore"], path: "Sources/Shapes/ECS"),
        .target(name: "LambdaShapes", dependencies: ["StevedoreCore"], path: "Sources/Shapes/Lambda"),
        .target(name: "SQSShapes", dependencies: ["StevedoreCore"], path: "Sources/Shapes/SQS"),
        .target(name: "SecretsShapes", dependencies: ["StevedoreCore"], path: "Sources/Shapes/Secrets"),
        .target(name: "AthenaShapes", dependencies: ["StevedoreCore"], path: "Sources/Shapes/Athena"),
        .target(name: "GlueShapes", dependencies: ["StevedoreCore"], path: "Sources/Shapes/Glue"),
        .target(name: "LogsShapes", dependencies: ["StevedoreCore"], path: "Sources/Shapes/Logs"),
        .target(name: "EventsShapes", dependencies: ["StevedoreCore"], path: "Sources/Shapes/Events"),
        .target(name: "SchedulerShapes", dependencies: ["StevedoreCore"], path: "Sources/Shapes/Scheduler"),
        .target(name: "ApplicationAutoScalingShapes", dependencies: ["StevedoreCore"], path: "Sources/Shapes/ApplicationAutoScaling"),
        .target(name: "APIGatewayShapes", dependencies: ["StevedoreCore"], path: "Sources/Shapes/APIGateway"),

        // What the agent and the control plane share: the work channel, invocations, start order.
        .target(name: "AgentProtocol", dependencies: ["StevedoreCore", "ECSShapes"]),

        // MARK: Services: each its state, pure operations and wire binding.

        .target(
            name: "ECS",
            dependencies: [
                "StevedoreCore", "AWSProtocols", "ECSShapes", "AgentProtocol", "Archives",
                .product(name: "HashTreeCollections", package: "swift-collections"),
            ], path: "Sources/Services/ECS"),
        .target(name: "SQS", dependencies: ["StevedoreCore", "AWSProtocols", "SQSShapes", "Archives"], path: "Sources/Services/SQS"),
        // IAM users, access keys and policies, and STS's GetCallerIdentity (query protocol).
        .target(name: "IAM", dependencies: ["StevedoreCore", "AWSProtocols"], path: "Sources/Services/IAM"),
        // Elastic Load Balancing's target groups and their health checks (query protocol).
        .target(name: "LoadBalancing", dependencies: ["StevedoreCore", "AWSProtocols"], path: "Sources/Services/LoadBalancing"),
        // SSM Parameter Store and Secrets Manager: parameters and secrets, sealed at rest.
        .target(name: "Secrets", dependencies: ["StevedoreCore", "AWSProtocols", "SecretsShapes"], path: "Sources/Services/Secrets"),
        .target(name: "Logs", dependencies: ["StevedoreCore", "AWSProtocols", "LogsShapes"], path: "Sources/Services/Logs"),
        // CloudWatch Logs subscription filters: a group's events delivered to functions.
        .target(
            name: "LogSubscriptions", dependencies: ["StevedoreCore", "AWSProtocols", "Archives", "Logs", "LogsShapes", "Lambda"],
            path: "Sources/Services/LogSubscriptions"),
        .target(
            name: "Lambda",
            dependencies: ["StevedoreCore", "AWSProtocols", "LambdaShapes", "ECS", "ECSShapes", "SQS", "SQSShapes", "AgentProtocol", "Archives"],
            path: "Sources/Services/Lambda"),
        // SNS (query protocol): topics, subscriptions, Publish into SQS's and Lambda's state and to HTTP(S) endpoints.
        .target(name: "SNS", dependencies: ["StevedoreCore", "AWSProtocols", "Lambda", "SQS", "SQSShapes", "Archives"], path: "Sources/Services/SNS"),
        // EventBridge: buses, rules, targets; events delivered into Lambda's, SQS's, SNS's and ECS's state.
        .target(
            name: "EventBridge",
            dependencies: ["StevedoreCore", "AWSProtocols", "EventsShapes", "SchedulerShapes", "Lambda", "ECS", "ECSShapes", "SQS", "SQSShapes", "SNS"],
            path: "Sources/Services/EventBridge"),
        .target(
            name: "ApplicationAutoScaling",
            dependencies: ["StevedoreCore", "AWSProtocols", "ApplicationAutoScalingShapes", "ECS", "ECSShapes", "AgentProtocol"],
            path: "Sources/Services/ApplicationAutoScaling"),
        .target(
            name: "Capacity",
            dependencies: ["StevedoreCore", "AWSProtocols", "ECS", "ECSShapes", "AgentProtocol", .product(name: "HashTreeCollections", package: "swift-collections")],
            path: "Sources/Services/Capacity"),
        // API Gateway: HTTP APIs' control API and the data plane that takes requests to functions.
        .target(name: "APIGateway", dependencies: ["StevedoreCore", "AWSProtocols", "APIGatewayShapes", "Lambda", "AgentProtocol",
                .product(name: "Crypto", package: "swift-crypto"), .product(name: "_CryptoExtras", package: "swift-crypto"),
            ], path: "Sources/Services/APIGateway"),

        // S3: buckets, object records and multipart uploads (the bytes are files the control plane writes).
        .target(name: "S3", dependencies: ["StevedoreCore", "AWSProtocols", "Archives"], path: "Sources/Services/S3"),
        // S3 event notifications: a bucket's changes told to functions, queues, topics and EventBridge.
        .target(
            name: "S3Notifications", dependencies: ["StevedoreCore", "AWSProtocols", "S3", "IAM", "Lambda", "SQS", "SQSShapes", "SNS", "EventBridge"],
            path: "Sources/Services/S3Notifications"),
        // CloudFormation: stacks, change sets, templates and intrinsics, the deployer's decisions,
        // and the provisioners that make each resource type through the services' own operations.
        .target(name: "CloudFormation", dependencies: ["StevedoreCore", "AWSProtocols", "Archives", "S3"], path: "Sources/Services/CloudFormation"),
        // Athena: the catalog (databases, external tables over stored objects, partitions), DDL,
        // query executions and their results; queries run in an engine behind ``QueryEngine``.
        .target(name: "Athena", dependencies: ["StevedoreCore", "AWSProtocols", "AthenaShapes"], path: "Sources/Services/Athena"),
        // The Glue Data Catalog's API over Athena's catalog (databases, tables, partitions).
        .target(name: "Glue", dependencies: ["StevedoreCore", "AWSProtocols", "Athena", "GlueShapes"], path: "Sources/Services/Glue"),

        // MARK: Edges: storage, HTTP clients, Docker.

        // Persistence behind a protocol; SQLite (system libsqlite3) is the embedded default.
        .systemLibrary(name: "CSQLite", path: "Sources/Store/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .target(
            name: "Storage",
            dependencies: [
                "StevedoreCore", "CSQLite", logging, .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ],
            path: "Sources/Store/Storage"),
        // Athena's embedded engine: SQLite, with virtual tables of our own that stream a table's objects.
        .target(name: "AthenaSQLite", dependencies: ["Athena", "CSQLite", "CZlib", "StevedoreCore"], path: "Sources/Store/AthenaSQLite"),
        // libcurl, wrapped once: pkg-config module, typed C shim, Swift client.
        .systemLibrary(
            name: "CCurl", path: "Sources/Clients/CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CCurlShim", dependencies: ["CCurl"], path: "Sources/Clients/CCurlShim"),
        .target(name: "CurlHTTP", dependencies: ["CCurlShim", logging], path: "Sources/Clients/CurlHTTP"),
        // zlib, for unpacking functions' code bundles on agents.
        .systemLibrary(name: "CZlib", path: "Sources/Clients/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // The Docker Engine API on CurlHTTP, with version negotiation.
        .target(name: "DockerClient", dependencies: ["CurlHTTP", "StevedoreCore"], path: "Sources/Clients/DockerClient"),
        // A client for Stevedore's AWS APIs, shared by ecsctl, the agent and the benchmarks.
        .target(
            name: "StevedoreClient", dependencies: ["StevedoreCore", "AWSProtocols", "AgentProtocol", "CurlHTTP", "SigV4"], path: "Sources/Clients/StevedoreClient"),

        // MARK: The control plane: the committer over every service's state, loops, the HTTP server.

        // The web console's pages: sessions, and what each page shows, built from the services' states.
        // Its HTML, CSS and JavaScript are embedded in the binary (nothing is fetched from elsewhere).
        .target(
            name: "Console",
            dependencies: [
                "StevedoreCore", "SigV4", "AgentProtocol", "ECS", "ECSShapes", "Capacity", "ApplicationAutoScaling", "ApplicationAutoScalingShapes",
                "Lambda", "LambdaShapes", "APIGateway", "APIGatewayShapes", "CloudFormation",
            ],
            resources: [.embedInCode("Assets/index.html"), .embedInCode("Assets/console.css"), .embedInCode("Assets/console.js")]),

        .target(
            name: "ControlPlane",
            dependencies: [
                "StevedoreCore", "AWSProtocols", "AgentProtocol", "Archives", "ECS", "ECSShapes", "Lambda", "LambdaShapes", "SQS",
                "ApplicationAutoScaling", "ApplicationAutoScalingShapes", "Capacity", "APIGateway", "APIGatewayShapes", "LoadBalancing", "Storage", "CurlHTTP", "SigV4", "IAM", "Secrets", "SecretsShapes", "Logs", "LogsShapes", "EventBridge", "EventsShapes", "SNS", "S3", "S3Notifications", "LogSubscriptions", "CloudFormation", "Athena", "AthenaShapes", "AthenaSQLite", "Glue", "Sealing", "Observability", "Console", hummingbird, hummingbirdTLS,
                nioSSL, logging, serviceLifecycle, unixSignals, .product(name: "Metrics", package: "swift-metrics"), .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ] + nio + httpTypes),

        // MARK: The node agent.

        // The agent's decisions: the task state machine (events in, actions out). No IO.
        .target(name: "AgentEngine", dependencies: ["StevedoreCore", "ECSShapes", "AgentProtocol"], path: "Sources/Agent/Engine"),

        // ecs.config, the control-plane link and work channel, the Docker task engine, functions' host.
        .target(
            name: "ECSAgent",
            dependencies: [
                "StevedoreCore", "AWSProtocols", "ECSShapes", "AgentProtocol", "AgentEngine", "Archives", "StevedoreClient", "SigV4", "CurlHTTP",
                "DockerClient", "CZlib", "Observability", logging, .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ] + nio,
            path: "Sources/Agent/Host"),

        // MARK: ecsctl and the executables.

        // ecsctl's commands, as a library so tests can drive them.
        .target(
            name: "ECSCLI",
            dependencies: [
                "StevedoreCore", "AWSProtocols", "ECSShapes", "LambdaShapes", "ApplicationAutoScalingShapes", "APIGatewayShapes", "LogsShapes", "AgentProtocol",
                "Archives", "ECS", "Capacity", "ApplicationAutoScaling", "StevedoreClient", "CurlHTTP", "SigV4", "Athena", "AthenaShapes", argumentParser,
            ],
            path: "Sources/CLI"),
        .executableTarget(
            name: "ecsd",
            dependencies: ["ControlPlane", "ECSAgent", "StevedoreCore", "Storage", "ECS", "Lambda", "ApplicationAutoScaling", "APIGateway", "Observability", argumentParser, logging, serviceLifecycle, unixSignals,
                .product(name: "Metrics", package: "swift-metrics")]
        ),
        .executableTarget(
            name: "ecs-agent",
            dependencies: ["ECSAgent", "StevedoreCore", "Observability", argumentParser, logging, serviceLifecycle, unixSignals,
                .product(name: "CoreMetrics", package: "swift-metrics")]
        ),
        .executableTarget(name: "ecsctl", dependencies: ["ECSCLI", argumentParser]),
        .executableTarget(
            name: "stevedore-bench",
            dependencies: [
                "StevedoreCore", "AWSProtocols", "ECSShapes", "LambdaShapes", "ApplicationAutoScalingShapes", "LogsShapes", "EventsShapes", "SQSShapes",
                "AthenaShapes", "AgentProtocol", "Archives", "ECS", "StevedoreClient", "ECSAgent", "CurlHTTP", "DockerClient", "Storage", "SigV4", argumentParser,
                logging,
            ]
        ),

        // MARK: Tests

        // Every decoder of outside bytes behind one entry point, for libFuzzer and the corpus replay test.
        .target(
            name: "StevedoreFuzzSurface",
            dependencies: ["StevedoreCore", "AWSProtocols", "ECS", "ECSShapes", "ECSAgent", "IAM", "SigV4", "Archives", "APIGateway", "APIGatewayShapes", "S3", "CloudFormation", "Athena"],
            path: "Sources/FuzzSurface"),
        // Twins of the IO edges (in-memory store, test clock, fake Docker engine) and fixtures.
        .target(
            name: "StevedoreTestSupport",
            dependencies: [
                "StevedoreCore", "Storage", "ECS", "ECSShapes", "Lambda", "SQS", "ApplicationAutoScaling", "Capacity", "AgentProtocol",
                "DockerClient", logging, serviceLifecycle,
            ],
            path: "Sources/TestSupport"),
        .testTarget(
            name: "StevedoreCoreTests",
            dependencies: [
                "StevedoreCore", "ECSShapes", "LambdaShapes", "SQSShapes", "SecretsShapes", "ApplicationAutoScalingShapes", "APIGatewayShapes",
                "LogsShapes", "EventsShapes", "SchedulerShapes", "AthenaShapes", "GlueShapes",
            ]),
        .testTarget(name: "ArchivesTests", dependencies: ["Archives"]),
        .testTarget(
            name: "ConsoleTests",
            dependencies: [
                "Console", "ECS", "ECSShapes", "Capacity", "Lambda", "LambdaShapes", "APIGateway", "ApplicationAutoScaling", "AgentProtocol", "StevedoreCore",
                "StevedoreTestSupport",
            ]),
        .testTarget(name: "SigV4Tests", dependencies: ["SigV4", "StevedoreCore", "Archives"]),
        .testTarget(name: "AWSProtocolsTests", dependencies: ["AWSProtocols", "StevedoreCore", "ECSShapes"]),
        .testTarget(name: "ECSTests", dependencies: ["ECS", "ECSShapes", "AgentProtocol", "StevedoreCore", "StevedoreTestSupport"]),
        .testTarget(name: "SQSTests", dependencies: ["SQS", "SQSShapes", "Archives", "StevedoreCore"]),
        .testTarget(name: "IAMTests", dependencies: ["IAM", "AWSProtocols", "StevedoreCore", "Sealing"]),
        .testTarget(name: "SecretsTests", dependencies: ["Secrets", "SecretsShapes", "StevedoreCore"]),
        .testTarget(name: "AthenaTests", dependencies: ["Athena", "AthenaShapes", "AthenaSQLite", "Glue", "GlueShapes", "AWSProtocols", "StevedoreCore"]),
        .testTarget(
            name: "LogsTests",
            dependencies: ["Logs", "LogsShapes", "LogSubscriptions", "Lambda", "LambdaShapes", "ECS", "SQS", "Archives", "StevedoreCore", "StevedoreTestSupport"]),
        .testTarget(name: "EventBridgeTests", dependencies: ["EventBridge", "EventsShapes", "SchedulerShapes", "Lambda", "LambdaShapes", "ECS", "ECSShapes", "SQS", "SNS", "StevedoreCore"]),
        .testTarget(name: "SNSTests", dependencies: ["SNS", "ECS", "Lambda", "SQS", "SQSShapes", "StevedoreCore", "StevedoreTestSupport", "Archives", "LambdaShapes"]),
        .testTarget(name: "LoadBalancingTests", dependencies: ["LoadBalancing", "AWSProtocols", "StevedoreCore"]),
        .testTarget(name: "FuzzSurfaceTests", dependencies: ["StevedoreFuzzSurface", "StevedoreCore"]),
        .testTarget(
            name: "LambdaTests",
            dependencies: ["Lambda", "LambdaShapes", "SQS", "SQSShapes", "ECS", "AgentProtocol", "Archives", "StevedoreCore", "StevedoreTestSupport"]),
        .testTarget(
            name: "ApplicationAutoScalingTests",
            dependencies: ["ApplicationAutoScaling", "ApplicationAutoScalingShapes", "ECS", "ECSShapes", "AgentProtocol", "StevedoreCore", "StevedoreTestSupport"]),
        .testTarget(
            name: "APIGatewayTests",
            dependencies: [
                "APIGateway", "APIGatewayShapes", "Lambda", "AgentProtocol", "AWSProtocols", "StevedoreCore", .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]),
        .testTarget(name: "CapacityTests", dependencies: ["Capacity", "ECS", "ECSShapes", "AgentProtocol", "StevedoreCore", "StevedoreTestSupport"]),
        .testTarget(name: "StorageTests", dependencies: ["Storage", "StevedoreCore", "ECS"]),
        .testTarget(name: "CurlHTTPTests", dependencies: ["CurlHTTP", "StevedoreTestSupport", hummingbird]),
        .testTarget(name: "DockerClientTests", dependencies: ["DockerClient", "CurlHTTP", "StevedoreTestSupport", hummingbird]),
        .testTarget(name: "AgentEngineTests", dependencies: ["AgentEngine", "AgentProtocol", "ECSShapes", "StevedoreCore"]),
        .testTarget(
            name: "ECSAgentTests",
            dependencies: ["ECSAgent", "AgentEngine", "StevedoreCore", "ECSShapes", "AgentProtocol", "DockerClient", "StevedoreTestSupport"]),
        .testTarget(name: "ECSCLITests", dependencies: ["ECSCLI", "ECSShapes", "StevedoreTestSupport", argumentParser]),
        .testTarget(name: "S3Tests", dependencies: ["S3", "S3Notifications", "IAM", "Lambda", "LambdaShapes", "SQS", "SQSShapes", "SNS", "EventBridge", "EventsShapes", "ECS", "Archives", "StevedoreCore", "StevedoreTestSupport"]),
        .testTarget(name: "CloudFormationTests", dependencies: ["CloudFormation", "S3", "StevedoreCore", "Archives"]),
        .testTarget(name: "ObservabilityTests", dependencies: ["Observability", logging, .product(name: "CoreMetrics", package: "swift-metrics")]),
        .testTarget(
            name: "ControlPlaneTests",
            dependencies: [
                "ControlPlane", "StevedoreCore", "AWSProtocols", "Storage", "CurlHTTP", "StevedoreClient", "ECSAgent", "ECSShapes", "ECS", "Capacity",
                "ECSCLI", "Lambda", "IAM", "SNS", "Secrets", "SecretsShapes", "Sealing", "StevedoreTestSupport", "APIGateway", "Observability", logging,
                .product(name: "Metrics", package: "swift-metrics"),
            ] + nio
        ),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}

// Link with the toolchain's lld, not the system's gold: gold cannot read the DWARF 5 line tables
// clang writes for the C targets, so any link diagnostic about them became "internal error in
// format_file_lineno" instead of the real message (and failed the link).
for target in package.targets where target.type == .executable || target.type == .test {
    target.linkerSettings = (target.linkerSettings ?? []) + [.unsafeFlags(["-use-ld=lld"])]
}

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
let argumentParser = Target.Dependency.product(name: "ArgumentParser", package: "swift-argument-parser")
let logging = Target.Dependency.product(name: "Logging", package: "swift-log")
let serviceLifecycle = Target.Dependency.product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let unixSignals = Target.Dependency.product(name: "UnixSignals", package: "swift-service-lifecycle")

let package = Package(
    name: "stevedore",
    products: [
        .executable(name: "ecsd", targets: ["ecsd"]),
        .executable(name: "ecs-agent", targets: ["ecs-agent"]),
        .executable(name: "ecsctl", targets: ["ecsctl"]),
        .executable(name: "stevedore-bench", targets: ["stevedore-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        // Value types, validation, ARNs, scheduling logic. No IO, no clock reads.
        .target(name: "ECSCore"),
        // AWS wire protocols: JSON 1.1 framing, error shapes, operation names.
        .target(name: "ECSAPI", dependencies: ["ECSCore"]),
        // Persistence behind a protocol; SQLite (system libsqlite3) is the embedded default.
        .systemLibrary(name: "CSQLite", path: "Sources/CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "ECSStore", dependencies: ["ECSCore", "CSQLite", logging]),
        // libcurl, wrapped once: pkg-config module, typed C shim, Swift client.
        .systemLibrary(name: "CCurl", path: "Sources/CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        .target(name: "CurlHTTP", dependencies: ["CCurlShim", logging]),
        // zlib, for unpacking functions' code bundles on agents.
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        // The Docker Engine API on CurlHTTP, with version negotiation.
        .target(name: "DockerClient", dependencies: ["CurlHTTP"]),
        // A client for Stevedore's AWS JSON APIs, shared by ecsctl, the agent and the benchmarks.
        .target(name: "ECSClient", dependencies: ["ECSCore", "ECSAPI", "CurlHTTP"]),
        // The control plane: HTTP server, operation handlers, the committer and background loops.
        .target(
            name: "ControlPlane",
            dependencies: ["ECSCore", "ECSAPI", "ECSStore", "CurlHTTP", hummingbird, logging, serviceLifecycle]
        ),
        // The node agent: ecs.config, the control-plane link and work channel, task engines.
        .target(
            name: "ECSAgent",
            dependencies: [
                "ECSCore", "ECSAPI", "ECSClient", "CurlHTTP", "DockerClient", "CZlib", logging,
                .product(name: "NIOCore", package: "swift-nio"), .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]),
        // ecsctl's commands, as a library so tests can drive them.
        .target(name: "ECSCLI", dependencies: ["ECSCore", "ECSAPI", "ECSClient", "CurlHTTP", argumentParser]),
        .executableTarget(
            name: "ecsd",
            dependencies: ["ControlPlane", "ECSAgent", "ECSCore", "ECSStore", argumentParser, logging, serviceLifecycle, unixSignals]
        ),
        .executableTarget(
            name: "ecs-agent",
            dependencies: ["ECSAgent", "ECSCore", argumentParser, logging, serviceLifecycle, unixSignals]
        ),
        .executableTarget(name: "ecsctl", dependencies: ["ECSCLI", argumentParser]),
        .executableTarget(
            name: "stevedore-bench",
            dependencies: ["ECSCore", "ECSAPI", "ECSClient", "ECSAgent", "CurlHTTP", "DockerClient", argumentParser, logging]
        ),
        .testTarget(name: "ECSCoreTests", dependencies: ["ECSCore"]),
        .testTarget(name: "ECSAPITests", dependencies: ["ECSAPI", "ECSCore"]),
        .testTarget(name: "ECSStoreTests", dependencies: ["ECSStore", "ECSCore"]),
        .testTarget(name: "CurlHTTPTests", dependencies: ["CurlHTTP", "DockerClient", hummingbird]),
        .testTarget(name: "ECSAgentTests", dependencies: ["ECSAgent", "ECSCore"]),
        .testTarget(
            name: "ControlPlaneTests",
            dependencies: [
                "ControlPlane", "ECSCore", "ECSAPI", "ECSStore", "CurlHTTP", "ECSClient", "ECSAgent",
            ]
        ),
    ]
)

for target in package.targets where target.type != .system {
    target.swiftSettings = (target.swiftSettings ?? []) + swiftSettings
}

// swift-tools-version: 6.1
// libFuzzer targets for Stevedore's wire decoders, built apart from the product (everything is
// compiled with -sanitize=fuzzer,address): `make fuzz` from the repository root.
import PackageDescription

let package = Package(
    name: "stevedore-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(name: "stevedore", path: "..")],
    targets: [
        .executableTarget(
            name: "stevedore-fuzz",
            dependencies: [
                .product(name: "StevedoreFuzzSurface", package: "stevedore"),
            ],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        )
    ]
)

import AgentProtocol
import ApplicationAutoScalingShapes
import Archives
import ArgumentParser
import AWSProtocols
import ECS
import ECSShapes
import LambdaShapes
import StevedoreClient
import StevedoreCore

@main
struct StevedoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stevedore-bench",
        abstract: "Benchmarks that print figures and ratios against a baseline measured in the same run.",
        version: StevedoreVersion.current,
        subcommands: [APIBenchmark.self, PlacementBenchmark.self, RunTaskBenchmark.self, AgentBenchmark.self, FunctionBenchmark.self, ScalingBenchmark.self,
            SoakBenchmark.self, MixBenchmark.self, StartupBenchmark.self, GatewayBenchmark.self, EventsBenchmark.self, StoreBenchmark.self, S3Benchmark.self,
            SAMBenchmark.self, AthenaBenchmark.self, ConsoleBenchmark.self,
        ]
    )
}

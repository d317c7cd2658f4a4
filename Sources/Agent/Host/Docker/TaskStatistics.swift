#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import AgentEngine
import AgentProtocol
import DockerClient
import Synchronization

/// Usage samples for service auto scaling: every container at once, every ECS_STATS_INTERVAL.
extension DockerTaskExecutor {

    func sampleStatistics() async throws {
        while !Task.isCancelled {
            try await Task.sleep(for: configuration.statsInterval)
            let samples = await collectSamples()
            guard !samples.isEmpty, let instance = machine.state.instanceArn else { continue }
            try? await reporter.publishMetrics(AgentMetricsReport(containerInstanceArn: instance, samples: samples))
        }
    }

    /// CPU units used (between two samples) and memory in use, per running task.
    func collectSamples() async -> [TaskUsageSample] {
        var samples: [TaskUsageSample] = []
        // One request per container, all at once: a round takes one Docker answer, not one per container.
        let ids = machine.state.tasks.values.filter { $0.phase == .running }
            .flatMap { $0.containers.filter { $0.status == .running }.compactMap(\.dockerId) }
        let docker = self.docker
        let fetched = await withTaskGroup(of: (String, ContainerStats?).self) { group in
            for id in ids { group.addTask { (id, try? await docker.stats(id)) } }
            var all: [String: ContainerStats] = [:]
            for await (id, stats) in group { all[id] = stats }
            return all
        }
        let now = ContinuousClock.now
        for (arn, managed) in machine.state.tasks where managed.phase == .running {
            var cpuUnits = 0.0
            var memory = 0.0
            var complete = true
            for container in managed.containers where container.status == .running {
                guard let id = container.dockerId, let stats = fetched[id] else { continue }
                let usage = stats.cpuStats?.cpuUsage?.totalUsage ?? 0
                if let previous = cpuSamples[id] {
                    let elapsed = now - previous.at
                    let nanoseconds = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
                    if nanoseconds > 0, usage >= previous.usage {
                        cpuUnits += Double(usage - previous.usage) / nanoseconds * 1024
                    }
                } else {
                    complete = false
                }
                cpuSamples[id] = (usage, now)
                let cache = stats.memoryStats?.stats?["inactive_file"] ?? stats.memoryStats?.stats?["cache"] ?? 0
                let used = (stats.memoryStats?.usage ?? 0) > cache ? (stats.memoryStats?.usage ?? 0) - cache : 0
                memory += Double(used) / 1_048_576
            }
            guard complete else { continue }
            samples.append(TaskUsageSample(taskArn: arn, cpuUnits: cpuUnits, memoryMiB: memory, at: clock()))
        }
        return samples
    }
}

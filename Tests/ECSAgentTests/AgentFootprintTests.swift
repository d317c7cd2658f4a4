import Foundation
import Testing

/// The agent runs on every host, so its memory counts: a plain `import Foundation` in any module
/// it links pulls in FoundationInternationalization and ICU's data (the static agent grew from 75
/// to 129 MB and its idle memory from 27 to 34 MiB when one crept in). Its modules import
/// FoundationEssentials, with Foundation only as the fallback where that does not exist.
struct AgentFootprintTests {
    static let agentSources = [
        "Sources/Core", "Sources/Protocols", "Sources/Shapes/ECS", "Sources/AgentProtocol", "Sources/Agent", "Sources/Archives",
        "Sources/Clients/StevedoreClient", "Sources/Clients/CurlHTTP", "Sources/Clients/DockerClient", "Sources/Security/SigV4",
        "Sources/ecs-agent", "Sources/Observability",
    ]

    /// `import Foundation`, `@preconcurrency import Foundation`, `import struct Foundation.Date`,
    /// `import FoundationInternationalization`: anything but FoundationEssentials.
    static func importsFoundation(_ line: Substring) -> Bool {
        let words = line.split(separator: " ").filter { !$0.hasPrefix("@") }
        guard let keyword = words.firstIndex(of: "import"), keyword + 1 < words.count else { return false }
        let module = words[words.count > keyword + 2 ? keyword + 2 : keyword + 1].split(separator: ".").first ?? ""
        return module.hasPrefix("Foundation") && module != "FoundationEssentials"
    }

    @Test func importsOfFoundationAreRecognisedHoweverTheyAreWritten() {
        for line in ["import Foundation", "@preconcurrency import Foundation", "import struct Foundation.Date", "import FoundationInternationalization"] {
            #expect(Self.importsFoundation(Substring(line)), "\(line)")
        }
        for line in ["import FoundationEssentials", "import Glibc", "// import Foundation later", "let imported = Foundation"] {
            #expect(!Self.importsFoundation(Substring(line)), "\(line)")
        }
    }

    @Test func noModuleTheAgentLinksImportsAllOfFoundation() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var offenders: [String] = []
        var checked = 0
        for directory in Self.agentSources {
            let base = root.appendingPathComponent(directory).path
            guard let files = FileManager.default.enumerator(atPath: base) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let lines = try String(contentsOfFile: base + "/" + file, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
                checked += 1
                for (index, line) in lines.enumerated() where Self.importsFoundation(line) {
                    // Allowed only as the fallback of `#if canImport(FoundationEssentials) / import
                    // FoundationEssentials / #else`.
                    let fallback =
                        line == "import Foundation" && index >= 3 && lines[index - 1] == "#else"
                        && lines[index - 2] == "import FoundationEssentials" && lines[index - 3] == "#if canImport(FoundationEssentials)"
                    if !fallback { offenders.append("\(directory)/\(file):\(index + 1)") }
                }
            }
        }
        #expect(checked > 50, "the agent's sources were found")
        #expect(offenders.isEmpty, "import FoundationEssentials instead (with Foundation under #else): \(offenders)")
    }
}

import AgentProtocol
import ApplicationAutoScaling
import ApplicationAutoScalingShapes
import AWSProtocols
import Capacity
import ECS
import ECSShapes
import Foundation
import Lambda
import LambdaShapes
import StevedoreCore

/// Function and layer zips, content-addressed under `<data-dir>/code/<sha-256>.zip`. A zip is
/// written (and synced) before the record that refers to it is committed, so an acknowledged
/// function always has its code; identical uploads are stored once.
struct CodeStore: Sendable {
    let directory: String

    init(dataDirectory: String) throws {
        directory = dataDirectory + "/code"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    func path(_ hash: String) -> String { "\(directory)/\(hash).zip" }

    /// Validates, measures and stores a zip; returns its bundle description.
    func store(_ zip: [UInt8], settings: FunctionSettings) throws(AWSError) -> CodeBundle {
        let bundle = try CodeBundle.inspect(zip, settings: settings)
        let target = path(bundle.hash)
        guard !FileManager.default.fileExists(atPath: target) else { return bundle }
        let temporary = "\(target).\(UUID().uuidString).tmp"
        do {
            try DurableFile.create(temporary, bytes: zip, mode: 0o644)
            guard rename(temporary, target) == 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
            syncDirectory()
        } catch {
            unlink(temporary)
            throw AWSError.lambdaService("The code could not be stored (\(error)); nothing was changed. Try again.")
        }
        return bundle
    }

    func read(_ hash: String) -> [UInt8]? {
        guard hash.count == 64, hash.allSatisfy(\.isHexDigit) else { return nil }
        return FileManager.default.contents(atPath: path(hash)).map { Array($0) }
    }

    /// Removes zips nothing refers to any more (and that are older than an hour, so an upload
    /// whose record is being committed right now is never taken).
    func collect(keeping referenced: Set<String>) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let cutoff = Date().addingTimeInterval(-3600)
        for name in names where name.hasSuffix(".zip") && !referenced.contains(String(name.dropLast(4))) {
            let path = "\(directory)/\(name)"
            let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
            if modified < cutoff { unlink(path) }
        }
    }

    private func syncDirectory() {
        let fd = open(directory, O_RDONLY | O_DIRECTORY)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }
}

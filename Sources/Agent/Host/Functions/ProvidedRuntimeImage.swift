import Glibc
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import DockerClient

/// Builds the image `provided` runtimes run in, on the host itself (no registry needed): the
/// host's static busybox with its applets, `/etc/passwd` with Lambda's sandbox user (uid 993),
/// and the directories Lambda mounts into (`/var/task`, `/opt`, `/var/runtime`, `/tmp`).
enum ProvidedRuntimeImage {
    static let candidates = ["/bin/busybox", "/usr/bin/busybox"]

    static func build(reference: String, docker: any DockerEngine) async throws {
        guard let busybox = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }),
            let binary = FileManager.default.contents(atPath: busybox)
        else {
            throw ImageError(description: "cannot build \(reference): no static busybox at /bin/busybox (apt-get install busybox-static)")
        }
        var tar = TarWriter()
        for directory in ["bin", "etc", "tmp", "var", "var/task", "var/runtime", "opt", "usr", "usr/bin", "dev", "proc", "sys"] {
            tar.directory(directory, mode: directory == "tmp" ? 0o1777 : 0o755)
        }
        tar.file("bin/busybox", contents: Array(binary), mode: 0o755)
        for applet in applets(busybox) where applet != "busybox" {
            tar.symlink("bin/\(applet)", target: "busybox")
        }
        tar.file("etc/passwd", contents: Array("root:x:0:0:root:/root:/bin/sh\nsbx_user1051:x:993:993::/tmp:/bin/sh\n".utf8), mode: 0o644)
        tar.file("etc/group", contents: Array("root:x:0:\nsbx_user1051:x:993:\n".utf8), mode: 0o644)
        try await docker.importImage(
            tar: tar.finish(), reference: reference,
            changes: ["ENV PATH=/usr/local/bin:/usr/bin:/bin:/opt/bin", "WORKDIR /var/task"])
    }

    /// The applets this busybox provides (`busybox --list`), or a core set if it cannot say.
    static func applets(_ busybox: String) -> [String] {
        let names = (HostProgram.run(busybox, ["--list"])?.output ?? "").split(separator: "\n").map(String.init)
        if !names.isEmpty { return names }
        return ["sh", "cat", "echo", "wget", "sed", "grep", "head", "tail", "tr", "cut", "date", "sleep", "env", "printf", "test", "ls", "mkdir", "rm", "dd"]
    }

    struct ImageError: Error, CustomStringConvertible {
        var description: String
    }
}

/// A minimal ustar archive writer (directories, regular files, symbolic links).
struct TarWriter {
    private var bytes: [UInt8] = []

    mutating func directory(_ path: String, mode: Int) {
        header(path.hasSuffix("/") ? path : path + "/", size: 0, mode: mode, type: "5", link: "")
    }

    mutating func file(_ path: String, contents: [UInt8], mode: Int) {
        header(path, size: contents.count, mode: mode, type: "0", link: "")
        bytes += contents
        bytes += [UInt8](repeating: 0, count: (512 - contents.count % 512) % 512)
    }

    mutating func symlink(_ path: String, target: String) {
        header(path, size: 0, mode: 0o777, type: "2", link: target)
    }

    func finish() -> [UInt8] {
        bytes + [UInt8](repeating: 0, count: 1024)
    }

    private mutating func header(_ path: String, size: Int, mode: Int, type: Character, link: String) {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ text: String, at offset: Int, width: Int) {
            let utf8 = Array(text.utf8.prefix(width))
            block.replaceSubrange(offset..<(offset + utf8.count), with: utf8)
        }
        func octal(_ value: Int, at offset: Int, width: Int) {
            let digits = String(value, radix: 8)
            put(String(repeating: "0", count: max(0, width - 1 - digits.count)) + digits, at: offset, width: width - 1)
        }
        put(path, at: 0, width: 100)
        octal(mode, at: 100, width: 8)
        octal(0, at: 108, width: 8)
        octal(0, at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(0, at: 136, width: 12)
        put("        ", at: 148, width: 8)
        put(String(type), at: 156, width: 1)
        put(link, at: 157, width: 100)
        put("ustar", at: 257, width: 6)
        put("00", at: 263, width: 2)
        let checksum = block.reduce(0) { $0 + Int($1) }
        let digits = String(checksum, radix: 8)
        put(String(repeating: "0", count: max(0, 6 - digits.count)) + digits, at: 148, width: 6)
        block[154] = 0
        block[155] = 0x20
        bytes += block
    }
}

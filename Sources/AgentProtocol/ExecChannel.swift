#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Commands run in tasks' containers (ExecuteCommand, `ecsctl task exec`).
///
/// Agents connect outbound only, so a command travels as the logs do: the control plane queues an
/// ``ExecRequest`` on the instance's work channel; the agent starts the command with Docker's exec
/// and relays both ways over two plain HTTP calls it repeats: `POST <outputPath>/<id>` carries the
/// command's output (frames), `POST <inputPath>/<id>` waits for what the caller typed (frames).
/// The caller reads the output from `GET <sessionPath>/<id>` and sends input to
/// `POST <sessionPath>/<id>/input`, with the session's token.
public enum ExecChannel {
    public static let outputPath = "/v1/agent/exec/output"
    public static let inputPath = "/v1/agent/exec/input"
    /// The caller's side: `GET <sessionPath>/<id>?token=…` streams frames, `POST …/<id>/input` sends them.
    public static let sessionPath = "/v1/exec"
    /// Longest an agent's input request is held when nothing was typed.
    public static let inputWait: Duration = .seconds(20)
}

/// A command to run in a task's container, relayed to the agent that runs the task.
public struct ExecRequest: Codable, Sendable, Equatable {
    public var id: String
    public var taskArn: String
    public var container: String
    /// The program and its arguments.
    public var command: [String]
    /// Allocate a terminal (the caller's is one): raw bytes both ways, resizable.
    public var tty: Bool

    public init(id: String, taskArn: String, container: String, command: [String], tty: Bool) {
        self.id = id
        self.taskArn = taskArn
        self.container = container
        self.command = command
        self.tty = tty
    }
}

/// One frame of an exec session: a kind byte, a 4-byte big-endian length, the payload.
public struct ExecFrame: Sendable, Equatable {
    public enum Kind: UInt8, Sendable {
        /// Caller → command: bytes for its standard input.
        case stdin = 0
        /// Command → caller: its output.
        case stdout = 1
        case stderr = 2
        /// Command → caller: it ended; the payload is its exit status in decimal. The last frame.
        case exit = 3
        /// Command → caller: it could not run; the payload says why. The last frame.
        case failure = 4
        /// Caller → command: the terminal's size, "columns rows".
        case resize = 5
        /// Caller → command: no more input (its standard input closes).
        case endOfInput = 6
    }

    public var kind: Kind
    public var payload: [UInt8]

    public init(_ kind: Kind, _ payload: [UInt8] = []) {
        self.kind = kind
        self.payload = payload
    }

    public init(_ kind: Kind, text: String) {
        self.init(kind, Array(text.utf8))
    }

    public var text: String { String(decoding: payload, as: UTF8.self) }

    public static func encode(_ frames: [ExecFrame]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(frames.reduce(0) { $0 + 5 + $1.payload.count })
        for frame in frames {
            let count = UInt32(frame.payload.count)
            bytes += [frame.kind.rawValue, UInt8(count >> 24), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
            bytes += frame.payload
        }
        return bytes
    }
}

/// Reads frames from bytes that arrive in pieces.
public struct ExecFrameDecoder: Sendable {
    private var buffer: [UInt8] = []

    public init() {}

    public mutating func append(_ bytes: [UInt8]) { buffer += bytes }

    /// The next whole frame; nil until one has arrived. An unknown kind is a protocol error.
    public mutating func next() throws(ExecFrameError) -> ExecFrame? {
        guard buffer.count >= 5 else { return nil }
        let count = Int(buffer[1]) << 24 | Int(buffer[2]) << 16 | Int(buffer[3]) << 8 | Int(buffer[4])
        guard buffer.count >= 5 + count else { return nil }
        guard let kind = ExecFrame.Kind(rawValue: buffer[0]) else { throw ExecFrameError(kind: buffer[0]) }
        let frame = ExecFrame(kind, Array(buffer[5..<(5 + count)]))
        buffer.removeSubrange(0..<(5 + count))
        return frame
    }

    /// Every whole frame in `bytes` (appended to what came before).
    public mutating func frames(_ bytes: [UInt8]) throws(ExecFrameError) -> [ExecFrame] {
        append(bytes)
        var frames: [ExecFrame] = []
        while let frame = try next() { frames.append(frame) }
        return frames
    }

    /// Bytes left over that make no whole frame.
    public var pending: Int { buffer.count }
}

public struct ExecFrameError: Error, Sendable, Equatable {
    public var kind: UInt8

    public init(kind: UInt8) { self.kind = kind }
}

/// ExecuteCommand's `command` is one string: split as a POSIX shell splits words (spaces, single
/// and double quotes, backslashes), without expanding anything. `ecsctl task exec` joins its
/// arguments with ``quoted(_:)`` so they come back as given.
public enum CommandLineWords {
    public static func split(_ line: String) -> [String]? {
        var words: [String] = []
        var current = ""
        var inWord = false
        var quote: Character?
        var escaped = false
        for character in line {
            if escaped {
                current.append(character)
                escaped = false
                inWord = true
                continue
            }
            if let open = quote {
                if character == open {
                    quote = nil
                } else if character == "\\" && open == "\"" {
                    escaped = true
                } else {
                    current.append(character)
                }
                continue
            }
            switch character {
            case "\\":
                escaped = true
            case "'", "\"":
                quote = character
                inWord = true
            case " ", "\t", "\n":
                if inWord {
                    words.append(current)
                    current = ""
                    inWord = false
                }
            default:
                current.append(character)
                inWord = true
            }
        }
        guard quote == nil, !escaped else { return nil }
        if inWord { words.append(current) }
        return words
    }

    /// A word as a shell reads it back: plain when it is plain, else in single quotes.
    public static func quoted(_ word: String) -> String {
        let plain = !word.isEmpty && word.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }
        guard !plain else { return word }
        return "'" + word.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
    }
}

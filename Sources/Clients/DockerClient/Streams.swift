/// Splits a byte stream into newline-terminated lines (Docker's JSON-lines streams: events, pull
/// progress). A last line without a newline is yielded when the stream ends.
public struct JSONLines<Chunks: AsyncSequence & Sendable>: AsyncSequence, Sendable where Chunks.Element == [UInt8] {
    public typealias Element = [UInt8]
    let chunks: Chunks

    public struct AsyncIterator: AsyncIteratorProtocol {
        var upstream: Chunks.AsyncIterator
        var buffer: [UInt8] = []
        var finished = false

        public mutating func next() async throws -> [UInt8]? {
            while true {
                if let newline = buffer.firstIndex(of: 0x0A) {
                    let line = Array(buffer[..<newline])
                    buffer.removeSubrange(...newline)
                    if line.isEmpty { continue }
                    return line
                }
                if finished {
                    guard !buffer.isEmpty else { return nil }
                    defer { buffer = [] }
                    return buffer
                }
                if let chunk = try await upstream.next() {
                    buffer += chunk
                } else {
                    finished = true
                }
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(upstream: chunks.makeAsyncIterator()) }
}

/// A frame of a container's output.
public struct LogFrame: Sendable, Equatable {
    public enum Stream: UInt8, Sendable { case stdin = 0, stdout = 1, stderr = 2 }
    public var stream: Stream
    public var bytes: [UInt8]

    public init(stream: Stream, bytes: [UInt8]) {
        self.stream = stream
        self.bytes = bytes
    }
}

/// Decodes Docker's multiplexed log stream (non-TTY containers): 8-byte headers
/// `[stream, 0, 0, 0, size (big-endian UInt32)]` followed by `size` bytes.
public struct LogStream: AsyncSequence, Sendable {
    public typealias Element = LogFrame
    let chunks: AsyncThrowingStream<[UInt8], any Error>

    public struct AsyncIterator: AsyncIteratorProtocol {
        var upstream: AsyncThrowingStream<[UInt8], any Error>.AsyncIterator
        var decoder = LogFrameDecoder()

        public mutating func next() async throws -> LogFrame? {
            while true {
                if let frame = decoder.next() { return frame }
                guard let chunk = try await upstream.next() else { return decoder.flush() }
                decoder.append(chunk)
            }
        }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(upstream: chunks.makeAsyncIterator()) }
}

/// The frame parser behind ``LogStream``, separate so it can be tested byte by byte.
public struct LogFrameDecoder: Sendable {
    var buffer: [UInt8] = []
    /// A TTY container's output has no frames: once a header is implausible, pass bytes through.
    var raw = false

    public init() {}

    public mutating func append(_ bytes: [UInt8]) { buffer += bytes }

    public mutating func next() -> LogFrame? {
        if raw {
            guard !buffer.isEmpty else { return nil }
            defer { buffer = [] }
            return LogFrame(stream: .stdout, bytes: buffer)
        }
        guard buffer.count >= 8 else { return nil }
        guard buffer[0] <= 2, buffer[1] == 0, buffer[2] == 0, buffer[3] == 0 else {
            raw = true
            return next()
        }
        let size = Int(buffer[4]) << 24 | Int(buffer[5]) << 16 | Int(buffer[6]) << 8 | Int(buffer[7])
        guard buffer.count >= 8 + size else { return nil }
        let frame = LogFrame(stream: LogFrame.Stream(rawValue: buffer[0]) ?? .stdout, bytes: Array(buffer[8..<(8 + size)]))
        buffer.removeSubrange(0..<(8 + size))
        return frame
    }

    /// What is left when the stream ends (an incomplete frame is returned as it is).
    public mutating func flush() -> LogFrame? {
        if let frame = next() { return frame }
        guard !buffer.isEmpty else { return nil }
        defer { buffer = [] }
        return LogFrame(stream: .stdout, bytes: raw || buffer.count < 8 ? buffer : Array(buffer.dropFirst(8)))
    }
}

import Foundation
import CZlib
import Glibc

/// An object's lines, read from its files in order a piece at a time (never the whole object),
/// gunzipped when the object is gzip. Counts the bytes it reads from disk: what the query scanned.
final class LineReader {
    static let pieceSize = 256 * 1024

    private var files: [String]
    private var descriptor: Int32 = -1
    private var raw = [UInt8](repeating: 0, count: LineReader.pieceSize)
    /// Decoded bytes not yet returned as lines.
    private var buffer: [UInt8] = []
    private var start = 0
    private var finished = false
    private var inflater: Inflater?
    private(set) var bytesRead = 0

    /// - Parameter gzip: the files hold a gzip stream (one or several members).
    init(files: [String], gzip: Bool) {
        self.files = files.reversed()
        inflater = gzip ? Inflater() : nil
    }

    deinit {
        if descriptor >= 0 { close(descriptor) }
    }

    /// The next line without its end (`\n`, or `\r\n`), or nil at the end of the object.
    func nextLine() throws(ReadFailure) -> ArraySlice<UInt8>? {
        while true {
            if let newline = nextNewline() {
                var end = newline
                if end > start, buffer[end - 1] == UInt8(ascii: "\r") { end -= 1 }
                let line = buffer[start..<end]
                start = newline + 1
                return line
            }
            if finished {
                guard start < buffer.count else { return nil }
                let line = buffer[start...]
                start = buffer.count
                return line
            }
            // Keep the unfinished line, then read on.
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            try fill()
        }
    }

    /// Where the next newline from `start` is: memchr, which scans many bytes at a time.
    private func nextNewline() -> Int? {
        guard start < buffer.count else { return nil }
        return buffer.withUnsafeBufferPointer { bytes in
            memchr(bytes.baseAddress! + start, 0x0A, bytes.count - start).map { UnsafeRawPointer($0) - UnsafeRawPointer(bytes.baseAddress!) }
        }
    }

    private func fill() throws(ReadFailure) {
        while descriptor < 0 {
            guard let next = files.popLast() else {
                finished = true
                return
            }
            descriptor = open(next, O_RDONLY | O_CLOEXEC)
            // An object replaced or deleted since the query listed it: it is no longer there to read.
            if descriptor < 0, errno == ENOENT { continue }
            guard descriptor >= 0 else { throw ReadFailure(message: "an object of the table cannot be read (errno \(errno))") }
        }
        let count = raw.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count >= 0 else { throw ReadFailure(message: "cannot read an object file: errno \(errno)") }
        if count == 0 {
            close(descriptor)
            descriptor = -1
            return
        }
        bytesRead += count
        if let inflater {
            try inflater.inflate(raw[0..<count], into: &buffer)
        } else {
            buffer.append(contentsOf: raw[0..<count])
        }
    }
}

struct ReadFailure: Error, Equatable {
    var message: String

    static let bytesLimitExceeded = ReadFailure(message: "Bytes scanned limit was exceeded")
}

/// zlib's gzip decoding, one piece of input at a time; concatenated members are read on.
final class Inflater {
    private var stream = z_stream()
    private var output = [UInt8](repeating: 0, count: 256 * 1024)
    private var ready = false

    init() {
        // 16 + MAX_WBITS: a gzip header and trailer around the deflate stream.
        ready = inflateInit2_(&stream, 16 + MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK
    }

    deinit {
        if ready { inflateEnd(&stream) }
    }

    func inflate(_ input: ArraySlice<UInt8>, into buffer: inout [UInt8]) throws(ReadFailure) {
        guard ready else { throw ReadFailure(message: "zlib could not start") }
        var input = Array(input)
        var failure: ReadFailure?
        input.withUnsafeMutableBufferPointer { inBuffer in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            while stream.avail_in > 0 {
                var status: Int32 = Z_OK
                let produced = output.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = uInt(outBuffer.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return outBuffer.count - Int(stream.avail_out)
                }
                buffer.append(contentsOf: output[0..<produced])
                if status == Z_STREAM_END {
                    // Another gzip member may follow (`cat a.gz b.gz`).
                    inflateReset(&stream)
                } else if status != Z_OK && status != Z_BUF_ERROR {
                    failure = ReadFailure(message: "the object is not valid gzip (zlib status \(status))")
                    return
                } else if produced == 0, stream.avail_in > 0, status == Z_BUF_ERROR {
                    failure = ReadFailure(message: "the object is not valid gzip")
                    return
                }
            }
        }
        if let failure { throw failure }
    }
}

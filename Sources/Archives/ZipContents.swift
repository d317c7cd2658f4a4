import CZlib

/// Reads the data of a zip's entries: stored or raw DEFLATE, checked against the entry's CRC-32
/// and declared size. Archives are measured by what they really contain, never by what their
/// directory declares (a zip bomb declares little and inflates to much).
public enum ZipContents {
    public struct Failure: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// An entry's bytes (an entry that inflates past its declared size is damaged).
    public static func read(_ entry: ZipDirectory.Entry, in zip: [UInt8]) throws(Failure) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(entry.uncompressedSize)
        try stream(entry, in: zip, limit: entry.uncompressedSize) { chunk in output.append(contentsOf: chunk) }
        return output
    }

    /// The unpacked size of every entry, inflated for real and CRC-checked. Stops as soon as the
    /// total passes `limit` and returns `limit` (so a bomb costs at most `limit` bytes of work).
    public static func unpackedSize(of directory: ZipDirectory, in zip: [UInt8], limit: Int) throws(Failure) -> Int {
        var total = 0
        for entry in directory.entries where !entry.isDirectory {
            let remaining = limit - total
            var size = 0
            do {
                // Never inflates past the limit, whatever the entry declares.
                try stream(entry, in: zip, limit: remaining) { chunk in size += chunk.count }
            } catch let failure where failure == .overLimit {
                return limit
            }
            total += size
        }
        return total
    }

    static let overLimitDescription = "the entry inflates past the limit"

    /// Inflates (or copies) an entry in chunks, checking its CRC and that it ends at its declared size.
    static func stream(
        _ entry: ZipDirectory.Entry, in zip: [UInt8], limit: Int, _ consume: ([UInt8]) -> Void
    ) throws(Failure) {
        guard let start = ZipDirectory.dataOffset(of: entry, in: zip) else {
            throw Failure(description: "entry '\(entry.path)' is damaged")
        }
        let compressed = zip[start..<(start + entry.compressedSize)]
        var crc: UInt32 = 0
        var produced = 0
        switch entry.method {
        case 0:
            let bytes = Array(compressed)
            crc = zlibCRC(bytes[...], initial: 0)
            produced = bytes.count
            if produced > limit { throw Failure.overLimit }
            consume(bytes)
        case 8:
            var stream = z_stream()
            guard inflateInit2_(&stream, -MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
                throw Failure(description: "zlib could not start")
            }
            defer { inflateEnd(&stream) }
            var input = Array(compressed)
            var chunk = [UInt8](repeating: 0, count: 64 * 1024)
            var status: Int32 = Z_OK
            try input.withUnsafeMutableBufferPointer { (inBuffer) throws(Failure) in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                while status != Z_STREAM_END {
                    let count: Int = chunk.withUnsafeMutableBufferPointer { outBuffer in
                        stream.next_out = outBuffer.baseAddress
                        stream.avail_out = uInt(outBuffer.count)
                        status = CZlib.inflate(&stream, Z_NO_FLUSH)
                        return outBuffer.count - Int(stream.avail_out)
                    }
                    guard status == Z_OK || status == Z_STREAM_END else {
                        throw Failure(description: "entry '\(entry.path)' is damaged (zlib status \(status))")
                    }
                    produced += count
                    if produced > limit { throw Failure.overLimit }
                    crc = zlibCRC(chunk[0..<count], initial: crc)
                    consume(Array(chunk[0..<count]))
                    if count == 0, stream.avail_in == 0, status != Z_STREAM_END {
                        throw Failure(description: "entry '\(entry.path)' is truncated")
                    }
                }
            }
        default:
            throw Failure(description: "entry '\(entry.path)' uses compression method \(entry.method)")
        }
        guard produced == entry.uncompressedSize else {
            throw Failure(description: "entry '\(entry.path)' inflates to \(produced) bytes but declares \(entry.uncompressedSize)")
        }
        guard crc == entry.crc32 else { throw Failure(description: "entry '\(entry.path)' fails its CRC check") }
    }
}

/// zlib's CRC-32 (the same as ``CRC32``, several times faster on large entries).
private func zlibCRC(_ bytes: ArraySlice<UInt8>, initial: UInt32) -> UInt32 {
    bytes.withUnsafeBufferPointer { buffer in
        UInt32(crc32(uLong(initial), buffer.baseAddress, uInt(buffer.count)))
    }
}

extension ZipContents.Failure {
    static let overLimit = ZipContents.Failure(description: ZipContents.overLimitDescription)
}

/// Raw DEFLATE (no zlib header), as zip entries store it.
public enum Deflate {
    /// nil when zlib cannot start (out of memory): the caller stores the bytes instead.
    /// - Parameter fast: zlib's fastest level (rows compressed on a hot path) instead of its default.
    public static func raw(_ input: [UInt8], fast: Bool = false) -> [UInt8]? {
        var stream = z_stream()
        let level = fast ? Z_BEST_SPEED : Z_DEFAULT_COMPRESSION
        let started = deflateInit2_(
            &stream, level, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY, zlibVersion(), Int32(MemoryLayout<z_stream>.size))
        guard started == Z_OK else { return nil }
        defer { deflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))))
        var input = input
        let (status, produced): (Int32, Int) = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = uInt(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = uInt(outBuffer.count)
                let status = deflate(&stream, Z_FINISH)
                return (status, outBuffer.count - Int(stream.avail_out))
            }
        }
        return status == Z_STREAM_END ? Array(output[0..<produced]) : nil
    }
}

extension Deflate {
    /// Raw DEFLATE bytes inflated; nil if they are damaged, truncated or inflate past `limit`.
    public static func inflate(_ input: ArraySlice<UInt8>, limit: Int) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, -MAX_WBITS, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var input = Array(input)
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        var status: Int32 = Z_OK
        return input.withUnsafeMutableBufferPointer { inBuffer -> [UInt8]? in
            stream.next_in = inBuffer.baseAddress
            stream.avail_in = uInt(inBuffer.count)
            while status != Z_STREAM_END {
                let count: Int = chunk.withUnsafeMutableBufferPointer { outBuffer in
                    stream.next_out = outBuffer.baseAddress
                    stream.avail_out = uInt(outBuffer.count)
                    status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    return outBuffer.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END, output.count + count <= limit else { return nil }
                output += chunk[0..<count]
                if count == 0, stream.avail_in == 0, status != Z_STREAM_END { return nil }
            }
            return output
        }
    }
}

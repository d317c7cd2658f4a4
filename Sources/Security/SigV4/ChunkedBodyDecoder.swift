import Archives
import Crypto
import StevedoreCore

/// An `aws-chunked` body decoded as it arrives (see ``ChunkedPayload`` for the format): the
/// payload's bytes are handed on as they come, each signed chunk's signature is checked when its
/// last byte has passed, and the trailers are read at the end. A body refused part-way has had
/// some bytes handed on already: the receiver must discard what it kept of them.
public struct ChunkedBodyDecoder: Sendable {
    private enum State: Sendable {
        /// Reading a chunk's header line (or, after the last chunk, a trailer line).
        case header
        case data(remaining: Int)
        /// The CR (0) or LF (1) that ends a chunk's bytes.
        case dataEnd(seen: Int)
        case trailers
        case done
    }

    private var state = State.header
    private var line: [UInt8] = []
    private let signing: (key: HMACKey, claim: SignatureClaim)?
    private let form: ChunkedPayload.Trailers
    private var previous: String
    private var chunkSignature: String?
    private var chunkHash = SHA256()
    public private(set) var trailers: [(name: String, value: String)] = []
    /// Payload bytes handed on so far.
    public private(set) var decodedCount = 0
    /// The longest chunk header or trailer line taken.
    static let maximumLine = 8192
    /// The most trailers taken (a checksum and a signature are what clients send).
    static let maximumTrailers = 8

    /// Chunk headers carry signatures that are not checked (no key: authentication is off).
    private let skipsSignatures: Bool

    init(signing: (key: HMACKey, claim: SignatureClaim)?, form: ChunkedPayload.Trailers, skipsSignatures: Bool = false) {
        self.signing = signing
        self.form = form
        self.skipsSignatures = skipsSignatures
        previous = signing?.claim.signature.lowercased() ?? ""
    }

    /// Takes the next bytes of the body, handing the payload's on to `emit`.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, emit: (UnsafeRawBufferPointer) -> Void) throws(SignatureFailure) {
        var index = 0
        while index < bytes.count {
            switch state {
            case .header, .trailers:
                let byte = bytes[index]
                index += 1
                line.append(byte)
                guard line.count <= Self.maximumLine else { throw .incomplete("The aws-chunked body has a line longer than \(Self.maximumLine) bytes.") }
                if byte == 10 {
                    guard line.count >= 2, line[line.count - 2] == 13 else { throw .incomplete("The aws-chunked body has a line that does not end with CRLF.") }
                    let content = Array(line.dropLast(2))
                    line.removeAll(keepingCapacity: true)
                    try take(line: content)
                }
            case .data(let remaining):
                let count = min(remaining, bytes.count - index)
                let slice = UnsafeRawBufferPointer(rebasing: bytes[index..<(index + count)])
                if signing != nil { chunkHash.update(bufferPointer: slice) }
                emit(slice)
                decodedCount += count
                index += count
                state = remaining == count ? .dataEnd(seen: 0) : .data(remaining: remaining - count)
            case .dataEnd(let seen):
                guard bytes[index] == (seen == 0 ? 13 : 10) else { throw .incomplete("The aws-chunked body is cut short: a chunk does not end with CRLF.") }
                index += 1
                if seen == 0 {
                    state = .dataEnd(seen: 1)
                } else {
                    try checkChunkSignature()
                    state = .header
                }
            case .done:
                throw .incomplete("The aws-chunked body does not end after its last chunk.")
            }
        }
    }

    /// The body has ended: it must have ended where the format does, with the length and the
    /// trailers its headers announced.
    public func finish(_ request: SignableRequest) throws(SignatureFailure) {
        guard case .done = state else { throw .incomplete("The aws-chunked body is cut short: it ends before its last chunk.") }
        guard let declared = request.header("x-amz-decoded-content-length") else {
            throw .incomplete("An aws-chunked body needs x-amz-decoded-content-length.")
        }
        if Int(declared) != decodedCount {
            throw .incomplete("x-amz-decoded-content-length is \(declared), and the decoded body has \(decodedCount) bytes.")
        }
        try ChunkedPayload.checkDeclaredTrailers(trailers, request)
    }

    private mutating func take(line content: [UInt8]) throws(SignatureFailure) {
        if case .trailers = state {
            guard !content.isEmpty else { return try endTrailers() }
            guard form != .none else { throw .incomplete("The aws-chunked body does not end after its last chunk.") }
            guard trailers.count < Self.maximumTrailers else { throw .incomplete("The aws-chunked body has more than \(Self.maximumTrailers) trailers.") }
            trailers.append(try ChunkedPayload.trailer(content[...]))
            return
        }
        let sizeText = content.prefix { $0 != UInt8(ascii: ";") }
        let isHexDigit = { (byte: UInt8) in byte &- 48 < 10 || (byte | 0x20) &- 97 < 6 }
        guard !sizeText.isEmpty, sizeText.count <= 15, sizeText.allSatisfy(isHexDigit), let size = Int(String(decoding: sizeText, as: UTF8.self), radix: 16)
        else { throw .incomplete("The aws-chunked body has a chunk whose size is not hexadecimal.") }
        if signing != nil {
            let marker = Array(";chunk-signature=".utf8)
            let rest = content.dropFirst(sizeText.count)
            guard rest.starts(with: marker) else { throw .incomplete("A chunk of a signed aws-chunked body has no chunk-signature.") }
            chunkSignature = String(decoding: rest.dropFirst(marker.count).map { $0 &- 65 < 26 ? $0 | 0x20 : $0 }, as: UTF8.self)
            chunkHash = SHA256()
        }
        if size == 0 {
            try checkChunkSignature()
            state = .trailers
        } else {
            state = .data(remaining: size)
        }
    }

    private mutating func checkChunkSignature() throws(SignatureFailure) {
        guard let (key, claim) = signing, let sent = chunkSignature else { return }
        let hash = Digest.hex(chunkHash.finalize().withUnsafeBytes { Array($0) })
        let expected = ChunkedPayload.signature(dataHash: hash, previous: previous, key: key, claim: claim)
        guard constantTimeEqual(Array(expected.utf8), Array(sent.utf8)) else { throw .mismatch }
        previous = expected
        chunkSignature = nil
    }

    private mutating func endTrailers() throws(SignatureFailure) {
        if skipsSignatures, trailers.last?.name == ChunkedPayload.trailerSignatureName { trailers.removeLast() }
        if form == .signed, let (key, claim) = signing {
            guard let sent = trailers.popLast(), sent.name == ChunkedPayload.trailerSignatureName else {
                throw .incomplete("The aws-chunked body's trailers end without x-amz-trailer-signature.")
            }
            let expected = ChunkedPayload.trailerSignature(of: trailers, previous: previous, key: key, claim: claim)
            guard constantTimeEqual(Array(expected.utf8), sent.value.utf8.map { $0 &- 65 < 26 ? $0 | 0x20 : $0 }) else { throw .mismatch }
        }
        state = .done
    }
}

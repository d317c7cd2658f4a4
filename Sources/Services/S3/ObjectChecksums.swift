#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Archives
import StevedoreCore

/// How a request declares its body's checksum: a `x-amz-checksum-<algorithm>` header with the
/// value, or (aws-chunked bodies) `x-amz-sdk-checksum-algorithm` / `x-amz-trailer` naming the
/// trailer that will carry it.
public struct DeclaredChecksum: Sendable, Equatable {
    public var algorithm: ChecksumAlgorithm
    /// nil when the value comes in a trailer.
    public var value: String?

    public init(algorithm: ChecksumAlgorithm, value: String?) {
        self.algorithm = algorithm
        self.value = value
    }
}

public enum ObjectChecksums {
    /// The checksum a request's headers declare (header names lower-cased), or why they are refused.
    public static func declared(_ header: (String) -> String?) throws(AWSError) -> DeclaredChecksum? {
        var found: DeclaredChecksum?
        for algorithm in ChecksumAlgorithm.allCases {
            guard let value = header(algorithm.headerName) else { continue }
            guard found == nil else { throw S3Error.invalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.") }
            guard let bytes = Data(base64Encoded: value), bytes.count == algorithm.size else { throw S3Error.invalidChecksumHeader(algorithm.rawValue) }
            found = DeclaredChecksum(algorithm: algorithm, value: value)
        }
        if found != nil { return found }
        let trailers = (header("x-amz-trailer") ?? "").lowercased().split(separator: ",").map(\.trimmingWhitespace)
        if let algorithm = ChecksumAlgorithm.allCases.first(where: { trailers.contains($0.headerName) }) {
            return DeclaredChecksum(algorithm: algorithm, value: nil)
        }
        if let name = header("x-amz-sdk-checksum-algorithm") ?? header("x-amz-checksum-algorithm") {
            guard let algorithm = ChecksumAlgorithm(rawValue: name.uppercased()) else {
                throw S3Error.invalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, SHA1, SHA256]")
            }
            return DeclaredChecksum(algorithm: algorithm, value: nil)
        }
        return nil
    }

    /// A multipart object's composite checksum: the checksum of its parts' checksums (base64).
    public static func composite(algorithm name: String, partValues: [String]) -> String? {
        guard let algorithm = ChecksumAlgorithm(rawValue: name) else { return nil }
        var joined: [UInt8] = []
        for value in partValues {
            guard let bytes = Data(base64Encoded: value) else { return nil }
            joined += bytes
        }
        return Data(algorithm.digest(joined)).base64EncodedString()
    }

    /// `Content-MD5` as base64 of 16 bytes, or InvalidDigest.
    public static func contentMD5(_ value: String) throws(AWSError) -> [UInt8] {
        guard let bytes = Data(base64Encoded: value), bytes.count == 16 else { throw S3Error.invalidDigest }
        return Array(bytes)
    }
}

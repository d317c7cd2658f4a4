@testable import Archives
import Foundation
import Testing

struct DigestTests {
    @Test func sha256MatchesPublishedVectors() {
        #expect(Digest.hex(Digest.sha256(Array("".utf8))) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(Digest.hex(Digest.sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        #expect(Digest.hex(Digest.sha256(long)) == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        #expect(Digest.hex(Digest.sha256(million)) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func sha256IsTheSameFedInPieces() {
        let bytes = (0..<1000).map { UInt8($0 % 251) }
        var state = SHA256State()
        for chunk in stride(from: 0, to: bytes.count, by: 37) { state.update(Array(bytes[chunk..<min(bytes.count, chunk + 37)])) }
        #expect(state.finish() == Digest.sha256(bytes))
    }

    @Test func md5MatchesRFC1321() {
        #expect(Digest.hex(Digest.md5(Array("".utf8))) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(Digest.hex(Digest.md5(Array("message digest".utf8))) == "f96b697d7cb7938d525a2f31aaf161d0")
        let digits = Array("12345678901234567890123456789012345678901234567890123456789012345678901234567890".utf8)
        #expect(Digest.hex(Digest.md5(digits)) == "57edf4a22be3c955ac49da2e2107b67a")
    }

    @Test func crc32MatchesTheCheckValue() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
    }
}

struct ZipTests {
    @Test func writerOutputIsReadBack() throws {
        var writer = ZipWriter()
        writer.add(path: "bin/", contents: [], mode: 0o755)
        writer.add(path: "bin/bootstrap", contents: Array("#!/bin/sh\n".utf8), mode: 0o755)
        writer.add(path: "data.txt", contents: Array("hello".utf8), mode: 0o644)
        let zip = writer.finish()
        let directory = try ZipDirectory(zip)
        #expect(directory.entries.map(\.path) == ["bin/", "bin/bootstrap", "data.txt"])
        #expect(directory.entries[0].isDirectory)
        #expect(directory.entries[1].unixMode & 0o777 == 0o755)
        #expect(directory.uncompressedSize == 15)
        let entry = directory.entries[2]
        let start = try #require(ZipDirectory.dataOffset(of: entry, in: zip))
        #expect(Array(zip[start..<(start + entry.compressedSize)]) == Array("hello".utf8))
        #expect(entry.crc32 == CRC32.checksum(Array("hello".utf8)))
    }

    @Test func refusesWhatIsNotASafeZip() {
        #expect(throws: ZipDirectory.FormatError.self) { try ZipDirectory(Array("not a zip at all, just text".utf8)) }
        var writer = ZipWriter()
        writer.add(path: "../escape", contents: [1], mode: 0o644)
        #expect(throws: ZipDirectory.FormatError.self) { try ZipDirectory(writer.finish()) }
        var truncated = ZipWriter()
        truncated.add(path: "f", contents: [UInt8](repeating: 7, count: 100), mode: 0o644)
        let bytes = truncated.finish()
        #expect(throws: ZipDirectory.FormatError.self) { try ZipDirectory(Array(bytes.suffix(60))) }
    }
}

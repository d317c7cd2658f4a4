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

/// Zips are measured by what they contain: inflated for real, CRC-checked, sizes compared with
/// what the headers declare.
struct ZipContentsTests {
    @Test func deflatedEntriesReadBackAndMeasure() throws {
        let text = Array(String(repeating: "stevedore ", count: 1000).utf8)
        var writer = ZipWriter()
        writer.add(path: "dir/", contents: [], mode: 0o755)
        writer.add(path: "dir/big.txt", contents: text, mode: 0o644, deflate: true)
        writer.add(path: "small", contents: [1, 2, 3], mode: 0o644)
        let zip = writer.finish()
        let directory = try ZipDirectory(zip)
        #expect(directory.entries[1].method == 8)
        #expect(directory.entries[1].compressedSize < text.count / 10)
        #expect(try ZipContents.read(directory.entries[1], in: zip) == text)
        #expect(try ZipContents.unpackedSize(of: directory, in: zip, limit: 1 << 20) == text.count + 3)
        // Measuring stops at the limit.
        #expect(try ZipContents.unpackedSize(of: directory, in: zip, limit: 5000) == 5000)
    }

    @Test func aBombIsMeasuredByWhatItInflatesTo() throws {
        // 4 MiB of zeros that declares 100 bytes.
        var writer = ZipWriter()
        writer.add(path: "bomb", contents: [UInt8](repeating: 0, count: 4 << 20), mode: 0o644, deflate: true, declaredSize: 100)
        let zip = writer.finish()
        #expect(zip.count < 10_000)
        let directory = try ZipDirectory(zip)
        #expect(directory.uncompressedSize == 100)
        // Past the limit: the limit; under it: damaged (more bytes than declared).
        #expect(try ZipContents.unpackedSize(of: directory, in: zip, limit: 1 << 20) == 1 << 20)
        #expect(throws: ZipContents.Failure.self) { try ZipContents.unpackedSize(of: directory, in: zip, limit: 8 << 20) }
        #expect(throws: ZipContents.Failure.self) { try ZipContents.read(directory.entries[0], in: zip) }
    }

    @Test func anEntryThatDeclaresMoreThanItHoldsIsDamaged() throws {
        var writer = ZipWriter()
        writer.add(path: "short", contents: Array("abc".utf8), mode: 0o644, deflate: true, declaredSize: 10)
        let zip = writer.finish()
        let directory = try ZipDirectory(zip)
        let error = #expect(throws: ZipContents.Failure.self) { try ZipContents.read(directory.entries[0], in: zip) }
        #expect(error?.description.contains("declares 10") == true)
    }

    @Test func aCorruptedEntryFailsItsCRC() throws {
        var writer = ZipWriter()
        writer.add(path: "f", contents: Array("hello world".utf8), mode: 0o644)
        var zip = writer.finish()
        let directory = try ZipDirectory(zip)
        let start = try #require(ZipDirectory.dataOffset(of: directory.entries[0], in: zip))
        zip[start] ^= 0xff
        let error = #expect(throws: ZipContents.Failure.self) { try ZipContents.read(directory.entries[0], in: zip) }
        #expect(error?.description.contains("CRC") == true)
    }

    @Test func namesMustBeUTF8() throws {
        var writer = ZipWriter()
        writer.add(path: "caf\u{e9}", contents: [1], mode: 0o644)
        var zip = writer.finish()
        // Replace the UTF-8 é (C3 A9) in both headers with a lone Latin-1 byte and a filler.
        for index in zip.indices.dropLast() where zip[index] == 0xc3 && zip[index + 1] == 0xa9 {
            zip[index] = 0xe9
            zip[index + 1] = 0x41
        }
        #expect(throws: ZipDirectory.FormatError.self) { try ZipDirectory(zip) }
    }
}

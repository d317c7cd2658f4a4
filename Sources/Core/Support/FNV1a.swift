/// FNV-1a, 64 bits: stable across processes (unlike `Hasher`) and as fast as the bytes can be
/// read. For fingerprints and in-memory indexes of the control plane's own keys, never for
/// anything a client could choose to collide.
public enum FNV1a {
    @inlinable
    public static func hash(_ bytes: some Sequence<UInt8>) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return hash
    }
}

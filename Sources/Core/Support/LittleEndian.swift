/// Fixed-width integers as little-endian bytes: the layout of CloudWatch Logs' stored blocks and of
/// the agents' binary log batches.
public enum LittleEndian {
    @inlinable
    public static func append<Integer: FixedWidthInteger>(_ value: Integer, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    /// The integer at `offset` (an index of `bytes`), which the caller has checked is in range.
    @inlinable
    public static func read<Integer: FixedWidthInteger, Bytes: RandomAccessCollection<UInt8>>(
        _: Integer.Type, from bytes: Bytes, at offset: Int
    ) -> Integer where Bytes.Index == Int {
        var value = Integer.zero
        for index in 0..<MemoryLayout<Integer>.size { value |= Integer(truncatingIfNeeded: bytes[offset + index]) << (8 * index) }
        return value
    }
}

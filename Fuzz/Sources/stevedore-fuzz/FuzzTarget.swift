import Glibc
import StevedoreFuzzSurface

/// The decoder this run exercises, from `FUZZ_TARGET` (one binary, every target).
nonisolated(unsafe) private var target: FuzzSurface.Target?

/// libFuzzer's callback: one input through the chosen decoder.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target, let data else { return 0 }
    FuzzSurface.run(target, Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

@_silgen_name("LLVMFuzzerRunDriver")
private func runDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// SwiftPM links executables with `main` aliased to `<module>_main`; this entry point hands over
/// to libFuzzer's driver (its own `main` is not linked then).
@_cdecl("stevedore_fuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    guard let name = getenv("FUZZ_TARGET").map({ String(cString: $0) }), let chosen = FuzzSurface.Target(rawValue: name) else {
        let message = "set FUZZ_TARGET to one of: \(FuzzSurface.Target.allCases.map(\.rawValue).joined(separator: ", "))\n"
        _ = message.withCString { write(2, $0, strlen($0)) }
        return 2
    }
    target = chosen
    var count = argc
    var arguments = argv
    return runDriver(&count, &arguments) { data, size in fuzz(data, size) }
}

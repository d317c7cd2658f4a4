/// The console's page, style sheet and script, embedded in the binary at build time (SwiftPM's
/// `embedInCode`): `ecsd` serves them without reading files and nothing is fetched from elsewhere.
public enum ConsoleAssets {
    public static var page: [UInt8] { PackageResources.index_html }
    public static var styles: [UInt8] { PackageResources.console_css }
    public static var script: [UInt8] { PackageResources.console_js }
}

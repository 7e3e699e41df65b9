import ArgumentParser
import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// `rasi bench ...`: the benchmarks live in their own binary, `rasi-bench`, so that they do not
/// ship in this one; this command runs the `rasi-bench` next to this binary with the same arguments.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks (the rasi-bench binary): print their figures and write JSON. `rasi bench --help` lists them.",
        // `--help` goes to rasi-bench, which knows the benchmarks.
        helpNames: [])

    @Argument(parsing: .captureForPassthrough, help: "A benchmark and its options, as rasi-bench takes them.")
    var arguments: [String] = []

    func run() throws {
        let folder = Bundle.main.executableURL?.deletingLastPathComponent() ?? URL(fileURLWithPath: ".")
        let path = folder.appendingPathComponent("rasi-bench").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            fail("the benchmarks are a separate binary and there is none at \(path): build it with `swift build --product rasi-bench`")
        }
        // Replaces this process: rasi-bench's output, signals and exit status are the command's own.
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        execv(path, argv)
        fail("could not run \(path): \(String(cString: strerror(errno)))")
    }

    private func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("Error: \(message)\n".utf8))
        Self.exit(withError: ExitCode.failure)
    }
}

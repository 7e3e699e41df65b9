import ArgumentParser
import Foundation
import RasiCore
import RasiEngine
import RasiModelClient

/// `rasi bench all`: every benchmark of the project, one after another (never two at once, so
/// none skews another), each writing its own JSON, then one report of them all.
struct AllBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "all", abstract: "Run every benchmark and write one report.")

    @Option(help: "Folder the benchmarks write to.") var dir = "rasi-bench"
    @Option(help: "Index sizes for `bench index` (its default goes to 1M, which takes about 25 minutes).") var indexSizes = "10000,100000"
    @Option(help: "PostgreSQL for `bench store` (default RASI_TEST_POSTGRES_URL; without one, SQLite only).") var postgres: String?
    @OptionGroup var model: ModelOptions

    func run() async throws {
        let modelArguments = model.modelDir.map { ["--model-dir", $0] } ?? []
        let benches: [(String, any AsyncParsableCommand.Type, [String])] = [
            ("retrieval", RetrievalBench.self, []), ("embed", EmbedBench.self, []), ("index", IndexBench.self, ["--sizes", indexSizes]),
            ("signals", SignalsBench.self, []), ("topics", TopicsBench.self, []), ("panel", PanelBench.self, []), ("gateway", GatewayBench.self, []),
            ("store", StoreBench.self, postgres.map { ["--postgres", $0] } ?? []), ("lift", LiftBench.self, [])
        ]
        var report: [String: JSONValue] = [:]
        for (name, type, arguments) in benches {
            let out = "\(dir)/\(name).json"
            print("\n== rasi bench \(name) ==")
            guard var command = try type.parseAsRoot(arguments + modelArguments + ["--out", out]) as? any AsyncParsableCommand else { continue }
            try await command.run()
            report[name] = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: out)))
        }
        report["generated_at"] = .string(Timestamp.format(Date()))
        try BenchOutput.write(JSONValue.object(report), to: "\(dir)/all.json")
    }
}

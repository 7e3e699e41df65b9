import ArgumentParser

/// `rasi-bench`: rasi's benchmarks, kept out of the `rasi` binary. `rasi bench ...` runs this
/// binary from the same folder; each benchmark prints its figures and writes JSON.
@main
struct Benchmarks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rasi-bench",
        abstract: "Benchmarks: print their figures and write JSON.",
        subcommands: [
            RetrievalBench.self, EmbedBench.self, IndexBench.self, SignalsBench.self, TopicsBench.self, PanelBench.self,
            GatewayBench.self, SoakBench.self, StoreBench.self, LiftBench.self, AllBench.self
        ])
}

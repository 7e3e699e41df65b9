import ArgumentParser
import Foundation
import RasiCore
import RasiEmbeddings
import RasiSQLite

/// `rasi bench index`: exact search against HNSW at several sizes: recall@10 against exact,
/// latency percentiles, memory and build time.
///
/// Vectors are made from real sentence embeddings (CLINC150 through the built-in model): each
/// is a random mix of two real embeddings plus a little noise, normalised, so the set is
/// clustered the way lessons are, which uniform random vectors are not.
struct IndexBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "index", abstract: "Measure exact and approximate vector search.")

    @Option(help: "Index sizes, comma-separated.") var sizes = "10000,100000,1000000"
    @Option(help: "Queries timed at each size.") var queries = 300
    @Option var k = 10
    @Option(help: "HNSW links per node.") var m = 16
    @Option(help: "HNSW beam width while building.") var efConstruction = 100
    @Option(help: "HNSW beam widths tried while searching, comma-separated.") var efSearch = "64,128,256"
    @Option(help: "Requests whose embeddings seed the vectors.") var data = "../shared/data/clinc150/clinc150_dev.json"
    @Option(help: "Seed texts embedded (the rest of the vectors are mixes of them).") var seeds = 4000
    @Option(help: "Where to write the JSON results.") var out = "rasi-bench/index.json"
    @OptionGroup var model: ModelOptions

    struct Measurement: Codable {
        var index: String
        var size: Int
        var efSearch: Int?
        var recallAt10: Double
        var p50Ms: Double
        var p99Ms: Double
        var memoryMB: Double
        var buildSeconds: Double

        enum CodingKeys: String, CodingKey {
            case index, size
            case efSearch = "ef_search"
            case recallAt10 = "recall_at_10"
            case p50Ms = "p50_ms"
            case p99Ms = "p99_ms"
            case memoryMB = "memory_mb"
            case buildSeconds = "build_seconds"
        }
    }

    func run() async throws {
        let sizeList = integers(sizes)
        let efList = efSearch.split(separator: ",").compactMap { Int($0) }
        let model = try self.model.load()
        let texts = try RetrievalBench.load(data).values.flatMap { $0 }.map(\.text)
        print("embedding \(min(seeds, texts.count)) seed texts ...")
        var shuffler = SplitMix64(seed: 7)
        let seedVectors = model.embedBatch(Array(texts.shuffled(using: &shuffler).prefix(seeds)))
        let d = model.dimensions
        var rng = SplitMix64(seed: 42)
        func synthetic() -> [Float] {
            let a = seedVectors.randomElement(using: &rng)!
            let b = seedVectors.randomElement(using: &rng)!
            let w = Float.random(in: 0.5...1, using: &rng)
            var v = (0..<d).map { w * a[$0] + (1 - w) * b[$0] + Float.random(in: -0.03...0.03, using: &rng) }
            let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for i in v.indices { v[i] /= norm }
            return v
        }
        let clock = ContinuousClock()

        var results: [Measurement] = []
        let queryVectors = (0..<queries).map { _ in synthetic() }
        for size in sizeList {
            print("size \(size): generating ...")
            let vectors = (0..<size).map { _ in synthetic() }

            // Exact at every size: the baseline and the ground truth.
            let flat = FlatVectorIndex(dimensions: d, graphThreshold: .max)
            let flatBuild = clock.measure { for (i, v) in vectors.enumerated() { flat.upsert(id: String(i), agent: "a", vector: v) } }
            var truth: [Set<String>] = []
            var flatLatencies: [Double] = []
            for q in queryVectors {
                var hits: [(id: String, score: Float)] = []
                flatLatencies.append(clock.measure { hits = flat.search(agent: "a", query: q, k: k) }.seconds * 1000)
                truth.append(Set(hits.map(\.id)))
            }
            let flatResult = Measurement(
                index: "exact", size: size, efSearch: nil, recallAt10: 1, p50Ms: percentile(flatLatencies, 0.5),
                p99Ms: percentile(flatLatencies, 0.99), memoryMB: Double(size * d * 4) / 1e6, buildSeconds: flatBuild.seconds)
            results.append(flatResult)
            print(
                String(
                    format: "  exact  p50 %.3f ms  p99 %.3f ms  memory %.0f MB  build %.1f s", flatResult.p50Ms, flatResult.p99Ms,
                    flatResult.memoryMB, flatResult.buildSeconds))

            let hnsw = HNSWIndex(dimensions: d, m: m, efConstruction: efConstruction)
            let hnswBuild = clock.measure { for v in vectors { hnsw.add(v) } }
            for ef in efList {
                hnsw.efSearch = ef
                var latencies: [Double] = []
                var found = 0
                for (q, expected) in zip(queryVectors, truth) {
                    var hits: [(id: Int, score: Float)] = []
                    latencies.append(clock.measure { hits = hnsw.search(q, k: k) }.seconds * 1000)
                    found += hits.filter { expected.contains(String($0.id)) }.count
                }
                let result = Measurement(
                    index: "hnsw", size: size, efSearch: ef, recallAt10: Double(found) / Double(queries * k),
                    p50Ms: percentile(latencies, 0.5), p99Ms: percentile(latencies, 0.99),
                    memoryMB: Double(hnsw.memoryBytes) / 1e6, buildSeconds: hnswBuild.seconds)
                results.append(result)
                print(
                    String(
                        format: "  hnsw ef=%d  recall@10 %.4f  p50 %.3f ms  p99 %.3f ms  memory %.0f MB  build %.1f s",
                        ef, result.recallAt10, result.p50Ms, result.p99Ms, result.memoryMB, result.buildSeconds))
            }
        }
        try BenchOutput.write(
            [
                "m": AnyEncodable(m), "ef_construction": AnyEncodable(efConstruction), "k": AnyEncodable(k),
                "results": AnyEncodable(results)
            ], to: out)
    }
}

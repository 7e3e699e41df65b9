import ArgumentParser
import Foundation
import RasiEmbeddings

/// `rasi bench embed`: the built-in model's speed, single and batched, next to the machine's
/// own OpenBLAS sgemm speed measured in the same run.
struct EmbedBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "embed", abstract: "Measure embedding latency and throughput.")

    @Option(help: "Requests to embed (CLINC150 by default).") var data = "../shared/data/clinc150/clinc150_dev.json"
    @Option(help: "Single-query embeddings timed.") var singles = 300
    @Option(help: "Single queries embedded as the gateway embeds them: through the model's queue, spaced out.") var spaced = 60
    @Option(help: "Milliseconds between the spaced queries (a model call's wait: the caches cool meanwhile).") var gapMs = 100
    @Option(help: "Sentences embedded in the batched run.") var sentences = 3000
    @Option(help: "Batch size of the batched run.") var batchSize = 32
    @Option(help: "Where to write the JSON results.") var out = "rasi-bench/embed.json"
    @OptionGroup var model: ModelOptions

    struct Result: Codable {
        var singleQueryMsP50: Double
        var singleQueryMsP99: Double
        var singleQueryMeanTokens: Double
        var singleSentencesPerSecond: Double
        var spacedQueryMsP50: Double
        var spacedQueryMsP99: Double
        var batchedSentencesPerSecond: Double
        var batchedGFLOPS: Double
        var sgemmGFLOPS: Double
        var sgemmShapeGFLOPS: Double
        var batchedShareOfSgemm: Double

        enum CodingKeys: String, CodingKey {
            case singleQueryMsP50 = "single_query_ms_p50"
            case singleQueryMsP99 = "single_query_ms_p99"
            case singleQueryMeanTokens = "single_query_mean_tokens"
            case singleSentencesPerSecond = "single_sentences_per_second"
            case spacedQueryMsP50 = "spaced_query_ms_p50"
            case spacedQueryMsP99 = "spaced_query_ms_p99"
            case batchedSentencesPerSecond = "batched_sentences_per_second"
            case batchedGFLOPS = "batched_gflops"
            case sgemmGFLOPS = "sgemm_gflops_1024"
            case sgemmShapeGFLOPS = "sgemm_gflops_model_shape"
            case batchedShareOfSgemm = "batched_share_of_sgemm"
        }
    }

    func run() async throws {
        let model = try self.model.load()
        let corpus = try RetrievalBench.load(data)
        let texts = corpus.keys.sorted().flatMap { corpus[$0]! }.map(\.text)
        guard !texts.isEmpty else { throw ValidationError("\(data) holds no texts") }
        let clock = ContinuousClock()

        // Short queries (at most 32 tokens), one at a time, as the gateway embeds a request.
        let short = texts.filter { model.tokenCount($0) <= 32 }
        _ = model.embedBatch([short[0]])
        var latencies: [Double] = []
        var tokens = 0
        for i in 0..<singles {
            let text = short[i % short.count]
            tokens += model.tokenCount(text)
            latencies.append(clock.measure { _ = model.embedBatch([text]) }.seconds * 1000)
        }

        // The same, as the gateway sees it: one at a time through the model's queue, each after
        // a pause in which the weights leave the caches.
        var spacedLatencies: [Double] = []
        for i in 0..<spaced {
            try await Task.sleep(for: .milliseconds(gapMs))
            let text = short[(i * 7) % short.count]
            let started = clock.now
            _ = try await model.embed([text])
            spacedLatencies.append((clock.now - started).seconds * 1000)
        }

        let batch = (0..<sentences).map { texts[$0 % texts.count] }
        let flops = batch.reduce(0) { $0 + MiniLM.flops(tokens: model.tokenCount($1)) }
        let batchedSeconds = clock.measure { _ = model.embedBatch(batch, batchSize: batchSize) }.seconds

        let sgemm = BLASProbe.sgemmGFLOPS(m: 1024, n: 1024, k: 1024)
        // The model's largest product at this batch size: (batch × ~16 tokens) × 384 → 1536.
        let shaped = BLASProbe.sgemmGFLOPS(m: batchSize * 16, n: 1536, k: 384, repeats: 20)
        let result = Result(
            singleQueryMsP50: percentile(latencies, 0.5), singleQueryMsP99: percentile(latencies, 0.99),
            singleQueryMeanTokens: Double(tokens) / Double(singles), singleSentencesPerSecond: 1000 / (latencies.reduce(0, +) / Double(singles)),
            spacedQueryMsP50: percentile(spacedLatencies, 0.5), spacedQueryMsP99: percentile(spacedLatencies, 0.99),
            batchedSentencesPerSecond: Double(sentences) / batchedSeconds, batchedGFLOPS: flops / batchedSeconds / 1e9,
            sgemmGFLOPS: sgemm, sgemmShapeGFLOPS: shaped, batchedShareOfSgemm: flops / batchedSeconds / 1e9 / sgemm)
        print(
            String(
                format: "single query (≤32 tokens, mean %.1f): p50 %.2f ms, p99 %.2f ms, %.0f sentences/s",
                result.singleQueryMeanTokens, result.singleQueryMsP50, result.singleQueryMsP99, result.singleSentencesPerSecond))
        print(
            String(
                format: "single query through the model's queue, %d ms apart: p50 %.2f ms, p99 %.2f ms", gapMs, result.spacedQueryMsP50,
                result.spacedQueryMsP99))
        print(
            String(format: "batched (%d a batch): %.0f sentences/s, %.1f GFLOP/s", batchSize, result.batchedSentencesPerSecond, result.batchedGFLOPS))
        print(
            String(
                format: "OpenBLAS sgemm on this machine: %.1f GFLOP/s (1024³), %.1f GFLOP/s (model shape); "
                    + "batched embedding reaches %.0f%% of sgemm",
                sgemm, shaped, result.batchedShareOfSgemm * 100))
        try BenchOutput.write(result, to: out)
    }
}

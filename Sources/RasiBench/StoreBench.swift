import ArgumentParser
import Foundation
import RasiCore
import RasiEmbeddings
import RasiEngine
import RasiModelClient
import RasiPostgres
import RasiSQLite

/// `rasi bench store`: the embedded store against PostgreSQL, in the same run: how fast
/// interactions go in (one per call, each durable before it returns, as the gateway writes them,
/// from many writers at once; and in batches, as imports do), and how fast retrieval answers over 10k and 100k
/// active lessons in a store that also holds 1M interactions.
struct StoreBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "store", abstract: "Ingest throughput and retrieval latency, SQLite and PostgreSQL.")

    @Option(help: "PostgreSQL to measure (a database is made and dropped); default RASI_TEST_POSTGRES_URL. Without one, SQLite only.") var postgres:
        String?
    @Option(help: "Interactions in the store while retrieval is timed.") var interactions = 1_000_000
    @Option(help: "Interactions written one per call (each durable when it returns) for the ingest figure.") var singles = 20_000
    @Option(help: "Concurrent writers for the one-per-transaction figure.") var writers = 16
    @Option(help: "Active lesson counts to time retrieval at, comma-separated.") var lessons = "10000,100000"
    @Option(help: "Retrieval queries per size.") var queries = 300
    @Option(help: "Requests the lessons and queries are made of.") var data = "../shared/data/clinc150/clinc150_dev.json"
    @Option(help: "Where to write the JSON results.") var out = "rasi-bench/store.json"
    @ArgumentParser.Flag(help: "Keep the PostgreSQL database afterwards, to look into (its name is printed).") var keepDatabase = false
    @OptionGroup var model: ModelOptions

    struct Result: Codable {
        var store: String
        var ingestSinglePerSecond: Double
        var ingestBatchPerSecond: Double
        var interactions: Int
        var retrieval: [Retrieval]

        enum CodingKeys: String, CodingKey {
            case store, interactions, retrieval
            case ingestSinglePerSecond = "ingest_single_per_s"
            case ingestBatchPerSecond = "ingest_batch_per_s"
        }
    }

    struct Retrieval: Codable {
        var lessons: Int
        var p50Ms: Double
        var p99Ms: Double
        var maxMs: Double
        /// The two sides alone: the dense candidates (vector index) and the lexical ones (full-text search).
        var denseP99Ms: Double
        var lexicalP99Ms: Double

        enum CodingKeys: String, CodingKey {
            case lessons
            case denseP99Ms = "dense_p99_ms"
            case lexicalP99Ms = "lexical_p99_ms"
            case p50Ms = "p50_ms"
            case p99Ms = "p99_ms"
            case maxMs = "max_ms"
        }
    }

    func run() async throws {
        let sizes = integers(lessons).sorted()
        let splits = try RetrievalBench.load(data)
        let train = splits["train"] ?? []
        let test = Array((splits["test"] ?? splits["val"] ?? []).prefix(queries))
        guard !train.isEmpty, !test.isEmpty else { throw ValidationError("\(data) needs train and test splits") }
        let embedder = try model.load()
        print("embedding \(train.count) lesson situations and \(test.count) queries with the built-in model ...")
        let trainVectors = embedder.embedBatch(train.map(\.text))
        let queryVectors = embedder.embedBatch(test.map(\.text))
        let fixture = Fixture(train: train, trainVectors: trainVectors, test: test, queryVectors: queryVectors)

        var results: [Result] = []
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let sqlite = try SQLiteStore(
            path: folder.appendingPathComponent("store.sqlite").path, embeddingModel: MiniLM.modelName, dimensions: embedder.dimensions)
        results.append(try await measure("sqlite", sqlite, sizes: sizes, fixture: fixture))

        if let server = postgres ?? ProcessInfo.processInfo.environment["RASI_TEST_POSTGRES_URL"], !server.isEmpty {
            let name = "rasi_bench_\(UInt32.random(in: 0...UInt32.max))"
            try await PostgresStore.execute("CREATE DATABASE \(name)", at: server)
            var components = URLComponents(string: server)
            components?.path = "/" + name
            do {
                let url = components?.string ?? server
                results.append(
                    try await PostgresStore.withStore(url: url, embeddingModel: MiniLM.modelName, dimensions: embedder.dimensions) {
                        try await measure("postgres", $0, sizes: sizes, fixture: fixture)
                    })
            } catch {
                try? await PostgresStore.execute("DROP DATABASE \(name) WITH (FORCE)", at: server)
                throw error
            }
            if keepDatabase {
                print("kept the database \(name)")
            } else {
                try await PostgresStore.execute("DROP DATABASE \(name) WITH (FORCE)", at: server)
            }
        } else {
            print("no PostgreSQL given (--postgres or RASI_TEST_POSTGRES_URL): measured SQLite only")
        }
        try BenchOutput.write(results, to: out)
    }

    struct Fixture {
        var train: [RetrievalBench.Item]
        var trainVectors: [[Float]]
        var test: [RetrievalBench.Item]
        var queryVectors: [[Float]]

        /// The n-th lesson: CLINC150's requests, and past them variants of them with their
        /// vectors nudged (embedding 100k texts would take longer than the benchmark itself).
        func lesson(_ n: Int, rng: inout SplitMix64) -> (Lesson, LessonEmbedding) {
            let item = train[n % train.count]
            var vector = trainVectors[n % train.count]
            var situation = item.text
            if n >= train.count {
                situation += " (case \(n / train.count))"
                vector = vector.map { $0 + (Float(rng.next() % 1_000_000) / 1_000_000 - 0.5) * 0.02 }
                let norm = sqrt(vector.reduce(0) { $0 + $1 * $1 })
                vector = vector.map { $0 / norm }
            }
            let lesson = Lesson.create(
                fields: LessonFields(
                    agent: "bench", topic: item.intent, situation: situation, did: "-",
                    shouldHaveDone: "-", why: "-", correctBehavior: "-", status: .active), author: "bench")
            return (lesson, LessonEmbedding(model: MiniLM.modelName, vector: vector))
        }

        func interaction(_ n: Int, at date: Date) -> Interaction {
            let item = train[n % train.count]
            return Interaction(
                agent: "bench", conversationId: "c\(n / 3)", userId: "u\(n % 1000)", request: item.text,
                messages: [["role": "user", "content": .string(item.text)]], response: "Routed to \(item.intent).",
                model: "bench", createdAt: date, updatedAt: date)
        }
    }

    func measure(_ name: String, _ store: any RasiStore, sizes: [Int], fixture: Fixture) async throws -> Result {
        print("\n[\(name)] ingest: \(singles) interactions, one per call, from \(writers) writers ...")
        let start = Date()
        let clock = ContinuousClock()
        let perWriter = max(1, singles / max(1, writers))
        let single = try await clock.measure {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        for n in 0..<perWriter {
                            try await store.createInteraction(fixture.interaction(writer * perWriter + n, at: start), turnKey: nil)
                        }
                    }
                }
                try await group.waitForAll()
            }
        }
        let singleRate = Double(perWriter * writers) / single.seconds
        print("[\(name)] \(Int(singleRate)) interactions/s one per call")

        let remaining = max(0, interactions - perWriter * writers)
        print("[\(name)] ingest: \(remaining) more in batches of 1,000 ...")
        let batched = try await clock.measure {
            for batchStart in stride(from: 0, to: remaining, by: 1000) {
                let batch = (batchStart..<min(batchStart + 1000, remaining)).map {
                    fixture.interaction(singles + $0, at: start.addingTimeInterval(Double($0) / 1000))
                }
                try await store.importInteractions(batch)
                if (batchStart / 1000) % 100 == 99 { print("[\(name)]   \(batchStart + 1000) ...") }
            }
        }
        let batchRate = remaining == 0 ? 0 : Double(remaining) / batched.seconds
        print("[\(name)] \(Int(batchRate)) interactions/s in batches")

        var retrieval: [Retrieval] = []
        var made = 0
        var rng = SplitMix64(seed: 11)
        let retriever = HybridRetriever(store: store, embedder: FixedEmbedder(dimensions: fixture.queryVectors.first?.count ?? 384))
        for size in sizes {
            while made < size {
                let batch = (made..<min(made + 2000, size)).map { fixture.lesson($0, rng: &rng) }
                try await store.importLessons(batch)
                made += batch.count
            }
            // Measured once the vector graphs a large partition gets are built (in the background).
            while store.indexesBuilding { try await Task.sleep(for: .milliseconds(100)) }
            // Warm up, then time each query's retrieval: dense and lexical candidates, fused.
            for (item, vector) in zip(fixture.test, fixture.queryVectors).prefix(20) {
                _ = try await retriever.candidates(agent: "bench", query: item.text, vector: vector, limit: 8)
            }
            var times: [Double] = []
            for (item, vector) in zip(fixture.test, fixture.queryVectors) {
                let elapsed = try await clock.measure {
                    _ = try await retriever.candidates(agent: "bench", query: item.text, vector: vector, limit: 8)
                }
                times.append(elapsed.seconds * 1000)
            }
            var dense: [Double] = []
            var lexical: [Double] = []
            for (item, vector) in zip(fixture.test, fixture.queryVectors) {
                dense.append(
                    try await clock.measure { _ = try await store.denseCandidates(agent: "bench", vector: vector, limit: 50) }.seconds * 1000)
                let words = TextTerms.words(item.text).filter { !TextTerms.functionWords.contains($0) }
                lexical.append(
                    try await clock.measure {
                        _ = try await store.lexicalCandidates(agent: "bench", words: words, limit: 50, postingBudget: LexicalBudget.postings)
                    }.seconds * 1000)
            }
            let row = Retrieval(
                lessons: size, p50Ms: percentile(times, 0.5), p99Ms: percentile(times, 0.99), maxMs: times.max() ?? 0,
                denseP99Ms: percentile(dense, 0.99), lexicalP99Ms: percentile(lexical, 0.99))
            print(
                String(
                    format: "[%@] retrieval at %d lessons: p50 %.2f ms, p99 %.2f ms, max %.2f ms (alone: dense p99 %.2f ms, lexical p99 %.2f ms)",
                    name, size, row.p50Ms, row.p99Ms, row.maxMs, row.denseP99Ms, row.lexicalP99Ms))
            retrieval.append(row)
        }
        return Result(
            store: name, ingestSinglePerSecond: singleRate, ingestBatchPerSecond: batchRate, interactions: interactions, retrieval: retrieval)
    }
}

/// Retrieval timed without the embedding model: queries come embedded.
struct FixedEmbedder: Embedder {
    let dimensions: Int
    func embed(_ texts: [String]) async throws -> [[Float]] { texts.map { _ in [Float](repeating: 0, count: dimensions) } }
}

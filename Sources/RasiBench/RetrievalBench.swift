import ArgumentParser
import Foundation
import RasiCore
import RasiEmbeddings
import RasiEngine
import RasiModelClient
import RasiSQLite

/// `rasi bench retrieval`: how well lessons are found, on a labelled corpus of requests.
///
/// Each request of the lesson split becomes a lesson (situation = the request, topic = its
/// intent). Each request of the query split should retrieve a lesson of its own intent; each
/// out-of-scope request should get nothing injected. Lexical, dense and hybrid side by side.
/// With `--examples`, also how much a lesson's examples help (`ExamplesBench.swift`), put in
/// directly and proposed through the judge's model (`ProposedExamplesBench.swift`).
struct RetrievalBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieval", abstract: "Measure retrieval on a labelled corpus (CLINC150 by default).")

    @Option(help: "A JSON file {split: [[text, intent], ...]}.") var data = "../shared/data/clinc150/clinc150_dev.json"
    @Option(help: "Split indexed as lessons.") var lessons = "train"
    @Option(help: "Split of in-scope queries.") var queries = "val"
    @Option(help: "Split of out-of-scope queries reported on.") var oos = "oos_val"
    @Option(help: "Similarity floor for every mode; by default each mode picks its own on --floor-split.") var floor: Double?
    @Option(help: "Out-of-scope split the floor is picked on (kept apart from the one reported).") var floorSplit = "oos_train"
    @Option(help: "Share of --floor-split requests that must get nothing injected at the picked floor.") var oosTarget = 0.8
    @Option(help: "Lessons injected at most per request, as the gateway does.") var k = 3
    @Option(help: "Where to write the JSON results.") var out = "rasi-bench/retrieval.json"
    @Option(help: "Also measure one lesson per intent with this many example requests each (\"0,4,8\").") var examples: String?
    @OptionGroup var model: ModelOptions

    struct Item {
        var text: String
        var intent: String
    }

    struct ModeResult: Codable {
        var mode: String
        var top1Accuracy: Double
        var recallAt3: Double
        var floor: Double
        var accuracyAtFloor: Double
        var inScopeInjected: Double
        var oosNothingInjected: Double
        var floorSplitNothingInjected: Double
        var latencyMsP50: Double
        var latencyMsP99: Double

        enum CodingKeys: String, CodingKey {
            case mode, floor
            case top1Accuracy = "top1_accuracy"
            case recallAt3 = "recall_at_3"
            case accuracyAtFloor = "top1_accuracy_at_floor"
            case inScopeInjected = "in_scope_injected"
            case oosNothingInjected = "oos_nothing_injected"
            case floorSplitNothingInjected = "floor_split_nothing_injected"
            case latencyMsP50 = "retrieval_ms_p50"
            case latencyMsP99 = "retrieval_ms_p99"
        }
    }

    func run() async throws {
        let corpus = try Self.load(data)
        func split(_ name: String) throws -> [Item] {
            guard let items = corpus[name] else { throw ValidationError("\(data) has no split \(name); it has \(corpus.keys.sorted())") }
            return items
        }
        let lessonItems = try split(lessons)
        let queryItems = try split(queries)
        let oosItems = try split(oos)
        let floorItems = try split(floorSplit)
        let model = try self.model.load()

        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteStore(
            path: folder.appendingPathComponent("bench.sqlite").path, embeddingModel: MiniLM.modelName, dimensions: model.dimensions)

        print("embedding \(lessonItems.count) lessons ...")
        let clock = ContinuousClock()
        var lessonVectors: [[Float]] = []
        let embedTime = clock.measure { lessonVectors = model.embedBatch(lessonItems.map(\.text)) }
        let now = Date()
        try await store.importLessons(
            zip(lessonItems, lessonVectors).map { item, vector in
                (
                    Lesson.create(
                        fields: LessonFields(agent: "bench", topic: item.intent, situation: item.text, shouldHaveDone: "-", correctBehavior: "-"),
                        author: "bench", now: now),
                    LessonEmbedding(model: MiniLM.modelName, vector: vector)
                )
            })
        let all = queryItems + oosItems + floorItems
        let queryVectors = model.embedBatch(all.map(\.text))
        let embedSeconds = embedTime.seconds
        print(
            String(
                format: "embedded %d lessons in %.1f s (%.0f sentences/s)", lessonItems.count, embedSeconds, Double(lessonItems.count) / embedSeconds)
        )

        var results: [ModeResult] = []
        // `words`: hybrid retrieval when the model is too busy to take the request (`RASI_EMBED_WAIT_MS`),
        // at the floor that serves (hybrid's).
        for mode in ["lexical", "dense", "hybrid", "words"] {
            let (ranked, latencies) = try await Self.retrieve(all, vectors: queryVectors, mode: mode, store: store, model: model)
            let m = measure(ranked, queries: queryItems, oos: oosItems.count, floor: mode == "words" ? results.last?.floor : nil)
            let top1 = zip(queryItems, m.inScope).filter { $0.1.first?.lesson.topic == $0.0.intent }.count
            let recall3 = zip(queryItems, m.inScope).filter { pair in pair.1.prefix(3).contains { $0.lesson.topic == pair.0.intent } }.count
            let result = ModeResult(
                mode: mode, top1Accuracy: Self.share(top1, queryItems.count), recallAt3: Self.share(recall3, queryItems.count),
                floor: m.floor, accuracyAtFloor: m.rightFirst, inScopeInjected: m.inScopeInjected,
                oosNothingInjected: m.oosNothingInjected, floorSplitNothingInjected: m.floorSplitNothingInjected,
                latencyMsP50: percentile(latencies, 0.5), latencyMsP99: percentile(latencies, 0.99))
            results.append(result)
        }
        var exampleRows: [ExamplesRow]?
        var proposedRows: [ExamplesRow]?
        if let examples {
            exampleRows = try await examplesStudy(
                counts: integers(examples), training: lessonItems, queries: queryItems, oos: oosItems, floorItems: floorItems,
                vectors: queryVectors, model: model, folder: folder)
            proposedRows = try await modelProposedStudy(
                counts: integers(examples), training: lessonItems, queries: queryItems, oos: oosItems, floorItems: floorItems,
                vectors: queryVectors, model: model, folder: folder)
        }

        print("")
        print(
            """
            corpus \(data): \(lessonItems.count) lessons (\(lessons)), \(queryItems.count) queries (\(queries)), \
            \(oosItems.count) out-of-scope (\(oos)); floor picked on \(floorSplit) for \(Int(oosTarget * 100))% nothing injected
            """
        )
        print("mode     top-1   recall@3  floor   top-1@floor  in-scope injected  oos nothing injected  retrieval p50/p99 ms")
        for r in results {
            print(
                r.mode.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(
                        format: "%.4f  %.4f    %.3f   %.4f       %.4f             %.4f                %.2f / %.2f",
                        r.top1Accuracy, r.recallAt3, r.floor, r.accuracyAtFloor, r.inScopeInjected,
                        r.oosNothingInjected, r.latencyMsP50, r.latencyMsP99))
        }
        var report: [String: AnyEncodable] = [
            "data": AnyEncodable(data), "lessons": AnyEncodable(lessonItems.count), "queries": AnyEncodable(queryItems.count),
            "oos": AnyEncodable(oosItems.count), "floor_split": AnyEncodable(floorSplit), "oos_target": AnyEncodable(oosTarget),
            "k": AnyEncodable(k), "embedding_sentences_per_second": AnyEncodable(Double(lessonItems.count) / embedSeconds),
            "modes": AnyEncodable(results)
        ]
        let atFloor = "floor picked on \(floorSplit) for \(Int(oosTarget * 100))% nothing injected"
        if let exampleRows {
            Self.printExamples(
                exampleRows,
                caption: """
                    one lesson per intent from one \(lessons) request, with K other requests of its intent as examples; \
                    \(atFloor); right lesson = the first lesson injected is the query's intent's
                    """)
            report["examples"] = AnyEncodable(exampleRows)
        }
        if let proposedRows {
            Self.printExamples(
                proposedRows,
                caption: """
                    model-proposed: the same lessons stored without examples, the same K requests then proposed by the scripted \
                    model through the engine's proposeExamples (K > 0); \(atFloor); as scripted = lessons whose stored \
                    examples are exactly the K scripted requests
                    """)
            report["examples_model_proposed"] = AnyEncodable(proposedRows)
        }
        try BenchOutput.write(report, to: out)
    }

    /// The candidates `mode` retrieves for each request, as the gateway retrieves them, and how
    /// long each retrieval took (ms).
    static func retrieve(
        _ items: [Item], vectors: [[Float]], mode: String, store: SQLiteStore, model: MiniLM
    ) async throws -> (ranked: [[ScoredLesson]], latencies: [Double]) {
        let clock = ContinuousClock()
        let lexical = LexicalRetriever(store: store)
        let retriever = HybridRetriever(store: store, embedder: model, mode: mode == "dense" ? .dense : .hybrid)
        let busy = HybridRetriever(store: store, embedder: BusyEmbedder(dimensions: model.dimensions), embedWait: .zero)
        var ranked: [[ScoredLesson]] = []
        var latencies: [Double] = []
        for (item, vector) in zip(items, vectors) {
            let started = clock.now
            let candidates: [ScoredLesson]
            switch mode {
            case "lexical": candidates = try await lexical.candidates(agent: "bench", query: item.text, limit: 12)
            case "words": candidates = try await busy.candidates(agent: "bench", query: item.text, limit: 12)
            default: candidates = try await retriever.candidates(agent: "bench", query: item.text, vector: vector, limit: 12)
            }
            latencies.append((clock.now - started).seconds * 1000)
            ranked.append(candidates)
        }
        return (ranked, latencies)
    }

    /// What the gateway injects at a floor, over the candidates of the in-scope queries, then the
    /// `oos` out-of-scope ones, then those of the floor split, in that order.
    struct AtFloor {
        var inScope: [[ScoredLesson]]
        var floor: Double
        /// Share of in-scope queries whose first injected lesson is of their intent, and whose
        /// injected lessons include one of it.
        var rightFirst: Double
        var rightAmongInjected: Double
        /// Share of in-scope queries whose first injected lesson matched through one of its examples.
        var firstByExample: Double
        var inScopeInjected: Double
        var oosNothingInjected: Double
        var floorSplitNothingInjected: Double
    }

    /// At `--floor`, or at the floor picked on the floor split for `--oos-target`.
    /// `fixed` over `--floor` and the pick.
    func measure(_ ranked: [[ScoredLesson]], queries: [Item], oos: Int, floor fixed: Double? = nil) -> AtFloor {
        let inScope = Array(ranked[0..<queries.count])
        let oosRanked = Array(ranked[queries.count..<(queries.count + oos)])
        let floorRanked = Array(ranked[(queries.count + oos)...])
        let chosenFloor = fixed ?? floor ?? Self.pickFloor(floorRanked, target: oosTarget)
        let policy = LessonSelectionPolicy(minScore: chosenFloor, maxLessons: k, tokenBudget: 100_000)
        let injected = inScope.map { policy.select($0).lessons }
        func share(_ predicate: (Item, [ScoredLesson]) -> Bool) -> Double {
            Self.share(zip(queries, injected).filter(predicate).count, queries.count)
        }
        return AtFloor(
            inScope: inScope, floor: chosenFloor,
            rightFirst: share { $1.first?.lesson.topic == $0.intent },
            rightAmongInjected: share { item, lessons in lessons.contains { $0.lesson.topic == item.intent } },
            firstByExample: share { $1.first?.matched != nil },
            inScopeInjected: share { !$1.isEmpty },
            oosNothingInjected: Self.share(oosRanked.filter { policy.select($0).lessons.isEmpty }.count, oosRanked.count),
            floorSplitNothingInjected: Self.share(floorRanked.filter { policy.select($0).lessons.isEmpty }.count, floorRanked.count))
    }

    /// The lowest floor at which at least `target` of these out-of-scope requests have no candidate at or above it.
    static func pickFloor(_ ranked: [[ScoredLesson]], target: Double) -> Double {
        let best = ranked.map { $0.map(\.score).max() ?? 0 }.sorted()
        guard !best.isEmpty else { return 0 }
        let index = min(best.count - 1, max(0, Int((target * Double(best.count)).rounded(.up)) - 1))
        return (best[index] * 1000).rounded(.down) / 1000 + 0.001
    }

    static func share(_ count: Int, _ total: Int) -> Double { total == 0 ? 0 : Double(count) / Double(total) }

    static func load(_ path: String) throws -> [String: [Item]] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        guard let json = try JSONSerialization.jsonObject(with: data) as? [String: [[String]]] else {
            throw ValidationError("\(path) is not {split: [[text, intent], ...]}")
        }
        return json.mapValues { rows in rows.compactMap { $0.count >= 2 ? Item(text: $0[0], intent: $0[1]) : nil } }
    }
}

/// An embedder that is always busy: retrieval through it chooses by words alone.
struct BusyEmbedder: Embedder {
    let dimensions: Int
    func embed(_ texts: [String]) async throws -> [[Float]] { throw RasiError.unavailable("busy") }
    func embed(_ texts: [String], waitingAtMost limit: Duration) async throws -> [[Float]]? { nil }
}

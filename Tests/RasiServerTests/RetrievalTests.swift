import Foundation
import RasiCore
import Testing

@testable import RasiEmbeddings
@testable import RasiSQLite

@Suite struct VectorIndexTests {
    func randomUnitVector(_ d: Int, _ rng: inout some RandomNumberGenerator) -> [Float] {
        let v = (0..<d).map { _ in Float.random(in: -1...1, using: &rng) }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / norm }
    }

    @Test func searchReturnsTheExactTopKByInnerProduct() {
        var rng = SystemRandomNumberGenerator()
        let index = FlatVectorIndex(dimensions: 37) // not a multiple of the SIMD width
        var vectors: [String: [Float]] = [:]
        for i in 0..<500 {
            let v = randomUnitVector(37, &rng)
            vectors["v\(i)"] = v
            index.upsert(id: "v\(i)", agent: "a", vector: v)
        }
        let query = randomUnitVector(37, &rng)
        let brute = vectors.map { id, v in (id, zip(v, query).reduce(Float(0)) { $0 + $1.0 * $1.1 }) }.sorted { $0.1 > $1.1 }.prefix(10)
        let found = index.search(agent: "a", query: query, k: 10)
        #expect(found.map(\.id) == brute.map(\.0))
        for (a, b) in zip(found, brute) { #expect(abs(a.score - b.1) < 1e-5) }
    }

    @Test func removalAndReplacementKeepTheIndexExact() {
        let index = FlatVectorIndex(dimensions: 2)
        index.upsert(id: "x", agent: "a", vector: [1, 0])
        index.upsert(id: "y", agent: "a", vector: [0, 1])
        index.upsert(id: "z", agent: "a", vector: [0.6, 0.8])
        index.remove(id: "x")
        #expect(index.search(agent: "a", query: [1, 0], k: 5).map(\.id) == ["z", "y"])
        index.upsert(id: "y", agent: "a", vector: [1, 0])
        #expect(index.search(agent: "a", query: [1, 0], k: 1).map(\.id) == ["y"])
        #expect(index.count == 2)
    }

    @Test func agentsAreSeparatePartitions() {
        let index = FlatVectorIndex(dimensions: 2)
        index.upsert(id: "x", agent: "a", vector: [1, 0])
        index.upsert(id: "y", agent: "b", vector: [1, 0])
        #expect(index.search(agent: "a", query: [1, 0], k: 5).map(\.id) == ["x"])
        index.upsert(id: "x", agent: "b", vector: [1, 0])
        #expect(index.search(agent: "a", query: [1, 0], k: 5).isEmpty)
        #expect(Set(index.search(agent: "b", query: [1, 0], k: 5).map(\.id)) == ["x", "y"])
        #expect(index.scores(ids: ["x", "unknown"], query: [0, 1]) == ["x": 0])
    }
}

/// The built-in model, from the folder `scripts/setup` links (or RASI_MODEL_DIR).
let sharedModel: MiniLM? = loadModel()

/// A model of its own, for a test that needs its queue to itself.
func loadModel() -> MiniLM? {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let directory = ProcessInfo.processInfo.environment["RASI_MODEL_DIR"] ?? root.appendingPathComponent(ModelLocation.defaultDirectory).path
    return try? MiniLM(directory: URL(fileURLWithPath: directory))
}

@Suite struct HybridRetrievalTests {
    func store(with situations: [(String, String, LessonStatus)], model: MiniLM) async throws -> (SQLiteStore, URL) {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-test-\(UUID().uuidString)")
        let store = try SQLiteStore(path: folder.appendingPathComponent("r.sqlite").path, embeddingModel: MiniLM.modelName)
        for (agent, situation, status) in situations {
            let lesson = Lesson.create(
                fields: LessonFields(agent: agent, situation: situation, shouldHaveDone: "s", correctBehavior: "c", status: status), author: "t")
            try await store.createLesson(lesson, embedding: LessonEmbedding(model: MiniLM.modelName, vector: model.embedBatch([situation])[0]))
        }
        return (store, folder)
    }

    @Test func aParaphraseFindsItsLessonAndUnrelatedRequestsScoreLow() async throws {
        let model = try #require(sharedModel, "the built-in model is missing: run scripts/setup")
        let (store, folder) = try await store(
            with: [
                ("shop", "Customer wants to return a damaged parcel", .active),
                ("shop", "Customer asks to change the delivery address", .active),
                ("shop", "Customer asks for a refund of a damaged parcel", .retired),
                ("bank", "Customer wants to return a damaged parcel", .active)
            ], model: model)
        defer { try? FileManager.default.removeItem(at: folder) }
        for mode in HybridRetriever.Mode.allCases {
            let retriever = HybridRetriever(store: store, embedder: model, mode: mode)
            let found = try await retriever.candidates(agent: "shop", query: "My package arrived broken, how do I send it back?", limit: 5)
            #expect(found.first?.lesson.situation == "Customer wants to return a damaged parcel", "\(mode)")
            #expect(found.allSatisfy { $0.lesson.agent == "shop" && $0.lesson.status == .active }, "\(mode)")
            #expect(found.count == 2, "\(mode)")
            let best = try #require(found.first).score
            #expect(best > LessonSelectionPolicy.defaultDenseFloor && best <= 1.0001)

            let unrelated = try await retriever.candidates(agent: "shop", query: "Who won the football world cup in 1998?", limit: 5)
            #expect(unrelated.allSatisfy { $0.score < LessonSelectionPolicy.defaultDenseFloor }, "\(mode)")
        }
    }

    /// An embedder always busy with others: it never begins on a text within a deadline.
    struct BusyEmbedder: Embedder {
        let dimensions = 384
        func embed(_ texts: [String]) async throws -> [[Float]] {
            Issue.record("waited for a busy embedder")
            return []
        }
        func embed(_ texts: [String], waitingAtMost limit: Duration) async throws -> [[Float]]? { nil }
    }

    final class Count: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func increment() { lock.withLock { value += 1 } }
        var current: Int { lock.withLock { value } }
    }

    @Test func aRequestTheEmbedderCannotTakeInTimeGetsLessonsChosenByWords() async throws {
        let model = try #require(sharedModel, "the built-in model is missing: run scripts/setup")
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteStore(path: folder.appendingPathComponent("r.sqlite").path, embeddingModel: MiniLM.modelName)
        let lessons: [LessonFields] = [
            LessonFields(agent: "shop", situation: "Customer wants to return a damaged parcel", shouldHaveDone: "s", correctBehavior: "c"),
            LessonFields(
                agent: "shop", situation: "Customer asks to change the delivery address", shouldHaveDone: "s", correctBehavior: "c",
                examples: [LessonExample("send my order to my new flat instead", source: .reviewer)]),
            LessonFields(
                agent: "shop", situation: "Customer wants to return a parcel bought abroad", shouldHaveDone: "s", correctBehavior: "c",
                counterExamples: [LessonExample("return a damaged parcel bought abroad", source: .reviewer)])
        ]
        for fields in lessons {
            let lesson = Lesson.create(fields: fields, author: "t")
            try await store.createLesson(lesson, embedding: LessonEmbedding(model: MiniLM.modelName, vector: model.embedBatch([lesson.situation])[0]))
        }
        let byWords = Count()
        let busy = HybridRetriever(store: store, embedder: BusyEmbedder(), embedWait: .zero, choseByWords: { byWords.increment() })
        for mode in HybridRetriever.Mode.allCases {
            let retriever = HybridRetriever(
                store: store, embedder: BusyEmbedder(), mode: mode, embedWait: .zero, choseByWords: { byWords.increment() })
            let timings = PhaseTimings()
            let found = try await PhaseTimings.$current.withValue(timings) {
                try await retriever.candidates(agent: "shop", query: "How do I return a damaged parcel?", limit: 5)
            }
            #expect(found.first?.lesson.situation == "Customer wants to return a damaged parcel", "\(mode)")
            // Scored as lexical retrieval scores: the cosine of content terms, which the similarity floor applies to.
            let terms = TextTerms.terms("How do I return a damaged parcel?")
            #expect(found.first?.score == TextTerms.similarity(terms, TextTerms.terms("Customer wants to return a damaged parcel")))
            #expect(timings.recorded.map(\.name).contains("words"), "\(mode)")
        }
        #expect(byWords.current == 2)

        // An example that shares more words than the situation gives the score, and is named.
        let moved = try await busy.candidates(agent: "shop", query: "send my order to my new flat, new delivery address", limit: 5)
        #expect(moved.first?.lesson.situation == "Customer asks to change the delivery address")
        #expect(moved.first?.matched?.text == "send my order to my new flat instead")
        // A counter-example closer than the situation keeps its lesson out.
        let abroad = try await busy.candidates(agent: "shop", query: "return a damaged parcel bought abroad", limit: 5)
        #expect(!abroad.contains { $0.lesson.situation == "Customer wants to return a parcel bought abroad" })
        #expect(abroad.first?.lesson.situation == "Customer wants to return a damaged parcel")

        // A model with nothing to do always takes the request, however short the wait allowed (a model of its
        // own: other tests run passes on the shared one meanwhile).
        let ownModel = try #require(loadModel())
        let idle = HybridRetriever(store: store, embedder: ownModel, embedWait: .zero, choseByWords: { byWords.increment() })
        let timings = PhaseTimings()
        let semantic = try await PhaseTimings.$current.withValue(timings) {
            try await idle.candidates(agent: "shop", query: "My package arrived broken, how do I send it back?", limit: 5)
        }
        #expect(semantic.first?.lesson.situation == "Customer wants to return a damaged parcel")
        #expect(timings.recorded.map(\.name).contains("embed") && !timings.recorded.map(\.name).contains("words"))
        #expect(byWords.current == 4)
    }

    @Test func vectorsAreReloadedFromSQLiteOnOpen() async throws {
        let model = try #require(sharedModel, "the built-in model is missing: run scripts/setup")
        let (store, folder) = try await store(with: [("a", "Customer wants to cancel the subscription", .active)], model: model)
        defer { try? FileManager.default.removeItem(at: folder) }
        _ = store
        let reopened = try SQLiteStore(path: folder.appendingPathComponent("r.sqlite").path, embeddingModel: MiniLM.modelName)
        let found = try await reopened.denseCandidates(agent: "a", vector: model.embedBatch(["cancel my subscription"])[0], limit: 3)
        #expect(found.count == 1 && found[0].score > 0.6)
        // Another model's vectors are not loaded: its lessons need re-embedding instead.
        let other = try SQLiteStore(path: folder.appendingPathComponent("r.sqlite").path, embeddingModel: "another-model")
        #expect(try await other.denseCandidates(agent: "a", vector: model.embedBatch(["x"])[0], limit: 3).isEmpty)
        #expect(try await other.lessonsWithoutEmbedding(model: "another-model").count == 1)
    }
}

@Suite struct GraphPartitionTests {
    /// A random vector of length 1.
    static func unit(_ d: Int) -> [Float] {
        let v = (0..<d).map { _ in Float.random(in: -1...1) }
        let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return v.map { $0 / n }
    }

    @Test func aLargePartitionSearchesItsGraphWithHighRecallAndNeverReturnsRemovedVectors() {
        let d = 24
        func unit() -> [Float] { Self.unit(d) }
        let index = FlatVectorIndex(dimensions: d, graphThreshold: 300, efSearch: 128)
        let exact = FlatVectorIndex(dimensions: d, graphThreshold: .max)
        for i in 0..<1500 {
            let v = unit()
            index.upsert(id: "v\(i)", agent: "a", vector: v)
            exact.upsert(id: "v\(i)", agent: "a", vector: v)
        }
        // Remove a third and replace some vectors: stale nodes, then a rebuild.
        for i in stride(from: 0, to: 1500, by: 3) {
            index.remove(id: "v\(i)")
            exact.remove(id: "v\(i)")
        }
        for i in stride(from: 1, to: 300, by: 3) {
            let v = unit()
            index.upsert(id: "v\(i)", agent: "a", vector: v)
            exact.upsert(id: "v\(i)", agent: "a", vector: v)
        }
        index.waitForGraphs()
        #expect(index.hasGraph(agent: "a"))
        var found = 0
        var total = 0
        for _ in 0..<50 {
            let q = unit()
            let truth = Set(exact.search(agent: "a", query: q, k: 10).map(\.id))
            let hits = index.search(agent: "a", query: q, k: 10)
            #expect(hits.count == 10)
            #expect(hits.allSatisfy { Int($0.id.dropFirst())! % 3 != 0 }, "a removed vector was returned")
            #expect(Set(hits.map(\.id)).count == hits.count, "a lesson was returned twice")
            found += hits.filter { truth.contains($0.id) }.count
            total += 10
        }
        #expect(Double(found) / Double(total) >= 0.95)
    }

    /// A partition that crosses the threshold is searched exactly while its graph is built off
    /// the lock; what changes meanwhile (new, replaced and removed vectors) reaches the graph
    /// before it is put in use, and a rebuild keeps the old graph in use until the new one is ready.
    @Test func graphsAreBuiltOffTheLockAndTakeInTheChangesMadeMeanwhile() {
        let d = 16
        func unit() -> [Float] { Self.unit(d) }
        let index = FlatVectorIndex(dimensions: d, graphThreshold: 200, efSearch: 128)
        var vectors: [String: [Float]] = [:]
        func put(_ id: String) {
            vectors[id] = unit()
            index.upsert(id: id, agent: "a", vector: vectors[id]!)
        }
        func nearest(_ query: [Float], _ k: Int) -> [String] {
            vectors.map { ($0.key, zip($0.value, query).map(*).reduce(0, +)) }.sorted { $0.1 > $1.1 }.prefix(k).map(\.0)
        }
        index.builds.suspend()
        for i in 0..<400 { put("v\(i)") }
        // The build waits: no graph yet, and searches are exact.
        #expect(index.isBuilding && !index.hasGraph(agent: "a"))
        let query = unit()
        #expect(index.search(agent: "a", query: query, k: 10).map(\.id) == nearest(query, 10))
        // Changes while the graph is built: more vectors, replaced ones, removed ones (over 64,
        // so most are taken in off the lock).
        for i in 400..<500 { put("v\(i)") }
        for i in stride(from: 0, to: 100, by: 2) { put("v\(i)") }
        for i in stride(from: 1, to: 200, by: 2) {
            index.remove(id: "v\(i)")
            vectors["v\(i)"] = nil
        }
        index.builds.resume()
        index.waitForGraphs()
        #expect(!index.isBuilding && index.hasGraph(agent: "a"))
        var found = 0
        for _ in 0..<40 {
            let q = unit()
            let hits = index.search(agent: "a", query: q, k: 10).map(\.id)
            #expect(hits.allSatisfy { vectors[$0] != nil }, "a removed vector was returned")
            #expect(Set(hits).count == hits.count)
            found += Set(hits).intersection(nearest(q, 10)).count
        }
        #expect(Double(found) / 400 >= 0.95)
        // A rebuild (a quarter stale) keeps the old graph in use meanwhile.
        index.builds.suspend()
        for i in stride(from: 200, to: 400, by: 1) { put("v\(i)") }
        #expect(index.isBuilding && index.hasGraph(agent: "a"))
        let fresh = "v250"
        #expect(index.search(agent: "a", query: vectors[fresh]!, k: 1).first?.id == fresh)
        index.builds.resume()
        index.waitForGraphs()
        #expect(!index.isBuilding && index.hasGraph(agent: "a"))
        #expect(index.search(agent: "a", query: vectors[fresh]!, k: 1).first?.id == fresh)
    }

    /// While a store loads, builds wait; once it has loaded, one build covers everything.
    @Test func aLoadingStoreStartsOneBuildOverEverythingOnceLoaded() {
        let index = FlatVectorIndex(dimensions: 2, graphThreshold: 50, efSearch: 32)
        index.holdingGraphs {
            for i in 0..<120 {
                let angle = Float(i) / 20
                index.upsert(id: "v\(i)", agent: "a", vector: [cos(angle), sin(angle)])
            }
            #expect(!index.isBuilding && !index.hasGraph(agent: "a"))
        }
        index.waitForGraphs()
        #expect(index.hasGraph(agent: "a") && !index.isBuilding)
        #expect(index.search(agent: "a", query: [cos(Float(77) / 20), sin(Float(77) / 20)], k: 1).first?.id == "v77")
    }
}

@Suite struct ElementwiseKernelTests {
    @Test func geluIsWithinTheFastErfsErrorOfTheExactOne() {
        // 12,001 values: not a multiple of the vector width, so the tail is computed too.
        let inputs = (-6000...6000).map { Float($0) / 1000 }
        var values = inputs
        MiniLM.gelu(&values)
        var worst = 0.0
        for (x, y) in zip(inputs, values) {
            let exact = 0.5 * Double(x) * (1 + Foundation.erf(Double(x) / 2.0.squareRoot()))
            worst = max(worst, abs(Double(y) - exact))
        }
        // erf's 1.5e-7 scaled by |x|/2, plus single-precision rounding.
        #expect(worst < 1e-6)
        var extremes: [Float] = [-100, -20, 0, 20, 100]
        MiniLM.gelu(&extremes)
        #expect(extremes == [0, 0, 0, 20, 100])
    }

    @Test func addLayerNormNormalizesEachRowOfTheSum() {
        var rng = SystemRandomNumberGenerator()
        let rows = 3
        let width = 37
        let x = (0..<(rows * width)).map { _ in Float.random(in: -3...3, using: &rng) }
        let residual = (0..<(rows * width)).map { _ in Float.random(in: -3...3, using: &rng) }
        let gain = (0..<width).map { _ in Float.random(in: 0.5...2, using: &rng) }
        let bias = (0..<width).map { _ in Float.random(in: -1...1, using: &rng) }
        for withResidual in [false, true] {
            var y = x
            MiniLM.addLayerNorm(&y, withResidual ? residual : nil, rows: rows, width: width, (gain, bias))
            for r in 0..<rows {
                let row = (0..<width).map { Double(x[r * width + $0]) + (withResidual ? Double(residual[r * width + $0]) : 0) }
                let mean = row.reduce(0, +) / Double(width)
                let deviation = (row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)).squareRoot()
                for j in 0..<width {
                    let expected = (row[j] - mean) / deviation * Double(gain[j]) + Double(bias[j])
                    #expect(abs(Double(y[r * width + j]) - expected) < 1e-4, "row \(r), column \(j)")
                }
            }
        }
    }
}

@Suite struct EmbeddingKernelTests {
    /// The packed kernel (or BLAS, on a CPU without AVX2/FMA/F16C) computes x·Wᵀ + b for shapes
    /// that do not fill its panels and blocks: outputs not a multiple of 16, any row count.
    /// A float rounded to bfloat16, to nearest with ties to even.
    static func bfloat16(_ value: Float) -> Float {
        let bits = value.bitPattern
        return Float(bitPattern: ((bits &+ 0x7fff &+ ((bits >> 16) & 1)) >> 16) << 16)
    }

    @Test func aLinearLayerComputesTheProductForAnyShape() {
        var rng = SystemRandomNumberGenerator()
        for (outputs, inputs) in [(40, 37), (16, 384), (1152, 384), (5, 9)] {
            var weight = (0..<(outputs * inputs)).map { _ in Float.random(in: -1...1, using: &rng) }
            // The kernel keeps weights in half precision (or weights and inputs in bfloat16); the
            // expected product uses the same values.
            if MiniLM.Linear.bfloat16 {
                weight = weight.map(Self.bfloat16)
            } else if MiniLM.Linear.kernels {
                weight = weight.map { Float(Float16($0)) }
            }
            let bias = (0..<outputs).map { _ in Float.random(in: -1...1, using: &rng) }
            let linear = MiniLM.Linear(weight: weight, bias: bias, outputs: outputs, inputs: inputs)
            for rows in [1, 5, 6, 7, 13, 25] {
                let x = (0..<(rows * inputs)).map { _ in Float.random(in: -1...1, using: &rng) }
                var y = [Float](repeating: .nan, count: rows * outputs)
                linear(x, rows: rows, into: &y)
                var worst: Float = 0
                for r in 0..<rows {
                    for o in 0..<outputs {
                        var expected = bias[o]
                        for i in 0..<inputs {
                            let input = MiniLM.Linear.bfloat16 ? Self.bfloat16(x[r * inputs + i]) : x[r * inputs + i]
                            expected += input * weight[o * inputs + i]
                        }
                        worst = max(worst, abs(y[r * outputs + o] - expected))
                    }
                }
                #expect(worst < 1e-3, "\(rows)×\(inputs) · (\(outputs)×\(inputs))ᵀ is off by \(worst)")
            }
        }
    }

    /// A product split over the pool's threads has the same bits as one computed on one thread,
    /// call after call (each reuses the pool) and with several callers at once (all but one run serially).
    @Test func aProductSplitOverThreadsHasTheSameBitsAsOneThreads() async {
        var rng = SystemRandomNumberGenerator()
        let outputs = 1152
        let inputs = 384
        let rows = 70 // split from 64 rows (`PARALLEL_ROWS`)
        let weight = (0..<(outputs * inputs)).map { _ in Float.random(in: -1...1, using: &rng) }
        let bias = (0..<outputs).map { _ in Float.random(in: -1...1, using: &rng) }
        let linear = MiniLM.Linear(weight: weight, bias: bias, outputs: outputs, inputs: inputs)
        let x = (0..<(rows * inputs)).map { _ in Float.random(in: -1...1, using: &rng) }
        let pool = MiniLM.Linear.threads
        defer { MiniLM.Linear.threads = pool }
        #expect(pool > 1 || ProcessInfo.processInfo.activeProcessorCount == 1, "the pool did not start a helper on a machine with several CPUs")
        MiniLM.Linear.threads = 1
        var serial = [Float](repeating: .nan, count: rows * outputs)
        linear(x, rows: rows, into: &serial)
        MiniLM.Linear.threads = pool
        let expected = serial
        let mismatches = await withTaskGroup(of: Int.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    var wrong = 0
                    for _ in 0..<50 {
                        var y = [Float](repeating: .nan, count: rows * outputs)
                        linear(x, rows: rows, into: &y)
                        if y != expected { wrong += 1 }
                    }
                    return wrong
                }
            }
            return await group.reduce(0, +)
        }
        #expect(mismatches == 0)
    }

    @Test func concurrentEmbeddingsAreBatchedAndEachGetsItsOwnVectors() async {
        let queue = ForwardQueue(maxBatch: 32)
        let batches = Recorded<Int>()
        let forward: ForwardQueue.Forward = { texts in
            batches.record([texts.count])
            Thread.sleep(forTimeInterval: 0.05)
            return texts.map { [Float($0.count)] }
        }
        let texts = (1...24).map { String(repeating: "x", count: $0) }
        let answers = await withTaskGroup(of: (String, [[Float]]).self) { group in
            for text in texts { group.addTask { (text, await queue.embed([text], forward: forward)) } }
            var answers: [String: [[Float]]] = [:]
            for await (text, vectors) in group { answers[text] = vectors }
            return answers
        }
        for text in texts { #expect(answers[text] == [[Float(text.count)]]) }
        // The first pass runs alone; the calls that arrive during it share the next ones.
        #expect(batches.all.count < texts.count / 2)
        #expect((batches.all.max() ?? 0) > 1)

        // A bulk submission goes in chunks, each within the batch limit, and comes back in order.
        let bulk = (1...70).map { String(repeating: "y", count: $0) }
        #expect(await queue.embed(bulk, forward: forward) == bulk.map { [Float($0.count)] })
        #expect(batches.all.allSatisfy { $0 <= 32 })
    }

    @Test func aCallerWithADeadlineIsAnsweredNilAtOnceWhenThePassesAheadWouldOutlastIt() async throws {
        let queue = ForwardQueue(maxBatch: 32)
        let ran = Recorded<String>()
        // Passes after the first wait at the gate until the test opens it (or 3 s go by), so what is queued
        // while one runs does not depend on how soon this test's task is scheduled.
        let gate = Gate()
        let passStarted = AsyncStream<Void>.makeStream()
        let forward: ForwardQueue.Forward = { texts in
            let first = ran.all.isEmpty
            ran.record(texts)
            passStarted.continuation.yield()
            if first { Thread.sleep(forTimeInterval: 0.05) } else { gate.wait() }
            return texts.map { [Float($0.count)] }
        }
        Task.detached {
            try await Task.sleep(for: .seconds(3))
            gate.open()
        }
        // Idle, the model takes the texts however short the wait allowed; this pass also tells the queue what a text costs.
        #expect(await queue.embed(["a"], waitingAtMost: .zero, forward: forward) == [[1]])
        var started = passStarted.stream.makeAsyncIterator()
        _ = await started.next()

        // A pass runs (held at the gate) with three texts queued behind it: at 50 ms a text, at least 150 ms ahead.
        async let running = queue.embed(["bb"], forward: forward)
        _ = await started.next()
        async let queued = withTaskGroup(of: [[Float]].self) { group in
            for text in ["e", "ff", "ggg"] { group.addTask { await queue.embed([text], forward: forward) } }
            return await group.reduce(into: [[Float]]()) { $0 += $1 }
        }
        while queue.expectedWait < 0.1 { try await Task.sleep(for: .milliseconds(1)) }

        // A caller allowed 5 ms is answered nil at once (before the gate opens), and its text is never run.
        let clock = ContinuousClock()
        let asked = clock.now
        #expect(await queue.embed(["ccc"], waitingAtMost: .milliseconds(5), forward: forward) == nil)
        #expect(clock.now - asked < .seconds(2))
        gate.open()
        // One allowed the whole wait waits for it and gets its vector.
        #expect(await queue.embed(["dddd"], waitingAtMost: .seconds(10), forward: forward) == [[4]])
        #expect(await running == [[2]])
        #expect(await queued.sorted { $0[0] < $1[0] } == [[1], [2], [3]])
        #expect(!ran.all.contains("ccc"))
        #expect(Set(ran.all) == ["a", "bb", "e", "ff", "ggg", "dddd"])
        #expect(queue.expectedWait == 0)
    }

    /// Closed until `open()`; then every `wait()` returns at once.
    final class Gate: @unchecked Sendable {
        private let condition = NSCondition()
        private var isOpen = false
        func wait() {
            condition.lock()
            while !isOpen { condition.wait() }
            condition.unlock()
        }
        func open() {
            condition.lock()
            isOpen = true
            condition.broadcast()
            condition.unlock()
        }
    }

    /// What the model's passes were given, in order, from whichever thread ran them.
    final class Recorded<Element: Sendable>: @unchecked Sendable {
        private let lock = NSLock()
        private var recorded: [Element] = []
        func record(_ items: [Element]) { lock.withLock { recorded += items } }
        var all: [Element] { lock.withLock { recorded } }
    }
}

@Suite struct LessonCacheTests {
    func lesson(_ situation: String) -> Lesson {
        Lesson.create(
            fields: LessonFields(agent: "default", situation: situation, did: "d", shouldHaveDone: "s", why: "w", correctBehavior: "c"), author: "t")
    }

    /// The lessons a model call reads come from memory, and follow every commit to the table,
    /// whatever statement made it: an edit, a raw update, a retirement, a deletion, a new lesson.
    @Test func theLessonsAModelCallReadsFollowEveryCommitToTheirTable() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("rasi.sqlite").path
        let a = lesson("a parcel arrived damaged")
        let b = lesson("the invoice shows the wrong address")
        do {
            let store = try SQLiteStore(path: path)
            for l in [a, b] { try await store.createLesson(l, embedding: nil) }
            #expect(try await store.activeLessons(ids: [a.id, b.id], agent: "default").count == 2)
            #expect(store.cache.count == 2)
            #expect(try await store.activeLessons(ids: [a.id], agent: "other").isEmpty, "another agent's read gets nothing")

            try await store.database.write {
                try $0.execute(sql: "UPDATE lessons SET correct_behavior = 'offer a refund' WHERE id = ?", arguments: [a.id])
            }
            #expect(store.cache.count == 1, "the commit did not drop the changed lesson")
            #expect(try await store.activeLessons(ids: [a.id], agent: "default")[a.id]?.correctBehavior == "offer a refund")
            #expect(store.cache.count == 2, "the lesson read again was not cached")

            var edited = try #require(try await store.lesson(id: b.id))
            edited.correctBehavior = "check the address on file"
            edited.version += 1
            try await store.updateLesson(edited, changedBy: "t", embedding: nil)
            #expect(try await store.activeLessons(ids: [b.id], agent: "default")[b.id]?.correctBehavior == "check the address on file")

            try await store.database.write { try $0.execute(sql: "UPDATE lessons SET status = 'retired' WHERE id = ?", arguments: [b.id]) }
            #expect(try await store.activeLessons(ids: [a.id, b.id], agent: "default").keys.sorted() == [a.id])

            #expect(try await store.deleteLesson(id: a.id, by: "t"))
            #expect(try await store.activeLessons(ids: [a.id, b.id], agent: "default").isEmpty)
        }
        // Opened again, the cache is filled from the file: the one active lesson, as last written.
        let c = lesson("a late delivery")
        let reopened = try SQLiteStore(path: path)
        #expect(reopened.cache.count == 0)
        try await reopened.createLesson(c, embedding: nil)
        #expect(try await reopened.activeLessons(ids: [a.id, b.id, c.id], agent: "default").keys.sorted() == [c.id])
        let again = try SQLiteStore(path: path)
        #expect(again.cache.count == 1)
        #expect(try await again.activeLessons(ids: [c.id], agent: "default")[c.id]?.situation == c.situation)
    }

    /// The conflicts a model call reads come from memory, and follow every commit to their
    /// table, whatever statement made it; a rolled-back change leaves them as they were.
    @Test func theConflictsAModelCallReadsFollowEveryCommitToTheirTable() async throws {
        try await withTemporaryStore { sqlite in
            let store = sqlite
            let ab = LessonPair("les_a", "les_b")
            let bc = LessonPair("les_b", "les_c")
            let all = ["les_a", "les_b", "les_c", "les_d"]
            #expect(try await store.conflictingPairs(among: all).isEmpty)
            try await store.recordConflict(LessonConflict(pair: ab, agent: "a", similarity: 0.9, reason: "r", detectedAt: Date()))
            #expect(try await store.conflictingPairs(among: all) == [ab])
            try await sqlite.database.write { db in
                try db.execute(
                    sql: """
                        INSERT INTO lesson_conflicts (lesson_a, lesson_b, agent, similarity, reason, detected_at) \
                        VALUES ('les_b', 'les_c', 'a', 0.8, 'r', ?)
                        """, arguments: [Date()])
            }
            #expect(try await store.conflictingPairs(among: all) == [ab, bc])
            #expect(try await store.conflictingPairs(among: ["les_a", "les_c"]).isEmpty)
            struct Abandoned: Error {}
            _ = try? await sqlite.database.write { db in
                try db.execute(sql: "DELETE FROM lesson_conflicts")
                throw Abandoned()
            }
            #expect(try await store.conflictingPairs(among: all) == [ab, bc])
            try await sqlite.database.write {
                try $0.execute(sql: "UPDATE lesson_conflicts SET resolved_at = ? WHERE lesson_b = 'les_c'", arguments: [Date()])
            }
            #expect(try await store.conflictingPairs(among: all) == [ab])
            try await sqlite.database.write { try $0.execute(sql: "DELETE FROM lesson_conflicts") }
            #expect(try await store.conflictingPairs(among: all).isEmpty)
        }
    }
}

@Suite struct QuickReadTests {
    /// Many model calls' reads at once, beside the pool's async reads: each quick read takes a
    /// connection of its own or goes through the pool, and never waits on a cooperative thread
    /// for a connection an async read holds (which deadlocked the server under 32 clients).
    @Test(.timeLimit(.minutes(1))) func quickReadsBesideAsyncReadsAllFinish() async throws {
        try await withTemporaryStore { store in
            let lessons = (0..<20).map { i in
                Lesson.create(
                    fields: LessonFields(agent: "default", situation: "case \(i)", did: "d", shouldHaveDone: "s", why: "w", correctBehavior: "c"),
                    author: "t")
            }
            for lesson in lessons { try await store.createLesson(lesson, embedding: nil) }
            let ids = lessons.map(\.id)
            let finished = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<400 {
                    group.addTask {
                        if i % 2 == 0 {
                            _ = try await store.conflictingPairs(among: ids)
                            _ = try await store.activeKey(secretHash: "none")
                        } else {
                            _ = try await store.listLessons(LessonFilter(agent: "default", limit: 50))
                        }
                        return 1
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(finished == 400)
        }
    }
}

@Suite struct CheckpointTests {
    /// The write-ahead log reaches the database file through the checkpointer's own connection,
    /// not inside a commit: commits that bring the log past the threshold leave the copying to it,
    /// and once it has run the file holds what was written and the log can start over.
    @Test func theLogIsCheckpointedOffTheCommitsPath() async throws {
        try await withTemporaryStore { store in
            let path = store.checkpointer.path
            func size(_ file: String) -> Int { ((try? FileManager.default.attributesOfItem(atPath: file))?[.size] as? Int) ?? 0 }
            let before = size(path)
            let text = String(repeating: "a long account of what the agent did and why it was wrong. ", count: 140)
            for batch in 0..<6 {
                try await store.importLessons(
                    (0..<100).map { i in
                        (
                            Lesson.create(
                                fields: LessonFields(
                                    agent: "default", situation: "case \(batch)-\(i)", did: "d", shouldHaveDone: "s",
                                    why: text, correctBehavior: "c"), author: "t"), nil
                        )
                    })
            }
            store.checkpointer.drain()
            #expect(store.checkpointer.completed >= 1, "no checkpoint ran on the checkpointer's connection")
            // About 5 MB of lessons: in the database file once checkpointed (without it, all of it stays in the log).
            #expect(size(path) - before > 4_000_000, "the database file did not receive the log's pages")
            #expect(try await store.listLessons(LessonFilter(agent: "default", limit: 1000)).count == 600)
        }
    }
}

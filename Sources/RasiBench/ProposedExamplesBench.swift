import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import RasiCore
import RasiEmbeddings
import RasiEngine
import RasiModelClient
import RasiSQLite
import ScriptedModel

/// `rasi bench retrieval --examples 4,8`, second table: the first table's examples, obtained end
/// to end. Each lesson is stored without examples; then the engine's `proposeExamples` asks the
/// judge's model for K of them, as it does for every new lesson: the prompt goes over HTTP to the
/// scripted model, whose script answers each lesson's prompt (known by its situation) with the K
/// requests the first table puts in directly; the answer is parsed, validated, redacted, embedded
/// and stored as the lesson's next version. Retrieval is then measured as in the first table, so
/// a difference between the two tables is the proposal path's doing.
extension RetrievalBench {
    /// One row per count above 0 and mode. `vectors` are those of `queries + oos + floorItems`, in that order.
    func modelProposedStudy(
        counts: [Int], training: [Item], queries: [Item], oos: [Item], floorItems: [Item], vectors: [[Float]], model: MiniLM, folder: URL
    ) async throws -> [ExamplesRow] {
        let intents = try intentRequests(training, most: counts.max() ?? 0)
        var logger = Logger(label: "rasi.bench.examples")
        logger.logLevel = .warning // not a line per lesson
        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        var rows: [ExamplesRow] = []
        do {
            for count in counts where count > 0 {
                rows += try await proposedRows(
                    count: count, intents: intents, queries: queries, oos: oos, floorItems: floorItems, vectors: vectors, model: model,
                    folder: folder, httpClient: httpClient, logger: logger)
            }
        } catch {
            try await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
        return rows
    }

    /// The rows of one count: the lessons made, their examples proposed through the scripted model, then retrieved.
    private func proposedRows(
        count: Int, intents: [(intent: String, requests: [Item])], queries: [Item], oos: [Item], floorItems: [Item], vectors: [[Float]],
        model: MiniLM, folder: URL, httpClient: HTTPClient, logger: Logger
    ) async throws -> [ExamplesRow] {
        // Stopped by cancelling it, which logs an error for each connection the client keeps open.
        var serverLogger = logger
        serverLogger.logLevel = .critical
        let answers = intents.map { _, requests in (situation: requests[0].text, examples: requests[1..<(1 + count)].map(\.text)) }
        let (url, server) = try await GatewayBench.start(
            Application(
                router: ScriptedModelServer.buildRouter(state: ScriptedModelState(script: try Self.paraphraseScript(answers))),
                configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "bench-judge-model"), logger: serverLogger))
        defer { server.cancel() }

        let store = try SQLiteStore(
            path: folder.appendingPathComponent("proposed-\(count).sqlite").path, embeddingModel: MiniLM.modelName, dimensions: model.dimensions)
        let lessons = try await Self.importLessons(intents.map { ($0.intent, $0.requests[0].text, []) }, into: store, model: model)
        var configuration = RasiConfiguration()
        configuration.upstreamBaseURL = url + "/v1"
        configuration.judge.model = ScriptedModelServer.modelName
        configuration.judge.lessonExamples = count
        configuration.judge.automatic = false
        let upstream = Upstream(client: httpClient, baseURL: configuration.upstreamBaseURL, apiKey: nil, timeoutSeconds: 30)
        let services = RasiServices(
            configuration: configuration, store: store, retriever: HybridRetriever(store: store, embedder: model), redactor: try PIIRedactor(),
            upstream: upstream, judgeModel: OpenAIChatModel(upstream: upstream), embedder: model, embeddingModel: MiniLM.modelName)

        print("K=\(count): proposing examples for \(lessons.count) lessons through the scripted model ...")
        let clock = ContinuousClock()
        let started = clock.now
        var proposed = 0
        var asScripted = 0
        var failures: [String] = []
        for (lesson, answer) in zip(lessons, answers) {
            do {
                guard let next = try await services.proposeExamples(lesson.id, logger: logger) else {
                    failures.append("\(lesson.topic ?? lesson.id): nothing asked")
                    continue
                }
                proposed += 1
                if next.examples.map(\.text) == answer.examples && next.counterExamples.isEmpty { asScripted += 1 }
            } catch {
                failures.append("\(lesson.topic ?? lesson.id): \(error)")
            }
        }
        print(
            String(format: "K=%d: %d of %d lessons got their examples in %.1f s", count, proposed, lessons.count, (clock.now - started).seconds)
                + (failures.first.map { "; \(failures.count) failed, the first: \($0)" } ?? ""))

        var rows = try await examplesRows(
            count: count, store: store, queries: queries, oos: oos, floorItems: floorItems, vectors: vectors, model: model)
        for i in rows.indices {
            rows[i].lessonsProposed = proposed
            rows[i].lessonsAsScripted = asScripted
        }
        return rows
    }

    /// The judge's model's script: each lesson's example prompt, known by its situation line
    /// (`LessonEditorPrompt.describe`), is answered with its examples and no counter-examples.
    /// Any other prompt gets the scripted model's default, which is no JSON: a failed proposal.
    static func paraphraseScript(_ answers: [(situation: String, examples: [String])]) throws -> Script {
        let rules: [JSONValue] = answers.map { situation, examples in
            let content: JSONValue = ["examples": .array(examples.map { .string($0) }), "counter_examples": []]
            return [
                "when": ["last_user_contains": .string("Situation: \(situation)\n")],
                "reply": ["content": .string(String(decoding: RasiJSON.canonical(content), as: UTF8.self))]
            ]
        }
        return try JSONDecoder().decode(Script.self, from: RasiJSON.canonical(["rules": .array(rules)]))
    }
}

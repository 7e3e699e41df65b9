import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import NIOCore
import Prometheus
import RasiCore
import RasiEmbeddings
import RasiEngine
import RasiModelClient
import RasiSQLite
import RasiServer

/// `rasi bench panel`: how fast every admin panel page answers over HTTP on a store of
/// 100k interactions (by default), each page and filter timed separately.
struct PanelBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "panel", abstract: "Time every admin panel page on a large store.")

    @Option(help: "Interactions in the store.") var interactions = 100_000
    @Option(help: "Lessons in the store.") var lessons = 2000
    @Option(help: "Requests per page.") var runs = 30
    @Option(help: "Requests the store is filled with.") var data = "../shared/data/clinc150/clinc150_dev.json"
    @Option(help: "Where to write the JSON results.") var out = "rasi-bench/panel.json"
    @OptionGroup var model: ModelOptions

    struct PageTiming: Codable {
        var page: String
        var status: Int
        var p50Ms: Double
        var p99Ms: Double
        var maxMs: Double

        enum CodingKeys: String, CodingKey {
            case page, status
            case p50Ms = "p50_ms"
            case p99Ms = "p99_ms"
            case maxMs = "max_ms"
        }
    }

    func run() async throws {
        let items = try RetrievalBench.load(data)["train"] ?? []
        guard !items.isEmpty else { throw ValidationError("\(data) has no train split") }
        let embedder = try model.load()
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let store = try SQLiteStore(
            path: folder.appendingPathComponent("panel.sqlite").path, embeddingModel: MiniLM.modelName, dimensions: embedder.dimensions)

        print("filling the store: \(interactions) interactions, \(lessons) lessons ...")
        let lessonItems = Array(items.prefix(lessons))
        let vectors = embedder.embedBatch(lessonItems.map(\.text))
        try await store.importLessons(
            zip(lessonItems, vectors).map { item, vector in
                (
                    Lesson.create(
                        fields: LessonFields(
                            agent: "agent-\(item.text.count % 5)", topic: item.intent, situation: item.text,
                            shouldHaveDone: "-", correctBehavior: "-"), author: "bench"),
                    LessonEmbedding(model: MiniLM.modelName, vector: vector)
                )
            })
        let start = Date().addingTimeInterval(-Double(interactions) * 10)
        var rng = SplitMix64(seed: 3)
        var sampleId = ""
        for batchStart in stride(from: 0, to: interactions, by: 5000) {
            var batch: [Interaction] = []
            for n in batchStart..<min(batchStart + 5000, interactions) {
                let item = items[n % items.count]
                let at = start.addingTimeInterval(Double(n) * 10)
                let id = Identifier.make("int", at: at)
                var steps = [Step(kind: .message, name: "user", content: item.text, at: at)]
                if n % 3 == 0 {
                    steps.append(Step(kind: .toolCall, name: item.intent, arguments: "{\"q\": \"\(n)\"}", callId: "c\(n)", at: at))
                    steps.append(Step(kind: .toolResult, name: item.intent, content: "{\"ok\": true}", callId: "c\(n)", at: at))
                }
                steps.append(Step(kind: .message, name: "assistant", content: "Answer \(n) about \(item.intent).", at: at))
                var interaction = Interaction(
                    id: id, agent: "agent-\(n % 5)", conversationId: "conv-\(n / 3)", request: item.text,
                    messages: [["role": "user", "content": .string(item.text)]], steps: steps, response: "Answer \(n) about \(item.intent).",
                    model: "bench", latencyMs: 300, topic: item.intent, createdAt: at)
                if UInt64.random(in: 0..<100, using: &rng) < 3 {
                    interaction.feedback = [
                        Feedback(
                            id: Identifier.make("fb", at: at), interactionId: id, rating: .down, comment: "wrong",
                            source: .user, signal: nil, createdAt: at)
                    ]
                    interaction.flags = [Flag(rule: .thumbsDown, reason: "thumbs down: wrong", createdAt: at)]
                }
                if n == interactions / 2 { sampleId = id }
                batch.append(interaction)
            }
            try await store.importInteractions(batch)
        }

        let httpClient = HTTPClient(eventLoopGroupProvider: .singleton)
        var configuration = RasiConfiguration()
        configuration.rateLimit = 0 // the bench is one key asking as fast as it can
        let upstream = Upstream(client: httpClient, baseURL: "http://127.0.0.1:9/v1", apiKey: nil, timeoutSeconds: 5)
        let services = RasiServices(
            configuration: configuration, store: store, retriever: HybridRetriever(store: store, embedder: embedder),
            redactor: try PIIRedactor(), upstream: upstream, judgeModel: OpenAIChatModel(upstream: upstream),
            embedder: embedder, embeddingModel: MiniLM.modelName)
        let (_, secret) = try await KeyIssuer.create(role: .admin, name: "bench", by: "bench", in: store)
        let lessonId = try await store.listLessons(LessonFilter(limit: 1)).first?.id ?? ""
        let cursor = try await store.listInteractions(InteractionFilter(limit: 1, before: sampleId)).first?.id ?? ""
        let pages = [
            "/admin/interactions", "/admin/interactions?cursor=\(cursor)", "/admin/interactions?flagged=true",
            "/admin/interactions?feedback=down", "/admin/interactions?agent=agent-3", "/admin/interactions?topic=\(items[7].intent)",
            "/admin/interactions?q=transfer+money", "/admin/interactions?since=2026-01-01", "/admin/interactions/\(sampleId)",
            "/admin/review", "/admin/lessons", "/admin/lessons?q=credit+card", "/admin/lessons/\(lessonId)",
            "/admin/retrieve?agent=agent-1&q=how+do+I+move+money+to+my+savings", "/admin/keys"
        ]

        // On a port the system picks, reported once the server listens.
        let (ports, portReported) = AsyncStream.makeStream(of: Int.self)
        let app = Application(
            router: buildRouter(services, metrics: PrometheusCollectorRegistry()).0,
            configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "rasi-bench"),
            onServerRunning: { channel in portReported.yield(channel.localAddress?.port ?? 0) })
        var results: [PageTiming] = []
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await app.run() }
            var iterator = ports.makeAsyncIterator()
            guard let port = await iterator.next() else { throw ValidationError("the bench server did not start") }
            let base = "http://127.0.0.1:\(port)"
            print("page (each \(runs) times, over HTTP)                         status   p50 ms   p99 ms")
            for page in pages {
                var timings: [Double] = []
                var status = 0
                for _ in 0..<(runs + 2) {
                    var request = HTTPClientRequest(url: base + page)
                    request.headers.add(name: "Authorization", value: "Bearer \(secret)")
                    let started = ContinuousClock.now
                    let response = try await httpClient.execute(request, timeout: .seconds(30))
                    _ = try await response.body.collect(upTo: 16 * 1024 * 1024)
                    timings.append((ContinuousClock.now - started).seconds * 1000)
                    status = Int(response.status.code)
                }
                timings.removeFirst(2) // the first requests warm the page cache
                let timing = PageTiming(
                    page: page.replacingOccurrences(of: sampleId, with: "{id}").replacingOccurrences(of: lessonId, with: "{lesson}")
                        .replacingOccurrences(of: cursor, with: "{cursor}"),
                    status: status, p50Ms: percentile(timings, 0.5), p99Ms: percentile(timings, 0.99), maxMs: timings.max() ?? 0)
                results.append(timing)
                print(
                    timing.page.padding(toLength: 60, withPad: " ", startingAt: 0)
                        + String(format: "%6d %8.1f %8.1f", timing.status, timing.p50Ms, timing.p99Ms))
            }
            group.cancelAll()
        }
        try await httpClient.shutdown()
        let slowest = results.map(\.p99Ms).max() ?? 0
        print(String(format: "slowest page p99: %.1f ms (target 100 ms at 100k interactions)", slowest))
        try BenchOutput.write(
            [
                "interactions": AnyEncodable(interactions), "lessons": AnyEncodable(lessons), "runs": AnyEncodable(runs),
                "pages": AnyEncodable(results), "slowest_p99_ms": AnyEncodable(slowest)
            ], to: out)
    }
}

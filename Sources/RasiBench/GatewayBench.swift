import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import RasiCore
import RasiEmbeddings
import RasiEngine
import RasiModelClient
import RasiSQLite
import ScriptedModel

/// `rasi bench gateway`: what rasi adds to a model call. A loopback upstream (the scripted model)
/// answers after a fixed delay; the same requests go to it directly and through rasi (a real
/// `rasi serve`, in its own process, over a store filled beforehand), one at a time and 32 at
/// once, streaming (time to first chunk) and not, with 0, 10k and 100k active lessons, on each
/// agent API asked for (Chat Completions, Responses, Messages). Reported as added latency
/// (p50/p99) and throughput ratio, measured in the same run.
struct GatewayBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gateway", abstract: "Measure the latency and throughput rasi adds to model calls.")

    @Option(help: "Active lessons per stage, comma-separated.") var lessons = "0,10000,100000"
    @Option(help: "The agent APIs measured, comma-separated: chat (/v1/chat/completions), responses (/v1/responses), messages (/v1/messages).")
    var api = "chat"
    @Option(help: "The upstream's delay in milliseconds.") var delayMs = 300
    @Option(help: "Requests per scenario with one client.") var sequential = 50
    @Option(help: "Client counts to measure, comma-separated (one at a time, then concurrent).") var clients = "1,32"
    @Option(help: "Requests per client in the concurrent scenario.") var rounds = 24
    @Option(help: "Unmeasured requests sent each way at the start of each stage (first connections, first reads of a new store).")
    var warmup = 20
    @ArgumentParser.Flag(help: "Print each scenario's six slowest calls through rasi with their phases.") var worst = false
    @Option(help: "rasi's RASI_EMBED_WAIT_MS (milliseconds, or off); rasi's default when not given.") var embedWaitMs: String?
    @Option(help: "Requests the lessons and queries are drawn from.") var data = "../shared/data/clinc150/clinc150_dev.json"
    @Option(help: "Where to write the JSON results.") var out = "rasi-bench/gateway.json"
    @Option(help: "The rasi binary measured, run as `rasi serve`; by default the one next to rasi-bench.") var rasi: String?
    @OptionGroup var model: ModelOptions

    struct Scenario: Codable {
        var api: AgentAPI
        var lessons: Int
        var clients: Int
        var stream: Bool
        var directP50Ms: Double
        var directP99Ms: Double
        var rasiP50Ms: Double
        var rasiP99Ms: Double
        var addedP50Ms: Double
        var addedP99Ms: Double
        var directPerSecond: Double
        var rasiPerSecond: Double
        var throughputRatio: Double
        var injectedShare: Double
        /// Calls whose lessons were chosen by words alone, the model being busy (`RASI_EMBED_WAIT_MS`).
        var byWordsShare: Double
        /// rasi's own account of its phases (its `Server-Timing` header), p50 and p99 of each, in ms.
        var phasesP50Ms: [String: Double]
        var phasesP99Ms: [String: Double]

        enum CodingKeys: String, CodingKey {
            case api, lessons, clients, stream
            case directP50Ms = "direct_p50_ms"
            case directP99Ms = "direct_p99_ms"
            case rasiP50Ms = "rasi_p50_ms"
            case rasiP99Ms = "rasi_p99_ms"
            case addedP50Ms = "added_p50_ms"
            case addedP99Ms = "added_p99_ms"
            case directPerSecond = "direct_per_s"
            case rasiPerSecond = "rasi_per_s"
            case throughputRatio = "throughput_ratio"
            case injectedShare = "injected_share"
            case byWordsShare = "by_words_share"
            case phasesP50Ms = "phases_p50_ms"
            case phasesP99Ms = "phases_p99_ms"
        }
    }

    /// The APIs of `--api`, in the order given.
    var apis: [AgentAPI] {
        get throws {
            let names = api.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            let apis = try names.map { name in
                guard let api = AgentAPI(rawValue: name) else {
                    throw ValidationError("unknown API \(name) in --api: the APIs are chat, responses and messages")
                }
                return api
            }
            guard !apis.isEmpty else { throw ValidationError("--api needs at least one of chat, responses and messages") }
            return apis
        }
    }

    func validate() throws {
        _ = try apis
    }

    func run() async throws {
        let apis = try apis
        let corpus = try RetrievalBench.load(data)
        guard let train = corpus["train"], let validation = corpus["val"] else { throw ValidationError("\(data) needs train and val") }
        // Both shuffled (the corpus is sorted by intent), so every scenario's requests spread
        // over the intents the lessons cover, and each request has lessons to retrieve.
        var shuffler = SplitMix64(seed: 11)
        let queries = validation.shuffled(using: &shuffler)
        let embedder = try model.load()
        var logger = Logger(label: "rasi-bench")
        logger.logLevel = .error
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }

        // Real sentence vectors for a few thousand requests; larger stores mix two of them (as `bench index`).
        let seeds = Array(train.shuffled(using: &shuffler).prefix(3000))
        let seedVectors = embedder.embedBatch(seeds.map(\.text))
        var client = HTTPClient.Configuration()
        client.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: client)
        var results: [Scenario] = []
        // Stopped once the client's connections to it are closed: cancelled with a connection
        // still open, it logs "Waiting on child channel: CancellationError()".
        var upstream: Task<Void, any Error>?
        do {
            let (upstreamURL, upstreamTask) = try await Self.startUpstream(delayMs: delayMs, logger: logger)
            upstream = upstreamTask

            print(
                "stage    clients stream  api        direct p50/p99 ms   rasi p50/p99 ms   added p50/p99 ms   req/s direct/rasi  ratio  injected  by words"
            )
            for count in integers(lessons) {
                let path = folder.appendingPathComponent("store-\(count).sqlite").path
                try await Self.fillStore(at: path, lessons: count, seeds: seeds, vectors: seedVectors, dimensions: embedder.dimensions)
                let key = KeySecret.generate()
                results += try await ServeProcess.serving(
                    rasi ?? ServeProcess.siblingBinary,
                    settings: Self.serveSettings(database: path, upstream: upstreamURL, key: key, model: model)
                        .merging(embedWaitMs.map { ["RASI_EMBED_WAIT_MS": $0] } ?? [:]) { $1 },
                    http: http
                ) { server in
                    try await measure(stage: count, apis: apis, http, upstream: upstreamURL, rasi: server.url, key: key, queries: queries)
                }
            }
        } catch {
            try? await http.shutdown()
            upstream?.cancel()
            throw error
        }
        try await http.shutdown()
        upstream?.cancel()
        if apis.count > 1 { Self.printSideBySide(results, apis: apis) }
        try BenchOutput.write(
            [
                "delay_ms": AnyEncodable(delayMs), "apis": AnyEncodable(apis), "scenarios": AnyEncodable(results),
                "worst_added_p99_ms": AnyEncodable(results.map(\.addedP99Ms).max() ?? 0),
                "worst_throughput_ratio_concurrent": AnyEncodable(results.filter { $0.clients > 1 }.map(\.throughputRatio).min() ?? 0)
            ], to: out)
    }

    /// One stage's scenarios (each client count, streamed and not, each API), printed as they are
    /// measured. The APIs take turns within each scenario, so they are compared on the machine as
    /// it is at that moment; each gets requests of its own, so none finds another's work cached.
    func measure(
        stage count: Int, apis: [AgentAPI], _ http: HTTPClient, upstream upstreamURL: String, rasi rasiURL: String, key: String,
        queries: [RetrievalBench.Item]
    ) async throws -> [Scenario] {
        // Not measured: the stage's first calls open connections and page in what the
        // store just built; a run of sequential calls is what is measured.
        if warmup > 0 {
            let warming = (0..<warmup).map { queries[(queries.count - 1 - $0) % queries.count].text }
            for api in apis {
                _ = try await Self.load(http, Target(api: api, url: upstreamURL, key: nil, texts: warming), clients: 1, stream: false)
                _ = try await Self.load(http, Target(api: api, url: rasiURL, key: key, texts: warming), clients: 1, stream: false)
            }
        }
        var results: [Scenario] = []
        var offset = 0
        for clients in integers(clients) {
            for stream in [false, true] {
                for api in apis {
                    let total = clients == 1 ? sequential : clients * rounds
                    let texts = (0..<total).map { queries[(offset + $0) % queries.count].text }
                    offset += total
                    let scenario = try await measure(
                        stage: count, api: api, clients: clients, stream: stream, http,
                        direct: Target(api: api, url: upstreamURL, key: nil, texts: texts),
                        // Each scenario's texts differ from every earlier one's by their trailing spaces, which
                        // embed alike, so no scenario finds its requests in rasi's cache of recent vectors
                        // (the requests wrap around the corpus from one scenario to the next).
                        rasi: Target(
                            api: api, url: rasiURL, key: key, texts: texts.map { $0 + String(repeating: " ", count: results.count + 1) }))
                    results.append(scenario)
                }
            }
        }
        return results
    }

    /// One scenario: the same texts sent direct and through rasi; printed as it is measured.
    func measure(
        stage count: Int, api: AgentAPI, clients: Int, stream: Bool, _ http: HTTPClient, direct directTarget: Target, rasi rasiTarget: Target
    ) async throws -> Scenario {
        // One client: each request goes direct, then through rasi, turn about, so both
        // see the machine as it is at that moment. Many: one way at a time (throughput).
        let (direct, through) =
            clients == 1
            ? try await Self.alternating(http, directTarget, rasiTarget, stream: stream)
            : (
                try await Self.load(http, directTarget, clients: clients, stream: stream),
                try await Self.load(http, rasiTarget, clients: clients, stream: stream)
            )
        let scenario = Scenario(
            api: api, lessons: count, clients: clients, stream: stream,
            directP50Ms: percentile(direct.latencies, 0.5), directP99Ms: percentile(direct.latencies, 0.99),
            rasiP50Ms: percentile(through.latencies, 0.5), rasiP99Ms: percentile(through.latencies, 0.99),
            addedP50Ms: percentile(through.latencies, 0.5) - percentile(direct.latencies, 0.5),
            addedP99Ms: percentile(through.latencies, 0.99) - percentile(direct.latencies, 0.99),
            directPerSecond: direct.perSecond, rasiPerSecond: through.perSecond, throughputRatio: through.perSecond / direct.perSecond,
            injectedShare: Double(through.injected) / Double(directTarget.texts.count),
            byWordsShare: Double(through.phases.filter { $0["words"] != nil }.count) / Double(max(1, through.phases.count)),
            phasesP50Ms: Self.phasePercentiles(through.phases, 0.5), phasesP99Ms: Self.phasePercentiles(through.phases, 0.99))
        if worst {
            for i in through.latencies.indices.sorted(by: { through.latencies[$0] > through.latencies[$1] }).prefix(6) {
                let phases = through.phases[i].sorted { $0.key < $1.key }.map { String(format: "%@ %.2f", $0.key, $0.value) }
                print(String(format: "  worst %.1f ms: ", through.latencies[i]) + phases.joined(separator: ", "))
            }
        }
        print(
            String(
                // Padded here: `%-9@` does not pad on Linux.
                format: "%7d %8d %@  %@  %7.1f / %7.1f   %7.1f / %7.1f   %6.1f / %6.1f   %7.1f / %7.1f  %5.2f  %7.2f  %8.2f",
                count, clients, stream ? "   yes" : "    no", api.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0),
                scenario.directP50Ms, scenario.directP99Ms, scenario.rasiP50Ms, scenario.rasiP99Ms, scenario.addedP50Ms,
                scenario.addedP99Ms, scenario.directPerSecond, scenario.rasiPerSecond, scenario.throughputRatio, scenario.injectedShare,
                scenario.byWordsShare))
        print(
            "        phases p50/p99 ms: "
                + scenario.phasesP50Ms.keys.sorted().map {
                    String(format: "%@ %.1f/%.1f", $0, scenario.phasesP50Ms[$0]!, scenario.phasesP99Ms[$0] ?? 0)
                }.joined(separator: ", "))
        return scenario
    }

    /// Each scenario's added latency and throughput ratio, one column per API.
    static func printSideBySide(_ results: [Scenario], apis: [AgentAPI]) {
        print("\nadded p50/p99 ms and throughput ratio, by API")
        print("stage    clients stream" + apis.map { $0.rawValue.padding(toLength: 29, withPad: " ", startingAt: 0) }.reduce("  ") { $0 + $1 })
        var seen = Set<String>()
        for first in results where seen.insert("\(first.lessons) \(first.clients) \(first.stream)").inserted {
            let cells = apis.map { api in
                guard
                    let row = results.first(where: {
                        $0.api == api && ($0.lessons, $0.clients, $0.stream) == (first.lessons, first.clients, first.stream)
                    })
                else { return String(repeating: " ", count: 29) }
                return String(format: "%6.1f / %6.1f  %5.2f       ", row.addedP50Ms, row.addedP99Ms, row.throughputRatio)
            }
            print(String(format: "%7d %8d %@  ", first.lessons, first.clients, first.stream ? "   yes" : "    no") + cells.joined())
        }
    }

    /// The loopback upstream: the scripted model, answering every request after `delayMs`; its base URL
    /// and the task serving it.
    static func startUpstream(delayMs: Int, logger: Logger) async throws -> (String, Task<Void, any Error>) {
        var reply = Script.Reply(content: "A fixed answer from the loopback upstream, streamed in a few chunks.")
        reply.delayMs = delayMs
        return try await start(
            Application(
                router: ScriptedModelServer.buildRouter(state: ScriptedModelState(script: Script(fallback: reply))),
                configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "bench-upstream"), logger: logger))
    }

    /// Fills a new SQLite store at `path` with `count` active lessons, the seed requests', past the seeds
    /// variants with two seeds' vectors mixed (as `bench index`); returns their ids once the store's own
    /// graph is built, so that building it is not beside the measurements.
    @discardableResult
    static func fillStore(
        at path: String, lessons count: Int, seeds: [RetrievalBench.Item], vectors seedVectors: [[Float]], dimensions: Int
    ) async throws -> [String] {
        let store = try SQLiteStore(path: path, embeddingModel: MiniLM.modelName, dimensions: dimensions)
        var rng = SplitMix64(seed: 5)
        var ids: [String] = []
        for start in stride(from: 0, to: count, by: 5000) {
            let batch = (start..<min(start + 5000, count)).map { i in
                let a = i % seeds.count
                let b = Int.random(in: 0..<seeds.count, using: &rng)
                var vector = zip(seedVectors[a], seedVectors[b]).map { 0.8 * $0 + 0.2 * $1 }
                let norm = vector.reduce(0) { $0 + $1 * $1 }.squareRoot()
                vector = vector.map { $0 / norm }
                let fields = LessonFields(
                    agent: "default", topic: seeds[a].intent, situation: seeds[a].text,
                    shouldHaveDone: "follow the runbook", correctBehavior: "Follow the runbook for \(seeds[a].intent).")
                return (Lesson.create(fields: fields, author: "bench"), LessonEmbedding(model: MiniLM.modelName, vector: vector))
            }
            try await store.importLessons(batch)
            ids += batch.map(\.0.id)
        }
        while store.indexesBuilding { try await Task.sleep(for: .milliseconds(250)) }
        return ids
    }

    /// `rasi serve`'s settings over a store at `path`: the defaults but for what a benchmark needs: no
    /// rate limit (one key asks as fast as it can) and no judge working beside the calls; `key` is an admin key.
    static func serveSettings(database path: String, upstream upstreamURL: String, key: String, model: ModelOptions) -> [String: String] {
        [
            "RASI_DATABASE_URL": "sqlite:\(path)", "RASI_UPSTREAM_BASE_URL": upstreamURL + "/v1",
            // rasi calls `{base}/v1/messages`: the scripted upstream's root.
            "RASI_ANTHROPIC_BASE_URL": upstreamURL, "RASI_BOOTSTRAP_ADMIN_KEY": key,
            "RASI_RATE_LIMIT": "0", "RASI_JUDGE_AUTO": "false",
            "RASI_MODEL_DIR": model.modelDir ?? ModelLocation.directory(ProcessInfo.processInfo.environment)
        ]
    }

    /// Runs an application on a port the system picks; returns its base URL and the task serving it.
    static func start(_ app: some ApplicationProtocol) async throws -> (String, Task<Void, any Error>) {
        let (ports, reported) = AsyncStream.makeStream(of: Int.self)
        let wrapped = Application(
            responder: try await app.responder, server: app.server, configuration: app.configuration,
            onServerRunning: { reported.yield($0.localAddress?.port ?? 0) }, logger: app.logger)
        let task = Task { try await wrapped.run() }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw ValidationError("a bench server did not start") }
        return ("http://127.0.0.1:\(port)", task)
    }

    /// Where a scenario's requests go: straight to the upstream, or through rasi with a key; in
    /// one API, on its path (the same on both).
    struct Target {
        var api: AgentAPI
        var url: String
        var key: String?
        var texts: [String]
    }

    typealias Call = (latency: Double, whole: Double, injected: Bool, phases: [String: Double], interaction: String?)
    typealias Load = (latencies: [Double], perSecond: Double, injected: Int, phases: [[String: Double]])

    /// One model call; the latency of a streamed call is its time to the first chunk, of another its whole time.
    static func call(_ http: HTTPClient, _ target: Target, _ index: Int, stream: Bool) async throws -> Call {
        var request = HTTPClientRequest(url: target.url + path(target.api))
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        if target.api == .messages {
            // As Anthropic's SDKs send it; rasi takes its own key in either header.
            request.headers.add(name: "anthropic-version", value: "2023-06-01")
            if let key = target.key { request.headers.add(name: "x-api-key", value: key) }
        } else if let key = target.key {
            request.headers.add(name: "Authorization", value: "Bearer \(key)")
        }
        request.body = .bytes(ByteBuffer(data: RasiJSON.canonical(body(target.api, target.texts[index], stream: stream))))
        let sent = ContinuousClock.now
        let response = try await http.execute(request, timeout: .seconds(60))
        var latency: Double?
        var tail: [UInt8] = []
        for try await chunk in response.body {
            if latency == nil { latency = (ContinuousClock.now - sent).seconds * 1000 }
            if stream { tail = Array((tail + chunk.readableBytesView).suffix(256)) }
        }
        let whole = (ContinuousClock.now - sent).seconds * 1000
        guard response.status == .ok else { throw ValidationError("\(target.url) answered \(response.status.code)") }
        // A stream measured must be whole: its API's last event came.
        guard !stream || String(decoding: tail, as: UTF8.self).contains(lastEvent(target.api)) else {
            throw ValidationError("\(target.url)\(path(target.api)): the stream ended before \(lastEvent(target.api))")
        }
        return (
            stream ? (latency ?? whole) : whole, whole, !(response.headers.first(name: "X-RASI-Lessons") ?? "").isEmpty,
            PhaseTimings.parse(response.headers.first(name: "Server-Timing") ?? ""), response.headers.first(name: "X-RASI-Interaction")
        )
    }

    /// Where each API is served, on rasi and on the upstream alike.
    static func path(_ api: AgentAPI) -> String {
        switch api {
        case .chat: "/v1/chat/completions"
        case .responses: "/v1/responses"
        case .messages: "/v1/messages"
        }
    }

    /// What ends each API's stream (the scripted model writes `type` last in each event).
    static func lastEvent(_ api: AgentAPI) -> String {
        switch api {
        case .chat: "data: [DONE]"
        case .responses: #""type":"response.completed"}"#
        case .messages: #"{"type":"message_stop"}"#
        }
    }

    /// One user message in each API's request shape.
    static func body(_ api: AgentAPI, _ text: String, stream: Bool) -> JSONValue {
        switch api {
        case .chat: ["model": "bench", "stream": .bool(stream), "messages": [["role": "user", "content": .string(text)]]]
        case .responses: ["model": "bench", "stream": .bool(stream), "input": .string(text)]
        case .messages:
            ["model": "bench", "stream": .bool(stream), "max_tokens": 1024, "messages": [["role": "user", "content": .string(text)]]]
        }
    }

    static func summary(_ calls: [Call], perSecond: Double) -> Load {
        (calls.map(\.latency), perSecond, calls.filter(\.injected).count, calls.map(\.phases))
    }

    /// Sends the target's texts from `clients` concurrent clients.
    static func load(_ http: HTTPClient, _ target: Target, clients: Int, stream: Bool) async throws -> Load {
        let started = ContinuousClock.now
        let results = try await withThrowingTaskGroup(of: [Call].self) { group in
            for client in 0..<clients {
                group.addTask {
                    var measured: [Call] = []
                    for index in stride(from: client, to: target.texts.count, by: clients) {
                        measured.append(try await call(http, target, index, stream: stream))
                    }
                    return measured
                }
            }
            var all: [Call] = []
            for try await part in group { all += part }
            return all
        }
        let elapsed = (ContinuousClock.now - started).seconds
        return summary(results, perSecond: Double(target.texts.count) / elapsed)
    }

    /// One client, each request sent to `first` then to `second`; each side's rate is its calls
    /// over the time they took.
    static func alternating(_ http: HTTPClient, _ first: Target, _ second: Target, stream: Bool) async throws -> (Load, Load) {
        var a: [Call] = []
        var b: [Call] = []
        for index in first.texts.indices {
            a.append(try await call(http, first, index, stream: stream))
            b.append(try await call(http, second, index, stream: stream))
        }
        func rate(_ calls: [Call]) -> Double { Double(calls.count) / (calls.map(\.whole).reduce(0, +) / 1000) }
        return (summary(a, perSecond: rate(a)), summary(b, perSecond: rate(b)))
    }

    /// Each phase's percentile over the calls that went through it.
    static func phasePercentiles(_ calls: [[String: Double]], _ fraction: Double) -> [String: Double] {
        let names = Set(calls.flatMap(\.keys))
        return Dictionary(uniqueKeysWithValues: names.map { name in (name, percentile(calls.compactMap { $0[name] }, fraction)) })
    }
}

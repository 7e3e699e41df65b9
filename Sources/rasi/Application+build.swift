import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Metrics
import NIOCore
import NIOHTTPTypes
import Prometheus
import RasiCore
import RasiEmbeddings
import RasiEngine
import RasiModelClient
import RasiPostgres
import RasiSQLite
import RasiServer
import ServiceLifecycle

/// The store a database URL names: a SQLite file, opened and migrated (with an embedding model,
/// its vectors are loaded into the in-process index), or PostgreSQL, which connects only once
/// its pool runs (`StoreService` in the server, `withStore` elsewhere).
func openStore(url: String, embeddingModel: String? = nil, dimensions: Int = 384, logger: Logger) throws -> any RasiStore {
    if let path = SQLiteStore.path(fromURL: url) {
        return try SQLiteStore(path: path, embeddingModel: embeddingModel, dimensions: dimensions)
    }
    if PostgresStore.accepts(url) {
        return try PostgresStore(url: url, embeddingModel: embeddingModel, dimensions: dimensions, logger: logger)
    }
    throw RasiError.invalidField("RASI_DATABASE_URL", "must be sqlite:PATH or postgres://user:password@host:port/database, got \(url)")
}

/// Readies a store opened by `openStore` once its pool runs: PostgreSQL's schema migrated.
func prepareStore(_ store: any RasiStore, url: String) async throws {
    guard let postgres = store as? PostgresStore else { return }
    try await PostgresStore.checkReachable(url: url)
    try await postgres.migrate()
}

/// The store `configuration` names, usable for the duration of `body` (migrated, its pool
/// running in a child task), and closed when `body` returns or throws: the command line's way.
func withStore<T>(
    _ configuration: RasiConfiguration, embeddingModel: String? = nil, dimensions: Int = 384, logger: Logger = Logger(label: "rasi"),
    _ body: (any RasiStore) async throws -> T
) async throws -> T {
    let url = configuration.databaseURL
    if PostgresStore.accepts(url) {
        try await PostgresStore.checkReachable(url: url)
        return try await PostgresStore.withStore(url: url, embeddingModel: embeddingModel, dimensions: dimensions, logger: logger, body)
    }
    return try await body(try openStore(url: url, embeddingModel: embeddingModel, dimensions: dimensions, logger: logger))
}

/// The store's connections as a service of the server: PostgreSQL's pool runs until the graceful
/// shutdown reaches it, last, after everything that uses it has stopped.
struct StoreService: Service {
    let store: any RasiStore

    func run() async throws {
        if let postgres = store as? PostgresStore {
            await cancelWhenGracefulShutdown { await postgres.run() }
        } else {
            try? await gracefulShutdown()
        }
    }
}

/// Holds a background service back until the store is ready (migrated, bootstrap key made), so the
/// judge's queue and the sweeps never run against a schema that is not there yet.
struct AfterStoreReady: Service {
    let service: any Service
    let ready: AsyncStream<Void>

    func run() async throws {
        // Ends at once when cancelled by the graceful shutdown before the store was ready.
        for await _ in ready.cancelOnGracefulShutdown() { break }
        guard !Task.isCancelled, !Task.isShuttingDownGracefully else { return }
        try await service.run()
    }
}

/// The server, ready to run. The store's pool is the first service; before the server listens,
/// the store is migrated, the bootstrap admin key made and missing embeddings filled in; only then
/// do the judge's queue and the sweeps start. A failure there stops the start.
func buildApplication(
    _ configuration: RasiConfiguration, httpClient: HTTPClient, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    logger: Logger
) async throws -> some ApplicationProtocol {
    let embedder = try await loadEmbedder(configuration, httpClient: httpClient)
    let store = try openStore(
        url: configuration.databaseURL, embeddingModel: embedder?.name, dimensions: embedder?.model.dimensions ?? 384, logger: logger)
    let services = try makeServices(
        configuration, store: store, embedder: embedder, httpClient: httpClient, metrics: PrometheusMetricsFactory(registry: metrics))
    let (router, _) = buildRouter(services, metrics: metrics)
    let (ready, storeReady) = AsyncStream.makeStream(of: Void.self)
    var background: [any Service] = [
        JudgeQueue(services: services, logger: logger), PeriodicService.abandonmentSweeper(services: services, logger: logger),
        // Renews this process's lease and marks the calls of processes that died mid-call.
        PeriodicService.liveness(services: services, logger: logger)
    ]
    if let days = configuration.retentionDays {
        background.append(PeriodicService.retention(days: days, services: services, logger: logger))
    }
    var app = Application(
        router: router,
        server: httpServer(configuration),
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "rasi"),
        // Stopped in reverse order, after the HTTP server: the store last.
        services: [StoreService(store: store)] + background.map { AfterStoreReady(service: $0, ready: ready) },
        // Said once the store is ready and the port is open, not before: a start that fails never says it.
        onServerRunning: { channel in logger.notice("rasi serving", metadata: ["address": "\(channel.localAddress?.description ?? "?")"]) },
        logger: logger)
    app.beforeServerStarts {
        try await prepareStore(store, url: configuration.databaseURL)
        try await services.prepare(logger: logger)
        storeReady.yield()
        storeReady.finish()
    }
    return app
}

/// rasi's parts over an opened store and the configured embedder and models. Nothing is read or
/// written yet: `prepare(logger:)` does that once the store is ready.
func makeServices(
    _ configuration: RasiConfiguration, store: any RasiStore, embedder: (name: String, model: any Embedder)?, httpClient: HTTPClient,
    metrics: any MetricsFactory = MetricsSystem.factory
) throws -> RasiServices {
    // Cached, so the request retrieval embeds is not embedded again to detect the next turn's rephrase.
    let cached = embedder.map { (name: $0.name, model: CachingEmbedder($0.model) as any Embedder) }
    let retriever: any LessonRetriever =
        cached.map {
            HybridRetriever(
                store: store, embedder: $0.model, mode: configuration.retrievalMode,
                embedWait: configuration.embedWaitMilliseconds.map { .microseconds(Int64($0 * 1000)) },
                choseByWords: { Counter(label: "rasi_lessons_by_words_total", factory: metrics).increment() })
        }
        ?? LexicalRetriever(store: store)
    let upstream = Upstream(
        client: httpClient, baseURL: configuration.upstreamBaseURL, apiKey: configuration.upstreamAPIKey,
        timeoutSeconds: configuration.upstreamTimeoutSeconds)
    return RasiServices(
        configuration: configuration, store: store, retriever: retriever, redactor: try PIIRedactor(custom: configuration.redactPatterns),
        upstream: upstream, judgeModel: OpenAIChatModel(upstream: judgeUpstream(configuration, httpClient: httpClient)),
        embedder: cached?.model, embeddingModel: cached?.name, metrics: metrics)
}

/// rasi's parts over the configured store, embedder and models for the duration of `body`, for
/// the command line and the Swift library in process: store migrated, bootstrap key created,
/// missing embeddings made; the store closed afterwards.
func withServices<T>(
    _ configuration: RasiConfiguration, httpClient: HTTPClient, logger: Logger, _ body: (RasiServices) async throws -> T
) async throws -> T {
    let embedder = try await loadEmbedder(configuration, httpClient: httpClient)
    return try await withStore(configuration, embeddingModel: embedder?.name, dimensions: embedder?.model.dimensions ?? 384, logger: logger) {
        store in
        let services = try makeServices(configuration, store: store, embedder: embedder, httpClient: httpClient)
        try await services.prepare(logger: logger)
        return try await body(services)
    }
}

/// The judge's endpoint: its own when configured, else the upstream's (with the upstream's key).
func judgeUpstream(_ configuration: RasiConfiguration, httpClient: HTTPClient) -> Upstream {
    let judge = configuration.judge
    return Upstream(
        client: httpClient, baseURL: judge.baseURL ?? configuration.upstreamBaseURL,
        apiKey: judge.baseURL == nil ? (judge.apiKey ?? configuration.upstreamAPIKey) : judge.apiKey,
        timeoutSeconds: configuration.upstreamTimeoutSeconds)
}

/// The embedder `RASI_EMBEDDER` names, loaded (or reached) now so a missing model or an
/// unusable endpoint stops the start with an error that names the fix. `none` means lexical only.
public func loadEmbedder(_ configuration: RasiConfiguration, httpClient: HTTPClient) async throws -> (name: String, model: any Embedder)? {
    switch configuration.embedder {
    case "none":
        return nil
    case "minilm":
        return (MiniLM.modelName, try MiniLM(directory: URL(fileURLWithPath: configuration.modelDirectory)))
    case let name where name.hasPrefix("openai:") && name.count > "openai:".count:
        let embedder = try await OpenAIEmbedder.connect(
            client: httpClient, baseURL: configuration.embeddingsBaseURL ?? configuration.upstreamBaseURL,
            apiKey: configuration.embeddingsAPIKey ?? configuration.upstreamAPIKey, model: String(name.dropFirst("openai:".count)))
        return (name, embedder)
    default:
        throw RasiError.invalidField("RASI_EMBEDDER", "must be minilm, openai:MODEL or none, got \"\(configuration.embedder)\"")
    }
}

/// The HTTP client for the upstream, the judge and remote embeddings, under the configured timeouts.
func makeHTTPClient(_ configuration: RasiConfiguration) -> HTTPClient {
    Upstream.makeClient(
        connectTimeoutSeconds: configuration.upstreamConnectTimeoutSeconds, timeoutSeconds: configuration.upstreamTimeoutSeconds,
        maxInFlight: configuration.maxInFlight)
}

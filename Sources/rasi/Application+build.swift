import AsyncHTTPClient
import Hummingbird
import Logging
import Foundation
import Metrics
import Prometheus
import RasiCore
import RasiEngine
import RasiModelClient
import RasiServer
import RasiEmbeddings
import RasiPostgres
import RasiSQLite
import ServiceLifecycle

/// Opens the store named by a database URL, migrated to the latest schema: a SQLite file (with
/// an embedding model, its vectors are loaded into the in-process index) or PostgreSQL.
public func openStore(url: String, embeddingModel: String? = nil, dimensions: Int = 384) async throws -> any RasiStore {
    if let path = SQLiteStore.path(fromURL: url) {
        return try SQLiteStore(path: path, embeddingModel: embeddingModel, dimensions: dimensions)
    }
    if PostgresStore.accepts(url) {
        return try await PostgresStore(url: url, embeddingModel: embeddingModel, dimensions: dimensions)
    }
    throw RasiError.invalidField("RASI_DATABASE_URL", "must be sqlite:PATH or postgres://user:password@host:port/database, got \(url)")
}

public func openStore(_ configuration: RasiConfiguration, embeddingModel: String? = nil, dimensions: Int = 384) async throws -> any RasiStore {
    try await openStore(url: configuration.databaseURL, embeddingModel: embeddingModel, dimensions: dimensions)
}

/// Closes a store's connections, if it has any (PostgreSQL's pool).
public func closeStore(_ store: any RasiStore) async {
    if let postgres = store as? PostgresStore { await postgres.shutdown() }
}

/// Keeps the store open while the server runs, and closes it last, after everything that uses it.
struct StoreService: Service {
    let store: any RasiStore

    func run() async throws {
        try? await gracefulShutdown()
        await closeStore(store)
    }
}

/// The server, ready to run: store opened and migrated, bootstrap key created.
public func buildApplication(
    _ configuration: RasiConfiguration, httpClient: HTTPClient, metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
    logger: Logger
) async throws -> some ApplicationProtocol {
    let services = try await RasiServices.open(
        configuration, httpClient: httpClient, metrics: PrometheusMetricsFactory(registry: metrics), logger: logger)
    let (router, _) = buildRouter(services, metrics: metrics)
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "rasi"),
        // Stopped after the HTTP server, so no request is left waiting on them.
        services: backgroundServices(services, logger: logger),
        logger: logger)
}

extension RasiServices {
    /// rasi's parts over the configured store, embedder and models, ready for the server or for
    /// the Swift library in process: store opened and migrated, bootstrap key created, missing
    /// embeddings made. Close the store with `closeStore(services.store)` when done.
    public static func open(
        _ configuration: RasiConfiguration, httpClient: HTTPClient, metrics: any MetricsFactory = MetricsSystem.factory, logger: Logger
    ) async throws -> RasiServices {
        // Cached, so the request retrieval embeds is not embedded again to detect the next turn's rephrase.
        let embedder = try await loadEmbedder(configuration, httpClient: httpClient).map { (name: $0.name, model: CachingEmbedder($0.model) as any Embedder) }
        let store = try await openStore(configuration, embeddingModel: embedder?.name, dimensions: embedder?.model.dimensions ?? 384)
        let retriever: any LessonRetriever = embedder.map { HybridRetriever(store: store, embedder: $0.model, mode: configuration.retrievalMode) }
            ?? LexicalRetriever(store: store)
        let upstream = Upstream(client: httpClient, baseURL: configuration.upstreamBaseURL, apiKey: configuration.upstreamAPIKey,
                                timeoutSeconds: configuration.upstreamTimeoutSeconds)
        let services = RasiServices(
            configuration: configuration, store: store, retriever: retriever, redactor: try PIIRedactor(custom: configuration.redactPatterns), upstream: upstream,
            judgeModel: OpenAIChatModel(upstream: judgeUpstream(configuration, httpClient: httpClient)),
            embedder: embedder?.model, embeddingModel: embedder?.name, metrics: metrics)
        try await services.bootstrapAdminKey(logger: logger)
        try await services.backfillEmbeddings(logger: logger)
        return services
    }
}

/// The long-lived work beside the HTTP server: the judge's queue, the abandonment sweeper, and
/// the retention purge when a retention period is set.
func backgroundServices(_ services: RasiServices, logger: Logger) -> [any Service] {
    // Stopped in reverse order: the store last.
    var background: [any Service] = [StoreService(store: services.store), JudgeQueue(services: services, logger: logger), PeriodicService.abandonmentSweeper(services: services, logger: logger)]
    if let days = services.configuration.retentionDays { background.append(PeriodicService.retention(days: days, services: services, logger: logger)) }
    return background
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

extension LocalRasi {
    /// rasi in this process over the store and embedder `configuration` names, migrated and ready.
    static func open(_ configuration: RasiConfiguration, httpClient: HTTPClient, logger: Logger = Logger(label: "rasi.agent")) async throws -> LocalRasi {
        LocalRasi(services: try await RasiServices.open(configuration, httpClient: httpClient, logger: logger), logger: logger)
    }

    /// Closes the store's connections.
    func close() async {
        await closeStore(services.store)
    }
}

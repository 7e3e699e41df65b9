import AsyncHTTPClient
import Hummingbird
import Logging
import RasiCore
import RasiSQLite

/// Opens the store named by the configuration.
public func openStore(_ configuration: RasiConfiguration) throws -> any RasiStore {
    if let path = SQLiteStore.path(fromURL: configuration.databaseURL) {
        return try SQLiteStore(path: path)
    }
    if configuration.databaseURL.hasPrefix("postgres") {
        throw RasiError.unavailable("PostgreSQL is not supported yet: use RASI_DATABASE_URL=sqlite:PATH")
    }
    throw RasiError.invalidField("RASI_DATABASE_URL", "must be sqlite:PATH, got \(configuration.databaseURL)")
}

/// The server, ready to run: store opened and migrated, bootstrap key created.
public func buildApplication(
    _ configuration: RasiConfiguration, httpClient: HTTPClient, logger: Logger
) async throws -> some ApplicationProtocol {
    let store = try openStore(configuration)
    let services = RasiServices(
        configuration: configuration, store: store, retriever: LexicalRetriever(store: store), redactor: BasicRedactor(),
        upstream: Upstream(client: httpClient, baseURL: configuration.upstreamBaseURL, apiKey: configuration.upstreamAPIKey,
                           timeoutSeconds: configuration.upstreamTimeoutSeconds))
    try await services.bootstrapAdminKey(logger: logger)
    let (router, _) = buildRouter(services)
    return Application(
        router: router,
        configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "rasi"),
        logger: logger)
}

/// Every route of rasi, each with who may call it. Returns the route table too, for tests.
public func buildRouter(_ services: RasiServices) -> (Router<RasiRequestContext>, [RouteEntry]) {
    let router = Router(context: RasiRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    let routes = GuardedRouter(router: router, keys: services.store)
    routes.on(.get, "/healthz", .open) { _, _ in
        try JSONBody.response(["status": "ok"])
    }
    GatewayController(services: services).register(routes)
    InteractionsController(services: services).register(routes)
    LessonsController(services: services).register(routes)
    KeysController(services: services).register(routes)
    return (router, routes.entries)
}

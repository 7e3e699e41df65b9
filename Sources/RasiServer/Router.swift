import Hummingbird
import Prometheus
import RasiCore
import RasiEngine

/// Every route of rasi, each with who may call it. Returns the route table too, for tests.
public func buildRouter(_ services: RasiServices, metrics: PrometheusCollectorRegistry) -> (Router<RasiRequestContext>, [RouteEntry]) {
    let router = Router(context: RasiRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: MetricsMiddleware())
    let limits = ServerLimits(services.configuration)
    let routes = GuardedRouter(
        router: router, keys: services.credentials, maxFormBytes: limits.maxBodyBytes,
        limiter: RateLimiter(rate: limits.rateLimit, burst: limits.rateBurst))
    routes.on(.get, "/healthz", .open) { _, _ in
        // 503 while the store is away, so a load balancer sends calls elsewhere.
        if let outage = await services.storeOutage() {
            var response = try JSONBody.response(["status": "unavailable", "store": outage])
            response.status = .serviceUnavailable
            response.headers[.retryAfter] = "5"
            return response
        }
        // Serving either way; "building" says retrieval is exact, and slower, until the vector graphs are in use.
        return try JSONBody.response(["status": "ok", "indexes": services.indexesBuilding ? "building" : "ready"])
    }
    routes.on(.get, "/metrics", .role(.agent)) { _, _ in
        Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.emitToString())))
    }
    GatewayController(services: services, limits: limits).register(routes)
    InteractionsController(services: services, limits: limits).register(routes)
    JudgeController(services: services).register(routes)
    LessonsController(services: services, limits: limits).register(routes)
    CurationController(services: services, limits: limits).register(routes)
    TopicsController(services: services, limits: limits).register(routes)
    PrivacyController(services: services).register(routes)
    EvaluationsController(services: services, limits: limits).register(routes)
    KeysController(services: services, limits: limits).register(routes)
    PanelController(services: services, limits: limits).register(routes)
    // Described last, so the document covers every route registered above (and itself).
    let entries = routes.entries + [RouteEntry(method: .get, path: "/openapi.json", access: .open)]
    let document = RasiJSON.canonical(OpenAPI.document(routes: entries))
    routes.on(.get, "/openapi.json", .open) { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: document)))
    }
    return (router, routes.entries)
}

/// What the HTTP layer takes from the configuration, read once when the router is built.
public struct ServerLimits: Sendable {
    /// Largest request body accepted, in bytes; larger ones get 413.
    public var maxBodyBytes: Int
    /// Largest upstream response body read whole (non-streaming).
    public var maxUpstreamBodyBytes: Int
    /// Requests a key may make per second, sustained, and in a burst; 0 for no limit.
    public var rateLimit: Double
    public var rateBurst: Double

    public init(_ configuration: RasiConfiguration) {
        maxBodyBytes = configuration.maxBodyBytes
        maxUpstreamBodyBytes = configuration.maxUpstreamBodyBytes
        rateLimit = configuration.rateLimit
        rateBurst = configuration.rateBurst
    }
}

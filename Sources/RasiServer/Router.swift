import Hummingbird
import Prometheus
import RasiCore
import RasiEngine

/// Every route of rasi, each with who may call it. Returns the route table too, for tests.
public func buildRouter(_ services: RasiServices, metrics: PrometheusCollectorRegistry) -> (Router<RasiRequestContext>, [RouteEntry]) {
    let router = Router(context: RasiRequestContext.self)
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: MetricsMiddleware())
    let routes = GuardedRouter(router: router, keys: services.store, maxFormBytes: services.configuration.maxBodyBytes,
                               limiter: RateLimiter(rate: services.configuration.rateLimit, burst: services.configuration.rateBurst))
    routes.on(.get, "/healthz", .open) { _, _ in
        // Serving either way; "building" says retrieval is exact, and slower, until the vector graphs are in use.
        try JSONBody.response(["status": "ok", "indexes": services.store.indexesBuilding ? "building" : "ready"])
    }
    routes.on(.get, "/metrics", .role(.agent)) { _, _ in
        Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                 body: .init(byteBuffer: ByteBuffer(string: metrics.emitToString())))
    }
    GatewayController(services: services).register(routes)
    InteractionsController(services: services).register(routes)
    JudgeController(services: services).register(routes)
    LessonsController(services: services).register(routes)
    CurationController(services: services).register(routes)
    TopicsController(services: services).register(routes)
    PrivacyController(services: services).register(routes)
    EvaluationsController(services: services).register(routes)
    KeysController(services: services).register(routes)
    PanelController(services: services).register(routes)
    // Described last, so the document covers every route registered above (and itself).
    let entries = routes.entries + [RouteEntry(method: .get, path: "/openapi.json", access: .open)]
    let document = RasiJSON.canonical(OpenAPI.document(routes: entries))
    routes.on(.get, "/openapi.json", .open) { _, _ in
        Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: document)))
    }
    return (router, routes.entries)
}

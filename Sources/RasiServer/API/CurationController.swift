import Foundation
import Hummingbird
import RasiCore
import RasiEngine

/// Curation: conflicting lessons to resolve, and the impact a lesson would have.
struct CurationController {
    let services: RasiServices
    let limits: ServerLimits

    func register(_ routes: GuardedRouter) {
        routes.on(.get, "/api/v1/conflicts", .role(.reviewer), conflicts)
        routes.on(.post, "/api/v1/conflicts/{id}/resolve", .role(.reviewer), resolve)
        routes.on(.get, "/api/v1/lessons/{id}/impact", .role(.reviewer), impact)
        routes.on(.get, "/api/v1/lessons/{id}/lift", .role(.reviewer), lessonLift)
        routes.on(.get, "/api/v1/agents/{agent}/lift", .role(.reviewer), agentLift)
        routes.on(.get, "/api/v1/trends", .role(.reviewer), trends)
        routes.on(.get, "/api/v1/syntheses", .role(.reviewer), syntheses)
    }

    /// The merges of conflicting lessons, newest first: what was merged, the prompt, the output.
    @Sendable func syntheses(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try JSONBody.response(["syntheses": try await services.syntheses(limit: try Query(request).limit())])
    }

    /// Open conflicts by default (`open=false` for resolved ones), each with both lessons.
    @Sendable func conflicts(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let query = Query(request)
        let found = try await services.conflicts(open: try query.bool("open") ?? true, limit: try query.limit())
        let items: [JSONValue] = try found.map { conflict, lessons in
            var item = try JSONBody.decode(JSONValue.self, from: RasiJSON.encoder().encode(conflict)).objectValue ?? [:]
            item["lessons"] = try JSONBody.decode(JSONValue.self, from: RasiJSON.encoder().encode(lessons))
            return .object(item)
        }
        return try JSONBody.response(["conflicts": JSONValue.array(items)])
    }

    struct ResolveBody: Decodable {
        /// The lesson to keep (the other is retired), or "both".
        var keep: String
    }

    @Sendable func resolve(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(ResolveBody.self, limit: limits.maxBodyBytes)
        return try JSONBody.response(try await services.resolveConflict(try context.id(), keep: body.keep, by: context.actor))
    }

    /// The lesson's negative-outcome rate with it minus without it, with its interval and verdict.
    @Sendable func lessonLift(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try JSONBody.response(try await services.lift(lessonId: context.id()))
    }

    /// The same for an agent's traffic whose selection had lessons.
    @Sendable func agentLift(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let agent = try GatewayController.agentName(try context.parameters.require("agent"))
        return try JSONBody.response(try await services.lift(agent: agent))
    }

    /// Outcomes, exposures by arm and lessons created and retired, per hour or day.
    @Sendable func trends(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try JSONBody.response(try await services.trends(try Query(request).trendQuery()))
    }

    /// The agent's recent requests replayed with this lesson active (see `RasiServices.impact`).
    @Sendable func impact(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let lesson = try await services.lesson(context.id())
        return try JSONBody.response(try await services.impact(of: lesson, limit: try Query(request).limit(default: 500, max: 5000)))
    }
}

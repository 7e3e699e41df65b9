import Foundation
import Hummingbird
import RasiCore
import RasiEngine

/// Interactions: ingest from agents that do not use the gateway, browse, feedback, and the
/// correction box that turns one into a lesson.
struct InteractionsController {
    let services: RasiServices
    let limits: ServerLimits

    func register(_ routes: GuardedRouter) {
        routes.on(.post, "/api/v1/interactions", .role(.agent), ingest)
        routes.on(.get, "/api/v1/interactions", .role(.reviewer), list)
        routes.on(.get, "/api/v1/interactions/{id}", .role(.reviewer), get)
        routes.on(.post, "/api/v1/interactions/{id}/feedback", .role(.agent), feedback)
        routes.on(.post, "/api/v1/interactions/{id}/lessons", .role(.reviewer), correction)
        routes.on(.delete, "/api/v1/interactions/{id}/flags", .role(.reviewer), dismissFlags)
    }

    struct IngestBody: Decodable {
        var agent: String?
        var conversationId: String?
        var userId: String?
        var request: String
        var messages: JSONValue?
        var steps: [Step]?
        var response: String?
        var model: String?
        var latencyMs: Int?
        var tokens: TokenUsage?
        var lessonsInjected: [String]?
        var topic: String?
        var error: String?

        enum CodingKeys: String, CodingKey {
            case agent, request, messages, steps, response, model, tokens, topic, error
            case conversationId = "conversation_id"
            case userId = "user_id"
            case latencyMs = "latency_ms"
            case lessonsInjected = "lessons_injected"
        }
    }

    @Sendable func ingest(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(IngestBody.self, limit: limits.maxBodyBytes)
        let agent = try GatewayController.agentName(body.agent)
        if let latency = body.latencyMs, latency < 0 { throw RasiError.invalidField("latency_ms", "must not be negative") }
        let stored = try await services.ingest(
            Interaction(
                agent: agent, conversationId: body.conversationId, userId: body.userId, request: body.request,
                messages: body.messages ?? .array([]), steps: body.steps ?? [], response: body.response, model: body.model,
                latencyMs: body.latencyMs ?? 0, tokens: body.tokens ?? TokenUsage(), lessonsInjected: body.lessonsInjected ?? [],
                topic: body.topic, error: body.error), logger: context.logger)
        return try JSONBody.response(stored, status: .created, headers: [.rasiInteraction: stored.id])
    }

    /// Newest first; with `flagged=true` it is the review queue, worked oldest first.
    @Sendable func list(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let filter = try Query(request).interactionFilter()
        let interactions = try await services.interactions(filter)
        return try JSONBody.response(Page(interactions, key: "interactions", limit: filter.limit, id: \.id))
    }

    @Sendable func get(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try JSONBody.response(try await services.interaction(context.id()))
    }

    struct FeedbackBody: Decodable {
        var rating: Rating?
        var comment: String?
        var source: FeedbackSource?
        var signal: Signal?
    }

    @Sendable func feedback(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(FeedbackBody.self, limit: limits.maxBodyBytes)
        let (feedback, added) = try await services.addFeedback(
            to: try context.id(), rating: body.rating, comment: body.comment, source: body.source ?? .user, signal: body.signal)
        // An implicit signal the interaction already has is acknowledged, not counted twice.
        return try JSONBody.response(feedback, status: added ? .created : .ok)
    }

    /// Takes an interaction out of the review queue; a rule does not raise a dismissed flag again.
    @Sendable func dismissFlags(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let dismissed = try await services.dismissFlags(of: try context.id(), by: context.actor)
        return try JSONBody.response(["dismissed": dismissed])
    }

    /// The correction box: a reviewer says what should have happened; the lesson's situation
    /// and `did` default to the interaction's request and trace.
    @Sendable func correction(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let id = try context.id()
        _ = try await services.interaction(id)
        let fields = try await request.decodeJSON(LessonFields.self, limit: limits.maxBodyBytes)
        let lesson = try await services.correct(id, with: fields, by: context.actor)
        return try JSONBody.response(lesson, status: .created)
    }
}

import Foundation
import Hummingbird
import RasiCore
import RasiEngine

/// Lessons: create, read, edit (each edit a new version), delete; and retrieval as the gateway does it.
struct LessonsController {
    let services: RasiServices
    let limits: ServerLimits

    func register(_ routes: GuardedRouter) {
        routes.on(.get, "/api/v1/lessons", .role(.reviewer), list)
        routes.on(.post, "/api/v1/lessons", .role(.reviewer), createRoute)
        routes.on(.get, "/api/v1/lessons/{id}", .role(.reviewer), get)
        routes.on(.patch, "/api/v1/lessons/{id}", .role(.reviewer), update)
        routes.on(.delete, "/api/v1/lessons/{id}", .role(.reviewer), delete)
        routes.on(.get, "/api/v1/lessons/{id}/versions", .role(.reviewer), versions)
        routes.on(.post, "/api/v1/lessons/{id}/examples", .role(.reviewer), markExample)
        routes.on(.post, "/api/v1/lessons/{id}/examples/proposals", .role(.reviewer), proposeExamples)
        routes.on(.get, "/api/v1/lessons/{id}/examples/candidates", .role(.reviewer), exampleCandidates)
        routes.on(.post, "/api/v1/retrieve", .role(.agent), retrieve)
    }

    /// A request to mark: its text, or a logged interaction whose request it is.
    struct ExampleMark: Decodable {
        var request: String?
        var interactionId: String?
        var applies: Bool
        /// `reviewer` (the default), or `outcome` when accepting an outcome proposal.
        var source: LessonExample.Source?

        enum CodingKeys: String, CodingKey {
            case request, applies, source
            case interactionId = "interaction_id"
        }
    }

    /// One click in the panel: this past request is one the lesson applies to, or must not.
    @Sendable func markExample(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let id = try context.id()
        let mark = try await request.decodeJSON(ExampleMark.self, limit: limits.maxBodyBytes)
        let source = mark.source ?? .reviewer
        guard source == .reviewer || source == .outcome else { throw RasiError.invalidField("source", "must be reviewer or outcome") }
        let lesson: Lesson
        switch (mark.request, mark.interactionId) {
        case (let text?, nil):
            guard text.count <= LessonExample.maxLength else {
                throw RasiError.invalidField("request", "must be at most \(LessonExample.maxLength) characters (got \(text.count))")
            }
            lesson = try await services.markExample(lessonId: id, request: text, applies: mark.applies, by: context.actor, source: source)
        case (nil, let interactionId?):
            lesson = try await services.markExample(
                lessonId: id, interactionId: interactionId, applies: mark.applies, by: context.actor, source: source)
        default:
            throw RasiError.invalidField("request", "give either request or interaction_id")
        }
        return try JSONBody.response(lesson)
    }

    /// The outcome proposals: requests the lesson was injected into that went wrong.
    @Sendable func exampleCandidates(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try JSONBody.response(["candidates": try await services.exampleCandidates(lessonId: try context.id())])
    }

    /// Asks the judge's model for examples now, as it does in the background when a lesson is made.
    @Sendable func proposeExamples(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        do {
            guard let lesson = try await services.proposeExamples(id) else {
                throw RasiError.unavailable("no model to ask: set RASI_JUDGE_MODEL")
            }
            return try JSONBody.response(lesson)
        } catch let error as JudgeOutputError {
            throw RasiError.upstream(status: 502, message: "the judge's model gave no usable examples: \(error)")
        } catch RasiError.upstream(_, let message) {
            throw RasiError.upstream(status: 502, message: "the judge's model failed: \(message)")
        } catch let error where !(error is RasiError) {
            throw RasiError.upstream(status: 502, message: "the judge's model could not be reached: \(error)")
        }
    }

    @Sendable func createRoute(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let fields = try await request.decodeJSON(LessonFields.self, limit: limits.maxBodyBytes)
        return try JSONBody.response(try await services.createLesson(fields, author: context.actor), status: .created)
    }

    @Sendable func list(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let filter = try Query(request).lessonFilter()
        let lessons = try await services.lessons(filter)
        return try JSONBody.response(Page(lessons, key: "lessons", limit: filter.limit, id: \.id))
    }

    @Sendable func get(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try JSONBody.response(try await services.lesson(context.id()))
    }

    @Sendable func update(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let current = try await services.lesson(context.id())
        let fields = try await request.decodeJSON(LessonFields.self, limit: limits.maxBodyBytes)
        return try JSONBody.response(try await services.updateLesson(current, with: fields, by: context.actor))
    }

    @Sendable func delete(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        try await services.deleteLesson(id, by: context.actor)
        return Response(status: .noContent)
    }

    @Sendable func versions(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        let history = try await services.lessonVersions(id)
        // Each version is the lesson as it was, with who saved it and when: the audit trail.
        let versions: [JSONValue] = try history.map { version in
            var fields = try JSONBody.decode(JSONValue.self, from: RasiJSON.encoder().encode(version.lesson)).objectValue ?? [:]
            fields["changed_by"] = .string(version.changedBy)
            fields["changed_at"] = .string(Timestamp.format(version.changedAt))
            return .object(fields)
        }
        return try JSONBody.response(["versions": JSONValue.array(versions)])
    }

    struct RetrieveBody: Decodable {
        var agent: String?
        var query: String
        var k: Int?
    }

    /// What the gateway would inject for this request, with scores and the rendered context;
    /// `Server-Timing` says what the selection cost, as on the gateway.
    @Sendable func retrieve(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(RetrieveBody.self, limit: limits.maxBodyBytes)
        if let k = body.k, !(1...20).contains(k) { throw RasiError.invalidField("k", "must be from 1 to 20") }
        let agent = try GatewayController.agentName(body.agent)
        return try await PhaseTimings.reported {
            let selection = try await services.selectLessons(agent: agent, query: body.query, k: body.k)
            return try JSONBody.response(selection)
        }
    }
}

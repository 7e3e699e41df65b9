import Foundation
import Hummingbird
import RasiCore
import RasiEngine

/// Topics: defined by admins (name, description, examples); interactions and lessons are
/// filed under them as they are written; unclassified requests are clustered into suggestions.
struct TopicsController {
    let services: RasiServices
    let limits: ServerLimits

    func register(_ routes: GuardedRouter) {
        routes.on(.get, "/api/v1/topics", .role(.reviewer), list)
        routes.on(.get, "/api/v1/topics/suggestions", .role(.reviewer), suggestions)
        routes.on(.put, "/api/v1/topics/{id}", .role(.admin), save)
        routes.on(.delete, "/api/v1/topics/{id}", .role(.admin), delete)
    }

    @Sendable func list(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try JSONBody.response(["topics": try await services.topicList()])
    }

    struct TopicBody: Decodable {
        var description: String
        var examples: [String]?
    }

    @Sendable func save(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let name = try context.id().trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.count <= LessonFields.maxNameLength, name != Topic.unclassified else {
            throw RasiError.invalidField("name", "must be 1 to \(LessonFields.maxNameLength) characters, and not \(Topic.unclassified)")
        }
        let body = try await request.decodeJSON(TopicBody.self, limit: limits.maxBodyBytes)
        let description = body.description.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !description.isEmpty, description.count <= LessonFields.maxFieldLength else {
            throw RasiError.invalidField("description", "must be 1 to \(LessonFields.maxFieldLength) characters")
        }
        let examples = (body.examples ?? []).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        guard examples.count <= 50, examples.allSatisfy({ $0.count <= LessonFields.maxFieldLength }) else {
            throw RasiError.invalidField("examples", "at most 50, each at most \(LessonFields.maxFieldLength) characters")
        }
        let topic = Topic(name: name, description: description, examples: examples)
        try await services.saveTopic(topic)
        return try JSONBody.response(topic)
    }

    @Sendable func delete(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let name = try context.id()
        try await services.deleteTopic(name)
        return Response(status: .noContent)
    }

    /// Recent unclassified requests (`limit`, 500) grouped by similarity into candidate topics.
    @Sendable func suggestions(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let found = try await services.topicSuggestions(limit: try Query(request).limit(default: 500, max: 5000))
        return try JSONBody.response([
            "checked": JSONValue.int(Int64(found.checked)),
            "suggestions": try JSONBody.decode(JSONValue.self, from: RasiJSON.encoder().encode(found.suggestions))
        ])
    }
}

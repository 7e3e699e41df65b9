import Foundation
import Hummingbird
import RasiCore
import RasiEngine

/// Topics: defined by admins (name, description, examples); interactions and lessons are
/// filed under them as they are written; unclassified requests are clustered into suggestions.
struct TopicsController {
    let services: RasiServices

    func register(_ routes: GuardedRouter) {
        routes.on(.get, "/api/v1/topics", .role(.reviewer), list)
        routes.on(.get, "/api/v1/topics/suggestions", .role(.reviewer), suggestions)
        routes.on(.put, "/api/v1/topics/{id}", .role(.admin), save)
        routes.on(.delete, "/api/v1/topics/{id}", .role(.admin), delete)
    }

    @Sendable func list(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try JSONBody.response(["topics": try await services.store.listTopics()])
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
        let body = try await request.decodeJSON(TopicBody.self, limit: services.configuration.maxBodyBytes)
        let description = body.description.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !description.isEmpty, description.count <= LessonFields.maxFieldLength else {
            throw RasiError.invalidField("description", "must be 1 to \(LessonFields.maxFieldLength) characters")
        }
        let examples = (body.examples ?? []).map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
        guard examples.count <= 50, examples.allSatisfy({ $0.count <= LessonFields.maxFieldLength }) else {
            throw RasiError.invalidField("examples", "at most 50, each at most \(LessonFields.maxFieldLength) characters")
        }
        let topic = Topic(name: name, description: description, examples: examples)
        try await services.store.saveTopic(topic, at: Date())
        try await services.topics.reload()
        return try JSONBody.response(topic)
    }

    @Sendable func delete(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let name = try context.id()
        guard try await services.store.deleteTopic(name: name) else { throw RasiError.notFound("topic \(name)") }
        try await services.topics.reload()
        return Response(status: .noContent)
    }

    struct Suggestion: Encodable {
        var name: String
        var size: Int
        var examples: [String]
    }

    /// Recent unclassified requests (`limit`, 500) grouped by similarity into candidate
    /// topics, each named by its commonest words, with examples to start from.
    @Sendable func suggestions(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let limit = try Query(request).limit(default: 500, max: 5000)
        let unclassified = try await services.store.listInteractions(InteractionFilter(topic: Topic.unclassified, limit: limit))
        let requests = unclassified.map(\.request)
        var vectors: [[Float]] = []
        if let embedder = services.embedder {
            for start in stride(from: 0, to: requests.count, by: 64) {
                vectors += try await embedder.embed(Array(requests[start..<min(start + 64, requests.count)]))
            }
        }
        let groups: [[Int]]
        if vectors.count == requests.count, !vectors.isEmpty {
            groups = TopicClassifier.clusters(vectors, similarity: 0.6, minSize: 3)
        } else {
            // Without an embedder, requests sharing their commonest content word group together.
            let keyed = Dictionary(grouping: requests.indices) { TextTerms.terms(requests[$0]).first ?? "" }
            groups = keyed.filter { !$0.key.isEmpty && $0.value.count >= 3 }.values.sorted { $0.count > $1.count }
        }
        let suggestions = groups.map { members in
            let words = members.flatMap { TextTerms.terms(requests[$0]) }
            let counts = Dictionary(words.map { ($0, 1) }, uniquingKeysWith: +)
            let name = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(3).map(\.key).joined(separator: " ")
            return Suggestion(name: name, size: members.count, examples: members.prefix(5).map { requests[$0] })
        }
        return try JSONBody.response(["checked": JSONValue.int(Int64(requests.count)),
                                      "suggestions": try JSONBody.decode(JSONValue.self, from: RasiJSON.encoder().encode(suggestions))])
    }
}

import Foundation
import Hummingbird
import RasiCore

/// Curation: conflicting lessons to resolve, and the impact a lesson would have.
struct CurationController {
    let services: RasiServices

    func register(_ routes: GuardedRouter) {
        routes.on(.get, "/api/v1/conflicts", .role(.reviewer), conflicts)
        routes.on(.post, "/api/v1/conflicts/{id}/resolve", .role(.reviewer), resolve)
        routes.on(.get, "/api/v1/lessons/{id}/impact", .role(.reviewer), impact)
        routes.on(.get, "/api/v1/syntheses", .role(.reviewer), syntheses)
    }

    /// The merges of conflicting lessons, newest first: what was merged, the prompt, the output.
    @Sendable func syntheses(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try JSONBody.response(["syntheses": try await services.store.listSyntheses(limit: try Query(request).limit())])
    }

    /// Open conflicts by default (`open=false` for resolved ones), each with both lessons.
    @Sendable func conflicts(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let query = Query(request)
        let found = try await services.store.listConflicts(open: try query.bool("open") ?? true, limit: try query.limit())
        var items: [JSONValue] = []
        for conflict in found {
            var item = try JSONBody.decode(JSONValue.self, from: RasiJSON.encoder().encode(conflict)).objectValue ?? [:]
            var lessons: [JSONValue] = []
            for id in [conflict.pair.first, conflict.pair.second] {
                if let lesson = try await services.store.lesson(id: id) { lessons.append(try JSONBody.decode(JSONValue.self, from: RasiJSON.encoder().encode(lesson))) }
            }
            item["lessons"] = .array(lessons)
            items.append(.object(item))
        }
        return try JSONBody.response(["conflicts": JSONValue.array(items)])
    }

    struct ResolveBody: Decodable {
        /// The lesson to keep (the other is retired), or "both".
        var keep: String
    }

    @Sendable func resolve(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        guard let id = Int(try context.id()) else { throw RasiError.notFound("conflict \(try context.id())") }
        let body = try await request.decodeJSON(ResolveBody.self, limit: services.configuration.maxBodyBytes)
        guard let conflict = try await services.store.listConflicts(open: nil, limit: 10_000).first(where: { $0.id == id }) else {
            throw RasiError.notFound("conflict \(id)")
        }
        guard conflict.resolvedAt == nil else { throw RasiError.conflict("conflict \(id) was already resolved: \(conflict.resolution ?? "")") }
        if body.keep != "both" {
            guard conflict.pair.contains(body.keep) else {
                throw RasiError.invalidField("keep", "must be \(conflict.pair.first), \(conflict.pair.second) or both")
            }
            let other = conflict.pair.first == body.keep ? conflict.pair.second : conflict.pair.first
            if let lesson = try await services.store.lesson(id: other), lesson.status != .retired {
                _ = try await services.updateLesson(lesson, with: LessonFields(status: .retired), by: context.actor)
            }
        }
        let resolved = try await services.store.resolveConflict(id: id, by: context.actor, resolution: body.keep == "both" ? "kept both" : "kept \(body.keep)", at: Date())
        return try JSONBody.response(resolved)
    }

    struct ImpactRequest: Encodable {
        var interactionId: String
        var request: String
        var score: Double
        var injected: Bool
        var displaces: [String]

        enum CodingKeys: String, CodingKey {
            case request, score, injected, displaces
            case interactionId = "interaction_id"
        }
    }

    struct Impact: Encodable {
        var lessonId: String
        var status: LessonStatus
        var checked: Int
        var matched: Int
        var injected: Int
        var share: Double
        var displaces: [String: Int]
        var requests: [ImpactRequest]

        enum CodingKeys: String, CodingKey {
            case status, checked, matched, injected, share, displaces, requests
            case lessonId = "lesson_id"
        }
    }

    /// The agent's recent requests (`limit`, 500 by default) replayed with this lesson active:
    /// how many would retrieve it, how many would get it injected, and which lessons it would
    /// push out. Works before activation (a proposed lesson) as after.
    @Sendable func impact(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        guard var lesson = try await services.store.lesson(id: id) else { throw RasiError.notFound("lesson \(id)") }
        let query = Query(request)
        let limit = try query.limit(default: 500, max: 5000)
        let policy = services.configuration.policy(for: lesson.agent)
        let recent = try await services.store.listInteractions(InteractionFilter(agent: lesson.agent, limit: limit))
        let status = lesson.status
        lesson.status = .active
        let lessonVector = try await services.embedding(of: lesson)?.vector
        var requestVectors: [[Float]] = []
        if let embedder = services.embedder, lessonVector != nil {
            for start in stride(from: 0, to: recent.count, by: 64) {
                requestVectors += try await embedder.embed(recent[start..<min(start + 64, recent.count)].map(\.request))
            }
        }
        let situationTerms = TextTerms.terms(lesson.situation)
        var rows: [ImpactRequest] = []
        var displaced: [String: Int] = [:]
        for (index, interaction) in recent.enumerated() {
            let score = lessonVector.map { Embeddings.cosine($0, requestVectors[index]) }
                ?? TextTerms.similarity(TextTerms.terms(interaction.request), situationTerms)
            guard score >= policy.minScore else { continue }
            let others = try await services.retriever.candidates(agent: lesson.agent, query: interaction.request, limit: policy.maxLessons * 4)
                .filter { $0.lesson.id != id }
            let before = try await services.select(others, policy: policy).lessons.map(\.lesson.id)
            let withLesson = (others + [ScoredLesson(lesson: lesson, score: score)]).sorted { $0.score > $1.score }
            let after = try await services.select(withLesson, policy: policy).lessons.map(\.lesson.id)
            let pushedOut = before.filter { !after.contains($0) }
            for other in pushedOut { displaced[other, default: 0] += 1 }
            rows.append(ImpactRequest(interactionId: interaction.id, request: interaction.request, score: score,
                                      injected: after.contains(id), displaces: pushedOut))
        }
        let injected = rows.filter(\.injected).count
        return try JSONBody.response(Impact(
            lessonId: id, status: status, checked: recent.count, matched: rows.count, injected: injected,
            share: recent.isEmpty ? 0 : Double(injected) / Double(recent.count), displaces: displaced,
            requests: Array(rows.sorted { $0.score > $1.score }.prefix(50))))
    }
}

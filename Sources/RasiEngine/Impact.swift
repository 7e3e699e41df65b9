import Foundation
import RasiCore

extension RasiServices {
    public struct ImpactRequest: Encodable {
        public var interactionId: String
        public var request: String
        public var score: Double
        public var injected: Bool
        public var displaces: [String]

        enum CodingKeys: String, CodingKey {
            case request, score, injected, displaces
            case interactionId = "interaction_id"
        }
    }

    public struct Impact: Encodable {
        public var lessonId: String
        public var status: LessonStatus
        public var checked: Int
        public var matched: Int
        public var injected: Int
        public var share: Double
        public var displaces: [String: Int]
        public var requests: [ImpactRequest]

        enum CodingKeys: String, CodingKey {
            case status, checked, matched, injected, share, displaces, requests
            case lessonId = "lesson_id"
        }
    }

    /// The agent's recent requests (`limit`) replayed with this lesson active: how many would
    /// retrieve it, how many would get it injected, and which lessons it would push out. Works
    /// before activation (a proposed lesson) as after.
    public func impact(of stored: Lesson, limit: Int) async throws -> Impact {
        var lesson = stored
        let id = lesson.id
        let policy = configuration.policy(for: lesson.agent)
        let recent = try await store.listInteractions(InteractionFilter(agent: lesson.agent, limit: limit))
        lesson.status = .active
        let lessonEmbedding = try await embedding(of: lesson)
        var requestVectors: [[Float]] = []
        if let embedder, lessonEmbedding != nil {
            for start in stride(from: 0, to: recent.count, by: 64) {
                requestVectors += try await embedder.embed(recent[start..<min(start + 64, recent.count)].map(\.request))
            }
        }
        let situationTerms = TextTerms.terms(lesson.situation)
        var rows: [ImpactRequest] = []
        var displaced: [String: Int] = [:]
        for (index, interaction) in recent.enumerated() {
            // As retrieval scores it: the best of situation and examples, none if a counter-example is closer.
            let score: Double
            if let lessonEmbedding {
                let request = requestVectors[index]
                guard
                    let match = ExampleMatch.score(
                        situation: Embeddings.cosine(lessonEmbedding.vector, request),
                        examples: lessonEmbedding.examples.map { Embeddings.cosine($0, request) },
                        counterExamples: lessonEmbedding.counterExamples.map { Embeddings.cosine($0, request) })
                else { continue }
                score = match.score
            } else {
                score = TextTerms.similarity(TextTerms.terms(interaction.request), situationTerms)
            }
            guard score >= policy.minScore else { continue }
            let others = try await retriever.candidates(agent: lesson.agent, query: interaction.request, limit: policy.maxLessons * 4)
                .filter { $0.lesson.id != id }
            let before = try await select(others, policy: policy).lessons.map(\.lesson.id)
            let withLesson = (others + [ScoredLesson(lesson: lesson, score: score)]).sorted { $0.score > $1.score }
            let after = try await select(withLesson, policy: policy).lessons.map(\.lesson.id)
            let pushedOut = before.filter { !after.contains($0) }
            for other in pushedOut { displaced[other, default: 0] += 1 }
            rows.append(
                ImpactRequest(
                    interactionId: interaction.id, request: interaction.request, score: score,
                    injected: after.contains(id), displaces: pushedOut))
        }
        let injected = rows.filter(\.injected).count
        return Impact(
            lessonId: id, status: stored.status, checked: recent.count, matched: rows.count, injected: injected,
            share: recent.isEmpty ? 0 : Double(injected) / Double(recent.count), displaces: displaced,
            requests: Array(rows.sorted { $0.score > $1.score }.prefix(50)))
    }

    /// Resolves a conflict: `keep` is the lesson to keep (the other is retired, a new version)
    /// or `both`.
    public func resolveConflict(_ idText: String, keep: String, by actor: String) async throws -> LessonConflict? {
        guard let id = Int(idText), let conflict = try await store.conflict(id: id) else {
            throw RasiError.notFound("conflict \(idText)")
        }
        guard conflict.resolvedAt == nil else { throw RasiError.conflict("conflict \(id) was already resolved: \(conflict.resolution ?? "")") }
        if keep != "both" {
            guard conflict.pair.contains(keep) else {
                throw RasiError.invalidField("keep", "must be \(conflict.pair.first), \(conflict.pair.second) or both")
            }
            let other = conflict.pair.first == keep ? conflict.pair.second : conflict.pair.first
            if let lesson = try await store.lesson(id: other), lesson.status != .retired {
                _ = try await updateLesson(lesson, with: LessonFields(status: .retired), by: actor)
            }
        }
        return try await store.resolveConflict(id: id, by: actor, resolution: keep == "both" ? "kept both" : "kept \(keep)", at: Date())
    }
}

import Foundation

/// Semantic retrieval: the request is embedded and compared with the lessons' situations.
///
/// - `dense`: nearest lessons by cosine.
/// - `hybrid`: dense and lexical (BM25) candidates fused by reciprocal rank fusion, so a
///   lesson that shares rare words with the request (a product name, an error code) rises
///   even when its embedding is only close, and vice versa.
///
/// Either way each candidate's score is its cosine with the request, so the selection
/// policy's similarity floor means the same thing in both modes.
public struct HybridRetriever: LessonRetriever {
    public enum Mode: String, Sendable, CaseIterable {
        case dense
        case hybrid
    }

    let store: any LessonStore
    let embedder: any Embedder
    let mode: Mode
    /// Candidates taken from each side before fusion.
    let pool: Int
    /// The RRF constant: 60, as in Cormack et al. (2009); larger flattens the rank weights.
    let rrfConstant: Double

    public init(store: any LessonStore, embedder: any Embedder, mode: Mode = .hybrid, pool: Int = 50, rrfConstant: Double = 60) {
        self.store = store
        self.embedder = embedder
        self.mode = mode
        self.pool = pool
        self.rrfConstant = rrfConstant
    }

    public func candidates(agent: String, query: String, limit: Int) async throws -> [ScoredLesson] {
        guard !query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return [] }
        guard let vector = try await embedder.embed([query]).first else { return [] }
        return try await candidates(agent: agent, query: query, vector: vector, limit: limit)
    }

    /// The same, with the request already embedded (bulk evaluation embeds queries in batches).
    public func candidates(agent: String, query: String, vector: [Float], limit: Int) async throws -> [ScoredLesson] {
        let dense = try await store.denseCandidates(agent: agent, vector: vector, limit: max(pool, limit))
        guard mode == .hybrid else { return Array(dense.prefix(limit)) }

        let lexical = try await store.lexicalCandidates(agent: agent, terms: TextTerms.terms(query), limit: pool)
        var fused: [String: (lesson: Lesson, cosine: Double, rrf: Double)] = [:]
        for (rank, candidate) in dense.enumerated() {
            fused[candidate.lesson.id] = (candidate.lesson, candidate.score, 1 / (rrfConstant + Double(rank + 1)))
        }
        let lexicalOnly = lexical.filter { fused[$0.id] == nil }.map(\.id)
        let cosines = lexicalOnly.isEmpty ? [:] : try await store.denseScores(ids: lexicalOnly, vector: vector)
        for (rank, lesson) in lexical.enumerated() {
            let weight = 1 / (rrfConstant + Double(rank + 1))
            if let existing = fused[lesson.id] {
                fused[lesson.id]?.rrf = existing.rrf + weight
            } else if let cosine = cosines[lesson.id] {
                fused[lesson.id] = (lesson, cosine, weight)
            }
        }
        return fused.values
            .sorted { $0.rrf != $1.rrf ? $0.rrf > $1.rrf : $0.cosine > $1.cosine }
            .prefix(limit)
            .map { ScoredLesson(lesson: $0.lesson, score: $0.cosine) }
    }
}

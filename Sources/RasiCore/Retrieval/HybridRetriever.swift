import Foundation

/// Semantic retrieval: the request is embedded and compared with the lessons' situations and
/// examples (a lesson scores its best; a closer counter-example keeps it out: `ExampleMatch`).
///
/// - `dense`: nearest lessons by cosine.
/// - `hybrid`: dense and lexical candidates ranked by cosine + `lexicalWeight` × BM25, so a
///   lesson that shares rare words with the request (a product name, an error code) rises.
///   BM25 grows with the corpus's IDF, so the lexical part counts little in a small store and
///   more in a large one. On CLINC150 this linear fusion beat reciprocal rank fusion (top-1
///   0.90 vs 0.86; README, performance).
///
/// Either way each candidate's score is its cosine with the request, so the selection
/// policy's similarity floor means the same thing in both modes.
///
/// With `embedWait`, a request the embedder could not begin on within that time (it is busy
/// with a burst of others) does not wait: its lessons are chosen by words alone (`byWords`), the
/// way `LexicalRetriever` scores them, and the request's `words` phase says so.
public struct HybridRetriever: LessonRetriever {
    public enum Mode: String, Sendable, CaseIterable {
        case dense
        case hybrid
    }

    public static let defaultLexicalWeight = 0.015

    let store: any LessonStore
    let embedder: any Embedder
    let mode: Mode
    /// Candidates taken from the lexical side before fusion. The dense side gives `limit`: a
    /// lesson it ranks lower can only reach the top through its lexical part, and is then among
    /// the lexical candidates (whose cosines are looked up as needed).
    let pool: Int
    let lexicalWeight: Double
    /// Postings the lexical side may rank (`LexicalBudget`); nil ranks every word.
    let postingBudget: Int?
    /// The longest a request waits for the embedder to begin on it; nil waits as long as it takes.
    let embedWait: Duration?
    /// Called for each request whose lessons were chosen by words alone (a metric).
    let choseByWords: @Sendable () -> Void

    public init(
        store: any LessonStore, embedder: any Embedder, mode: Mode = .hybrid, pool: Int = 50,
        lexicalWeight: Double = HybridRetriever.defaultLexicalWeight, postingBudget: Int? = LexicalBudget.postings,
        embedWait: Duration? = nil, choseByWords: @escaping @Sendable () -> Void = {}
    ) {
        self.postingBudget = postingBudget
        self.embedWait = embedWait
        self.choseByWords = choseByWords
        self.store = store
        self.embedder = embedder
        self.mode = mode
        self.pool = pool
        self.lexicalWeight = lexicalWeight
    }

    public func candidates(agent: String, query: String, limit: Int) async throws -> [ScoredLesson] {
        guard !query.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { return [] }
        return try await candidates(agent: agent, query: query, limit: limit) {
            guard let embedWait else { return try await embedder.embed([query]).first }
            return try await embedder.embed([query], waitingAtMost: embedWait)?.first
        }
    }

    /// The same, with the request already embedded (bulk evaluation embeds queries in batches).
    public func candidates(agent: String, query: String, vector: [Float], limit: Int) async throws -> [ScoredLesson] {
        try await candidates(agent: agent, query: query, limit: limit) { vector }
    }

    /// The lexical side needs no vector, so it runs while the request is embedded; the dense
    /// side follows the embedding (each is a query of its own, on its own connection in PostgreSQL).
    /// Both give ids and scores; only the lessons that make the top `limit` are read (`fetch`).
    /// Without a vector (`embed` gave nil) the lexical side's candidates are ranked by words alone.
    func candidates(agent: String, query: String, limit: Int, vector embed: () async throws -> [Float]?) async throws -> [ScoredLesson] {
        let words = TextTerms.words(query).filter { !TextTerms.functionWords.contains($0) }
        guard mode == .hybrid else {
            guard let vector = try await PhaseTimings.measure("embed", embed) else {
                let hits = try await store.lexicalHits(agent: agent, words: words, limit: pool, postingBudget: postingBudget)
                return try await byWords(hits, query: query, agent: agent, limit: limit)
            }
            let dense = try await PhaseTimings.measure("dense") { try await store.denseHits(agent: agent, vector: vector, limit: limit) }
            return try await PhaseTimings.measure("fetch") { try await store.withLessons(dense, agent: agent) }
        }
        async let lexicalSide = PhaseTimings.measure("lexical") {
            try await store.lexicalHits(agent: agent, words: words, limit: pool, postingBudget: postingBudget)
        }
        guard let vector = try await PhaseTimings.measure("embed", embed) else {
            return try await byWords(try await lexicalSide, query: query, agent: agent, limit: limit)
        }
        let dense = try await PhaseTimings.measure("dense") { try await store.denseHits(agent: agent, vector: vector, limit: limit) }
        let lexical = try await lexicalSide
        typealias Entry = (cosine: Double, bm25: Double, example: Int?)
        func rank(_ entry: Entry) -> Double { entry.cosine + lexicalWeight * entry.bm25 }
        var fused: [String: Entry] = [:]
        for hit in dense { fused[hit.id] = (hit.score, 0, hit.example) }
        var lexicalOnly: [LessonHit] = []
        for hit in lexical {
            if fused[hit.id] != nil {
                fused[hit.id]?.bm25 = hit.score
            } else {
                lexicalOnly.append(hit)
            }
        }
        // A lesson the dense side left out of a full answer is no closer than the farthest it
        // returned, so its rank is at most that cosine plus its lexical part: only the lessons
        // that could still reach the top `limit` need their cosine looked up.
        var contenders = lexicalOnly
        if dense.count == limit, let farthest = dense.last?.score {
            let ranks = fused.values.map(rank).sorted(by: >)
            let bar = ranks.count >= limit ? ranks[limit - 1] : -Double.infinity
            contenders = lexicalOnly.filter { farthest + lexicalWeight * $0.score >= bar }
        }
        let cosines =
            contenders.isEmpty
            ? [:]
            : try await PhaseTimings.measure("dense") {
                try await store.denseScores(ids: contenders.map(\.id), vector: vector)
            }
        // A contender a counter-example blocks has no score, and is left out.
        for hit in contenders {
            if let dense = cosines[hit.id] { fused[hit.id] = (dense.score, hit.score, dense.example) }
        }
        // Each candidate is scored with its cosine (see above); ties by id, so the order is the same every time.
        let best = fused.sorted { rank($0.value) != rank($1.value) ? rank($0.value) > rank($1.value) : $0.key < $1.key }
            .prefix(limit)
            .map { LessonHit(id: $0.key, score: $0.value.cosine, example: $0.value.example) }
        return try await PhaseTimings.measure("fetch") { try await store.withLessons(best, agent: agent) }
    }

    /// Lessons chosen by words alone: the lexical side's candidates, each scored as
    /// `LexicalRetriever` scores them, by the cosine of its content terms with the request's (the
    /// best of its situation and examples; a counter-example closer than that keeps it out).
    /// Timed as the request's `words` phase.
    func byWords(_ hits: [LessonHit], query: String, agent: String, limit: Int) async throws -> [ScoredLesson] {
        choseByWords()
        return try await PhaseTimings.measure("words") {
            let terms = TextTerms.terms(query)
            func similarity(_ text: String) -> Double { TextTerms.similarity(terms, TextTerms.terms(text)) }
            let scored = try await store.withLessons(hits, agent: agent).compactMap { candidate -> ScoredLesson? in
                let lesson = candidate.lesson
                guard
                    let match = ExampleMatch.score(
                        situation: similarity(lesson.situation), examples: lesson.examples.map { similarity($0.text) },
                        counterExamples: lesson.counterExamples.map { similarity($0.text) })
                else { return nil }
                return ScoredLesson(lesson: lesson, score: match.score, matched: match.example.map { lesson.examples[$0] })
            }
            // Stable: ties keep BM25 order.
            return Array(
                scored.enumerated().sorted { a, b in
                    a.element.score != b.element.score ? a.element.score > b.element.score : a.offset < b.offset
                }.map(\.element).prefix(limit))
        }
    }
}

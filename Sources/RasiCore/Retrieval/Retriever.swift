/// A lesson with how well it fits a request, in 0...1.
public struct ScoredLesson: Sendable, Equatable {
    public var lesson: Lesson
    public var score: Double

    public init(lesson: Lesson, score: Double) {
        self.lesson = lesson
        self.score = score
    }
}

/// Finds the active lessons of an agent that fit a request. The gateway, the retrieve
/// endpoint and the library all go through this seam; lexical today, dense or hybrid later.
public protocol LessonRetriever: Sendable {
    /// Candidates, best first, each scored in 0...1. The selection policy decides what is injected.
    func candidates(agent: String, query: String, limit: Int) async throws -> [ScoredLesson]
}

/// Turns texts into vectors. The built-in model and OpenAI-compatible endpoints implement it.
public protocol Embedder: Sendable {
    var dimensions: Int { get }
    func embed(_ texts: [String]) async throws -> [[Float]]
}

/// Lexical retrieval: the store's full-text index (BM25) proposes candidates, and each is
/// scored by the cosine of its situation's content terms with the request's. The score does
/// not depend on corpus size, so one similarity floor works for one lesson or a million.
public struct LexicalRetriever: LessonRetriever {
    let store: any LessonStore
    /// How many BM25 candidates to rescore.
    let candidatePool: Int

    public init(store: any LessonStore, candidatePool: Int = 50) {
        self.store = store
        self.candidatePool = candidatePool
    }

    public func candidates(agent: String, query: String, limit: Int) async throws -> [ScoredLesson] {
        let queryTerms = TextTerms.terms(query)
        guard !queryTerms.isEmpty else { return [] }
        let words = TextTerms.words(query).filter { !TextTerms.stopWords.contains($0) }
        let lessons = try await store.lexicalCandidates(agent: agent, words: words, limit: max(limit, candidatePool)).map(\.lesson)
        let scored = lessons.map { lesson in
            ScoredLesson(lesson: lesson, score: TextTerms.similarity(queryTerms, TextTerms.terms(lesson.retrievalText)))
        }
        // Stable: ties keep BM25 order.
        return Array(scored.enumerated().sorted { a, b in
            a.element.score != b.element.score ? a.element.score > b.element.score : a.offset < b.offset
        }.map(\.element).prefix(limit))
    }
}

import Synchronization

/// A lesson with how well it fits a request, in 0...1.
public struct ScoredLesson: Codable, Sendable, Equatable {
    public var lesson: Lesson
    public var score: Double
    /// The example the request matched best, when that was closer than the situation.
    public var matched: LessonExample?

    public init(lesson: Lesson, score: Double, matched: LessonExample? = nil) {
        self.lesson = lesson
        self.score = score
        self.matched = matched
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
    /// The same, or nil when the embedder could not begin on the texts within `limit` (it is
    /// busy with others): the caller goes on without vectors rather than wait. An embedder
    /// that cannot tell waits as long as it takes.
    func embed(_ texts: [String], waitingAtMost limit: Duration) async throws -> [[Float]]?
}

extension Embedder {
    public func embed(_ texts: [String], waitingAtMost limit: Duration) async throws -> [[Float]]? {
        try await embed(texts)
    }
}

public enum Embeddings {
    /// The cosine of two vectors; 0 when either is zero.
    public static func cosine(_ a: [Float], _ b: [Float]) -> Double {
        let count = min(a.count, b.count)
        var dot = SIMD8<Float>()
        var na = SIMD8<Float>()
        var nb = SIMD8<Float>()
        var i = 0
        a.withUnsafeBufferPointer { a in
            b.withUnsafeBufferPointer { b in
                guard let x = a.baseAddress, let y = b.baseAddress else { return }
                while i + 8 <= count {
                    let u = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
                    let v = UnsafeRawPointer(y + i).loadUnaligned(as: SIMD8<Float>.self)
                    dot += u * v
                    na += u * u
                    nb += v * v
                    i += 8
                }
            }
        }
        var (d, n, m) = (dot.sum(), na.sum(), nb.sum())
        while i < count {
            d += a[i] * b[i]
            n += a[i] * a[i]
            m += b[i] * b[i]
            i += 1
        }
        return n > 0 && m > 0 ? Double(d / (n.squareRoot() * m.squareRoot())) : 0
    }
}

/// A lexical query costs what the postings of its words add up to: over a large store a common
/// word ("account", "card") matches tens of thousands of lessons that BM25 must score, join and
/// sort, while telling almost nothing apart (its IDF is low). Hybrid retrieval therefore ranks
/// only the rarest words of a request, as many as fit a budget of postings; the dense side
/// covers what the common words say. In a small store every word fits.
public enum LexicalBudget {
    /// Postings one lexical query may rank. On CLINC150 (15,000 lessons) hybrid top-1 is 0.886
    /// with this budget, 0.890 with 4,000 and 0.891 unbounded; 1,000 falls below dense alone.
    /// At 100,000 lessons it keeps the lexical side under 5 ms (SQLite) and 8 ms (PostgreSQL) at p99.
    public static let postings = 2_000

    /// The words to rank, given how many lessons each appears in (counted up to `budget + 1`):
    /// rarest first while their postings together fit; words in no lesson are left out.
    public static func rarest(_ counts: [(word: String, documents: Int)], budget: Int = postings) -> [String] {
        var total = 0
        var kept: [String] = []
        for (word, documents) in counts.filter({ $0.documents > 0 }).sorted(by: { ($0.documents, $0.word) < ($1.documents, $1.word) }) {
            guard total + documents <= budget else { break }
            total += documents
            kept.append(word)
        }
        return kept
    }
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
        return Array(
            scored.enumerated().sorted { a, b in
                a.element.score != b.element.score ? a.element.score > b.element.score : a.offset < b.offset
            }.map(\.element).prefix(limit))
    }
}

/// An embedder that remembers its latest vectors, so a text embedded for retrieval is not
/// embedded again moments later to detect a rephrase (the request, then the next turn's).
/// A lock, not an actor, guards them: each lookup is a few dictionary reads, and under load
/// every hop onto an actor and back waits its turn for one of Swift's few pool threads.
public final class CachingEmbedder: Embedder {
    public let dimensions: Int
    let base: any Embedder
    let capacity: Int

    private struct Memory {
        var vectors: [String: [Float]] = [:]
        /// Insertion order, for evicting the oldest.
        var order: [String] = []
    }

    private let memory = Mutex(Memory())

    public init(_ base: any Embedder, capacity: Int = 2048) {
        self.base = base
        self.dimensions = base.dimensions
        self.capacity = capacity
    }

    public func embed(_ texts: [String]) async throws -> [[Float]] {
        try await embed(texts) { try await base.embed($0) }!
    }

    public func embed(_ texts: [String], waitingAtMost limit: Duration) async throws -> [[Float]]? {
        try await embed(texts) { try await base.embed($0, waitingAtMost: limit) }
    }

    /// Hits from memory, the rest from `compute` (nil: none computed, so no vectors).
    private func embed(_ texts: [String], computing compute: ([String]) async throws -> [[Float]]?) async throws -> [[Float]]? {
        // Hits are taken before the await: another call may evict them meanwhile.
        var found = memory.withLock { memory in
            var found: [String: [Float]] = [:]
            for text in texts { found[text] = memory.vectors[text] }
            return found
        }
        let missing = Array(Set(texts.filter { found[$0] == nil }))
        if !missing.isEmpty {
            guard let computed = try await compute(missing) else { return nil }
            guard computed.count == missing.count else {
                throw RasiError.unavailable("the embedder returned \(computed.count) vectors for \(missing.count) texts")
            }
            memory.withLock { memory in
                for (text, vector) in zip(missing, computed) { remember(text, vector, in: &memory) }
            }
            for (text, vector) in zip(missing, computed) { found[text] = vector }
        }
        return texts.map { found[$0]! }
    }

    private func remember(_ text: String, _ vector: [Float], in memory: inout Memory) {
        guard memory.vectors.updateValue(vector, forKey: text) == nil else { return }
        memory.order.append(text)
        if memory.order.count > capacity + capacity / 4 {
            // Evicted in bulk, so the removal from the front of `order` is amortised.
            for old in memory.order.prefix(memory.order.count - capacity) { memory.vectors[old] = nil }
            memory.order.removeFirst(memory.order.count - capacity)
        }
    }
}

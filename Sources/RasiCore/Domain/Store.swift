import Foundation

/// Keys, stored hashed.
public protocol KeyStore: Sendable {
    func createKey(_ key: APIKey, secretHash: String) async throws
    /// The active (not revoked) key with this secret hash.
    func activeKey(secretHash: String) async throws -> APIKey?
    func listKeys() async throws -> [APIKey]
    /// Revokes a key; returns false when no such key exists.
    func revokeKey(id: String, at: Date) async throws -> Bool
    func hasActiveAdminKey() async throws -> Bool
}

/// Interactions, their steps, feedback and flags.
public protocol InteractionStore: Sendable {
    /// Writes a new interaction with its steps; durable when it returns.
    func createInteraction(_ interaction: Interaction, turnKey: String?) async throws
    /// Replaces an interaction's mutable fields and appends new steps.
    func updateInteraction(_ interaction: Interaction, appendingSteps steps: [Step]) async throws
    func interaction(id: String) async throws -> Interaction?
    /// The most recent interaction of a turn, if it was logged within `since`.
    func interaction(turnKey: String, since: Date) async throws -> Interaction?
    func listInteractions(_ filter: InteractionFilter) async throws -> [Interaction]
    func addFeedback(_ feedback: Feedback, flag: Flag?) async throws
    func recordInjections(_ injections: [Injection]) async throws
}

/// A lesson's vector, and the model that made it.
public struct LessonEmbedding: Sendable, Equatable {
    public var model: String
    public var vector: [Float]

    public init(model: String, vector: [Float]) {
        self.model = model
        self.vector = vector
    }
}

/// Lessons, their versions, their vectors, and lexical and dense search.
public protocol LessonStore: Sendable {
    /// Stores a new lesson (and its vector, when dense retrieval is on); searchable when this returns.
    func createLesson(_ lesson: Lesson, embedding: LessonEmbedding?) async throws
    func lesson(id: String) async throws -> Lesson?
    /// Saves the next version of a lesson, keeping the previous one in its history.
    func updateLesson(_ lesson: Lesson, changedBy: String, embedding: LessonEmbedding?) async throws
    /// Removes a lesson from use at once; its history is kept. Returns false when unknown.
    func deleteLesson(id: String, by: String) async throws -> Bool
    func listLessons(_ filter: LessonFilter) async throws -> [Lesson]
    func lessonHistory(id: String) async throws -> [Lesson]
    /// Active lessons of an agent whose situation shares any of these words (stemmed by the
    /// index), best BM25 first, each scored with its BM25 (positive, higher is better).
    func lexicalCandidates(agent: String, words: [String], limit: Int) async throws -> [ScoredLesson]
    /// Active lessons of an agent nearest to `vector` by cosine, best first.
    func denseCandidates(agent: String, vector: [Float], limit: Int) async throws -> [ScoredLesson]
    /// The cosine of `vector` with each given active lesson's vector.
    func denseScores(ids: [String], vector: [Float]) async throws -> [String: Double]
    /// Stores many lessons in one transaction (imports, benchmarks); searchable when this returns.
    func importLessons(_ lessons: [(Lesson, LessonEmbedding?)]) async throws
    /// Lessons with no vector from `model` yet (after a model change, or made without one).
    func lessonsWithoutEmbedding(model: String) async throws -> [Lesson]
    /// Stores vectors of existing lessons (not a new version); active ones become searchable.
    func saveEmbeddings(_ embeddings: [(Lesson, LessonEmbedding)]) async throws
}

public typealias RasiStore = KeyStore & InteractionStore & LessonStore

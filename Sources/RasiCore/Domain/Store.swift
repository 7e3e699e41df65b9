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

/// Lessons, their versions, and lexical search.
public protocol LessonStore: Sendable {
    func createLesson(_ lesson: Lesson) async throws
    func lesson(id: String) async throws -> Lesson?
    /// Saves the next version of a lesson, keeping the previous one in its history.
    func updateLesson(_ lesson: Lesson, changedBy: String) async throws
    /// Removes a lesson from use at once; its history is kept. Returns false when unknown.
    func deleteLesson(id: String, by: String) async throws -> Bool
    func listLessons(_ filter: LessonFilter) async throws -> [Lesson]
    func lessonHistory(id: String) async throws -> [Lesson]
    /// Active lessons of an agent whose situation shares words with the query, best BM25 first.
    func lexicalCandidates(agent: String, terms: [String], limit: Int) async throws -> [Lesson]
}

public typealias RasiStore = KeyStore & InteractionStore & LessonStore

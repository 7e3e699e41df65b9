import Foundation
import Logging
import RasiCore

/// The long-lived things the routes need, built once by `buildApplication`.
public struct RasiServices: Sendable {
    public var configuration: RasiConfiguration
    public var store: any RasiStore
    public var retriever: any LessonRetriever
    public var redactor: any Redactor
    public var upstream: Upstream

    public init(configuration: RasiConfiguration, store: any RasiStore, retriever: any LessonRetriever, redactor: any Redactor, upstream: Upstream) {
        self.configuration = configuration
        self.store = store
        self.retriever = retriever
        self.redactor = redactor
        self.upstream = upstream
    }

    /// Retrieves and selects the lessons for a request under the configured policy.
    func selectLessons(agent: String, query: String, k: Int? = nil) async throws -> LessonSelection {
        let policy = configuration.selection
        let candidates = try await retriever.candidates(agent: agent, query: query, limit: max(policy.maxLessons, k ?? 0) * 4)
        return policy.select(candidates, maxLessons: k)
    }

    /// Creates the bootstrap admin key when it is configured and no admin key exists yet.
    public func bootstrapAdminKey(logger: Logger) async throws {
        guard let secret = configuration.bootstrapAdminKey, try await !store.hasActiveAdminKey() else { return }
        let key = APIKey(id: Identifier.make("key"), name: "bootstrap admin", role: .admin,
                         prefix: KeySecret.displayPrefix(secret), createdAt: Date())
        try await store.createKey(key, secretHash: KeySecret.hash(secret))
        logger.notice("created the bootstrap admin key from RASI_BOOTSTRAP_ADMIN_KEY", metadata: ["key": "\(key.id)"])
    }
}

import Foundation
import Logging
import RasiCore

/// Keys, topics, evaluations, end users' data and the audit log: what admins and reviewers manage.
extension RasiServices {
    /// Makes a key and stores its hash; returns the key and its secret (shown once). Audited.
    public func createKey(role: Role, name: String, by actor: String) async throws -> (key: APIKey, secret: String) {
        guard name.count <= LessonFields.maxNameLength else {
            throw RasiError.invalidField("name", "must be at most \(LessonFields.maxNameLength) characters")
        }
        return try await KeyIssuer.create(role: role, name: name, by: actor, in: store)
    }

    /// Every key, never its secret.
    public func keys() async throws -> [APIKey] {
        try await store.listKeys()
    }

    /// Revokes a key at once (its panel sessions end with it). Audited.
    public func revokeKey(_ id: String, by actor: String) async throws {
        guard try await KeyIssuer.revoke(id: id, by: actor, in: store) else { throw RasiError.notFound("key \(id)") }
    }

    /// What a start does once the store is ready: this process's lease taken, the calls that
    /// stopped processes left open marked interrupted, the bootstrap admin key made, missing
    /// embeddings filled in.
    public func prepare(logger: Logger) async throws {
        // Taken before any call can begin, so no other replica takes this process's calls for interrupted.
        try await renewProcessLease()
        try await markInterruptedCalls(logger: logger)
        try await bootstrapAdminKey(logger: logger)
        try await backfillEmbeddings(logger: logger)
        // Lift's counts under RASI_LIFT_NEGATIVE: rebuilt once after an upgrade, an import or a change of it.
        let clock = ContinuousClock()
        let started = clock.now
        if try await store.prepareLiftCounts(rules: configuration.lift.outcomes) {
            logger.notice(
                "rebuilt the lift counts", metadata: ["negative": "\(configuration.lift.outcomes.signature)", "took": "\(clock.now - started)"])
        }
    }

    /// Creates the bootstrap admin key when it is configured and no admin key exists yet.
    public func bootstrapAdminKey(logger: Logger) async throws {
        guard let secret = configuration.bootstrapAdminKey, try await !store.hasActiveAdminKey() else { return }
        let key = APIKey(
            id: Identifier.make("key"), name: "bootstrap admin", role: .admin,
            prefix: KeySecret.displayPrefix(secret), createdAt: Date())
        try await store.createKey(key, secretHash: KeySecret.hash(secret))
        try await store.recordAudit(
            AuditEntry(
                actor: "rasi (RASI_BOOTSTRAP_ADMIN_KEY)", action: "key.create", target: key.id, detail: "admin key \"bootstrap admin\""))
        logger.notice("created the bootstrap admin key from RASI_BOOTSTRAP_ADMIN_KEY", metadata: ["key": "\(key.id)"])
    }

    /// The admin-defined topics.
    public func topicList() async throws -> [Topic] {
        try await store.listTopics()
    }

    /// Saves a topic (new or changed); interactions and lessons are filed under it from now on.
    public func saveTopic(_ topic: Topic) async throws {
        try await store.saveTopic(topic, at: Date())
        try await topics.reload()
    }

    /// Deletes a topic; what was filed under it keeps its name.
    public func deleteTopic(_ name: String) async throws {
        guard try await store.deleteTopic(name: name) else { throw RasiError.notFound("topic \(name)") }
        try await topics.reload()
    }

    /// Recent unclassified requests (`limit` of them) grouped by similarity into candidate
    /// topics, each named by its commonest words, with examples to start from. Returns how many were checked.
    public func topicSuggestions(limit: Int) async throws -> (checked: Int, suggestions: [TopicSuggestion]) {
        let requests = try await store.listInteractions(InteractionFilter(topic: Topic.unclassified, limit: limit)).map(\.request)
        var vectors: [[Float]] = []
        if let embedder {
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
            let name = counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }.prefix(3).map(\.key)
            return TopicSuggestion(name: name.joined(separator: " "), size: members.count, examples: members.prefix(5).map { requests[$0] })
        }
        return (requests.count, suggestions)
    }

    /// Keeps an evaluation's report. Audited.
    public func saveEvaluation(_ report: EvaluationReport, by actor: String) async throws {
        try await store.saveEvaluation(report)
        try await store.recordAudit(
            AuditEntry(
                actor: actor, action: "evaluation.create", target: report.id,
                detail: "\(report.suite) on \(report.model), \(report.results.count) tasks"))
    }

    /// Evaluation reports, newest first.
    public func evaluations(limit: Int) async throws -> [EvaluationReport] {
        try await store.listEvaluations(limit: limit)
    }

    public func evaluation(_ id: String) async throws -> EvaluationReport {
        guard let report = try await store.evaluation(id: id) else { throw RasiError.notFound("evaluation \(id)") }
        return report
    }

    /// Everything stored about one end user: their interactions with steps, feedback, flags,
    /// injections and judge runs, and the search index entries. Lessons hold only redacted text and stay. Audited.
    public func deleteUserData(_ userId: String, by actor: String) async throws -> PurgeCount {
        let count = try await store.purgeUser(userId)
        try await store.recordAudit(
            AuditEntry(
                actor: actor, action: "user.delete", target: userId,
                detail: "\(count.interactions) interactions, \(count.feedback) feedback, \(count.judgeRuns) judge runs"))
        return count
    }

    /// The audit log, newest first, before the entry `before` when given.
    public func auditLog(limit: Int, before: Int?) async throws -> [AuditEntry] {
        try await store.listAudit(limit: limit, before: before)
    }

    /// Keys and panel sessions, for the HTTP layer to authenticate callers with.
    public var credentials: any KeyStore & SessionStore { store }

    /// Whether retrieval is exact, and slower, until the store's vector graphs are in use.
    public var indexesBuilding: Bool { store.indexesBuilding }

    /// Why the store cannot be used right now (PostgreSQL away), or nil.
    public func storeOutage() async -> String? { await store.outage() }
}

/// A candidate topic found among unclassified requests.
public struct TopicSuggestion: Encodable, Sendable {
    public var name: String
    public var size: Int
    public var examples: [String]
}

/// Makes keys: the API and `rasi keys create` both go through here.
public enum KeyIssuer {
    /// Makes a key and stores its hash; returns the key and its secret. Audited.
    public static func create(role: Role, name: String, by actor: String, in store: any KeyStore & PrivacyStore) async throws -> (APIKey, String) {
        let secret = KeySecret.generate()
        let key = APIKey(id: Identifier.make("key"), name: name, role: role, prefix: KeySecret.displayPrefix(secret), createdAt: Date())
        try await store.createKey(key, secretHash: KeySecret.hash(secret))
        try await store.recordAudit(AuditEntry(actor: actor, action: "key.create", target: key.id, detail: "\(role.rawValue) key \"\(name)\""))
        return (key, secret)
    }

    /// Revokes a key at once (its panel sessions end with it); false when unknown. Audited.
    public static func revoke(id: String, by actor: String, in store: any KeyStore & PrivacyStore) async throws -> Bool {
        guard try await store.revokeKey(id: id, at: Date()) else { return false }
        try await store.recordAudit(AuditEntry(actor: actor, action: "key.revoke", target: id))
        return true
    }
}

import Foundation
import GRDB
import RasiCore
import Synchronization

/// The embedded default store: one SQLite file in WAL mode, opened through GRDB.
///
/// Every write is committed with `synchronous = FULL` before the caller is answered, so whatever
/// a caller acknowledges survives a crash of the process or of the machine. Interactions are
/// written in groups (`CommitGroup`): concurrent calls share a commit.
public final class SQLiteStore: Sendable {
    let database: any DatabaseWriter
    /// The gateway's writes (an interaction begun, then finished), committed in groups.
    let commits: CommitGroup
    /// Vectors of the active lessons, for the embedding model in use; nil when retrieval is lexical only.
    let index: FlatVectorIndex?
    /// BM25 over the active lessons' situations, for the lexical side of retrieval.
    let lexical = LexicalIndex()
    /// The active lessons as committed, for the reads on every model call's path.
    let cache = LessonCache()
    let conflicts = ConflictCache()
    let quickReads: QuickReads
    /// Checkpoints the write-ahead log off the commits' path.
    let checkpointer: Checkpointer
    let embeddingModel: String?

    /// Opens (creating if needed) the database at `path`, migrates it to the latest schema, and
    /// loads the active lessons' situations, and their vectors of `embeddingModel`, into the in-process indexes.
    public init(path: String, embeddingModel: String? = nil, dimensions: Int = 384) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        checkpointer = Checkpointer(path: path)
        database = try DatabasePool(path: path, configuration: Self.configuration(checkpointer))
        try Self.migrator.migrate(database)
        database.add(transactionObserver: cache, extent: .databaseLifetime)
        database.add(transactionObserver: conflicts, extent: .databaseLifetime)
        quickReads = try QuickReads(path: path, count: 2)
        commits = CommitGroup(database)
        self.embeddingModel = embeddingModel
        index = embeddingModel.map { _ in FlatVectorIndex(dimensions: dimensions) }
        try loadIndex()
    }

    /// One pass over the active lessons fills the indexes and the cache: every lesson, its
    /// situation's terms, and each vector of `embeddingModel` (none is joined when it is nil).
    private func loadIndex() throws {
        // A large partition's vector graph is built in the background once all is loaded.
        if let index { try index.holdingGraphs(loadRows) } else { try loadRows() }
    }

    private func loadRows() throws {
        let generation = cache.generation
        try database.read { db in
            let rows = try Row.fetchCursor(db, sql: """
                SELECT \(Self.lessonColumns), l.rowid, e.vector FROM lessons l
                LEFT JOIN lesson_embeddings e ON e.lesson_id = l.id AND e.model = ?
                WHERE l.status = 'active'
                """, arguments: [embeddingModel])
            while let row = try rows.next() {
                let lesson = Self.lesson(row)
                cache.insert(lesson, row: row[Self.lessonColumnCount], readAt: generation)
                lexical.upsert(id: lesson.id, agent: lesson.agent, text: lesson.situation)
                guard let index, let blob: Data = row[Self.lessonColumnCount + 1] else { continue }
                let vector = Self.floats(blob)
                if vector.count == index.dimensions { index.upsert(id: lesson.id, agent: lesson.agent, vector: vector) }
            }
        }
    }

    /// `?,?,?`: the placeholders of an `IN (...)` list of `count` values.
    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ",")
    }

    /// A JSON text column decoded; nil when it is NULL or unreadable.
    static func json<T: Decodable>(_ type: T.Type, _ row: Row, _ column: String) -> T? {
        (row[column] as String?).flatMap { try? RasiJSON.decoder().decode(T.self, from: Data($0.utf8)) }
    }

    static func floats(_ data: Data) -> [Float] {
        var vector = [Float](repeating: 0, count: data.count / 4)
        _ = vector.withUnsafeMutableBytes { data.copyBytes(to: $0) }
        return vector
    }

    static func blob(_ vector: [Float]) -> Data {
        vector.withUnsafeBytes { Data($0) }
    }

    private static func configuration(_ checkpointer: Checkpointer) -> Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            checkpointer.install(on: db)
            // Temporary data in memory: a group commit's savepoints keep their statement journals
            // there, not in files created and deleted in /var/tmp for every group.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        return configuration
    }

    /// Parses `sqlite:PATH` (also `sqlite://PATH`).
    public static func path(fromURL url: String) -> String? {
        guard url.hasPrefix("sqlite:") else { return nil }
        var path = String(url.dropFirst("sqlite:".count))
        if path.hasPrefix("//") { path.removeFirst(2) }
        return path.isEmpty ? nil : path
    }
}

/// Connections of their own for the short reads on every model call's path (its key, the
/// lessons retrieval keeps, their conflicts), run on the calling thread with statements compiled
/// once per connection. GRDB's async `read` hops to a queue that waits for a free connection,
/// then to the connection's own queue, and back: thread switches that cost more than the lookup.
///
/// A read takes a free connection or none: it never waits for one. Waiting, on one of Swift's
/// few cooperative threads, for a connection of the shared pool deadlocked the server under 32
/// concurrent clients: async reads held the pool's connections while their continuations waited
/// for those very threads. When every quick connection is busy, the read goes through the pool's
/// async `read` instead.
final class QuickReads: Sendable {
    private let connections: [DatabaseQueue]
    private let free: Mutex<[Int]>

    init(path: String, count: Int) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        connections = try (0..<count).map { _ in try DatabaseQueue(path: path, configuration: configuration) }
        free = Mutex(Array(connections.indices))
    }

    /// Runs `body` on a free connection, or returns nil at once when none is free.
    func read<T>(_ body: (Database) throws -> T) throws -> T? {
        guard let index = free.withLock({ $0.popLast() }) else { return nil }
        defer { free.withLock { $0.append(index) } }
        return try connections[index].read(body)
    }
}

extension SQLiteStore {
    /// A short read on the calling thread (`QuickReads`), or through the pool when its connections are busy.
    func readNow<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        if let value = try quickReads.read(body) { return value }
        return try await database.read(body)
    }
}

// MARK: - Keys

extension SQLiteStore: KeyStore {
    public func createKey(_ key: APIKey, secretHash: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO api_keys (id, name, role, prefix, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [key.id, key.name, key.role.rawValue, key.prefix, secretHash, key.createdAt])
        }
    }

    public func activeKey(secretHash: String) async throws -> APIKey? {
        try await readNow { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL"), arguments: [secretHash])
                .map(Self.key)
        }
    }

    public func listKeys() async throws -> [APIKey] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_keys ORDER BY created_at").map(Self.key)
        }
    }

    public func revokeKey(id: String, at date: Date) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", arguments: [date, id])
            return db.changesCount > 0
        }
    }

    public func hasActiveAdminKey() async throws -> Bool {
        try await database.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL)") ?? false
        }
    }

    static func key(_ row: Row) -> APIKey {
        APIKey(id: row["id"], name: row["name"], role: Role(rawValue: row["role"]) ?? .agent, prefix: row["prefix"],
               createdAt: row["created_at"], revokedAt: row["revoked_at"])
    }
}

// MARK: - Panel sessions

extension SQLiteStore: SessionStore {
    public func createSession(secretHash: String, keyId: String, csrfToken: String, now: Date, expiresAt: Date) async throws {
        try await database.write { db in
            // Expired sessions go as new ones come, so the table stays the size of the signed-in team.
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at < ?", arguments: [now])
            try db.execute(sql: "INSERT INTO sessions (secret_hash, key_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                           arguments: [secretHash, keyId, csrfToken, now, expiresAt])
        }
    }

    public func session(secretHash: String, now: Date) async throws -> PanelSession? {
        try await database.read { db in
            guard let row = try Row.fetchOne(db, sql: """
                SELECT k.*, s.csrf_token, s.expires_at FROM sessions s JOIN api_keys k ON k.id = s.key_id
                WHERE s.secret_hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL
                """, arguments: [secretHash, now])
            else { return nil }
            return PanelSession(key: Self.key(row), csrfToken: row["csrf_token"], expiresAt: row["expires_at"])
        }
    }

    public func deleteSession(secretHash: String) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE secret_hash = ?", arguments: [secretHash])
        }
    }
}

// MARK: - Interactions

extension SQLiteStore: InteractionStore {
    public func createInteraction(_ interaction: Interaction, turnKey: String?, injections: [Injection]) async throws {
        try await commits.write { db in
            try Self.insertInteraction(interaction, turnKey: turnKey, db: db)
            try Self.insertInjections(injections, db: db)
        }
    }

    public func importInteractions(_ interactions: [Interaction]) async throws {
        try await database.write { db in
            for interaction in interactions { try Self.insertInteraction(interaction, turnKey: nil, db: db) }
        }
    }

    static func insertInteraction(_ interaction: Interaction, turnKey: String?, db: Database) throws {
        try db.executeCached(
            sql: """
                INSERT INTO interactions (id, agent, conversation_id, user_id, turn_key, request, messages, response, model,
                    latency_ms, prompt_tokens, completion_tokens, lessons_injected, topic, error, created_at, updated_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                interaction.id, interaction.agent, interaction.conversationId, interaction.userId, turnKey,
                interaction.request, RasiJSON.string(interaction.messages), interaction.response, interaction.model,
                interaction.latencyMs, interaction.tokens.prompt, interaction.tokens.completion,
                RasiJSON.string(interaction.lessonsInjected), interaction.topic, interaction.error,
                interaction.createdAt, interaction.updatedAt,
            ])
        try Self.insertSteps(interaction.steps, of: interaction.id, db: db)
        for feedback in interaction.feedback { _ = try Self.insertFeedback(feedback, db: db) }
        for flag in interaction.flags { try Self.insertFlag(flag, of: interaction.id, db: db) }
    }

    /// Stores feedback; false when it is an implicit signal the interaction already has.
    static func insertFeedback(_ feedback: Feedback, db: Database) throws -> Bool {
        try db.executeCached(
            sql: "INSERT OR IGNORE INTO feedback (id, interaction_id, rating, comment, source, signal, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [feedback.id, feedback.interactionId, feedback.rating?.rawValue, feedback.comment, feedback.source.rawValue,
                        feedback.signal?.rawValue, feedback.createdAt])
        return db.changesCount > 0
    }

    public func updateInteraction(_ interaction: Interaction, appendingSteps steps: [Step], injections: [Injection]) async throws {
        try await commits.write { db in
            try db.executeCached(
                sql: """
                    UPDATE interactions SET messages = ?, response = ?, model = ?, latency_ms = ?, prompt_tokens = ?,
                        completion_tokens = ?, lessons_injected = ?, topic = ?, error = ?, updated_at = ?
                    WHERE id = ?
                    """,
                arguments: [
                    RasiJSON.string(interaction.messages), interaction.response, interaction.model, interaction.latencyMs,
                    interaction.tokens.prompt, interaction.tokens.completion, RasiJSON.string(interaction.lessonsInjected),
                    interaction.topic, interaction.error, interaction.updatedAt, interaction.id,
                ])
            guard db.changesCount > 0 else { throw RasiError.notFound("interaction \(interaction.id)") }
            try Self.insertSteps(steps, of: interaction.id, db: db)
            try Self.insertInjections(injections, db: db)
        }
    }

    public func interaction(id: String) async throws -> Interaction? {
        try await database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM interactions WHERE id = ?", arguments: [id]) else { return nil }
            return try Self.interaction(row, db: db, withDetail: true)
        }
    }

    public func interaction(turnKey: String, since: Date) async throws -> Interaction? {
        try await database.read { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT * FROM interactions WHERE turn_key = ? AND updated_at >= ? ORDER BY id DESC LIMIT 1",
                arguments: [turnKey, since])
            else { return nil }
            return try Self.interaction(row, db: db, withDetail: true)
        }
    }

    public func listInteractions(_ filter: InteractionFilter) async throws -> [Interaction] {
        try await database.read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if let agent = filter.agent { clauses.append("i.agent = ?"); arguments += [agent] }
            if let topic = filter.topic { clauses.append("i.topic = ?"); arguments += [topic] }
            if let since = filter.since { clauses.append("i.created_at >= ?"); arguments += [since] }
            if let before = filter.before { clauses.append(filter.oldestFirst ? "i.id > ?" : "i.id < ?"); arguments += [before] }
            if let flagged = filter.flagged {
                clauses.append((flagged ? "" : "NOT ") + "EXISTS (SELECT 1 FROM flags f WHERE f.interaction_id = i.id AND f.resolved_at IS NULL)")
            }
            if let feedback = filter.feedback {
                switch feedback {
                case .up, .down:
                    clauses.append("EXISTS (SELECT 1 FROM feedback b WHERE b.interaction_id = i.id AND b.rating = ?)")
                    arguments += [feedback.rawValue]
                case .any: clauses.append("EXISTS (SELECT 1 FROM feedback b WHERE b.interaction_id = i.id)")
                case .none: clauses.append("NOT EXISTS (SELECT 1 FROM feedback b WHERE b.interaction_id = i.id)")
                }
            }
            if let text = filter.text, let pattern = Self.matchAll(TextTerms.words(text)) {
                clauses.append("i.rowid IN (SELECT rowid FROM interactions_fts WHERE interactions_fts MATCH ?)")
                arguments += [pattern]
            }
            let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            let rows = try Row.fetchAll(
                db, sql: "SELECT i.* FROM interactions i \(whereSQL) ORDER BY i.id \(filter.oldestFirst ? "ASC" : "DESC") LIMIT ?",
                arguments: arguments + [filter.limit])
            return try rows.map { try Self.interaction($0, db: db, withDetail: false) }
        }
    }

    static func insertInjections(_ injections: [Injection], db: Database) throws {
        let now = Date()
        for injection in injections {
            try db.executeCached(
                sql: "INSERT INTO injections (interaction_id, lesson_id, version, rank, score, at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [injection.interactionId, injection.lessonId, injection.version, injection.rank, injection.score, now])
        }
    }

    public func injections(lessonId: String, limit: Int) async throws -> [Injection] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM injections WHERE lesson_id = ? ORDER BY at DESC, rowid DESC LIMIT ?", arguments: [lessonId, limit]).map {
                Injection(interactionId: $0["interaction_id"], lessonId: lessonId, version: $0["version"], rank: $0["rank"], score: $0["score"], at: $0["at"])
            }
        }
    }

    public func toolNames(interactionIds: [String]) async throws -> [String: [String]] {
        guard !interactionIds.isEmpty else { return [:] }
        return try await database.read { db in
            let placeholders = Self.placeholders(interactionIds.count)
            var names: [String: [String]] = [:]
            for row in try Row.fetchAll(db, sql: """
                SELECT interaction_id, name FROM steps WHERE kind = 'tool_call' AND interaction_id IN (\(placeholders)) ORDER BY interaction_id, seq
                """, arguments: StatementArguments(interactionIds)) {
                names[row["interaction_id"], default: []].append(row["name"] ?? "?")
            }
            return names
        }
    }

    static func insertSteps(_ steps: [Step], of interactionId: String, db: Database) throws {
        guard !steps.isEmpty else { return }
        var seq = try Int.fetchOne(db.cachedStatement(sql: "SELECT coalesce(max(seq), 0) FROM steps WHERE interaction_id = ?"), arguments: [interactionId]) ?? 0
        for step in steps {
            seq += 1
            try db.executeCached(
                sql: "INSERT INTO steps (interaction_id, seq, kind, name, arguments, content, call_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [interactionId, seq, step.kind.rawValue, step.name, step.arguments, step.content, step.callId, step.at])
        }
    }

    static func insertFlag(_ flag: Flag, of interactionId: String, db: Database) throws {
        try db.executeCached(sql: "INSERT OR IGNORE INTO flags (interaction_id, rule, reason, created_at) VALUES (?, ?, ?, ?)",
                       arguments: [interactionId, flag.rule?.rawValue, flag.reason, flag.createdAt])
    }

    /// Builds an interaction from its row; `withDetail` adds messages and steps, which lists leave out.
    static func interaction(_ row: Row, db: Database, withDetail: Bool) throws -> Interaction {
        let id: String = row["id"]
        var interaction = Interaction(
            id: id, agent: row["agent"], conversationId: row["conversation_id"], userId: row["user_id"],
            request: row["request"], messages: .null, response: row["response"], model: row["model"],
            latencyMs: row["latency_ms"], tokens: TokenUsage(prompt: row["prompt_tokens"] ?? 0, completion: row["completion_tokens"] ?? 0),
            lessonsInjected: json([String].self, row, "lessons_injected") ?? [],
            topic: row["topic"], error: row["error"], createdAt: row["created_at"], updatedAt: row["updated_at"])
        interaction.flags = try Row.fetchAll(
            db, sql: "SELECT rule, reason, created_at FROM flags WHERE interaction_id = ? AND resolved_at IS NULL ORDER BY id", arguments: [id]
        ).map { Flag(rule: ($0["rule"] as String?).flatMap(FlagRule.init), reason: $0["reason"], createdAt: $0["created_at"]) }
        interaction.feedback = try Row.fetchAll(db, sql: "SELECT * FROM feedback WHERE interaction_id = ? ORDER BY id", arguments: [id]).map {
            Feedback(id: $0["id"], interactionId: id, rating: ($0["rating"] as String?).flatMap(Rating.init), comment: $0["comment"],
                     source: FeedbackSource(rawValue: $0["source"]) ?? .user, signal: ($0["signal"] as String?).flatMap(Signal.init),
                     createdAt: $0["created_at"])
        }
        if withDetail {
            interaction.messages = json(JSONValue.self, row, "messages") ?? .null
            interaction.steps = try Row.fetchAll(db, sql: "SELECT * FROM steps WHERE interaction_id = ? ORDER BY seq", arguments: [id]).map {
                Step(kind: Step.Kind(rawValue: $0["kind"]) ?? .message, name: $0["name"], arguments: $0["arguments"],
                     content: $0["content"], callId: $0["call_id"], at: $0["at"])
            }
        }
        return interaction
    }

    /// An FTS5 query matching every word (quoted, so user text cannot inject FTS syntax).
    static func matchAll(_ words: [String]) -> String? {
        words.isEmpty ? nil : words.map { "\"\($0)\"" }.joined(separator: " AND ")
    }
}

// MARK: - Lessons

extension SQLiteStore: LessonStore {
    public func createLesson(_ lesson: Lesson, embedding: LessonEmbedding?) async throws {
        try await importLessons([(lesson, embedding)])
    }

    public func importLessons(_ lessons: [(Lesson, LessonEmbedding?)]) async throws {
        try await database.write { db in
            for lesson in lessons { try Self.insertLesson(lesson, db: db) }
        }
        for (lesson, embedding) in lessons { updateIndex(lesson, embedding: embedding) }
    }

    public func lesson(id: String) async throws -> Lesson? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT \(Self.lessonColumns) FROM lessons l WHERE l.id = ?", arguments: [id]).map(Self.lesson)
        }
    }

    public func updateLesson(_ lesson: Lesson, changedBy: String, embedding: LessonEmbedding?) async throws {
        try await database.write { db in
            try Self.upsertLesson(lesson, insert: false, db: db)
            guard db.changesCount > 0 else { throw RasiError.notFound("lesson \(lesson.id)") }
            try Self.insertVersion(lesson, changedBy: changedBy, db: db)
            try Self.saveEmbedding(embedding, of: lesson.id, db: db)
        }
        updateIndex(lesson, embedding: embedding)
    }

    /// Keeps the indexes equal to the committed state: only active lessons, with their latest
    /// situation and vector.
    func updateIndex(_ lesson: Lesson, embedding: LessonEmbedding?) {
        if lesson.status == .active {
            lexical.upsert(id: lesson.id, agent: lesson.agent, text: lesson.situation)
        } else {
            lexical.remove(id: lesson.id)
        }
        guard let index else { return }
        if lesson.status == .active, let embedding, embedding.model == embeddingModel, embedding.vector.count == index.dimensions {
            index.upsert(id: lesson.id, agent: lesson.agent, vector: embedding.vector)
        } else if lesson.status != .active || embedding != nil {
            index.remove(id: lesson.id)
        }
    }

    func removeFromIndexes(_ id: String) {
        index?.remove(id: id)
        lexical.remove(id: id)
    }

    static func saveEmbedding(_ embedding: LessonEmbedding?, of id: String, db: Database) throws {
        guard let embedding else { return }
        try db.execute(
            sql: "INSERT OR REPLACE INTO lesson_embeddings (lesson_id, model, dimensions, vector) VALUES (?, ?, ?, ?)",
            arguments: [id, embedding.model, embedding.vector.count, blob(embedding.vector)])
    }

    public func denseHits(agent: String, vector: [Float], limit: Int) async throws -> [LessonHit] {
        index?.search(agent: agent, query: vector, k: limit).map { LessonHit(id: $0.id, score: Double($0.score)) } ?? []
    }

    public func denseScores(ids: [String], vector: [Float]) async throws -> [String: Double] {
        guard let index else { return [:] }
        return index.scores(ids: ids, query: vector).mapValues(Double.init)
    }

    public func lessonsWithoutEmbedding(model: String) async throws -> [Lesson] {
        try await database.read { db in
            try Row.fetchAll(db, sql: """
                SELECT \(Self.lessonColumns) FROM lessons l LEFT JOIN lesson_embeddings e ON e.lesson_id = l.id AND e.model = ?
                WHERE e.lesson_id IS NULL
                """, arguments: [model]).map(Self.lesson)
        }
    }

    public func saveEmbeddings(_ embeddings: [(Lesson, LessonEmbedding)]) async throws {
        try await database.write { db in
            for (lesson, embedding) in embeddings { try Self.saveEmbedding(embedding, of: lesson.id, db: db) }
        }
        for (lesson, embedding) in embeddings { updateIndex(lesson, embedding: embedding) }
    }

    /// Answered by the lexical index, which holds every active lesson once its write has committed.
    public func hasActiveLessons(agent: String) async throws -> Bool {
        lexical.hasLessons(agent: agent)
    }

    public func lessonVectors(ids: [String]) async throws -> [String: [Float]] {
        index?.vectors(ids: ids) ?? [:]
    }

    public var indexesBuilding: Bool { index?.isBuilding ?? false }

    /// From the cache (`LessonCache`); what it lacks is read from the file and cached.
    public func activeLessons(ids: [String], agent: String) async throws -> [String: Lesson] {
        guard !ids.isEmpty else { return [:] }
        let cached = cache.lookup(ids)
        var lessons = cached.found
        let missing = cached.missing
        if !missing.isEmpty {
            // By id alone, then filtered: with the agent and status in the query, SQLite's planner
            // chose the (agent, status) index and read every lesson of the agent (30 ms at 100k).
            let read = try await readNow { db in
                try Row.fetchAll(
                    db.cachedStatement(sql: "SELECT \(Self.lessonColumns), l.rowid FROM lessons l WHERE l.id IN (\(Self.placeholders(missing.count)))"),
                    arguments: StatementArguments(missing)
                ).map { (Self.lesson($0), $0[Self.lessonColumnCount] as Int64) }
            }
            for (lesson, row) in read where lesson.status == .active {
                cache.insert(lesson, row: row, readAt: cached.generation)
                lessons.append(lesson)
            }
        }
        return Dictionary(lessons.filter { $0.agent == agent && $0.status == .active }.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
    }

    public func deleteLesson(id: String, by: String) async throws -> Bool {
        let deleted = try await database.write { db in
            try db.execute(sql: "DELETE FROM lessons WHERE id = ?", arguments: [id])
            guard db.changesCount > 0 else { return false }
            try db.execute(sql: "UPDATE lesson_versions SET deleted_at = ?, deleted_by = ? WHERE lesson_id = ? AND deleted_at IS NULL",
                           arguments: [Date(), by, id])
            return true
        }
        if deleted { removeFromIndexes(id) }
        return deleted
    }

    public func listLessons(_ filter: LessonFilter) async throws -> [Lesson] {
        try await database.read { db in
            var clauses: [String] = []
            var arguments: StatementArguments = []
            if let agent = filter.agent { clauses.append("l.agent = ?"); arguments += [agent] }
            if let status = filter.status { clauses.append("l.status = ?"); arguments += [status.rawValue] }
            if let topic = filter.topic { clauses.append("l.topic = ?"); arguments += [topic] }
            if let before = filter.before { clauses.append("l.id < ?"); arguments += [before] }
            if let text = filter.text, let pattern = Self.matchAll(TextTerms.words(text)) {
                clauses.append("l.rowid IN (SELECT rowid FROM lessons_fts WHERE lessons_fts MATCH ?)")
                arguments += [pattern]
            }
            let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            return try Row.fetchAll(db, sql: "SELECT \(Self.lessonColumns) FROM lessons l \(whereSQL) ORDER BY l.id DESC LIMIT ?",
                                    arguments: arguments + [filter.limit]).map(Self.lesson)
        }
    }

    public func lessonHistory(id: String) async throws -> [LessonVersion] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT snapshot, changed_by, changed_at FROM lesson_versions WHERE lesson_id = ? ORDER BY version", arguments: [id])
                .compactMap(Self.lessonVersion)
        }
    }

    static func lessonVersion(_ row: Row) -> LessonVersion? {
        Self.json(Lesson.self, row, "snapshot")
            .map { LessonVersion(lesson: $0, changedBy: row["changed_by"], changedAt: row["changed_at"]) }
    }

    /// Ranked in process (`LexicalIndex`), without reading the table.
    public func lexicalHits(agent: String, words: [String], limit: Int, postingBudget: Int?) async throws -> [LessonHit] {
        lexical.search(agent: agent, words: words, limit: limit, postingBudget: postingBudget)
    }

    static func upsertLesson(_ l: Lesson, insert: Bool, db: Database) throws {
        let values: StatementArguments = [
            l.agent, l.topic, l.situation, l.did, l.shouldHaveDone, l.why, l.correctBehavior, l.polarity.rawValue,
            l.status.rawValue, l.confidence, l.sourceInteractionId, l.author, l.createdAt, l.updatedAt, l.version,
            l.helpful, l.harmful, l.reviewReason,
        ]
        if insert {
            try db.execute(
                sql: """
                    INSERT INTO lessons (agent, topic, situation, did, should_have_done, why, correct_behavior, polarity, status,
                        confidence, source_interaction_id, author, created_at, updated_at, version, helpful, harmful, review_reason, id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: values + [l.id])
        } else {
            try db.execute(
                sql: """
                    UPDATE lessons SET agent = ?, topic = ?, situation = ?, did = ?, should_have_done = ?, why = ?,
                        correct_behavior = ?, polarity = ?, status = ?, confidence = ?, source_interaction_id = ?, author = ?,
                        created_at = ?, updated_at = ?, version = ?, helpful = ?, harmful = ?, review_reason = ?
                    WHERE id = ?
                    """, arguments: values + [l.id])
        }
    }

    static func insertVersion(_ lesson: Lesson, changedBy: String, db: Database) throws {
        try db.execute(
            sql: "INSERT INTO lesson_versions (lesson_id, version, snapshot, changed_by, changed_at) VALUES (?, ?, ?, ?, ?)",
            arguments: [lesson.id, lesson.version, RasiJSON.string(lesson), changedBy, lesson.updatedAt])
    }

    /// The columns `lesson(_:)` reads, in its order; `l` is the lessons table's alias.
    /// Columns in `lessonColumns`: what a query selects after them starts at this index.
    static let lessonColumnCount = 19

    static let lessonColumns = """
        l.id, l.agent, l.topic, l.situation, l.did, l.should_have_done, l.why, l.correct_behavior, l.polarity, l.status, \
        l.confidence, l.source_interaction_id, l.author, l.created_at, l.updated_at, l.version, l.helpful, l.harmful, l.review_reason
        """

    /// A lesson from a row that starts with `lessonColumns`. Read by position: looking each
    /// column up by name was a third of reading the candidates of a retrieval.
    static func lesson(_ row: Row) -> Lesson {
        Lesson(
            id: row[0], agent: row[1], topic: row[2], situation: row[3], did: row[4], shouldHaveDone: row[5], why: row[6],
            correctBehavior: row[7], polarity: Polarity(rawValue: row[8]) ?? .negative, status: LessonStatus(rawValue: row[9]) ?? .proposed,
            confidence: row[10], sourceInteractionId: row[11], author: row[12], createdAt: row[13], updatedAt: row[14], version: row[15],
            helpful: row[16], harmful: row[17], reviewReason: row[18])
    }
}

extension Database {
    /// Runs a statement compiled once per connection. The write path of every gateway call (an
    /// interaction's row, its steps, injections, feedback) runs the same few statements, and
    /// compiling one, with the triggers that keep the text index, cost as much as running it.
    func executeCached(sql: String, arguments: StatementArguments) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

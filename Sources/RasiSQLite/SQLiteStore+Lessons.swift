import Foundation
import GRDB
import RasiCore

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
            let fits = { (vectors: [[Float]]) in vectors.filter { $0.count == index.dimensions } }
            examples.set(
                lesson.id, agent: lesson.agent, examples: fits(embedding.examples), counterExamples: fits(embedding.counterExamples), in: index)
        } else if lesson.status != .active || embedding != nil {
            index.remove(id: lesson.id)
            examples.remove(lesson.id, from: index)
        }
    }

    func removeFromIndexes(_ id: String) {
        if let index {
            index.remove(id: id)
            examples.remove(id, from: index)
        }
        lexical.remove(id: id)
    }

    static func saveEmbedding(_ embedding: LessonEmbedding?, of id: String, db: Database) throws {
        guard let embedding else { return }
        try db.execute(
            sql: "INSERT OR REPLACE INTO lesson_embeddings (lesson_id, model, dimensions, vector) VALUES (?, ?, ?, ?)",
            arguments: [id, embedding.model, embedding.vector.count, blob(embedding.vector)])
        try db.execute(sql: "DELETE FROM lesson_example_embeddings WHERE lesson_id = ?", arguments: [id])
        for (kind, vectors) in [("example", embedding.examples), ("counter", embedding.counterExamples)] {
            for (position, vector) in vectors.enumerated() {
                try db.execute(
                    sql: "INSERT INTO lesson_example_embeddings (lesson_id, kind, position, model, vector) VALUES (?, ?, ?, ?, ?)",
                    arguments: [id, kind, position, embedding.model, blob(vector)])
            }
        }
    }

    /// Nearest lessons by their situations and examples (`ExampleVectors`): with examples in the
    /// store, three points a lesson are searched for, more while the points found belong to fewer
    /// than `limit` lessons that counter-examples leave in (one lesson's many close examples must
    /// not crowd the next lesson out), and each lesson found is scored over all of its own.
    public func denseHits(agent: String, vector: [Float], limit: Int) async throws -> [LessonHit] {
        guard let index else { return [] }
        guard !examples.isEmpty else {
            return index.search(agent: agent, query: vector, k: limit).map { LessonHit(id: $0.id, score: Double($0.score)) }
        }
        var k = limit * 3
        while true {
            let points = index.search(agent: agent, query: vector, k: k)
            var ids: [String] = []
            var seen: Set<String> = []
            for point in points {
                let lesson = ExampleVectors.owner(of: point.id).lesson
                if seen.insert(lesson).inserted { ids.append(lesson) }
            }
            let hits = examples.matches(ids, query: vector, in: index)
            if hits.count >= limit || points.count < k {
                return Array(ids.compactMap { hits[$0] }.sorted { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }.prefix(limit))
            }
            k *= 4
        }
    }

    public func denseScores(ids: [String], vector: [Float]) async throws -> [String: LessonHit] {
        guard let index else { return [:] }
        return examples.matches(ids, query: vector, in: index)
    }

    public func lessonsWithoutEmbedding(model: String) async throws -> [Lesson] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT \(Self.lessonColumns) FROM lessons l LEFT JOIN lesson_embeddings e ON e.lesson_id = l.id AND e.model = ?
                    WHERE e.lesson_id IS NULL
                    """, arguments: [model]
            ).map(Self.lesson)
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
                    db.cachedStatement(
                        sql: "SELECT \(Self.lessonColumns), l.rowid FROM lessons l WHERE l.id IN (\(Self.placeholders(missing.count)))"),
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
            try db.execute(
                sql: "UPDATE lesson_versions SET deleted_at = ?, deleted_by = ? WHERE lesson_id = ? AND deleted_at IS NULL",
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
            if let agent = filter.agent {
                clauses.append("l.agent = ?")
                arguments += [agent]
            }
            if let status = filter.status {
                clauses.append("l.status = ?")
                arguments += [status.rawValue]
            }
            if let topic = filter.topic {
                clauses.append("l.topic = ?")
                arguments += [topic]
            }
            if let before = filter.before {
                clauses.append("l.id < ?")
                arguments += [before]
            }
            if let text = filter.text, let pattern = Self.matchAll(TextTerms.words(text)) {
                clauses.append("l.rowid IN (SELECT rowid FROM lessons_fts WHERE lessons_fts MATCH ?)")
                arguments += [pattern]
            }
            let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
            return try Row.fetchAll(
                db, sql: "SELECT \(Self.lessonColumns) FROM lessons l \(whereSQL) ORDER BY l.id DESC LIMIT ?",
                arguments: arguments + [filter.limit]
            ).map(Self.lesson)
        }
    }

    public func lessonHistory(id: String) async throws -> [LessonVersion] {
        try await database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT snapshot, changed_by, changed_at FROM lesson_versions WHERE lesson_id = ? ORDER BY version",
                arguments: [id]
            )
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
            l.helpful, l.harmful, l.reviewReason, RasiJSON.string(l.examples), RasiJSON.string(l.counterExamples)
        ]
        if insert {
            try db.execute(
                sql: """
                    INSERT INTO lessons (agent, topic, situation, did, should_have_done, why, correct_behavior, polarity, status,
                        confidence, source_interaction_id, author, created_at, updated_at, version, helpful, harmful, review_reason,
                        examples, counter_examples, id)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: values + [l.id])
        } else {
            try db.execute(
                sql: """
                    UPDATE lessons SET agent = ?, topic = ?, situation = ?, did = ?, should_have_done = ?, why = ?,
                        correct_behavior = ?, polarity = ?, status = ?, confidence = ?, source_interaction_id = ?, author = ?,
                        created_at = ?, updated_at = ?, version = ?, helpful = ?, harmful = ?, review_reason = ?,
                        examples = ?, counter_examples = ?
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
    static let lessonColumnCount = 21

    static let lessonColumns = """
        l.id, l.agent, l.topic, l.situation, l.did, l.should_have_done, l.why, l.correct_behavior, l.polarity, l.status, \
        l.confidence, l.source_interaction_id, l.author, l.created_at, l.updated_at, l.version, l.helpful, l.harmful, l.review_reason, \
        l.examples, l.counter_examples
        """

    /// A lesson from a row that starts with `lessonColumns`. Read by position: looking each
    /// column up by name was a third of reading the candidates of a retrieval.
    static func lesson(_ row: Row) -> Lesson {
        Lesson(
            id: row[0], agent: row[1], topic: row[2], situation: row[3], did: row[4], shouldHaveDone: row[5], why: row[6],
            correctBehavior: row[7], polarity: Polarity(rawValue: row[8]) ?? .negative, status: LessonStatus(rawValue: row[9]) ?? .proposed,
            confidence: row[10], sourceInteractionId: row[11], author: row[12], createdAt: row[13], updatedAt: row[14], version: row[15],
            helpful: row[16], harmful: row[17], reviewReason: row[18], examples: examples(row[19]), counterExamples: examples(row[20]))
    }

    /// A JSON array of examples; none when empty or unreadable.
    static func examples(_ text: String?) -> [LessonExample] {
        guard let text, text != "[]" else { return [] }
        return (try? RasiJSON.decoder().decode([LessonExample].self, from: Data(text.utf8))) ?? []
    }
}

// MARK: - Conflicts between lessons

extension SQLiteStore {
    public func recordConflict(_ conflict: LessonConflict) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO lesson_conflicts (lesson_a, lesson_b, agent, similarity, reason, detected_at)
                    VALUES (?, ?, ?, ?, ?, ?)
                    """,
                arguments: [conflict.pair.first, conflict.pair.second, conflict.agent, conflict.similarity, conflict.reason, conflict.detectedAt])
        }
    }

    public func listConflicts(open: Bool?, limit: Int) async throws -> [LessonConflict] {
        try await database.read { db in
            let filter = open.map { $0 ? "WHERE resolved_at IS NULL" : "WHERE resolved_at IS NOT NULL" } ?? ""
            return try Row.fetchAll(db, sql: "SELECT * FROM lesson_conflicts \(filter) ORDER BY id LIMIT ?", arguments: [limit]).map(Self.conflict)
        }
    }

    public func conflict(id: Int) async throws -> LessonConflict? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM lesson_conflicts WHERE id = ?", arguments: [id]).map(Self.conflict)
        }
    }

    public func conflictingPairs(among ids: [String]) async throws -> Set<LessonPair> {
        guard ids.count > 1 else { return [] }
        // From memory (`ConflictCache`); the open pairs are read again after a commit changes them.
        return try await conflicts.pairs(among: ids) {
            try await readNow { db in
                try Row.fetchAll(db.cachedStatement(sql: "SELECT lesson_a, lesson_b FROM lesson_conflicts WHERE resolved_at IS NULL"))
                    .map { LessonPair($0["lesson_a"], $0["lesson_b"]) }
            }
        }
    }

    public func resolveConflict(id: Int, by actor: String, resolution: String, at date: Date) async throws -> LessonConflict? {
        try await database.write { db in
            try db.execute(
                sql: "UPDATE lesson_conflicts SET resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ? AND resolved_at IS NULL",
                arguments: [date, actor, resolution, id])
            return try Row.fetchOne(db, sql: "SELECT * FROM lesson_conflicts WHERE id = ?", arguments: [id]).map(Self.conflict)
        }
    }

    static func conflict(_ row: Row) -> LessonConflict {
        LessonConflict(
            id: row["id"], pair: LessonPair(row["lesson_a"], row["lesson_b"]), agent: row["agent"], similarity: row["similarity"],
            reason: row["reason"], detectedAt: row["detected_at"], resolvedAt: row["resolved_at"], resolvedBy: row["resolved_by"],
            resolution: row["resolution"])
    }
}

// MARK: - Export and import

extension SQLiteStore {
    public func exportLessonVersions() async throws -> [LessonVersion] {
        try await database.read { db in
            try Row.fetchAll(
                db,
                sql: """
                    SELECT v.snapshot, v.changed_by, v.changed_at FROM lesson_versions v JOIN lessons l ON l.id = v.lesson_id
                    ORDER BY v.lesson_id, v.version
                    """
            ).compactMap(Self.lessonVersion)
        }
    }

    public func importLessonVersions(_ versions: [LessonVersion]) async throws -> LessonImport {
        let (result, updated) = try await database.write { db in
            var result = LessonImport()
            var updated: [Lesson] = []
            var newest: [String: Lesson] = [:]
            for version in versions {
                let lesson = version.lesson
                let known =
                    try Bool.fetchOne(
                        db, sql: "SELECT EXISTS (SELECT 1 FROM lesson_versions WHERE lesson_id = ? AND version = ?)",
                        arguments: [lesson.id, lesson.version]) ?? false
                if known {
                    result.skipped += 1
                    continue
                }
                try db.execute(
                    sql: "INSERT INTO lesson_versions (lesson_id, version, snapshot, changed_by, changed_at) VALUES (?, ?, ?, ?, ?)",
                    arguments: [
                        lesson.id, lesson.version, RasiJSON.string(lesson), version.changedBy,
                        Timestamp.wholeMillisecond(version.changedAt)
                    ])
                result.added += 1
                if (newest[lesson.id]?.version ?? 0) < lesson.version { newest[lesson.id] = lesson }
            }
            for (id, lesson) in newest.sorted(by: { $0.key < $1.key }) {
                let current = try Int.fetchOne(db, sql: "SELECT version FROM lessons WHERE id = ?", arguments: [id])
                guard (current ?? 0) < lesson.version else { continue }
                try Self.upsertLesson(lesson, insert: current == nil, db: db)
                try db.execute(sql: "DELETE FROM lesson_embeddings WHERE lesson_id = ?", arguments: [id])
                try db.execute(sql: "DELETE FROM lesson_example_embeddings WHERE lesson_id = ?", arguments: [id])
                result.updated.append(id)
                updated.append(lesson)
            }
            return (result, updated)
        }
        // Their vectors were dropped with the old text: searchable by their words at once, by
        // meaning once they are embedded again.
        for lesson in updated {
            removeFromIndexes(lesson.id)
            updateIndex(lesson, embedding: nil)
        }
        return result
    }
}

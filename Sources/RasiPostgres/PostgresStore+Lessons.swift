import Foundation
import PostgresNIO
import RasiCore

// MARK: - Lessons

extension PostgresStore: LessonStore {
    public func createLesson(_ lesson: Lesson, embedding: LessonEmbedding?) async throws {
        try await importLessons([(lesson, embedding)])
    }

    public func importLessons(_ lessons: [(Lesson, LessonEmbedding?)]) async throws {
        try await write { db in
            for lesson in lessons { try await Self.insertLesson(lesson, db: db) }
        }
        // After a bulk import, fresh statistics keep the planner on the HNSW and postings indexes
        // (with stale ones it may think an agent has one lesson and scan them all).
        if lessons.count >= Self.bulk {
            try await read { db in try await db.run("ANALYZE lessons, lesson_embeddings, lesson_postings, lexical_totals") }
            lexemeStatistics.refresh()
        }
    }

    /// Rows from which an import refreshes the planner's statistics at once, not waiting for autovacuum.
    static let bulk = 1000

    public func lesson(id: String) async throws -> Lesson? {
        try await read { db in try await db.one("SELECT * FROM lessons WHERE id = \(id)").map(Self.lesson) }
    }

    public func updateLesson(_ lesson: Lesson, changedBy: String, embedding: LessonEmbedding?) async throws {
        try await write { db in
            guard try await Self.updateRow(lesson, db: db) else { throw RasiError.notFound("lesson \(lesson.id)") }
            try await Self.insertVersion(lesson, changedBy: changedBy, db: db)
            try await Self.saveEmbedding(embedding, of: lesson.id, db: db)
        }
    }

    static func saveEmbedding(_ embedding: LessonEmbedding?, of id: String, db: PostgresConnection) async throws {
        guard let embedding else { return }
        try await db.run(
            """
            INSERT INTO lesson_embeddings (lesson_id, model, dimensions, vector)
            VALUES (\(id), \(embedding.model), \(embedding.vector.count), \(PGVector.text(embedding.vector))::vector)
            ON CONFLICT (lesson_id) DO UPDATE SET model = excluded.model, dimensions = excluded.dimensions, vector = excluded.vector
            """)
        try await db.run("DELETE FROM lesson_example_embeddings WHERE lesson_id = \(id)")
        for (kind, vectors) in [("example", embedding.examples), ("counter", embedding.counterExamples)] {
            for (position, vector) in vectors.enumerated() {
                try await db.run(
                    """
                    INSERT INTO lesson_example_embeddings (lesson_id, kind, position, model, vector)
                    VALUES (\(id), \(kind), \(position), \(embedding.model), \(PGVector.text(vector))::vector)
                    """)
            }
        }
    }

    /// Nearest lessons by their situations and examples: the nearest situations and the nearest
    /// examples through their HNSW indexes (iterative scans keep going past other agents' and
    /// inactive lessons), then each lesson found scored over all of its own vectors, counter-
    /// examples included (`ExampleMatch`). One round trip. Ten example points per lesson asked
    /// for leave room for lessons whose many close examples take several points each; a lesson
    /// reachable only through its eleventh-nearest example can still be missed.
    public func denseHits(agent: String, vector: [Float], limit: Int) async throws -> [LessonHit] {
        guard let embeddingModel, vector.count == dimensions else { return [] }
        let model = Self.literal(embeddingModel)
        let near = """
            (SELECT l.id FROM lesson_embeddings e JOIN lessons l ON l.id = e.lesson_id
             WHERE e.model = \(model) AND l.agent = $2 AND l.status = 'active'
             ORDER BY \(indexedVector("e")) <=> $1::vector(\(dimensions)) LIMIT $3)
            UNION
            (SELECT l.id FROM lesson_example_embeddings x JOIN lessons l ON l.id = x.lesson_id
             WHERE x.model = \(model) AND x.kind = 'example' AND l.agent = $2 AND l.status = 'active'
             ORDER BY \(indexedVector("x")) <=> $1::vector(\(dimensions)) LIMIT $3 * 10)
            """
        let hits = try await read { db in
            // Both settings in one round trip, for this connection: every HNSW scan (this query
            // is the only one) sets them first, so no transaction is needed to scope them.
            try await db.run(
                "SELECT set_config('hnsw.iterative_scan', 'strict_order', false), set_config('hnsw.ef_search', \(String(max(64, limit * 2))), false)")
            return try await matches(near: near, binds: Self.binds(PGVector.text(vector), agent, limit), db: db)
        }
        return Array(hits.values.sorted { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }.prefix(limit))
    }

    /// The indexed expression: this model's vectors at its dimension, as the HNSW indexes hold them.
    private func indexedVector(_ table: String) -> String { "(\(table).vector::vector(\(dimensions)))" }

    /// The lessons `near` selects (a query of ids, `$1` the request's vector), each scored over its
    /// situation and examples, those a closer counter-example blocks left out.
    private func matches(near: String, binds: PostgresBindings, db: PostgresConnection) async throws -> [String: LessonHit] {
        guard let embeddingModel else { return [:] }
        let model = Self.literal(embeddingModel)
        let query = PostgresQuery(
            unsafeSQL: """
                WITH near AS (\(near))
                SELECT e.lesson_id, 'situation' AS kind, 0 AS position, 1 - (\(indexedVector("e")) <=> $1::vector(\(dimensions))) AS score
                FROM lesson_embeddings e WHERE e.lesson_id IN (SELECT id FROM near) AND e.model = \(model) AND e.dimensions = \(dimensions)
                UNION ALL
                SELECT x.lesson_id, x.kind, x.position, 1 - (\(indexedVector("x")) <=> $1::vector(\(dimensions)))
                FROM lesson_example_embeddings x WHERE x.lesson_id IN (SELECT id FROM near) AND x.model = \(model)
                """, binds: binds)
        var points: [String: (situation: Double?, examples: [Int: Double], counters: [Double])] = [:]
        for row in try await db.rows(query) {
            let id: String = try row["lesson_id"]
            let score: Double = try row["score"]
            switch try row["kind"] as String {
            case "situation": points[id, default: (nil, [:], [])].situation = score
            case "counter": points[id, default: (nil, [:], [])].counters.append(score)
            default: points[id, default: (nil, [:], [])].examples[try row["position"] as Int] = score
            }
        }
        var hits: [String: LessonHit] = [:]
        for (id, point) in points {
            guard let situation = point.situation else { continue }
            let examples = (0..<((point.examples.keys.max() ?? -1) + 1)).map { point.examples[$0] ?? -1 }
            guard let match = ExampleMatch.score(situation: situation, examples: examples, counterExamples: point.counters) else { continue }
            hits[id] = LessonHit(id: id, score: match.score, example: match.example)
        }
        return hits
    }

    public func activeLessons(ids: [String], agent: String) async throws -> [String: Lesson] {
        guard !ids.isEmpty else { return [:] }
        return try await read { db in
            let rows = try await db.rows("SELECT * FROM lessons WHERE id = ANY(\(ids)) AND agent = \(agent) AND status = 'active'")
            return try Dictionary(uniqueKeysWithValues: rows.map(Self.lesson).map { ($0.id, $0) })
        }
    }

    public func denseScores(ids: [String], vector: [Float]) async throws -> [String: LessonHit] {
        guard embeddingModel != nil, vector.count == dimensions, !ids.isEmpty else { return [:] }
        let near = "SELECT id FROM lessons WHERE id = ANY($2) AND status = 'active'"
        return try await read { db in try await matches(near: near, binds: Self.binds(PGVector.text(vector), ids), db: db) }
    }

    public func lessonVectors(ids: [String]) async throws -> [String: [Float]] {
        guard let embeddingModel, !ids.isEmpty else { return [:] }
        return try await read { db in
            var vectors: [String: [Float]] = [:]
            for row in try await db.rows(
                """
                SELECT e.lesson_id, e.vector FROM lesson_embeddings e JOIN lessons l ON l.id = e.lesson_id
                WHERE e.model = \(embeddingModel) AND e.dimensions = \(dimensions) AND l.status = 'active' AND e.lesson_id = ANY(\(ids))
                """)
            {
                vectors[try row["lesson_id"]] = (try row["vector"] as PGVector).values
            }
            return vectors
        }
    }

    public func lessonsWithoutEmbedding(model: String) async throws -> [Lesson] {
        try await read { db in
            try await db.rows(
                """
                SELECT l.* FROM lessons l LEFT JOIN lesson_embeddings e ON e.lesson_id = l.id AND e.model = \(model)
                WHERE e.lesson_id IS NULL
                """
            ).map(Self.lesson)
        }
    }

    public func saveEmbeddings(_ embeddings: [(Lesson, LessonEmbedding)]) async throws {
        try await write { db in
            for (lesson, embedding) in embeddings { try await Self.saveEmbedding(embedding, of: lesson.id, db: db) }
        }
    }

    public func hasActiveLessons(agent: String) async throws -> Bool {
        try await read { db in
            try await db.one("SELECT EXISTS (SELECT 1 FROM lessons WHERE agent = \(agent) AND status = 'active') AS found")?["found"] ?? false
        }
    }

    public func deleteLesson(id: String, by: String) async throws -> Bool {
        try await write { db in
            guard try await db.run("DELETE FROM lessons WHERE id = \(id) RETURNING 1") > 0 else { return false }
            try await db.run(
                "UPDATE lesson_versions SET deleted_at = \(Date().pg), deleted_by = \(by) WHERE lesson_id = \(id) AND deleted_at IS NULL")
            return true
        }
    }

    public func listLessons(_ filter: LessonFilter) async throws -> [Lesson] {
        var sql = SQLBuilder()
        var clauses: [String] = []
        if let agent = filter.agent { clauses.append("l.agent = \(sql.bind(agent))") }
        if let status = filter.status { clauses.append("l.status = \(sql.bind(status.rawValue))") }
        if let topic = filter.topic { clauses.append("l.topic = \(sql.bind(topic))") }
        if let before = filter.before { clauses.append("l.id < \(sql.bind(before))") }
        if let text = filter.text, let query = Self.allWords(TextTerms.words(text)) {
            clauses.append("l.search @@ to_tsquery('english', \(sql.bind(query)))")
        }
        let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let limit = sql.bind(filter.limit)
        let query = sql.query("SELECT l.* FROM lessons l \(whereSQL) ORDER BY l.id DESC LIMIT \(limit)")
        return try await read { db in try await db.rows(query).map(Self.lesson) }
    }

    public func lessonHistory(id: String) async throws -> [LessonVersion] {
        try await read { db in
            try await db.rows("SELECT snapshot, changed_by, changed_at FROM lesson_versions WHERE lesson_id = \(id) ORDER BY version")
                .compactMap(Self.lessonVersion)
        }
    }

    static func lessonVersion(_ row: PGRow) throws -> LessonVersion? {
        guard let lesson = row.json(Lesson.self, "snapshot") else { return nil }
        return LessonVersion(lesson: lesson, changedBy: try row["changed_by"], changedAt: try row["changed_at"])
    }

    public func lexicalHits(agent: String, words: [String], limit: Int, postingBudget: Int?) async throws -> [LessonHit] {
        let words = Self.queryWords(words)
        guard !words.isEmpty else { return [] }
        // BM25 over the agent's active lessons' situations (`lesson_postings`, kept by a trigger),
        // as the embedded store ranks: the postings of the request's lexemes are read from their
        // index alone. The postings hold the agent's active lessons only (the trigger keeps them
        // with each lesson's write), so no lesson row is read.
        return try await read { db in
            var lexemes = try await lexemeStatistics.lexemes(words, db: db)
            if let budget = postingBudget, let counts = try await lexemeStatistics.counts(lexemes, db: db) {
                lexemes = LexicalBudget.rarest(counts, budget: budget)
            }
            guard !lexemes.isEmpty else { return [] }
            return try await db.rows(
                """
                WITH totals AS (
                    SELECT lessons::float8 AS lessons, length::float8 / greatest(lessons, 1) AS average
                    FROM lexical_totals WHERE agent = \(agent)),
                terms AS (
                    SELECT p.lexeme, greatest(ln((t.lessons - count(*) + 0.5) / (count(*) + 0.5)), 1e-6::float8) AS idf
                    FROM lesson_postings p, totals t WHERE p.agent = \(agent) AND p.lexeme = ANY(\(lexemes)) GROUP BY p.lexeme, t.lessons),
                ranked AS (
                    SELECT p.lesson_id, sum(s.idf * p.frequency * 2.2::float8
                        / (p.frequency + 1.2::float8 * (0.25::float8 + 0.75::float8 * p.length / t.average))) AS rank
                    FROM lesson_postings p JOIN terms s ON s.lexeme = p.lexeme, totals t
                    WHERE p.agent = \(agent) AND p.lexeme = ANY(\(lexemes))
                    GROUP BY p.lesson_id ORDER BY rank DESC, p.lesson_id LIMIT \(limit))
                SELECT lesson_id, rank FROM ranked ORDER BY rank DESC, lesson_id
                """
            ).map { LessonHit(id: try $0["lesson_id"], score: try $0["rank"]) }
        }
    }

    static func insertLesson(_ lesson: (Lesson, LessonEmbedding?)?, db: PostgresConnection) async throws {
        guard let (l, embedding) = lesson else { return }
        try await insertRow(l, db: db)
        try await insertVersion(l, changedBy: l.author, db: db)
        try await saveEmbedding(embedding, of: l.id, db: db)
    }

    static func insertRow(_ l: Lesson, db: PostgresConnection) async throws {
        try await db.run(
            """
            INSERT INTO lessons (id, agent, topic, situation, did, should_have_done, why, correct_behavior, polarity, status,
                confidence, source_interaction_id, author, created_at, updated_at, version, helpful, harmful, review_reason,
                examples, counter_examples)
            VALUES (\(l.id), \(l.agent), \(l.topic), \(l.situation), \(l.did), \(l.shouldHaveDone), \(l.why), \(l.correctBehavior),
                \(l.polarity.rawValue), \(l.status.rawValue), \(l.confidence), \(l.sourceInteractionId), \(l.author),
                \(l.createdAt.pg), \(l.updatedAt.pg), \(l.version), \(l.helpful), \(l.harmful), \(l.reviewReason),
                \(RasiJSON.string(l.examples)), \(RasiJSON.string(l.counterExamples)))
            """)
    }

    /// Replaces a lesson's row with this state; false when no such lesson exists.
    static func updateRow(_ l: Lesson, db: PostgresConnection) async throws -> Bool {
        try await db.run(
            """
            UPDATE lessons SET agent = \(l.agent), topic = \(l.topic), situation = \(l.situation), did = \(l.did),
                should_have_done = \(l.shouldHaveDone), why = \(l.why), correct_behavior = \(l.correctBehavior),
                polarity = \(l.polarity.rawValue), status = \(l.status.rawValue), confidence = \(l.confidence),
                source_interaction_id = \(l.sourceInteractionId), author = \(l.author), created_at = \(l.createdAt.pg),
                updated_at = \(l.updatedAt.pg), version = \(l.version), helpful = \(l.helpful), harmful = \(l.harmful),
                review_reason = \(l.reviewReason), examples = \(RasiJSON.string(l.examples)),
                counter_examples = \(RasiJSON.string(l.counterExamples))
            WHERE id = \(l.id) RETURNING 1
            """) > 0
    }

    static func insertVersion(_ lesson: Lesson, changedBy: String, db: PostgresConnection) async throws {
        try await db.run(
            """
            INSERT INTO lesson_versions (lesson_id, version, snapshot, changed_by, changed_at)
            VALUES (\(lesson.id), \(lesson.version), \(RasiJSON.string(lesson)), \(changedBy), \(lesson.updatedAt.pg))
            """)
    }

    static func lesson(_ row: PGRow) throws -> Lesson {
        Lesson(
            id: try row["id"], agent: try row["agent"], topic: try row["topic"], situation: try row["situation"], did: try row["did"],
            shouldHaveDone: try row["should_have_done"], why: try row["why"], correctBehavior: try row["correct_behavior"],
            polarity: Polarity(rawValue: try row["polarity"]) ?? .negative, status: LessonStatus(rawValue: try row["status"]) ?? .proposed,
            confidence: try row["confidence"], sourceInteractionId: try row["source_interaction_id"], author: try row["author"],
            createdAt: try row["created_at"], updatedAt: try row["updated_at"], version: try row["version"], helpful: try row["helpful"],
            harmful: try row["harmful"], reviewReason: try row["review_reason"], examples: examples(try row["examples"]),
            counterExamples: examples(try row["counter_examples"]))
    }

    /// A JSON array of examples; none when empty or unreadable.
    static func examples(_ text: String) -> [LessonExample] {
        guard text != "[]" else { return [] }
        return (try? RasiJSON.decoder().decode([LessonExample].self, from: Data(text.utf8))) ?? []
    }

    static func binds(_ values: any PostgresDynamicTypeEncodable...) -> PostgresBindings {
        var binds = PostgresBindings()
        for value in values { binds.append(value) }
        return binds
    }

    // MARK: Conflicts

    public func recordConflict(_ c: LessonConflict) async throws {
        try await write { db in
            try await db.run(
                """
                INSERT INTO lesson_conflicts (lesson_a, lesson_b, agent, similarity, reason, detected_at)
                VALUES (\(c.pair.first), \(c.pair.second), \(c.agent), \(c.similarity), \(c.reason), \(c.detectedAt.pg))
                ON CONFLICT DO NOTHING
                """)
        }
    }

    public func listConflicts(open: Bool?, limit: Int) async throws -> [LessonConflict] {
        let filter = open.map { $0 ? "WHERE resolved_at IS NULL" : "WHERE resolved_at IS NOT NULL" } ?? ""
        return try await read { db in
            try await db.rows(PostgresQuery(unsafeSQL: "SELECT * FROM lesson_conflicts \(filter) ORDER BY id LIMIT $1", binds: Self.binds(limit)))
                .map(Self.conflict)
        }
    }

    public func conflict(id: Int) async throws -> LessonConflict? {
        try await read { db in try await db.one("SELECT * FROM lesson_conflicts WHERE id = \(id)").map(Self.conflict) }
    }

    public func conflictingPairs(among ids: [String]) async throws -> Set<LessonPair> {
        guard ids.count > 1 else { return [] }
        return try await read { db in
            Set(
                try await db.rows(
                    """
                    SELECT lesson_a, lesson_b FROM lesson_conflicts
                    WHERE resolved_at IS NULL AND lesson_a = ANY(\(ids)) AND lesson_b = ANY(\(ids))
                    """
                ).map { LessonPair(try $0["lesson_a"], try $0["lesson_b"]) })
        }
    }

    public func resolveConflict(id: Int, by actor: String, resolution: String, at date: Date) async throws -> LessonConflict? {
        try await write { db in
            try await db.run(
                """
                UPDATE lesson_conflicts SET resolved_at = \(date.pg), resolved_by = \(actor), resolution = \(resolution)
                WHERE id = \(id) AND resolved_at IS NULL
                """)
            return try await db.one("SELECT * FROM lesson_conflicts WHERE id = \(id)").map(Self.conflict)
        }
    }

    static func conflict(_ row: PGRow) throws -> LessonConflict {
        LessonConflict(
            id: try row["id"], pair: LessonPair(try row["lesson_a"], try row["lesson_b"]), agent: try row["agent"],
            similarity: try row["similarity"], reason: try row["reason"], detectedAt: try row["detected_at"],
            resolvedAt: try row["resolved_at"], resolvedBy: try row["resolved_by"], resolution: try row["resolution"])
    }

    // MARK: Export and import

    public func exportLessonVersions() async throws -> [LessonVersion] {
        try await read { db in
            try await db.rows(
                """
                SELECT v.snapshot, v.changed_by, v.changed_at FROM lesson_versions v JOIN lessons l ON l.id = v.lesson_id
                ORDER BY v.lesson_id, v.version
                """
            ).compactMap(Self.lessonVersion)
        }
    }

    public func importLessonVersions(_ versions: [LessonVersion]) async throws -> LessonImport {
        try await write { db in
            var result = LessonImport()
            var newest: [String: Lesson] = [:]
            for version in versions {
                let lesson = version.lesson
                let added = try await db.run(
                    """
                    INSERT INTO lesson_versions (lesson_id, version, snapshot, changed_by, changed_at)
                    VALUES (\(lesson.id), \(lesson.version), \(RasiJSON.string(lesson)), \(version.changedBy), \(version.changedAt.pg))
                    ON CONFLICT DO NOTHING RETURNING 1
                    """)
                if added == 0 {
                    result.skipped += 1
                    continue
                }
                result.added += 1
                if (newest[lesson.id]?.version ?? 0) < lesson.version { newest[lesson.id] = lesson }
            }
            for (id, lesson) in newest.sorted(by: { $0.key < $1.key }) {
                let current: Int? = try await db.one("SELECT version FROM lessons WHERE id = \(id)")?["version"]
                guard (current ?? 0) < lesson.version else { continue }
                if current == nil {
                    try await Self.insertRow(lesson, db: db)
                } else {
                    _ = try await Self.updateRow(lesson, db: db)
                }
                try await db.run("DELETE FROM lesson_embeddings WHERE lesson_id = \(id)")
                try await db.run("DELETE FROM lesson_example_embeddings WHERE lesson_id = \(id)")
                result.updated.append(id)
            }
            return result
        }
    }
}

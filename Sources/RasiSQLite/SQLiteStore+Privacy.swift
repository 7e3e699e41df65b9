import Foundation
import GRDB
import RasiCore

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
            try db.execute(sql: "UPDATE lesson_conflicts SET resolved_at = ?, resolved_by = ?, resolution = ? WHERE id = ? AND resolved_at IS NULL",
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
            try Row.fetchAll(db, sql: """
                SELECT v.snapshot, v.changed_by, v.changed_at FROM lesson_versions v JOIN lessons l ON l.id = v.lesson_id
                ORDER BY v.lesson_id, v.version
                """).compactMap(Self.lessonVersion)
        }
    }

    public func importLessonVersions(_ versions: [LessonVersion]) async throws -> LessonImport {
        let (result, updated) = try await database.write { db in
            var result = LessonImport()
            var updated: [Lesson] = []
            var newest: [String: Lesson] = [:]
            for version in versions {
                let lesson = version.lesson
                let known = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM lesson_versions WHERE lesson_id = ? AND version = ?)",
                                              arguments: [lesson.id, lesson.version]) ?? false
                if known { result.skipped += 1; continue }
                try db.execute(sql: "INSERT INTO lesson_versions (lesson_id, version, snapshot, changed_by, changed_at) VALUES (?, ?, ?, ?, ?)",
                               arguments: [lesson.id, lesson.version, RasiJSON.string(lesson), version.changedBy, Timestamp.wholeMillisecond(version.changedAt)])
                result.added += 1
                if (newest[lesson.id]?.version ?? 0) < lesson.version { newest[lesson.id] = lesson }
            }
            for (id, lesson) in newest.sorted(by: { $0.key < $1.key }) {
                let current = try Int.fetchOne(db, sql: "SELECT version FROM lessons WHERE id = ?", arguments: [id])
                guard (current ?? 0) < lesson.version else { continue }
                try Self.upsertLesson(lesson, insert: current == nil, db: db)
                try db.execute(sql: "DELETE FROM lesson_embeddings WHERE lesson_id = ?", arguments: [id])
                result.updated.append(id)
                updated.append(lesson)
            }
            return (result, updated)
        }
        // Their vectors were dropped with the old text: searchable by their words at once, by
        // meaning once they are embedded again.
        for lesson in updated {
            index?.remove(id: lesson.id)
            updateIndex(lesson, embedding: nil)
        }
        return result
    }
}

// MARK: - Topics

extension SQLiteStore: TopicStore, EvaluationStore {
    public func saveEvaluation(_ report: EvaluationReport) async throws {
        try await database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO evaluations (id, suite, model, created_at, report) VALUES (?, ?, ?, ?, ?)",
                           arguments: [report.id, report.suite, report.model, report.createdAt, RasiJSON.string(report)])
        }
    }

    public func evaluation(id: String) async throws -> EvaluationReport? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT report FROM evaluations WHERE id = ?", arguments: [id]).flatMap { Self.json(EvaluationReport.self, $0, "report") }
        }
    }

    public func listEvaluations(limit: Int) async throws -> [EvaluationReport] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT report FROM evaluations ORDER BY created_at DESC, id DESC LIMIT ?", arguments: [limit])
                .compactMap { Self.json(EvaluationReport.self, $0, "report") }
        }
    }

    public func listTopics() async throws -> [Topic] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM topics ORDER BY name").map { row in
                Topic(name: row["name"], description: row["description"],
                      examples: Self.json([String].self, row, "examples") ?? [])
            }
        }
    }

    public func saveTopic(_ topic: Topic, at date: Date) async throws {
        try await database.write { db in
            try db.execute(sql: "INSERT OR REPLACE INTO topics (name, description, examples, updated_at) VALUES (?, ?, ?, ?)",
                           arguments: [topic.name, topic.description, RasiJSON.string(topic.examples), date])
        }
    }

    public func deleteTopic(name: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM topics WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }
}

// MARK: - Syntheses

extension SQLiteStore: SynthesisStore {
    public func synthesis(key: String) async throws -> Synthesis? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM syntheses WHERE key = ?", arguments: [key]).map(Self.synthesis)
        }
    }

    public func saveSynthesis(_ synthesis: Synthesis) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO syntheses (key, agent, prompt, output, model, prompt_tokens, completion_tokens, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [synthesis.key, synthesis.agent, RasiJSON.string(synthesis.prompt), synthesis.output, synthesis.model,
                            synthesis.tokens.prompt, synthesis.tokens.completion, synthesis.createdAt])
        }
    }

    public func listSyntheses(limit: Int) async throws -> [Synthesis] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM syntheses ORDER BY created_at DESC LIMIT ?", arguments: [limit]).map(Self.synthesis)
        }
    }

    static func synthesis(_ row: Row) -> Synthesis {
        Synthesis(
            key: row["key"], agent: row["agent"],
            prompt: Self.json([JSONValue].self, row, "prompt") ?? [],
            output: row["output"], model: row["model"], tokens: TokenUsage(prompt: row["prompt_tokens"], completion: row["completion_tokens"]),
            createdAt: row["created_at"])
    }
}

// MARK: - Retention, user deletion, audit

extension SQLiteStore: PrivacyStore {
    public func purgeInteractions(olderThan date: Date) async throws -> PurgeCount {
        try await purge(where: "created_at < ?", [date])
    }

    public func purgeUser(_ userId: String) async throws -> PurgeCount {
        try await purge(where: "user_id = ?", [userId])
    }

    /// Deletes in batches of 1,000 interactions, each batch one transaction, so a large purge
    /// never holds the write lock for long; the foreign keys cascade to steps, feedback, flags,
    /// injections, outcomes, judge runs and jobs, and the FTS triggers drop the index entries.
    private func purge(where condition: String, _ arguments: StatementArguments) async throws -> PurgeCount {
        var count = PurgeCount()
        while true {
            let batch = try await database.write { db -> PurgeCount in
                var batch = PurgeCount()
                let ids = try String.fetchAll(db, sql: "SELECT id FROM interactions WHERE \(condition) LIMIT 1000", arguments: arguments)
                guard !ids.isEmpty else { return batch }
                let placeholders = Self.placeholders(ids.count)
                let list = StatementArguments(ids)
                batch.feedback = try Int.fetchOne(db, sql: "SELECT count(*) FROM feedback WHERE interaction_id IN (\(placeholders))", arguments: list) ?? 0
                batch.judgeRuns = try Int.fetchOne(db, sql: "SELECT count(*) FROM judge_runs WHERE interaction_id IN (\(placeholders))", arguments: list) ?? 0
                try db.execute(sql: "DELETE FROM interactions WHERE id IN (\(placeholders))", arguments: list)
                batch.interactions = db.changesCount
                return batch
            }
            count.interactions += batch.interactions
            count.feedback += batch.feedback
            count.judgeRuns += batch.judgeRuns
            if batch.interactions < 1000 { return count }
        }
    }

    public func recordAudit(_ entry: AuditEntry) async throws {
        try await database.write { db in
            try db.execute(sql: "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                           arguments: [entry.at, entry.actor, entry.action, entry.target, entry.detail])
        }
    }

    public func listAudit(limit: Int, before: Int?) async throws -> [AuditEntry] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?", arguments: [before ?? Int.max, limit]).map {
                AuditEntry(id: $0["id"], at: $0["at"], actor: $0["actor"], action: $0["action"], target: $0["target"], detail: $0["detail"])
            }
        }
    }
}

// MARK: - Leases

extension SQLiteStore: LeaseStore {
    public func acquireLease(_ name: String, holder: String, until: Date, now: Date) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: """
                INSERT INTO leases (name, holder, until) VALUES (?, ?, ?)
                ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                WHERE leases.holder = excluded.holder OR leases.until < ?
                """, arguments: [name, holder, until, now])
            return db.changesCount > 0
        }
    }
}

// MARK: - Moving to another store

extension SQLiteStore {
    /// The tables rasi keeps, parents before children, as `rasi migrate` copies them.
    public static let tables = [
        "api_keys", "sessions", "interactions", "steps", "feedback", "flags", "lessons", "lesson_versions", "lesson_embeddings",
        "injections", "judge_runs", "jobs", "lesson_conflicts", "lesson_outcomes", "syntheses", "topics", "audit_log", "evaluations",
    ]

    /// A page of a table's rows in storage order, after the row `after` (a rowid), every value
    /// as text: numbers as written, dates as SQLite keeps them (UTC), vectors as `[x,y,...]`;
    /// nil for NULL. The row's `rowid` is offered as the column `rowid`.
    public func tableRows(_ table: String, after: Int64, limit: Int) async throws -> (columns: [String], rows: [(rowid: Int64, values: [String?])]) {
        guard Self.tables.contains(table) else { throw RasiError.invalidField("table", "unknown table \(table)") }
        return try await database.read { db in
            let rows = try Row.fetchAll(db, sql: "SELECT *, rowid AS rasi_rowid FROM \(table) WHERE rowid > ? ORDER BY rowid LIMIT ?", arguments: [after, limit])
            let columns = try db.columns(in: table).map(\.name) + ["rowid"]
            return (columns, rows.map { row in
                let values: [String?] = row.databaseValues.map { value in
                    switch value.storage {
                    case .null: return nil
                    case .int64(let number): return String(number)
                    case .double(let number): return String(number)
                    case .string(let text): return text
                    case .blob(let data): return "[" + Self.floats(data).map { String($0) }.joined(separator: ",") + "]"
                    }
                }
                return (row["rasi_rowid"], values)
            })
        }
    }

    public func count(table: String) async throws -> Int {
        guard Self.tables.contains(table) else { throw RasiError.invalidField("table", "unknown table \(table)") }
        return try await database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
    }
}

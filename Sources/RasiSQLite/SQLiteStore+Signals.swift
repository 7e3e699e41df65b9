import Foundation
import GRDB
import RasiCore

// MARK: - Signals and flags

extension SQLiteStore: SignalStore {
    /// Who clears a rule's flag when the rule no longer holds, as opposed to a reviewer dismissing it.
    static let rulesActor = "rules"

    @discardableResult
    public func applySignals(interactionId: String, adding feedback: [Feedback], rules: FlagRules, efficacy: EfficacyPolicy, enqueueJudge: Bool, now: Date) async throws -> SignalOutcome {
        let outcome = try await database.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM interactions WHERE id = ?", arguments: [interactionId]) else {
                throw RasiError.notFound("interaction \(interactionId)")
            }
            var outcome = SignalOutcome()
            for item in feedback {
                var item = item
                item.interactionId = interactionId
                if try Self.insertFeedback(item, db: db) { outcome.added.append(item) }
            }
            let interaction = try Self.interaction(row, db: db, withDetail: true)
            let holding = rules.evaluate(interaction)
            var existing: [FlagRule: (resolved: Bool, byRules: Bool)] = [:]
            for flag in try Row.fetchAll(db, sql: "SELECT rule, resolved_at, resolved_by FROM flags WHERE interaction_id = ? AND rule IS NOT NULL", arguments: [interactionId]) {
                guard let rule = FlagRule(rawValue: flag["rule"]) else { continue }
                existing[rule] = ((flag["resolved_at"] as Date?) != nil, (flag["resolved_by"] as String?) == Self.rulesActor)
            }
            for raised in holding {
                let flag = Flag(rule: raised.rule, reason: raised.reason, createdAt: now)
                switch existing[raised.rule] {
                case nil:
                    try Self.insertFlag(flag, of: interactionId, db: db)
                case .some((resolved: true, byRules: true)):
                    // Cleared by the rules earlier and holding again (a new rephrase after a thumbs-up).
                    try db.execute(sql: "UPDATE flags SET resolved_at = NULL, resolved_by = NULL, reason = ?, created_at = ? WHERE interaction_id = ? AND rule = ?",
                                   arguments: [flag.reason, now, interactionId, raised.rule.rawValue])
                default:
                    continue // open already, or dismissed by a reviewer
                }
                outcome.raised.append(flag)
            }
            for (rule, state) in existing where !state.resolved && rules.enabled.contains(rule) && !holding.contains(where: { $0.rule == rule }) {
                try db.execute(sql: "UPDATE flags SET resolved_at = ?, resolved_by = ? WHERE interaction_id = ? AND rule = ?",
                               arguments: [now, Self.rulesActor, interactionId, rule.rawValue])
                outcome.cleared.append(rule)
            }
            if enqueueJudge, outcome.raised.contains(where: { $0.rule?.isJudged == true }) {
                let job = Job(kind: .judge, interactionId: interactionId, runAfter: now, createdAt: now)
                try db.execute(
                    sql: "INSERT OR IGNORE INTO jobs (id, kind, interaction_id, status, attempts, run_after, created_at) VALUES (?, ?, ?, 'queued', 0, ?, ?)",
                    arguments: [job.id, job.kind.rawValue, interactionId, job.runAfter, job.createdAt])
                if db.changesCount > 0 { outcome.judgeJob = job }
            }
            if !outcome.added.isEmpty, let helpful = EfficacyPolicy.verdict(interaction.feedback) {
                outcome.retired = try Self.countOutcome(helpful: helpful, of: interactionId, efficacy: efficacy, now: now, db: db)
            }
            return outcome
        }
        for id in outcome.retired { removeFromIndexes(id) }
        return outcome
    }

    /// Counts the interaction's latest outcome for each lesson injected into it, moving a
    /// count when the verdict changed; retires the lessons that became harmful. Returns those.
    static func countOutcome(helpful: Bool, of interactionId: String, efficacy: EfficacyPolicy, now: Date, db: Database) throws -> [String] {
        var retired: [String] = []
        let injected = try String.fetchAll(db, sql: "SELECT DISTINCT lesson_id FROM injections WHERE interaction_id = ?", arguments: [interactionId])
        for lessonId in injected {
            let previous = try Bool.fetchOne(db, sql: "SELECT helpful FROM lesson_outcomes WHERE interaction_id = ? AND lesson_id = ?",
                                             arguments: [interactionId, lessonId])
            guard previous != helpful else { continue }
            try db.execute(sql: "INSERT OR REPLACE INTO lesson_outcomes (interaction_id, lesson_id, helpful, at) VALUES (?, ?, ?, ?)",
                           arguments: [interactionId, lessonId, helpful, now])
            let (helpfulDelta, harmfulDelta) = switch (previous, helpful) {
            case (nil, true): (1, 0)
            case (nil, false): (0, 1)
            case (_, true): (1, -1)
            case (_, false): (-1, 1)
            }
            try db.execute(sql: "UPDATE lessons SET helpful = helpful + ?, harmful = harmful + ? WHERE id = ?",
                           arguments: [helpfulDelta, harmfulDelta, lessonId])
            guard let row = try Row.fetchOne(db, sql: "SELECT \(Self.lessonColumns) FROM lessons l WHERE l.id = ?", arguments: [lessonId]) else { continue }
            var lesson = Self.lesson(row)
            guard lesson.status == .active, efficacy.shouldRetire(helpful: lesson.helpful, harmful: lesson.harmful) else { continue }
            lesson.status = .retired
            lesson.version += 1
            lesson.updatedAt = now
            lesson.reviewReason = "retired automatically: harmful in \(lesson.harmful) of \(lesson.helpful + lesson.harmful) rated uses"
            try upsertLesson(lesson, insert: false, db: db)
            try insertVersion(lesson, changedBy: "rasi (efficacy)", db: db)
            try db.execute(sql: "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
                           arguments: [now, "rasi (efficacy)", "lesson.update", lessonId, "version \(lesson.version), retired: \(lesson.reviewReason ?? "")"])
            retired.append(lessonId)
        }
        return retired
    }

    public func previousTurn(conversationId: String, before interactionId: String) async throws -> Interaction? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM interactions WHERE conversation_id = ? AND id < ? ORDER BY id DESC LIMIT 1",
                             arguments: [conversationId, interactionId])
                .map { try Self.interaction($0, db: db, withDetail: false) }
        }
    }

    public func unsweptInteractions(updatedBefore cutoff: Date, limit: Int) async throws -> [(interaction: Interaction, followed: Bool)] {
        try await database.read { db in
            let rows = try Row.fetchAll(db, sql: """
                SELECT i.*, (i.conversation_id IS NULL OR EXISTS (
                    SELECT 1 FROM interactions j WHERE j.conversation_id = i.conversation_id AND j.id > i.id)) AS followed
                FROM interactions i WHERE i.swept = 0 AND i.updated_at < ? ORDER BY i.updated_at LIMIT ?
                """, arguments: [cutoff, limit])
            return try rows.map { (try Self.interaction($0, db: db, withDetail: false), $0["followed"] as Bool) }
        }
    }

    public func markSwept(_ ids: [String]) async throws {
        guard !ids.isEmpty else { return }
        try await database.write { db in
            let placeholders = Self.placeholders(ids.count)
            try db.execute(sql: "UPDATE interactions SET swept = 1 WHERE id IN (\(placeholders))", arguments: StatementArguments(ids))
        }
    }

    public func dismissFlags(interactionId: String, by actor: String, at date: Date) async throws -> Int {
        try await database.write { db in
            guard try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM interactions WHERE id = ?)", arguments: [interactionId]) == true
            else { throw RasiError.notFound("interaction \(interactionId)") }
            try db.execute(sql: "UPDATE flags SET resolved_at = ?, resolved_by = ? WHERE interaction_id = ? AND resolved_at IS NULL",
                           arguments: [date, actor, interactionId])
            return db.changesCount
        }
    }
}

// MARK: - Judge runs and jobs

extension SQLiteStore: JudgeStore {
    public func recordJudgeRun(_ run: JudgeRun, lesson: (Lesson, LessonEmbedding?)?) async throws {
        try await database.write { db in
            try Self.insertLesson(lesson, db: db)
            try Self.insertJudgeRun(run, db: db)
        }
        if let (lesson, embedding) = lesson { updateIndex(lesson, embedding: embedding) }
    }

    public func judgeRuns(interactionId: String) async throws -> [JudgeRun] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM judge_runs WHERE interaction_id = ? ORDER BY created_at, id", arguments: [interactionId])
                .map(Self.judgeRun)
        }
    }

    public func claimJob(owner: String, now: Date) async throws -> Job? {
        try await database.write { db in
            guard let row = try Row.fetchOne(
                db, sql: "SELECT * FROM jobs WHERE status = 'queued' AND run_after <= ? ORDER BY run_after, id LIMIT 1", arguments: [now])
            else { return nil }
            var job = Self.job(row)
            job.status = .running
            job.owner = owner
            job.attempts += 1
            try db.execute(sql: "UPDATE jobs SET status = 'running', owner = ?, attempts = ? WHERE id = ?", arguments: [owner, job.attempts, job.id])
            return job
        }
    }

    public func finishJob(_ job: Job, owner: String, outcome: JobOutcome, run: JudgeRun?, lesson: (Lesson, LessonEmbedding?)?, now: Date) async throws -> Bool {
        let finished = try await database.write { db in
            let (status, runAfter, error): (Job.Status, Date, String?) = switch outcome {
            case .done: (.done, job.runAfter, nil)
            case .retry(let at, let error): (.queued, at, error)
            case .failed(let error): (.failed, job.runAfter, error)
            }
            try db.execute(
                sql: """
                    UPDATE jobs SET status = ?, owner = NULL, run_after = ?, last_error = ?, finished_at = ?
                    WHERE id = ? AND status = 'running' AND owner = ?
                    """,
                arguments: [status.rawValue, runAfter, error, status == .queued ? nil : now, job.id, owner])
            guard db.changesCount > 0 else { return false }
            try Self.insertLesson(lesson, db: db)
            if let run { try Self.insertJudgeRun(run, db: db) }
            return true
        }
        if finished, let (lesson, embedding) = lesson { updateIndex(lesson, embedding: embedding) }
        return finished
    }

    public func releaseJobs(owner: String?) async throws -> Int {
        try await database.write { db in
            if let owner {
                try db.execute(sql: "UPDATE jobs SET status = 'queued', owner = NULL, attempts = max(attempts - 1, 0) WHERE status = 'running' AND owner = ?",
                               arguments: [owner])
            } else {
                try db.execute(sql: "UPDATE jobs SET status = 'queued', owner = NULL WHERE status = 'running'")
            }
            return db.changesCount
        }
    }

    public func listJobs(status: Job.Status?, limit: Int) async throws -> [Job] {
        try await database.read { db in
            if let status {
                return try Row.fetchAll(db, sql: "SELECT * FROM jobs WHERE status = ? ORDER BY created_at, id LIMIT ?", arguments: [status.rawValue, limit]).map(Self.job)
            }
            return try Row.fetchAll(db, sql: "SELECT * FROM jobs ORDER BY created_at, id LIMIT ?", arguments: [limit]).map(Self.job)
        }
    }

    static func insertLesson(_ lesson: (Lesson, LessonEmbedding?)?, db: Database) throws {
        guard let (lesson, embedding) = lesson else { return }
        try upsertLesson(lesson, insert: true, db: db)
        try insertVersion(lesson, changedBy: lesson.author, db: db)
        try saveEmbedding(embedding, of: lesson.id, db: db)
    }

    static func insertJudgeRun(_ run: JudgeRun, db: Database) throws {
        try db.execute(
            sql: """
                INSERT INTO judge_runs (id, interaction_id, job_id, status, model, prompt, outputs, verdict, lesson_id, error,
                    prompt_tokens, completion_tokens, latency_ms, created_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                run.id, run.interactionId, run.jobId, run.status.rawValue, run.model, RasiJSON.string(run.prompt),
                RasiJSON.string(run.outputs), run.verdict.map { RasiJSON.string($0) }, run.lessonId, run.error,
                run.tokens.prompt, run.tokens.completion, run.latencyMs, run.createdAt,
            ])
    }

    static func judgeRun(_ row: Row) -> JudgeRun {
        JudgeRun(
            id: row["id"], interactionId: row["interaction_id"], jobId: row["job_id"],
            status: JudgeRun.Status(rawValue: row["status"]) ?? .error, model: row["model"],
            prompt: json([JSONValue].self, row, "prompt") ?? [], outputs: json([String].self, row, "outputs") ?? [],
            verdict: json(JudgeVerdict.self, row, "verdict"), lessonId: row["lesson_id"], error: row["error"],
            tokens: TokenUsage(prompt: row["prompt_tokens"], completion: row["completion_tokens"]), latencyMs: row["latency_ms"],
            createdAt: row["created_at"])
    }

    static func job(_ row: Row) -> Job {
        Job(
            id: row["id"], kind: Job.Kind(rawValue: row["kind"]) ?? .judge, interactionId: row["interaction_id"],
            status: Job.Status(rawValue: row["status"]) ?? .queued, attempts: row["attempts"], runAfter: row["run_after"],
            owner: row["owner"], lastError: row["last_error"], createdAt: row["created_at"], finishedAt: row["finished_at"])
    }
}

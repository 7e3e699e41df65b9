import Foundation
import GRDB
import RasiCore

// MARK: - Judge runs and jobs

extension SQLiteStore: JudgeStore {
    public func recordJudgeRun(_ run: JudgeRun, lesson: (Lesson, LessonEmbedding?)?, lift: LiftPolicy?) async throws {
        let rules = liftRules.withLock { $0 }
        let retired = try await database.write { db in
            try Self.insertLesson(lesson, db: db)
            try Self.keepingLiftCounts(of: run.interactionId, rules: rules, db: db) { try Self.insertJudgeRun(run, db: db) }
            return try Self.retireByLift(after: run, lift: lift, counted: rules == lift?.outcomes, db: db)
        }
        if let (lesson, embedding) = lesson { updateIndex(lesson, embedding: embedding) }
        for id in retired { removeFromIndexes(id) }
    }

    /// After a run's verdict is stored: the lessons lift now shows harmful, retired (see `JudgeStore.recordJudgeRun`).
    static func retireByLift(after run: JudgeRun, lift: LiftPolicy?, counted: Bool, db: Database) throws -> [String] {
        guard let lift, lift.outcomes.negative.contains(.judgeProblem), run.verdict?.verdict == .problem else { return [] }
        let exposed = try exposedLessons(in: run.interactionId, rules: lift.outcomes, counted: counted, db: db)
        var retired: [String] = []
        for action in SignalDecision.liftRetirements(exposed, lift: lift, now: run.createdAt) {
            if try apply(action, to: run.interactionId, db: db), case .retire(let lesson, _) = action { retired.append(lesson.id) }
        }
        return retired
    }

    public func judgeRuns(interactionId: String) async throws -> [JudgeRun] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM judge_runs WHERE interaction_id = ? ORDER BY created_at, id", arguments: [interactionId])
                .map(Self.judgeRun)
        }
    }

    public func claimJob(owner: String, now: Date) async throws -> Job? {
        try await database.write { db in
            guard
                let row = try Row.fetchOne(
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

    public func finishJob(
        _ job: Job, owner: String, outcome: JobOutcome, run: JudgeRun?, lesson: (Lesson, LessonEmbedding?)?, lift: LiftPolicy?, now: Date
    ) async throws -> Bool {
        let rules = liftRules.withLock { $0 }
        let (finished, retired) = try await database.write { db -> (Bool, [String]) in
            let (status, runAfter, error): (Job.Status, Date, String?) =
                switch outcome {
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
            guard db.changesCount > 0 else { return (false, []) }
            try Self.insertLesson(lesson, db: db)
            guard let run else { return (true, []) }
            try Self.keepingLiftCounts(of: run.interactionId, rules: rules, db: db) { try Self.insertJudgeRun(run, db: db) }
            return (true, try Self.retireByLift(after: run, lift: lift, counted: rules == lift?.outcomes, db: db))
        }
        if finished, let (lesson, embedding) = lesson { updateIndex(lesson, embedding: embedding) }
        for id in retired { removeFromIndexes(id) }
        return finished
    }

    public func releaseJobs(owner: String?) async throws -> Int {
        try await database.write { db in
            if let owner {
                try db.execute(
                    sql: """
                        UPDATE jobs SET status = 'queued', owner = NULL, attempts = max(attempts - 1, 0) WHERE status = 'running' AND owner = ?
                        """, arguments: [owner])
            } else {
                try db.execute(sql: "UPDATE jobs SET status = 'queued', owner = NULL WHERE status = 'running'")
            }
            return db.changesCount
        }
    }

    public func listJobs(status: Job.Status?, limit: Int) async throws -> [Job] {
        try await database.read { db in
            if let status {
                return try Row.fetchAll(
                    db, sql: "SELECT * FROM jobs WHERE status = ? ORDER BY created_at, id LIMIT ?",
                    arguments: [status.rawValue, limit]
                ).map(Self.job)
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
                run.tokens.prompt, run.tokens.completion, run.latencyMs, run.createdAt
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

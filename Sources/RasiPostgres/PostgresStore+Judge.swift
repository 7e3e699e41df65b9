import Foundation
import PostgresNIO
import RasiCore

// MARK: - Judge runs and jobs

extension PostgresStore: JudgeStore {
    public func recordJudgeRun(_ run: JudgeRun, lesson: (Lesson, LessonEmbedding?)?, lift: LiftPolicy?) async throws {
        let kept = liftRules.withLock { $0 }
        try await write { db in
            try await Self.insertLesson(lesson, db: db)
            try await Self.recordRun(run, lift: lift, kept: kept, db: db)
        }
    }

    /// After a run's verdict is stored: the lessons lift now shows harmful, retired (see
    /// `JudgeStore.recordJudgeRun`). Locks the interaction, then its exposed lessons, in the order
    /// feedback's transaction takes them, so the two decide one after the other.
    /// Logs a run, keeping the lift counts, then retires what its verdict shows harmful.
    static func recordRun(_ run: JudgeRun, lift: LiftPolicy?, kept: OutcomeRules?, db: PostgresConnection) async throws {
        // The interaction first, then its exposed lessons' counts and rows, in the order feedback's transaction takes them.
        try await db.run("SELECT 1 FROM interactions WHERE id = \(run.interactionId) FOR UPDATE")
        try await keepingLiftCounts(of: run.interactionId, rules: kept, db: db) { try await insertJudgeRun(run, db: db) }
        try await retireByLift(after: run, lift: lift, counted: kept == lift?.outcomes, db: db)
    }

    static func retireByLift(after run: JudgeRun, lift: LiftPolicy?, counted: Bool, db: PostgresConnection) async throws {
        guard let lift, lift.outcomes.negative.contains(.judgeProblem), run.verdict?.verdict == .problem else { return }
        let exposed = try await exposedLessons(in: run.interactionId, rules: lift.outcomes, counted: counted, db: db)
        for action in SignalDecision.liftRetirements(exposed, lift: lift, now: run.createdAt) {
            try await apply(action, to: run.interactionId, db: db)
        }
    }

    public func judgeRuns(interactionId: String) async throws -> [JudgeRun] {
        try await read { db in
            try await db.rows("SELECT * FROM judge_runs WHERE interaction_id = \(interactionId) ORDER BY created_at, id").map(Self.judgeRun)
        }
    }

    /// Takes the oldest due job no other replica holds (`SKIP LOCKED`): a queued one, or one
    /// whose holder has kept it past the stale limit, gone with its process.
    public func claimJob(owner: String, now: Date) async throws -> Job? {
        let stale = now.addingTimeInterval(-staleJobAfter)
        return try await write { db in
            try await db.one(
                """
                UPDATE jobs SET status = 'running', owner = \(owner), attempts = attempts + 1, claimed_at = \(now.pg)
                WHERE id = (
                    SELECT id FROM jobs
                    WHERE (status = 'queued' AND run_after <= \(now.pg)) OR (status = 'running' AND claimed_at < \(stale.pg))
                    ORDER BY run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING *
                """
            ).map(Self.job)
        }
    }

    public func finishJob(
        _ job: Job, owner: String, outcome: JobOutcome, run: JudgeRun?, lesson: (Lesson, LessonEmbedding?)?, lift: LiftPolicy?, now: Date
    ) async throws -> Bool {
        let (status, runAfter, error): (Job.Status, Date, String?) =
            switch outcome {
            case .done: (.done, job.runAfter, nil)
            case .retry(let at, let error): (.queued, at, error)
            case .failed(let error): (.failed, job.runAfter, error)
            }
        let kept = liftRules.withLock { $0 }
        return try await write { db in
            let finished = try await db.run(
                """
                UPDATE jobs SET status = \(status.rawValue), owner = NULL, run_after = \(runAfter.pg), last_error = \(error),
                    finished_at = \(status == .queued ? nil : now.pg), claimed_at = NULL
                WHERE id = \(job.id) AND status = 'running' AND owner = \(owner) RETURNING 1
                """)
            guard finished > 0 else { return false }
            try await Self.insertLesson(lesson, db: db)
            if let run { try await Self.recordRun(run, lift: lift, kept: kept, db: db) }
            return true
        }
    }

    /// With an owner, puts its running jobs back (a graceful stop). Without one (at start),
    /// only jobs held past the stale limit: other replicas may be running the rest.
    public func releaseJobs(owner: String?) async throws -> Int {
        try await write { db in
            if let owner {
                return try await db.run(
                    """
                    UPDATE jobs SET status = 'queued', owner = NULL, claimed_at = NULL, attempts = greatest(attempts - 1, 0)
                    WHERE status = 'running' AND owner = \(owner) RETURNING 1
                    """)
            }
            let stale = Date().addingTimeInterval(-staleJobAfter)
            return try await db.run(
                """
                UPDATE jobs SET status = 'queued', owner = NULL, claimed_at = NULL WHERE status = 'running' AND claimed_at < \(stale.pg) RETURNING 1
                """)
        }
    }

    public func listJobs(status: Job.Status?, limit: Int) async throws -> [Job] {
        try await read { db in
            if let status {
                return try await db.rows("SELECT * FROM jobs WHERE status = \(status.rawValue) ORDER BY created_at, id LIMIT \(limit)").map(Self.job)
            }
            return try await db.rows("SELECT * FROM jobs ORDER BY created_at, id LIMIT \(limit)").map(Self.job)
        }
    }

    static func insertJudgeRun(_ run: JudgeRun, db: PostgresConnection) async throws {
        try await db.run(
            """
            INSERT INTO judge_runs (id, interaction_id, job_id, status, model, prompt, outputs, verdict, lesson_id, error,
                prompt_tokens, completion_tokens, latency_ms, created_at)
            VALUES (\(run.id), \(run.interactionId), \(run.jobId), \(run.status.rawValue), \(run.model), \(RasiJSON.string(run.prompt)),
                \(RasiJSON.string(run.outputs)), \(run.verdict.map { RasiJSON.string($0) }), \(run.lessonId), \(run.error),
                \(run.tokens.prompt), \(run.tokens.completion), \(run.latencyMs), \(run.createdAt.pg))
            """)
    }

    static func judgeRun(_ row: PGRow) throws -> JudgeRun {
        JudgeRun(
            id: try row["id"], interactionId: try row["interaction_id"], jobId: try row["job_id"],
            status: JudgeRun.Status(rawValue: try row["status"]) ?? .error, model: try row["model"],
            prompt: row.json([JSONValue].self, "prompt") ?? [], outputs: row.json([String].self, "outputs") ?? [],
            verdict: row.json(JudgeVerdict.self, "verdict"), lessonId: try row["lesson_id"], error: try row["error"],
            tokens: TokenUsage(prompt: try row["prompt_tokens"], completion: try row["completion_tokens"]), latencyMs: try row["latency_ms"],
            createdAt: try row["created_at"])
    }

    static func job(_ row: PGRow) throws -> Job {
        Job(
            id: try row["id"], kind: Job.Kind(rawValue: try row["kind"]) ?? .judge, interactionId: try row["interaction_id"],
            status: Job.Status(rawValue: try row["status"]) ?? .queued, attempts: try row["attempts"], runAfter: try row["run_after"],
            owner: try row["owner"], lastError: try row["last_error"], createdAt: try row["created_at"], finishedAt: try row["finished_at"])
    }
}

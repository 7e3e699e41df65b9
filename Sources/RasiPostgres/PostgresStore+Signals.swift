import Foundation
import PostgresNIO
import RasiCore

// MARK: - Signals and flags

extension PostgresStore: SignalStore {
    /// Who clears a rule's flag when the rule no longer holds, as opposed to a reviewer dismissing it.
    static let rulesActor = "rules"

    @discardableResult
    public func applySignals(interactionId: String, adding feedback: [Feedback], rules: FlagRules, efficacy: EfficacyPolicy, enqueueJudge: Bool, now: Date) async throws -> SignalOutcome {
        try await write { db in
            // Locks the interaction, so two replicas given signals for it at once evaluate the rules one after the other.
            guard let row = try await db.one("SELECT * FROM interactions WHERE id = \(interactionId) FOR UPDATE") else {
                throw RasiError.notFound("interaction \(interactionId)")
            }
            var outcome = SignalOutcome()
            for item in feedback {
                var item = item
                item.interactionId = interactionId
                if try await Self.insertFeedback(item, db: db) { outcome.added.append(item) }
            }
            let interaction = try await Self.interaction(row, db: db, withDetail: true)
            let holding = rules.evaluate(interaction)
            var existing: [FlagRule: (resolved: Bool, byRules: Bool)] = [:]
            for flag in try await db.rows("SELECT rule, resolved_at, resolved_by FROM flags WHERE interaction_id = \(interactionId) AND rule IS NOT NULL") {
                guard let rule = FlagRule(rawValue: try flag["rule"]) else { continue }
                existing[rule] = ((try flag["resolved_at"] as Date?) != nil, (try flag["resolved_by"] as String?) == Self.rulesActor)
            }
            for raised in holding {
                let flag = Flag(rule: raised.rule, reason: raised.reason, createdAt: now)
                switch existing[raised.rule] {
                case nil:
                    try await Self.insertFlag(flag, of: interactionId, db: db)
                case .some((resolved: true, byRules: true)):
                    // Cleared by the rules earlier and holding again (a new rephrase after a thumbs-up).
                    try await db.run("""
                        UPDATE flags SET resolved_at = NULL, resolved_by = NULL, reason = \(flag.reason), created_at = \(now.pg)
                        WHERE interaction_id = \(interactionId) AND rule = \(raised.rule.rawValue)
                        """)
                default:
                    continue // open already, or dismissed by a reviewer
                }
                outcome.raised.append(flag)
            }
            for (rule, state) in existing where !state.resolved && rules.enabled.contains(rule) && !holding.contains(where: { $0.rule == rule }) {
                try await db.run("""
                    UPDATE flags SET resolved_at = \(now.pg), resolved_by = \(Self.rulesActor)
                    WHERE interaction_id = \(interactionId) AND rule = \(rule.rawValue)
                    """)
                outcome.cleared.append(rule)
            }
            if enqueueJudge, outcome.raised.contains(where: { $0.rule?.isJudged == true }) {
                let job = Job(kind: .judge, interactionId: interactionId, runAfter: now, createdAt: now)
                let queued = try await db.run("""
                    INSERT INTO jobs (id, kind, interaction_id, status, attempts, run_after, created_at)
                    VALUES (\(job.id), \(job.kind.rawValue), \(interactionId), 'queued', 0, \(job.runAfter.pg), \(job.createdAt.pg))
                    ON CONFLICT DO NOTHING RETURNING 1
                    """)
                if queued > 0 { outcome.judgeJob = job }
            }
            if !outcome.added.isEmpty, let helpful = EfficacyPolicy.verdict(interaction.feedback) {
                outcome.retired = try await Self.countOutcome(helpful: helpful, of: interactionId, efficacy: efficacy, now: now, db: db)
            }
            return outcome
        }
    }

    /// Counts the interaction's latest outcome for each lesson injected into it, moving a
    /// count when the verdict changed; retires the lessons that became harmful. Returns those.
    static func countOutcome(helpful: Bool, of interactionId: String, efficacy: EfficacyPolicy, now: Date, db: PostgresConnection) async throws -> [String] {
        var retired: [String] = []
        let injected = try await db.rows("SELECT DISTINCT lesson_id FROM injections WHERE interaction_id = \(interactionId) ORDER BY lesson_id")
            .map { try $0["lesson_id"] as String }
        for lessonId in injected {
            let previous: Bool? = try await db.one("""
                SELECT helpful FROM lesson_outcomes WHERE interaction_id = \(interactionId) AND lesson_id = \(lessonId)
                """)?["helpful"]
            guard previous != helpful else { continue }
            try await db.run("""
                INSERT INTO lesson_outcomes (interaction_id, lesson_id, helpful, at) VALUES (\(interactionId), \(lessonId), \(helpful), \(now.pg))
                ON CONFLICT (interaction_id, lesson_id) DO UPDATE SET helpful = excluded.helpful, at = excluded.at
                """)
            let (helpfulDelta, harmfulDelta) = switch (previous, helpful) {
            case (nil, true): (1, 0)
            case (nil, false): (0, 1)
            case (_, true): (1, -1)
            case (_, false): (-1, 1)
            }
            guard let row = try await db.one("""
                UPDATE lessons SET helpful = helpful + \(helpfulDelta), harmful = harmful + \(harmfulDelta) WHERE id = \(lessonId) RETURNING *
                """) else { continue }
            var lesson = try Self.lesson(row)
            guard lesson.status == .active, efficacy.shouldRetire(helpful: lesson.helpful, harmful: lesson.harmful) else { continue }
            lesson.status = .retired
            lesson.version += 1
            lesson.updatedAt = now
            lesson.reviewReason = "retired automatically: harmful in \(lesson.harmful) of \(lesson.helpful + lesson.harmful) rated uses"
            _ = try await updateRow(lesson, db: db)
            try await insertVersion(lesson, changedBy: "rasi (efficacy)", db: db)
            try await insertAudit(AuditEntry(at: now, actor: "rasi (efficacy)", action: "lesson.update", target: lessonId,
                                             detail: "version \(lesson.version), retired: \(lesson.reviewReason ?? "")"), db: db)
            retired.append(lessonId)
        }
        return retired
    }

    public func previousTurn(conversationId: String, before interactionId: String) async throws -> Interaction? {
        try await read { db in
            guard let row = try await db.one("""
                SELECT * FROM interactions WHERE conversation_id = \(conversationId) AND id < \(interactionId) ORDER BY id DESC LIMIT 1
                """) else { return nil }
            return try await Self.interaction(row, db: db, withDetail: false)
        }
    }

    public func unsweptInteractions(updatedBefore cutoff: Date, limit: Int) async throws -> [(interaction: Interaction, followed: Bool)] {
        let found = try await read { db in
            var found: [Pair] = []
            for row in try await db.rows("""
                SELECT i.*, (i.conversation_id IS NULL OR EXISTS (
                    SELECT 1 FROM interactions j WHERE j.conversation_id = i.conversation_id AND j.id > i.id)) AS followed
                FROM interactions i WHERE NOT i.swept AND i.updated_at < \(cutoff.pg) ORDER BY i.updated_at LIMIT \(limit)
                """) {
                found.append(Pair(interaction: try await Self.interaction(row, db: db, withDetail: false), followed: try row["followed"]))
            }
            return found
        }
        return found.map { ($0.interaction, $0.followed) }
    }

    private struct Pair: Sendable {
        var interaction: Interaction
        var followed: Bool
    }

    public func markSwept(_ ids: [String]) async throws {
        guard !ids.isEmpty else { return }
        try await write { db in try await db.run("UPDATE interactions SET swept = true WHERE id = ANY(\(ids))") }
    }

    public func dismissFlags(interactionId: String, by actor: String, at date: Date) async throws -> Int {
        try await write { db in
            guard try await db.one("SELECT EXISTS (SELECT 1 FROM interactions WHERE id = \(interactionId)) AS found")?["found"] == true
            else { throw RasiError.notFound("interaction \(interactionId)") }
            return try await db.run("""
                UPDATE flags SET resolved_at = \(date.pg), resolved_by = \(actor) WHERE interaction_id = \(interactionId) AND resolved_at IS NULL
                RETURNING 1
                """)
        }
    }
}

// MARK: - Judge runs and jobs

extension PostgresStore: JudgeStore {
    public func recordJudgeRun(_ run: JudgeRun, lesson: (Lesson, LessonEmbedding?)?) async throws {
        try await write { db in
            try await Self.insertLesson(lesson, db: db)
            try await Self.insertJudgeRun(run, db: db)
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
            try await db.one("""
                UPDATE jobs SET status = 'running', owner = \(owner), attempts = attempts + 1, claimed_at = \(now.pg)
                WHERE id = (
                    SELECT id FROM jobs
                    WHERE (status = 'queued' AND run_after <= \(now.pg)) OR (status = 'running' AND claimed_at < \(stale.pg))
                    ORDER BY run_after, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING *
                """).map(Self.job)
        }
    }

    public func finishJob(_ job: Job, owner: String, outcome: JobOutcome, run: JudgeRun?, lesson: (Lesson, LessonEmbedding?)?, now: Date) async throws -> Bool {
        let (status, runAfter, error): (Job.Status, Date, String?) = switch outcome {
        case .done: (.done, job.runAfter, nil)
        case .retry(let at, let error): (.queued, at, error)
        case .failed(let error): (.failed, job.runAfter, error)
        }
        return try await write { db in
            let finished = try await db.run("""
                UPDATE jobs SET status = \(status.rawValue), owner = NULL, run_after = \(runAfter.pg), last_error = \(error),
                    finished_at = \(status == .queued ? nil : now.pg), claimed_at = NULL
                WHERE id = \(job.id) AND status = 'running' AND owner = \(owner) RETURNING 1
                """)
            guard finished > 0 else { return false }
            try await Self.insertLesson(lesson, db: db)
            if let run { try await Self.insertJudgeRun(run, db: db) }
            return true
        }
    }

    /// With an owner, puts its running jobs back (a graceful stop). Without one (at start),
    /// only jobs held past the stale limit: other replicas may be running the rest.
    public func releaseJobs(owner: String?) async throws -> Int {
        try await write { db in
            if let owner {
                return try await db.run("""
                    UPDATE jobs SET status = 'queued', owner = NULL, claimed_at = NULL, attempts = greatest(attempts - 1, 0)
                    WHERE status = 'running' AND owner = \(owner) RETURNING 1
                    """)
            }
            let stale = Date().addingTimeInterval(-staleJobAfter)
            return try await db.run("""
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
        try await db.run("""
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

// MARK: - Topics

extension PostgresStore: TopicStore, EvaluationStore {
    public func saveEvaluation(_ report: EvaluationReport) async throws {
        try await write { db in
            try await db.run("""
                INSERT INTO evaluations (id, suite, model, created_at, report) VALUES (\(report.id), \(report.suite), \(report.model), \(report.createdAt.pg), \(RasiJSON.string(report)))
                ON CONFLICT (id) DO UPDATE SET suite = excluded.suite, model = excluded.model, report = excluded.report
                """)
        }
    }

    public func evaluation(id: String) async throws -> EvaluationReport? {
        try await read { db in try await db.one("SELECT report FROM evaluations WHERE id = \(id)")?.json(EvaluationReport.self, "report") }
    }

    public func listEvaluations(limit: Int) async throws -> [EvaluationReport] {
        try await read { db in
            try await db.rows("SELECT report FROM evaluations ORDER BY created_at DESC, id DESC LIMIT \(limit)").compactMap { $0.json(EvaluationReport.self, "report") }
        }
    }

    public func listTopics() async throws -> [Topic] {
        try await read { db in
            try await db.rows("SELECT * FROM topics ORDER BY name").map {
                Topic(name: try $0["name"], description: try $0["description"], examples: $0.json([String].self, "examples") ?? [])
            }
        }
    }

    public func saveTopic(_ topic: Topic, at date: Date) async throws {
        try await write { db in
            try await db.run("""
                INSERT INTO topics (name, description, examples, updated_at) VALUES (\(topic.name), \(topic.description), \(RasiJSON.string(topic.examples)), \(date.pg))
                ON CONFLICT (name) DO UPDATE SET description = excluded.description, examples = excluded.examples, updated_at = excluded.updated_at
                """)
        }
    }

    public func deleteTopic(name: String) async throws -> Bool {
        try await write { db in try await db.run("DELETE FROM topics WHERE name = \(name) RETURNING 1") > 0 }
    }
}

// MARK: - Syntheses

extension PostgresStore: SynthesisStore {
    public func synthesis(key: String) async throws -> Synthesis? {
        try await read { db in try await db.one("SELECT * FROM syntheses WHERE key = \(key)").map(Self.synthesis) }
    }

    public func saveSynthesis(_ s: Synthesis) async throws {
        try await write { db in
            try await db.run("""
                INSERT INTO syntheses (key, agent, prompt, output, model, prompt_tokens, completion_tokens, created_at)
                VALUES (\(s.key), \(s.agent), \(RasiJSON.string(s.prompt)), \(s.output), \(s.model), \(s.tokens.prompt), \(s.tokens.completion), \(s.createdAt.pg))
                ON CONFLICT DO NOTHING
                """)
        }
    }

    public func listSyntheses(limit: Int) async throws -> [Synthesis] {
        try await read { db in try await db.rows("SELECT * FROM syntheses ORDER BY created_at DESC LIMIT \(limit)").map(Self.synthesis) }
    }

    static func synthesis(_ row: PGRow) throws -> Synthesis {
        Synthesis(
            key: try row["key"], agent: try row["agent"], prompt: row.json([JSONValue].self, "prompt") ?? [],
            output: try row["output"], model: try row["model"],
            tokens: TokenUsage(prompt: try row["prompt_tokens"], completion: try row["completion_tokens"]), createdAt: try row["created_at"])
    }
}

// MARK: - Retention, user deletion, audit, leases

extension PostgresStore: PrivacyStore {
    public func purgeInteractions(olderThan date: Date) async throws -> PurgeCount {
        try await purge { "created_at < \($0.bind(date.pg))" }
    }

    public func purgeUser(_ userId: String) async throws -> PurgeCount {
        try await purge { "user_id = \($0.bind(userId))" }
    }

    /// Deletes in batches of 1,000 interactions, each batch one transaction; the foreign keys
    /// cascade to steps, feedback, flags, injections, outcomes, judge runs and jobs.
    private func purge(where condition: (inout SQLBuilder) -> String) async throws -> PurgeCount {
        var sql = SQLBuilder()
        let matching = condition(&sql)
        let query = sql.query("""
            WITH gone AS (
                DELETE FROM interactions WHERE id IN (SELECT id FROM interactions WHERE \(matching) LIMIT 1000 FOR UPDATE SKIP LOCKED)
                RETURNING id)
            SELECT (SELECT count(*) FROM gone) AS interactions,
                   (SELECT count(*) FROM feedback WHERE interaction_id IN (SELECT id FROM gone)) AS feedback,
                   (SELECT count(*) FROM judge_runs WHERE interaction_id IN (SELECT id FROM gone)) AS judge_runs
            """)
        var count = PurgeCount()
        while true {
            let batch = try await write { db -> PurgeCount in
                guard let row = try await db.one(query) else { return PurgeCount() }
                var batch = PurgeCount()
                batch.interactions = try row["interactions"]
                batch.feedback = try row["feedback"]
                batch.judgeRuns = try row["judge_runs"]
                return batch
            }
            count.interactions += batch.interactions
            count.feedback += batch.feedback
            count.judgeRuns += batch.judgeRuns
            if batch.interactions < 1000 { return count }
        }
    }

    public func recordAudit(_ entry: AuditEntry) async throws {
        try await write { db in try await Self.insertAudit(entry, db: db) }
    }

    static func insertAudit(_ entry: AuditEntry, db: PostgresConnection) async throws {
        try await db.run("""
            INSERT INTO audit_log (at, actor, action, target, detail) VALUES (\(entry.at.pg), \(entry.actor), \(entry.action), \(entry.target), \(entry.detail))
            """)
    }

    public func listAudit(limit: Int, before: Int?) async throws -> [AuditEntry] {
        try await read { db in
            try await db.rows("SELECT * FROM audit_log WHERE id < \(before ?? Int.max) ORDER BY id DESC LIMIT \(limit)").map {
                AuditEntry(id: try $0["id"], at: try $0["at"], actor: try $0["actor"], action: try $0["action"], target: try $0["target"],
                           detail: try $0["detail"])
            }
        }
    }
}

extension PostgresStore: LeaseStore {
    public func acquireLease(_ name: String, holder: String, until: Date, now: Date) async throws -> Bool {
        try await write { db in
            try await db.run("""
                INSERT INTO leases (name, holder, until) VALUES (\(name), \(holder), \(until.pg))
                ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                WHERE leases.holder = excluded.holder OR leases.until < \(now.pg)
                RETURNING 1
                """) > 0
        }
    }
}

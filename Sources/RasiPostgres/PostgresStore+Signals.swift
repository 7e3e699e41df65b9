import Foundation
import PostgresNIO
import RasiCore

// MARK: - Signals and flags

extension PostgresStore: SignalStore {
    /// Reads the `SignalState` in one transaction, and applies what `SignalDecision` makes of it there.
    @discardableResult
    public func applySignals(
        interactionId: String, adding feedback: [Feedback], rules: FlagRules, efficacy: EfficacyPolicy, lift: LiftPolicy?, enqueueJudge: Bool,
        now: Date
    ) async throws -> SignalOutcome {
        let kept = liftRules.withLock { $0 }
        return try await write { db in
            // Locks the interaction, so two replicas given signals for it at once evaluate the rules one after the other.
            guard let row = try await db.one("SELECT * FROM interactions WHERE id = \(interactionId) FOR UPDATE") else {
                throw RasiError.notFound("interaction \(interactionId)")
            }
            let added = try await Self.keepingLiftCounts(of: interactionId, rules: kept, db: db) {
                var added: [Feedback] = []
                for item in feedback {
                    var item = item
                    item.interactionId = interactionId
                    if try await Self.insertFeedback(item, db: db) { added.append(item) }
                }
                return added
            }
            var outcome = SignalOutcome()
            outcome.added = added
            let interaction = try await Self.interaction(row, db: db, withDetail: true)
            var state = SignalState(interaction: interaction, added: outcome.added, ruleFlags: try await Self.ruleFlags(of: interactionId, db: db))
            // The exposed lessons (a superset of the injected ones) are locked first, in id order.
            if let lift, !outcome.added.isEmpty {
                state.exposed = try await Self.exposedLessons(in: interactionId, rules: lift.outcomes, counted: kept == lift.outcomes, db: db)
            }
            if state.lessonOutcome != nil { state.injected = try await Self.injectedLessons(in: interactionId, db: db) }
            for action in SignalDecision.decide(state, rules: rules, efficacy: efficacy, lift: lift, enqueueJudge: enqueueJudge, now: now) {
                outcome.record(action, applied: try await Self.apply(action, to: interactionId, db: db))
            }
            return outcome
        }
    }

    static func ruleFlags(of interactionId: String, db: PostgresConnection) async throws -> [FlagRule: RuleFlagState] {
        var flags: [FlagRule: RuleFlagState] = [:]
        for row in try await db.rows(
            """
            SELECT rule, resolved_at, resolved_by FROM flags WHERE interaction_id = \(interactionId) AND rule IS NOT NULL
            """)
        {
            guard let rule = FlagRule(rawValue: try row["rule"]) else { continue }
            flags[rule] = RuleFlagState(resolvedAt: try row["resolved_at"], resolvedBy: try row["resolved_by"])
        }
        return flags
    }

    /// The lessons injected into the interaction, by id, with the outcome counted for each so far.
    /// Their rows are locked (in id order, as every counting transaction takes them) so that the
    /// counts the decision sees are the ones it moves: another interaction's feedback waits.
    static func injectedLessons(in interactionId: String, db: PostgresConnection) async throws -> [InjectedLesson] {
        let counted = try await db.rows(
            """
            SELECT i.lesson_id, o.helpful AS counted FROM (SELECT DISTINCT lesson_id FROM injections WHERE interaction_id = \(interactionId) AND arm = 'treatment') i
            LEFT JOIN lesson_outcomes o ON o.interaction_id = \(interactionId) AND o.lesson_id = i.lesson_id
            ORDER BY i.lesson_id
            """
        ).map { (id: try $0["lesson_id"] as String, counted: try $0["counted"] as Bool?) }
        guard !counted.isEmpty else { return [] }
        var lessons: [String: Lesson] = [:]
        for row in try await db.rows("SELECT * FROM lessons WHERE id = ANY(\(counted.map(\.id))) ORDER BY id FOR UPDATE") {
            let lesson = try Self.lesson(row)
            lessons[lesson.id] = lesson
        }
        return counted.map { InjectedLesson(lessonId: $0.id, counted: $0.counted, lesson: lessons[$0.id]) }
    }

    /// Applies one of `SignalDecision`'s actions; false when it changed nothing (a judge job the interaction had).
    static func apply(_ action: SignalAction, to interactionId: String, db: PostgresConnection) async throws -> Bool {
        switch action {
        case .raise(let flag):
            try await insertFlag(flag, of: interactionId, db: db)
        case .reopen(let flag):
            try await db.run(
                """
                UPDATE flags SET resolved_at = NULL, resolved_by = NULL, reason = \(flag.reason), created_at = \(flag.createdAt.pg)
                WHERE interaction_id = \(interactionId) AND rule = \(flag.rule?.rawValue)
                """)
        case .clear(let rule, let date):
            try await db.run(
                """
                UPDATE flags SET resolved_at = \(date.pg), resolved_by = \(SignalDecision.rulesActor)
                WHERE interaction_id = \(interactionId) AND rule = \(rule.rawValue)
                """)
        case .enqueue(let job):
            return try await db.run(
                """
                INSERT INTO jobs (id, kind, interaction_id, status, attempts, run_after, created_at)
                VALUES (\(job.id), \(job.kind.rawValue), \(job.interactionId), 'queued', 0, \(job.runAfter.pg), \(job.createdAt.pg))
                ON CONFLICT DO NOTHING RETURNING 1
                """) > 0
        case .count(let outcome):
            try await db.run(
                """
                INSERT INTO lesson_outcomes (interaction_id, lesson_id, helpful, at)
                VALUES (\(interactionId), \(outcome.lessonId), \(outcome.helpful), \(outcome.at.pg))
                ON CONFLICT (interaction_id, lesson_id) DO UPDATE SET helpful = excluded.helpful, at = excluded.at
                """)
            try await db.run(
                """
                UPDATE lessons SET helpful = helpful + \(outcome.helpfulDelta), harmful = harmful + \(outcome.harmfulDelta)
                WHERE id = \(outcome.lessonId)
                """)
        case .retire(let lesson, let audit):
            _ = try await updateRow(lesson, db: db)
            try await insertVersion(lesson, changedBy: audit.actor, db: db)
            try await insertAudit(audit, db: db)
        }
        return true
    }

    public func previousTurn(conversationId: String, before interactionId: String) async throws -> Interaction? {
        try await read { db in
            guard
                let row = try await db.one(
                    """
                    SELECT * FROM interactions WHERE conversation_id = \(conversationId) AND id < \(interactionId) ORDER BY id DESC LIMIT 1
                    """)
            else { return nil }
            return try await Self.interaction(row, db: db, withDetail: false)
        }
    }

    public func unsweptInteractions(updatedBefore cutoff: Date, limit: Int) async throws -> [(interaction: Interaction, followed: Bool)] {
        let found = try await read { db in
            var found: [Pair] = []
            for row in try await db.rows(
                """
                SELECT i.*, (i.conversation_id IS NULL OR EXISTS (
                    SELECT 1 FROM interactions j WHERE j.conversation_id = i.conversation_id AND j.id > i.id)) AS followed
                FROM interactions i WHERE NOT i.swept AND i.updated_at < \(cutoff.pg) ORDER BY i.updated_at LIMIT \(limit)
                """)
            {
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
            return try await db.run(
                """
                UPDATE flags SET resolved_at = \(date.pg), resolved_by = \(actor) WHERE interaction_id = \(interactionId) AND resolved_at IS NULL
                RETURNING 1
                """)
        }
    }
}

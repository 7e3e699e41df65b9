import Foundation
import GRDB
import RasiCore

// MARK: - Signals and flags

extension SQLiteStore: SignalStore {
    /// Reads the `SignalState` in one write transaction, and applies what `SignalDecision` makes of it there.
    @discardableResult
    public func applySignals(
        interactionId: String, adding feedback: [Feedback], rules: FlagRules, efficacy: EfficacyPolicy, lift: LiftPolicy?, enqueueJudge: Bool,
        now: Date
    ) async throws -> SignalOutcome {
        let kept = liftRules.withLock { $0 }
        let outcome = try await database.write { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM interactions WHERE id = ?", arguments: [interactionId]) else {
                throw RasiError.notFound("interaction \(interactionId)")
            }
            var outcome = SignalOutcome()
            try Self.keepingLiftCounts(of: interactionId, rules: kept, db: db) {
                for item in feedback {
                    var item = item
                    item.interactionId = interactionId
                    if try Self.insertFeedback(item, db: db) { outcome.added.append(item) }
                }
            }
            let interaction = try Self.interaction(row, db: db, withDetail: true)
            var state = SignalState(interaction: interaction, added: outcome.added, ruleFlags: try Self.ruleFlags(of: interactionId, db: db))
            if state.lessonOutcome != nil { state.injected = try Self.injectedLessons(in: interactionId, db: db) }
            if let lift, !outcome.added.isEmpty {
                state.exposed = try Self.exposedLessons(in: interactionId, rules: lift.outcomes, counted: kept == lift.outcomes, db: db)
            }
            for action in SignalDecision.decide(state, rules: rules, efficacy: efficacy, lift: lift, enqueueJudge: enqueueJudge, now: now) {
                outcome.record(action, applied: try Self.apply(action, to: interactionId, db: db))
            }
            return outcome
        }
        for id in outcome.retired { removeFromIndexes(id) }
        return outcome
    }

    static func ruleFlags(of interactionId: String, db: Database) throws -> [FlagRule: RuleFlagState] {
        var flags: [FlagRule: RuleFlagState] = [:]
        let rows = try Row.fetchAll(
            db, sql: "SELECT rule, resolved_at, resolved_by FROM flags WHERE interaction_id = ? AND rule IS NOT NULL",
            arguments: [interactionId])
        for row in rows {
            guard let rule = FlagRule(rawValue: row["rule"]) else { continue }
            flags[rule] = RuleFlagState(resolvedAt: row["resolved_at"], resolvedBy: row["resolved_by"])
        }
        return flags
    }

    /// The lessons injected into the interaction, by id, with the outcome counted for each so far.
    static func injectedLessons(in interactionId: String, db: Database) throws -> [InjectedLesson] {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT \(lessonColumns), i.lesson_id AS injected_id, o.helpful AS counted
                FROM (SELECT DISTINCT lesson_id FROM injections WHERE interaction_id = ? AND arm = 'treatment') i
                LEFT JOIN lesson_outcomes o ON o.interaction_id = ? AND o.lesson_id = i.lesson_id
                LEFT JOIN lessons l ON l.id = i.lesson_id
                ORDER BY i.lesson_id
                """, arguments: [interactionId, interactionId])
        return rows.map { row in
            InjectedLesson(lessonId: row["injected_id"], counted: row["counted"], lesson: (row[0] as String?) == nil ? nil : lesson(row))
        }
    }

    /// Applies one of `SignalDecision`'s actions; false when it changed nothing (a judge job the interaction had).
    static func apply(_ action: SignalAction, to interactionId: String, db: Database) throws -> Bool {
        switch action {
        case .raise(let flag):
            try insertFlag(flag, of: interactionId, db: db)
        case .reopen(let flag):
            try db.execute(
                sql: """
                    UPDATE flags SET resolved_at = NULL, resolved_by = NULL, reason = ?, created_at = ? WHERE interaction_id = ? AND rule = ?
                    """, arguments: [flag.reason, flag.createdAt, interactionId, flag.rule?.rawValue])
        case .clear(let rule, let date):
            try db.execute(
                sql: "UPDATE flags SET resolved_at = ?, resolved_by = ? WHERE interaction_id = ? AND rule = ?",
                arguments: [date, SignalDecision.rulesActor, interactionId, rule.rawValue])
        case .enqueue(let job):
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO jobs (id, kind, interaction_id, status, attempts, run_after, created_at) VALUES (?, ?, ?, 'queued', 0, ?, ?)
                    """, arguments: [job.id, job.kind.rawValue, job.interactionId, job.runAfter, job.createdAt])
            return db.changesCount > 0
        case .count(let outcome):
            try db.execute(
                sql: "INSERT OR REPLACE INTO lesson_outcomes (interaction_id, lesson_id, helpful, at) VALUES (?, ?, ?, ?)",
                arguments: [interactionId, outcome.lessonId, outcome.helpful, outcome.at])
            try db.execute(
                sql: "UPDATE lessons SET helpful = helpful + ?, harmful = harmful + ? WHERE id = ?",
                arguments: [outcome.helpfulDelta, outcome.harmfulDelta, outcome.lessonId])
        case .retire(let lesson, let audit):
            try upsertLesson(lesson, insert: false, db: db)
            try insertVersion(lesson, changedBy: audit.actor, db: db)
            try insertAudit(audit, db: db)
        }
        return true
    }

    public func previousTurn(conversationId: String, before interactionId: String) async throws -> Interaction? {
        try await database.read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM interactions WHERE conversation_id = ? AND id < ? ORDER BY id DESC LIMIT 1",
                arguments: [conversationId, interactionId]
            )
            .map { try Self.interaction($0, db: db, withDetail: false) }
        }
    }

    public func unsweptInteractions(updatedBefore cutoff: Date, limit: Int) async throws -> [(interaction: Interaction, followed: Bool)] {
        try await database.read { db in
            let rows = try Row.fetchAll(
                db,
                sql: """
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
            try db.execute(
                sql: "UPDATE flags SET resolved_at = ?, resolved_by = ? WHERE interaction_id = ? AND resolved_at IS NULL",
                arguments: [date, actor, interactionId])
            return db.changesCount
        }
    }
}

import Foundation
import GRDB
import RasiCore

// MARK: - Interactions

extension SQLiteStore: InteractionStore {
    public func createInteraction(_ interaction: Interaction, turnKey: String?, injections: [Injection]) async throws {
        let rules = liftRules.withLock { $0 }
        try await commits.write { db in
            try Self.insertInteraction(interaction, turnKey: turnKey, db: db)
            try Self.insertInjections(injections, liftRules: rules, into: interaction, db: db)
        }
    }

    public func importInteractions(_ interactions: [Interaction]) async throws {
        let rules = liftRules.withLock { $0 }
        try await database.write { db in
            for interaction in interactions { try Self.insertInteraction(interaction, turnKey: nil, db: db) }
            // Their feedback may change outcomes that lessons' counts include.
            if let rules { try Self.rebuildLiftCounts(rules: rules, db: db) }
        }
    }

    static func insertInteraction(_ interaction: Interaction, turnKey: String?, db: Database) throws {
        try db.executeCached(
            sql: """
                INSERT INTO interactions (id, agent, conversation_id, user_id, turn_key, request, messages, response, model, api,
                    latency_ms, prompt_tokens, completion_tokens, lessons_injected, topic, error, created_at, updated_at, call_open_by,
                    lessons_withheld)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                interaction.id, interaction.agent, interaction.conversationId, interaction.userId, turnKey,
                interaction.request, RasiJSON.string(interaction.messages), interaction.response, interaction.model, interaction.api?.rawValue,
                interaction.latencyMs, interaction.tokens.prompt, interaction.tokens.completion,
                RasiJSON.string(interaction.lessonsInjected), interaction.topic, interaction.error,
                interaction.createdAt, interaction.updatedAt, interaction.callOpenBy, RasiJSON.string(interaction.lessonsWithheld)
            ])
        try Self.insertSteps(interaction.steps, of: interaction.id, db: db)
        for feedback in interaction.feedback { _ = try Self.insertFeedback(feedback, db: db) }
        for flag in interaction.flags { try Self.insertFlag(flag, of: interaction.id, db: db) }
    }

    /// Stores feedback; false when it is an implicit signal the interaction already has.
    static func insertFeedback(_ feedback: Feedback, db: Database) throws -> Bool {
        try db.executeCached(
            sql: "INSERT OR IGNORE INTO feedback (id, interaction_id, rating, comment, source, signal, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [
                feedback.id, feedback.interactionId, feedback.rating?.rawValue, feedback.comment, feedback.source.rawValue,
                feedback.signal?.rawValue, feedback.createdAt
            ])
        return db.changesCount > 0
    }

    public func updateInteraction(_ interaction: Interaction, appendingSteps steps: [Step], injections: [Injection], responseId: String?)
        async throws
    {
        let rules = liftRules.withLock { $0 }
        try await commits.write { db in
            try db.executeCached(
                sql: """
                    UPDATE interactions SET messages = ?, response = ?, model = ?, api = coalesce(?, api), latency_ms = ?,
                        prompt_tokens = ?, completion_tokens = ?, lessons_injected = ?, topic = ?, error = ?, updated_at = ?,
                        call_open_by = ?, lessons_withheld = ?
                    WHERE id = ?
                    """,
                arguments: [
                    RasiJSON.string(interaction.messages), interaction.response, interaction.model, interaction.api?.rawValue,
                    interaction.latencyMs, interaction.tokens.prompt, interaction.tokens.completion,
                    RasiJSON.string(interaction.lessonsInjected), interaction.topic, interaction.error, interaction.updatedAt,
                    interaction.callOpenBy, RasiJSON.string(interaction.lessonsWithheld), interaction.id
                ])
            guard db.changesCount > 0 else { throw RasiError.notFound("interaction \(interaction.id)") }
            try Self.insertSteps(steps, of: interaction.id, db: db)
            try Self.insertInjections(injections, liftRules: rules, db: db)
            if let responseId {
                try db.executeCached(
                    sql: "INSERT OR IGNORE INTO response_ids (response_id, interaction_id, created_at) VALUES (?, ?, ?)",
                    arguments: [responseId, interaction.id, Date()])
            }
        }
    }

    public func interaction(id: String) async throws -> Interaction? {
        try await database.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM interactions WHERE id = ?", arguments: [id]) else { return nil }
            return try Self.interaction(row, db: db, withDetail: true)
        }
    }

    public func interaction(responseId: String) async throws -> Interaction? {
        try await database.read { db in
            guard
                let row = try Row.fetchOne(
                    db, sql: "SELECT i.* FROM response_ids r JOIN interactions i ON i.id = r.interaction_id WHERE r.response_id = ?",
                    arguments: [responseId])
            else { return nil }
            return try Self.interaction(row, db: db, withDetail: true)
        }
    }

    public func interaction(turnKey: String, since: Date) async throws -> Interaction? {
        try await database.read { db in
            guard
                let row = try Row.fetchOne(
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
            if let agent = filter.agent {
                clauses.append("i.agent = ?")
                arguments += [agent]
            }
            if let api = filter.api {
                clauses.append("i.api = ?")
                arguments += [api.rawValue]
            }
            if let topic = filter.topic {
                clauses.append("i.topic = ?")
                arguments += [topic]
            }
            if let since = filter.since {
                clauses.append("i.created_at >= ?")
                arguments += [since]
            }
            if let before = filter.before {
                clauses.append(filter.oldestFirst ? "i.id > ?" : "i.id < ?")
                arguments += [before]
            }
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

    /// Inserts the injections, counting the exposures they add under `liftRules`; `new` is the
    /// interaction just inserted with them, when it is.
    static func insertInjections(_ injections: [Injection], liftRules: OutcomeRules?, into new: Interaction? = nil, db: Database) throws {
        try countExposures(injections, rules: liftRules, into: new, db: db)
        let now = Date()
        for injection in injections {
            try db.executeCached(
                sql: "INSERT INTO injections (interaction_id, lesson_id, version, rank, score, at, arm) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    injection.interactionId, injection.lessonId, injection.version, injection.rank, injection.score, now, injection.arm.rawValue
                ])
        }
    }

    public func injections(lessonId: String, limit: Int) async throws -> [Injection] {
        try await database.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM injections WHERE lesson_id = ? ORDER BY at DESC, rowid DESC LIMIT ?",
                arguments: [lessonId, limit]
            ).map {
                Injection(
                    interactionId: $0["interaction_id"], lessonId: lessonId, version: $0["version"], rank: $0["rank"], score: $0["score"],
                    arm: ExposureArm(rawValue: $0["arm"]) ?? .treatment, at: $0["at"])
            }
        }
    }

    public func toolNames(interactionIds: [String]) async throws -> [String: [String]] {
        guard !interactionIds.isEmpty else { return [:] }
        return try await database.read { db in
            let placeholders = Self.placeholders(interactionIds.count)
            var names: [String: [String]] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT interaction_id, name FROM steps WHERE kind = 'tool_call' \
                    AND interaction_id IN (\(placeholders)) ORDER BY interaction_id, seq
                    """, arguments: StatementArguments(interactionIds))
            {
                names[row["interaction_id"], default: []].append(row["name"] ?? "?")
            }
            return names
        }
    }

    static func insertSteps(_ steps: [Step], of interactionId: String, db: Database) throws {
        guard !steps.isEmpty else { return }
        var seq =
            try Int.fetchOne(
                db.cachedStatement(sql: "SELECT coalesce(max(seq), 0) FROM steps WHERE interaction_id = ?"),
                arguments: [interactionId]) ?? 0
        for step in steps {
            seq += 1
            try db.executeCached(
                sql: "INSERT INTO steps (interaction_id, seq, kind, name, arguments, content, call_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [interactionId, seq, step.kind.rawValue, step.name, step.arguments, step.content, step.callId, step.at])
        }
    }

    static func insertFlag(_ flag: Flag, of interactionId: String, db: Database) throws {
        try db.executeCached(
            sql: "INSERT OR IGNORE INTO flags (interaction_id, rule, reason, created_at) VALUES (?, ?, ?, ?)",
            arguments: [interactionId, flag.rule?.rawValue, flag.reason, flag.createdAt])
    }

    /// Builds an interaction from its row; `withDetail` adds messages and steps, which lists leave out.
    static func interaction(_ row: Row, db: Database, withDetail: Bool) throws -> Interaction {
        let id: String = row["id"]
        var interaction = Interaction(
            id: id, agent: row["agent"], conversationId: row["conversation_id"], userId: row["user_id"],
            request: row["request"], messages: .null, response: row["response"], model: row["model"],
            api: (row["api"] as String?).flatMap(AgentAPI.init), latencyMs: row["latency_ms"],
            tokens: TokenUsage(prompt: row["prompt_tokens"] ?? 0, completion: row["completion_tokens"] ?? 0),
            lessonsInjected: json([String].self, row, "lessons_injected") ?? [],
            topic: row["topic"], error: row["error"], createdAt: row["created_at"], updatedAt: row["updated_at"])
        interaction.callOpenBy = row["call_open_by"]
        interaction.lessonsWithheld = json([String].self, row, "lessons_withheld") ?? []
        interaction.flags = try Row.fetchAll(
            db, sql: "SELECT rule, reason, created_at FROM flags WHERE interaction_id = ? AND resolved_at IS NULL ORDER BY id", arguments: [id]
        ).map { Flag(rule: ($0["rule"] as String?).flatMap(FlagRule.init), reason: $0["reason"], createdAt: $0["created_at"]) }
        interaction.feedback = try Row.fetchAll(db, sql: "SELECT * FROM feedback WHERE interaction_id = ? ORDER BY id", arguments: [id]).map {
            Feedback(
                id: $0["id"], interactionId: id, rating: ($0["rating"] as String?).flatMap(Rating.init), comment: $0["comment"],
                source: FeedbackSource(rawValue: $0["source"]) ?? .user, signal: ($0["signal"] as String?).flatMap(Signal.init),
                createdAt: $0["created_at"])
        }
        if withDetail {
            interaction.messages = json(JSONValue.self, row, "messages") ?? .null
            interaction.steps = try Row.fetchAll(db, sql: "SELECT * FROM steps WHERE interaction_id = ? ORDER BY seq", arguments: [id]).map {
                Step(
                    kind: Step.Kind(rawValue: $0["kind"]) ?? .message, name: $0["name"], arguments: $0["arguments"],
                    content: $0["content"], callId: $0["call_id"], at: $0["at"])
            }
        }
        return interaction
    }

    public func markInterruptedCalls(error: String, leasePrefix: String, now: Date) async throws -> [String] {
        try await database.write { db in
            // Read, then written, in one write transaction: nothing can open or end a call in between.
            let marked = try String.fetchAll(
                db,
                sql: """
                    SELECT id FROM interactions i WHERE call_open_by IS NOT NULL
                        AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.name = ? || i.call_open_by AND l.until >= ?)
                    """, arguments: [leasePrefix, now])
            for id in marked {
                try db.execute(
                    sql: "UPDATE interactions SET error = coalesce(error, ?), call_open_by = NULL, updated_at = ? WHERE id = ?",
                    arguments: [error, now, id])
            }
            try db.execute(
                sql: "DELETE FROM leases WHERE substr(name, 1, length(?)) = ? AND until < ?", arguments: [leasePrefix, leasePrefix, now])
            return marked
        }
    }

    /// An FTS5 query matching every word (quoted, so user text cannot inject FTS syntax).
    static func matchAll(_ words: [String]) -> String? {
        words.isEmpty ? nil : words.map { "\"\($0)\"" }.joined(separator: " AND ")
    }
}

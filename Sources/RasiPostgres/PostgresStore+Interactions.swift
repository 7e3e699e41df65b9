import Foundation
import PostgresNIO
import RasiCore

// MARK: - Interactions

extension PostgresStore: InteractionStore {
    public func createInteraction(_ interaction: Interaction, turnKey: String?, injections: [Injection]) async throws {
        let rules = liftRules.withLock { $0 }
        try await write { db in
            try await Self.insertInteraction(interaction, turnKey: turnKey, db: db)
            try await Self.insertInjections(injections, liftRules: rules, into: interaction, db: db)
        }
    }

    public func importInteractions(_ interactions: [Interaction]) async throws {
        let rules = liftRules.withLock { $0 }
        try await write { db in
            for interaction in interactions { try await Self.insertInteraction(interaction, turnKey: nil, db: db) }
            // Their feedback may change outcomes that lessons' counts include.
            if let rules {
                try await db.run("LOCK TABLE lift_counts, lift_rules IN EXCLUSIVE MODE")
                try await Self.rebuildLiftCounts(rules: rules, db: db)
            }
        }
    }

    static func insertInteraction(_ i: Interaction, turnKey: String?, db: PostgresConnection) async throws {
        try await db.run(
            """
            INSERT INTO interactions (id, agent, conversation_id, user_id, turn_key, request, messages, response, model, api,
                latency_ms, prompt_tokens, completion_tokens, lessons_injected, topic, error, created_at, updated_at, call_open_by,
                lessons_withheld)
            VALUES (\(i.id), \(i.agent), \(i.conversationId), \(i.userId), \(turnKey), \(i.request), \(RasiJSON.string(i.messages)),
                \(i.response), \(i.model), \(i.api?.rawValue), \(i.latencyMs), \(i.tokens.prompt), \(i.tokens.completion),
                \(RasiJSON.string(i.lessonsInjected)), \(i.topic), \(i.error), \(i.createdAt.pg), \(i.updatedAt.pg),
                \(i.callOpenBy), \(RasiJSON.string(i.lessonsWithheld)))
            """)
        try await insertSteps(i.steps, of: i.id, db: db)
        for feedback in i.feedback { _ = try await insertFeedback(feedback, db: db) }
        for flag in i.flags { try await insertFlag(flag, of: i.id, db: db) }
    }

    /// Stores feedback; false when it is an implicit signal the interaction already has.
    static func insertFeedback(_ f: Feedback, db: PostgresConnection) async throws -> Bool {
        try await db.run(
            """
            INSERT INTO feedback (id, interaction_id, rating, comment, source, signal, created_at)
            VALUES (\(f.id), \(f.interactionId), \(f.rating?.rawValue), \(f.comment), \(f.source.rawValue), \(f.signal?.rawValue), \(f.createdAt.pg))
            ON CONFLICT DO NOTHING RETURNING 1
            """) > 0
    }

    public func updateInteraction(_ i: Interaction, appendingSteps steps: [Step], injections: [Injection], responseId: String?) async throws {
        let rules = liftRules.withLock { $0 }
        try await write { db in
            let updated = try await db.run(
                """
                UPDATE interactions SET messages = \(RasiJSON.string(i.messages)), response = \(i.response), model = \(i.model),
                    api = coalesce(\(i.api?.rawValue), api), latency_ms = \(i.latencyMs), prompt_tokens = \(i.tokens.prompt),
                    completion_tokens = \(i.tokens.completion), lessons_injected = \(RasiJSON.string(i.lessonsInjected)),
                    topic = \(i.topic), error = \(i.error), updated_at = \(i.updatedAt.pg), call_open_by = \(i.callOpenBy),
                    lessons_withheld = \(RasiJSON.string(i.lessonsWithheld))
                WHERE id = \(i.id) RETURNING 1
                """)
            guard updated > 0 else { throw RasiError.notFound("interaction \(i.id)") }
            try await Self.insertSteps(steps, of: i.id, db: db)
            try await Self.insertInjections(injections, liftRules: rules, db: db)
            if let responseId {
                try await db.run(
                    """
                    INSERT INTO response_ids (response_id, interaction_id, created_at) VALUES (\(responseId), \(i.id), \(Date().pg))
                    ON CONFLICT (response_id) DO NOTHING
                    """)
            }
        }
    }

    public func interaction(id: String) async throws -> Interaction? {
        try await read { db in
            guard let row = try await db.one("SELECT * FROM interactions WHERE id = \(id)") else { return nil }
            return try await Self.interaction(row, db: db, withDetail: true)
        }
    }

    public func interaction(responseId: String) async throws -> Interaction? {
        try await read { db in
            guard
                let row = try await db.one(
                    "SELECT i.* FROM response_ids r JOIN interactions i ON i.id = r.interaction_id WHERE r.response_id = \(responseId)")
            else { return nil }
            return try await Self.interaction(row, db: db, withDetail: true)
        }
    }

    public func interaction(turnKey: String, since: Date) async throws -> Interaction? {
        try await read { db in
            guard
                let row = try await db.one(
                    """
                    SELECT * FROM interactions WHERE turn_key = \(turnKey) AND updated_at >= \(since.pg) ORDER BY id DESC LIMIT 1
                    """)
            else { return nil }
            return try await Self.interaction(row, db: db, withDetail: true)
        }
    }

    public func listInteractions(_ filter: InteractionFilter) async throws -> [Interaction] {
        var sql = SQLBuilder()
        var clauses: [String] = []
        if let agent = filter.agent { clauses.append("i.agent = \(sql.bind(agent))") }
        if let api = filter.api { clauses.append("i.api = \(sql.bind(api.rawValue))") }
        if let topic = filter.topic { clauses.append("i.topic = \(sql.bind(topic))") }
        if let since = filter.since { clauses.append("i.created_at >= \(sql.bind(since.pg))") }
        if let before = filter.before { clauses.append((filter.oldestFirst ? "i.id > " : "i.id < ") + sql.bind(before)) }
        if let flagged = filter.flagged {
            clauses.append((flagged ? "" : "NOT ") + "EXISTS (SELECT 1 FROM flags f WHERE f.interaction_id = i.id AND f.resolved_at IS NULL)")
        }
        if let feedback = filter.feedback {
            switch feedback {
            case .up, .down:
                clauses.append("EXISTS (SELECT 1 FROM feedback b WHERE b.interaction_id = i.id AND b.rating = \(sql.bind(feedback.rawValue)))")
            case .any: clauses.append("EXISTS (SELECT 1 FROM feedback b WHERE b.interaction_id = i.id)")
            case .none: clauses.append("NOT EXISTS (SELECT 1 FROM feedback b WHERE b.interaction_id = i.id)")
            }
        }
        if let text = filter.text, let query = Self.allWords(TextTerms.words(text)) {
            clauses.append("i.search @@ to_tsquery('english', \(sql.bind(query)))")
        }
        let whereSQL = clauses.isEmpty ? "" : "WHERE " + clauses.joined(separator: " AND ")
        let limit = sql.bind(filter.limit)
        let query = sql.query("SELECT i.* FROM interactions i \(whereSQL) ORDER BY i.id \(filter.oldestFirst ? "ASC" : "DESC") LIMIT \(limit)")
        return try await read { db in
            var interactions: [Interaction] = []
            for row in try await db.rows(query) { interactions.append(try await Self.interaction(row, db: db, withDetail: false)) }
            return interactions
        }
    }

    /// Inserts the injections, counting the exposures they add under `liftRules`; `new` is the
    /// interaction just inserted with them, when it is.
    static func insertInjections(
        _ injections: [Injection], liftRules: OutcomeRules?, into new: Interaction? = nil, db: PostgresConnection
    ) async throws {
        try await countExposures(injections, rules: liftRules, into: new, db: db)
        let now = Date()
        for j in injections {
            try await db.run(
                """
                INSERT INTO injections (interaction_id, lesson_id, version, rank, score, at, arm)
                VALUES (\(j.interactionId), \(j.lessonId), \(j.version), \(j.rank), \(j.score), \(now.pg), \(j.arm.rawValue))
                """)
        }
    }

    public func injections(lessonId: String, limit: Int) async throws -> [Injection] {
        try await read { db in
            try await db.rows("SELECT * FROM injections WHERE lesson_id = \(lessonId) ORDER BY at DESC, id DESC LIMIT \(limit)").map {
                Injection(
                    interactionId: try $0["interaction_id"], lessonId: lessonId, version: try $0["version"], rank: try $0["rank"],
                    score: try $0["score"], arm: ExposureArm(rawValue: try $0["arm"]) ?? .treatment, at: try $0["at"])
            }
        }
    }

    public func toolNames(interactionIds: [String]) async throws -> [String: [String]] {
        guard !interactionIds.isEmpty else { return [:] }
        return try await read { db in
            var names: [String: [String]] = [:]
            for row in try await db.rows(
                """
                SELECT interaction_id, name FROM steps WHERE kind = 'tool_call' AND interaction_id = ANY(\(interactionIds))
                ORDER BY interaction_id, seq
                """)
            {
                names[try row["interaction_id"], default: []].append(try row["name"] ?? "?")
            }
            return names
        }
    }

    static func insertSteps(_ steps: [Step], of interactionId: String, db: PostgresConnection) async throws {
        guard !steps.isEmpty else { return }
        var seq: Int = try await db.one("SELECT coalesce(max(seq), 0) AS seq FROM steps WHERE interaction_id = \(interactionId)")?["seq"] ?? 0
        for step in steps {
            seq += 1
            try await db.run(
                """
                INSERT INTO steps (interaction_id, seq, kind, name, arguments, content, call_id, at)
                VALUES (\(interactionId), \(seq), \(step.kind.rawValue), \(step.name), \(step.arguments), \(step.content),
                        \(step.callId), \(step.at.pg))
                """)
        }
    }

    static func insertFlag(_ flag: Flag, of interactionId: String, db: PostgresConnection) async throws {
        try await db.run(
            """
            INSERT INTO flags (interaction_id, rule, reason, created_at)
            VALUES (\(interactionId), \(flag.rule?.rawValue), \(flag.reason), \(flag.createdAt.pg))
            ON CONFLICT DO NOTHING
            """)
    }

    /// Builds an interaction from its row; `withDetail` adds messages and steps, which lists leave out.
    static func interaction(_ row: PGRow, db: PostgresConnection, withDetail: Bool) async throws -> Interaction {
        let id: String = try row["id"]
        var interaction = Interaction(
            id: id, agent: try row["agent"], conversationId: try row["conversation_id"], userId: try row["user_id"],
            request: try row["request"], messages: .null, response: try row["response"], model: try row["model"],
            api: (try row["api"] as String?).flatMap(AgentAPI.init), latencyMs: try row["latency_ms"],
            tokens: TokenUsage(prompt: try row["prompt_tokens"], completion: try row["completion_tokens"]),
            lessonsInjected: row.json([String].self, "lessons_injected") ?? [],
            topic: try row["topic"], error: try row["error"], createdAt: try row["created_at"], updatedAt: try row["updated_at"])
        interaction.callOpenBy = try row["call_open_by"]
        interaction.lessonsWithheld = row.json([String].self, "lessons_withheld") ?? []
        interaction.flags = try await db.rows(
            """
            SELECT rule, reason, created_at FROM flags WHERE interaction_id = \(id) AND resolved_at IS NULL ORDER BY id
            """
        ).map { Flag(rule: (try $0["rule"] as String?).flatMap(FlagRule.init), reason: try $0["reason"], createdAt: try $0["created_at"]) }
        interaction.feedback = try await db.rows("SELECT * FROM feedback WHERE interaction_id = \(id) ORDER BY id").map {
            Feedback(
                id: try $0["id"], interactionId: id, rating: (try $0["rating"] as String?).flatMap(Rating.init), comment: try $0["comment"],
                source: FeedbackSource(rawValue: try $0["source"]) ?? .user, signal: (try $0["signal"] as String?).flatMap(Signal.init),
                createdAt: try $0["created_at"])
        }
        if withDetail {
            interaction.messages = row.json(JSONValue.self, "messages") ?? .null
            interaction.steps = try await db.rows("SELECT * FROM steps WHERE interaction_id = \(id) ORDER BY seq").map {
                Step(
                    kind: Step.Kind(rawValue: try $0["kind"]) ?? .message, name: try $0["name"], arguments: try $0["arguments"],
                    content: try $0["content"], callId: try $0["call_id"], at: try $0["at"])
            }
        }
        return interaction
    }

    public func markInterruptedCalls(error: String, leasePrefix: String, now: Date) async throws -> [String] {
        try await write { db in
            // Two replicas marking at once mark each call once: the second's update finds it no longer open.
            let marked: [String] = try await db.rows(
                """
                UPDATE interactions i SET error = coalesce(i.error, \(error)), call_open_by = NULL, updated_at = \(now.pg)
                WHERE i.call_open_by IS NOT NULL
                    AND NOT EXISTS (SELECT 1 FROM leases l WHERE l.name = \(leasePrefix) || i.call_open_by AND l.until >= \(now.pg))
                RETURNING i.id
                """
            ).map { try $0["id"] }
            try await db.run("DELETE FROM leases WHERE left(name, length(\(leasePrefix))) = \(leasePrefix) AND until < \(now.pg)")
            return marked
        }
    }

    /// A `to_tsquery` text matching every word; only letters and digits get in (`queryWords`),
    /// so user text cannot inject query syntax.
    static func allWords(_ words: [String]) -> String? {
        let clean = queryWords(words)
        return clean.isEmpty ? nil : clean.joined(separator: " & ")
    }

    /// The distinct words of a query, lowercased, with only their letters and digits (nothing
    /// that `to_tsquery` reads as an operator), sorted.
    static func queryWords(_ words: [String]) -> [String] {
        Set(words.map { String($0.lowercased().filter { $0.isLetter || $0.isNumber }) }).filter { !$0.isEmpty }.sorted()
    }
}

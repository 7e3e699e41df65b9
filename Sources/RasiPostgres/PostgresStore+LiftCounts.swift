import Foundation
import PostgresNIO
import RasiCore

// MARK: - Lift counts: each lesson's exposures per arm and their outcomes, kept as they change

extension PostgresStore {
    static let problemVerdict = "(r.verdict::jsonb ->> 'verdict') = 'problem'"

    /// Rebuilds with the table locked, so writes by other replicas wait and then apply to the rebuilt counts.
    public func prepareLiftCounts(rules: OutcomeRules) async throws -> Bool {
        let rebuilt = try await write { db -> Bool in
            try await db.run("LOCK TABLE lift_counts, lift_rules IN EXCLUSIVE MODE")
            let stored = try await db.one("SELECT negative FROM lift_rules WHERE id = 1").flatMap { row -> OutcomeRules? in
                (try? row["negative"] as String).flatMap(OutcomeRules.init(signature:))
            }
            guard stored != rules else { return false }
            try await Self.rebuildLiftCounts(rules: rules, db: db)
            return true
        }
        liftRules.withLock { $0 = rules }
        return rebuilt
    }

    static func rebuildLiftCounts(rules: OutcomeRules, db: PostgresConnection) async throws {
        let (negative, positive) = rules.sqlConditions(interaction: "e.interaction_id", problemVerdict: problemVerdict, never: "false")
        try await db.run("DELETE FROM lift_counts")
        try await db.run(
            PostgresQuery(
                unsafeSQL: """
                    INSERT INTO lift_counts (lesson_id, agent, arm, exposures, negative, positive)
                    SELECT e.lesson_id, min(e.agent), e.arm, count(*), sum(CASE WHEN \(negative) THEN 1 ELSE 0 END),
                        sum(CASE WHEN NOT (\(negative)) AND \(positive) THEN 1 ELSE 0 END)
                    FROM (SELECT DISTINCT j.interaction_id, j.lesson_id, j.arm, i.agent FROM injections j JOIN interactions i ON i.id = j.interaction_id) e
                    GROUP BY e.lesson_id, e.arm
                    """))
        try await db.run(
            """
            INSERT INTO lift_rules (id, negative) VALUES (1, \(rules.signature)) ON CONFLICT (id) DO UPDATE SET negative = EXCLUDED.negative
            """)
    }

    /// -1 when the interaction's outcome is negative under `rules`, 1 when positive, 0 when unknown.
    static func liftOutcome(of interactionId: String, rules: OutcomeRules, db: PostgresConnection) async throws -> Int {
        let (negative, positive) = rules.sqlConditions(interaction: "x.id", problemVerdict: problemVerdict, never: "false")
        let row = try await db.one(
            PostgresQuery(
                unsafeSQL: "SELECT CASE WHEN \(negative) THEN -1 WHEN \(positive) THEN 1 ELSE 0 END AS o FROM interactions x WHERE x.id = $1",
                binds: binds(interactionId)))
        return try row.map { try $0["o"] as Int } ?? 0
    }

    /// Runs `change` (a write that may change the interaction's outcome) and moves the counts of
    /// the lessons exposed in it from its outcome before to its outcome after. The counts' rows
    /// are locked in key order first, as exposures take them, so two writers never wait on each other in a circle.
    static func keepingLiftCounts<T: Sendable>(
        of interactionId: String, rules: OutcomeRules?, db: PostgresConnection, _ change: () async throws -> T
    ) async throws -> T {
        guard let rules else { return try await change() }
        let before = try await liftOutcome(of: interactionId, rules: rules, db: db)
        let result = try await change()
        let after = try await liftOutcome(of: interactionId, rules: rules, db: db)
        guard before != after else { return result }
        try await db.run(
            """
            SELECT 1 FROM lift_counts
            WHERE (lesson_id, arm) IN (SELECT DISTINCT lesson_id, arm FROM injections WHERE interaction_id = \(interactionId))
            ORDER BY lesson_id, arm FOR UPDATE
            """)
        try await db.run(
            """
            UPDATE lift_counts SET negative = negative + \((after == -1 ? 1 : 0) - (before == -1 ? 1 : 0)),
                positive = positive + \((after == 1 ? 1 : 0) - (before == 1 ? 1 : 0))
            WHERE (lesson_id, arm) IN (SELECT DISTINCT lesson_id, arm FROM injections WHERE interaction_id = \(interactionId))
            """)
        return result
    }

    /// Counts the exposures `injections` add: each lesson and arm new to its interaction, with the
    /// interaction's outcome so far, in key order. Called before they are inserted. For an
    /// interaction `created` in this transaction nothing is read: it has no exposures yet, and no
    /// outcome unless it came with feedback.
    static func countExposures(
        _ injections: [Injection], rules: OutcomeRules?, into created: Interaction? = nil, db: PostgresConnection
    ) async throws {
        guard let rules, !injections.isEmpty else { return }
        for (interactionId, added) in Dictionary(grouping: injections, by: \.interactionId).sorted(by: { $0.key < $1.key }) {
            let isNew = created?.id == interactionId
            var seen = Set<String>()
            if !isNew {
                for row in try await db.rows("SELECT DISTINCT lesson_id, arm FROM injections WHERE interaction_id = \(interactionId)") {
                    seen.insert("\(try row["lesson_id"] as String) \(try row["arm"] as String)")
                }
            }
            let new = added.filter { seen.insert("\($0.lessonId) \($0.arm.rawValue)").inserted }
                .sorted { ($0.lessonId, $0.arm.rawValue) < ($1.lessonId, $1.arm.rawValue) }
            guard !new.isEmpty else { continue }
            let outcome = isNew && created?.feedback.isEmpty == true ? 0 : try await liftOutcome(of: interactionId, rules: rules, db: db)
            for injection in new {
                try await db.run(
                    """
                    INSERT INTO lift_counts (lesson_id, agent, arm, exposures, negative, positive)
                    VALUES (\(injection.lessonId), coalesce((SELECT agent FROM interactions WHERE id = \(interactionId)), ''),
                        \(injection.arm.rawValue), 1, \(outcome == -1 ? 1 : 0), \(outcome == 1 ? 1 : 0))
                    ON CONFLICT (lesson_id, arm) DO UPDATE SET exposures = lift_counts.exposures + 1,
                        negative = lift_counts.negative + EXCLUDED.negative, positive = lift_counts.positive + EXCLUDED.positive
                    """)
            }
        }
    }

    /// A lesson's counts by arm, or an agent's summed over its lessons.
    static func countedArms(lessonId: String? = nil, agent: String? = nil, db: PostgresConnection) async throws -> (
        treatment: LiftArm, control: LiftArm
    ) {
        let (column, value) = lessonId.map { ("lesson_id", $0) } ?? ("agent", agent ?? "")
        var arms: [ExposureArm: LiftArm] = [:]
        for row in try await db.rows(
            PostgresQuery(
                unsafeSQL: """
                    SELECT arm, sum(exposures)::int AS e, sum(negative)::int AS n, sum(positive)::int AS p FROM lift_counts
                    WHERE \(column) = $1 GROUP BY arm
                    """, binds: binds(value)))
        {
            guard let arm = ExposureArm(rawValue: try row["arm"]) else { continue }
            arms[arm] = LiftArm(exposures: try row["e"], negative: try row["n"], positive: try row["p"])
        }
        let none = LiftArm(exposures: 0, negative: 0, positive: 0)
        return (arms[.treatment] ?? none, arms[.control] ?? none)
    }

    func keptUnder(_ rules: OutcomeRules) -> Bool {
        liftRules.withLock { $0 == rules }
    }
}

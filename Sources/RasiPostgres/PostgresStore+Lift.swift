import Foundation
import PostgresNIO
import RasiCore

// MARK: - Lift: exposures by arm, and their outcomes

extension PostgresStore: LiftStore {
    public func liftArms(lessonId: String, rules: OutcomeRules) async throws -> (treatment: LiftArm, control: LiftArm) {
        let counted = keptUnder(rules)
        return try await read { db in
            if counted { return try await Self.countedArms(lessonId: lessonId, db: db) }
            return try await Self.arms(
                exposures: "SELECT DISTINCT interaction_id, arm FROM injections WHERE lesson_id = $1", Self.binds(lessonId), rules: rules, db: db)
        }
    }

    public func liftArms(agent: String, rules: OutcomeRules) async throws -> (treatment: LiftArm, control: LiftArm) {
        let counted = keptUnder(rules)
        return try await read { db in
            if counted { return try await Self.countedArms(agent: agent, db: db) }
            return try await Self.arms(
                exposures: """
                    SELECT DISTINCT j.interaction_id, j.lesson_id, j.arm FROM injections j JOIN interactions i ON i.id = j.interaction_id
                    WHERE i.agent = $1
                    """, Self.binds(agent), rules: rules, db: db)
        }
    }

    /// Counts the exposures `exposures` selects (rows with `interaction_id` and `arm`) by arm,
    /// with their negative and positive outcomes under `rules`.
    static func arms(exposures: String, _ binds: PostgresBindings, rules: OutcomeRules, db: PostgresConnection) async throws -> (
        treatment: LiftArm, control: LiftArm
    ) {
        let (negative, positive) = rules.sqlConditions(
            interaction: "e.interaction_id", problemVerdict: "(r.verdict::jsonb ->> 'verdict') = 'problem'", never: "false")
        var arms: [ExposureArm: LiftArm] = [:]
        let query = PostgresQuery(
            unsafeSQL: """
                SELECT e.arm, count(*)::int AS exposures, coalesce(sum(CASE WHEN \(negative) THEN 1 ELSE 0 END), 0)::int AS negative,
                    coalesce(sum(CASE WHEN NOT (\(negative)) AND \(positive) THEN 1 ELSE 0 END), 0)::int AS positive
                FROM (\(exposures)) e GROUP BY e.arm
                """, binds: binds)
        for row in try await db.rows(query) {
            guard let arm = ExposureArm(rawValue: try row["arm"]) else { continue }
            arms[arm] = LiftArm(exposures: try row["exposures"], negative: try row["negative"], positive: try row["positive"])
        }
        let none = LiftArm(exposures: 0, negative: 0, positive: 0)
        return (arms[.treatment] ?? none, arms[.control] ?? none)
    }

    /// Every lesson exposed in the interaction, either arm, locked in id order (before the
    /// injected ones, a subset, are locked again), with its figures as they stand in this transaction.
    static func exposedLessons(in interactionId: String, rules: OutcomeRules, counted: Bool, db: PostgresConnection) async throws -> [ExposedLesson] {
        let rows = try await db.rows(
            """
            SELECT * FROM lessons WHERE id IN (SELECT DISTINCT lesson_id FROM injections WHERE interaction_id = \(interactionId))
            ORDER BY id FOR UPDATE
            """)
        var exposed: [ExposedLesson] = []
        for row in rows {
            let lesson = try Self.lesson(row)
            let figures =
                counted
                ? try await countedArms(lessonId: lesson.id, db: db)
                : try await arms(
                    exposures: "SELECT DISTINCT interaction_id, arm FROM injections WHERE lesson_id = $1", Self.binds(lesson.id), rules: rules, db: db
                )
            exposed.append(ExposedLesson(lesson: lesson, treatment: figures.treatment, control: figures.control))
        }
        return exposed
    }
}

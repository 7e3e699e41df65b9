import Foundation
import GRDB
import RasiCore

// MARK: - Lift: exposures by arm, and their outcomes

extension SQLiteStore: LiftStore {
    public func liftArms(lessonId: String, rules: OutcomeRules) async throws -> (treatment: LiftArm, control: LiftArm) {
        let counted = keptUnder(rules)
        return try await database.read { db in
            if counted { return try Self.countedArms(lessonId: lessonId, db: db) }
            return try Self.arms(
                exposures: "SELECT DISTINCT interaction_id, arm FROM injections WHERE lesson_id = ?", [lessonId], rules: rules, db: db)
        }
    }

    public func liftArms(agent: String, rules: OutcomeRules) async throws -> (treatment: LiftArm, control: LiftArm) {
        let counted = keptUnder(rules)
        return try await database.read { db in
            if counted { return try Self.countedArms(agent: agent, db: db) }
            return try Self.arms(
                exposures: """
                    SELECT DISTINCT j.interaction_id, j.lesson_id, j.arm FROM injections j JOIN interactions i ON i.id = j.interaction_id
                    WHERE i.agent = ?
                    """, [agent], rules: rules, db: db)
        }
    }

    /// Counts the exposures `exposures` selects (rows with `interaction_id` and `arm`) by arm,
    /// with their negative and positive outcomes under `rules`.
    static func arms(exposures: String, _ arguments: StatementArguments, rules: OutcomeRules, db: Database) throws -> (
        treatment: LiftArm, control: LiftArm
    ) {
        let (negative, positive) = rules.sqlConditions(
            interaction: "e.interaction_id", problemVerdict: "json_extract(r.verdict, '$.verdict') = 'problem'", never: "0")
        var arms: [ExposureArm: LiftArm] = [:]
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT e.arm, COUNT(*) AS exposures, SUM(CASE WHEN \(negative) THEN 1 ELSE 0 END) AS negative,
                    SUM(CASE WHEN NOT (\(negative)) AND \(positive) THEN 1 ELSE 0 END) AS positive
                FROM (\(exposures)) e GROUP BY e.arm
                """, arguments: arguments)
        for row in rows {
            guard let arm = ExposureArm(rawValue: row["arm"]) else { continue }
            arms[arm] = LiftArm(exposures: row["exposures"], negative: row["negative"] ?? 0, positive: row["positive"] ?? 0)
        }
        let none = LiftArm(exposures: 0, negative: 0, positive: 0)
        return (arms[.treatment] ?? none, arms[.control] ?? none)
    }

    /// Every lesson exposed in the interaction, either arm, with its figures as they stand in this
    /// transaction: from the kept counts when they are `counted` under `rules`, else counted now.
    static func exposedLessons(in interactionId: String, rules: OutcomeRules, counted: Bool, db: Database) throws -> [ExposedLesson] {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT \(lessonColumns) FROM lessons l
                WHERE l.id IN (SELECT DISTINCT lesson_id FROM injections WHERE interaction_id = ?) ORDER BY l.id
                """, arguments: [interactionId])
        return try rows.map(lesson).map { lesson in
            let figures =
                counted
                ? try countedArms(lessonId: lesson.id, db: db)
                : try arms(exposures: "SELECT DISTINCT interaction_id, arm FROM injections WHERE lesson_id = ?", [lesson.id], rules: rules, db: db)
            return ExposedLesson(lesson: lesson, treatment: figures.treatment, control: figures.control)
        }
    }
}

import Foundation
import GRDB
import RasiCore

// MARK: - Lift: exposures by arm, and their outcomes

extension SQLiteStore: LiftStore {
    public func liftArms(lessonId: String, rules: OutcomeRules) async throws -> (treatment: LiftArm, control: LiftArm) {
        try await database.read { db in
            try Self.arms(exposures: "SELECT DISTINCT interaction_id, arm FROM injections WHERE lesson_id = ?", [lessonId], rules: rules, db: db)
        }
    }

    public func liftArms(agent: String, rules: OutcomeRules) async throws -> (treatment: LiftArm, control: LiftArm) {
        try await database.read { db in
            try Self.arms(
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
        let (negative, positive) = outcomeSQL(rules, interaction: "e.interaction_id")
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

    /// SQL conditions on the interaction named by `interaction`: its outcome is negative, positive.
    static func outcomeSQL(_ rules: OutcomeRules, interaction: String) -> (negative: String, positive: String) {
        var feedback: [String] = []
        if rules.negative.contains(.thumbsDown) { feedback.append("f.rating = 'down'") }
        let signals = rules.negativeSignals.map { "'\($0.rawValue)'" }
        if !signals.isEmpty { feedback.append("f.signal IN (\(signals.joined(separator: ", ")))") }
        var negative: [String] = []
        if !feedback.isEmpty {
            negative.append("EXISTS (SELECT 1 FROM feedback f WHERE f.interaction_id = \(interaction) AND (\(feedback.joined(separator: " OR "))))")
        }
        if rules.negative.contains(.judgeProblem) {
            negative.append(
                "EXISTS (SELECT 1 FROM judge_runs r WHERE r.interaction_id = \(interaction) AND json_extract(r.verdict, '$.verdict') = 'problem')")
        }
        let positive = "EXISTS (SELECT 1 FROM feedback f WHERE f.interaction_id = \(interaction) AND f.rating = 'up')"
        return (negative.isEmpty ? "0" : "(" + negative.joined(separator: " OR ") + ")", positive)
    }

    /// Every lesson exposed in the interaction, either arm, with its figures as they stand in this transaction.
    static func exposedLessons(in interactionId: String, rules: OutcomeRules, db: Database) throws -> [ExposedLesson] {
        let rows = try Row.fetchAll(
            db,
            sql: """
                SELECT \(lessonColumns) FROM lessons l
                WHERE l.id IN (SELECT DISTINCT lesson_id FROM injections WHERE interaction_id = ?) ORDER BY l.id
                """, arguments: [interactionId])
        return try rows.map(lesson).map { lesson in
            let figures = try arms(
                exposures: "SELECT DISTINCT interaction_id, arm FROM injections WHERE lesson_id = ?", [lesson.id], rules: rules, db: db)
            return ExposedLesson(lesson: lesson, treatment: figures.treatment, control: figures.control)
        }
    }
}

import Foundation
import GRDB
import RasiCore

// MARK: - Lift counts: each lesson's exposures per arm and their outcomes, kept as they change

extension SQLiteStore {
    public func prepareLiftCounts(rules: OutcomeRules) async throws -> Bool {
        let rebuilt = try await database.write { db -> Bool in
            guard try Self.storedLiftRules(db) != rules else { return false }
            try Self.rebuildLiftCounts(rules: rules, db: db)
            return true
        }
        liftRules.withLock { $0 = rules }
        return rebuilt
    }

    static func storedLiftRules(_ db: Database) throws -> OutcomeRules? {
        try String.fetchOne(db, sql: "SELECT negative FROM lift_rules WHERE id = 1").flatMap(OutcomeRules.init(signature:))
    }

    /// Counts every exposure and outcome stored, under `rules`.
    static func rebuildLiftCounts(rules: OutcomeRules, db: Database) throws {
        let (negative, positive) = rules.sqlConditions(
            interaction: "e.interaction_id", problemVerdict: "json_extract(r.verdict, '$.verdict') = 'problem'", never: "0")
        try db.execute(sql: "DELETE FROM lift_counts")
        try db.execute(
            sql: """
                INSERT INTO lift_counts (lesson_id, agent, arm, exposures, negative, positive)
                SELECT e.lesson_id, min(e.agent), e.arm, COUNT(*), SUM(CASE WHEN \(negative) THEN 1 ELSE 0 END),
                    SUM(CASE WHEN NOT (\(negative)) AND \(positive) THEN 1 ELSE 0 END)
                FROM (SELECT DISTINCT j.interaction_id, j.lesson_id, j.arm, i.agent FROM injections j JOIN interactions i ON i.id = j.interaction_id) e
                GROUP BY e.lesson_id, e.arm
                """)
        try db.execute(sql: "INSERT OR REPLACE INTO lift_rules (id, negative) VALUES (1, ?)", arguments: [rules.signature])
    }

    /// -1 when the interaction's outcome is negative under `rules`, 1 when positive, 0 when unknown.
    static func liftOutcome(of interactionId: String, rules: OutcomeRules, db: Database) throws -> Int {
        let (negative, positive) = rules.sqlConditions(
            interaction: "x.id", problemVerdict: "json_extract(r.verdict, '$.verdict') = 'problem'", never: "0")
        return try Int.fetchOne(
            db, sql: "SELECT CASE WHEN \(negative) THEN -1 WHEN \(positive) THEN 1 ELSE 0 END FROM interactions x WHERE x.id = ?",
            arguments: [interactionId]) ?? 0
    }

    /// Runs `change` (a write that may change the interaction's outcome: feedback, a judge run) and
    /// moves the counts of the lessons exposed in it from its outcome before to its outcome after.
    static func keepingLiftCounts<T>(of interactionId: String, rules: OutcomeRules?, db: Database, _ change: () throws -> T) throws -> T {
        guard let rules else { return try change() }
        let before = try liftOutcome(of: interactionId, rules: rules, db: db)
        let result = try change()
        let after = try liftOutcome(of: interactionId, rules: rules, db: db)
        guard before != after else { return result }
        try db.execute(
            sql: """
                UPDATE lift_counts SET negative = negative + ?, positive = positive + ?
                WHERE (lesson_id, arm) IN (SELECT DISTINCT lesson_id, arm FROM injections WHERE interaction_id = ?)
                """,
            arguments: [(after == -1 ? 1 : 0) - (before == -1 ? 1 : 0), (after == 1 ? 1 : 0) - (before == 1 ? 1 : 0), interactionId])
        return result
    }

    /// Counts the exposures `injections` add: each lesson and arm new to its interaction, with the
    /// interaction's outcome so far. Called before they are inserted. For an interaction `created`
    /// in this transaction (a gateway call's first write) nothing is read: it has no exposures yet,
    /// and no outcome unless it came with feedback.
    static func countExposures(_ injections: [Injection], rules: OutcomeRules?, into created: Interaction? = nil, db: Database) throws {
        guard let rules, !injections.isEmpty else { return }
        for (interactionId, added) in Dictionary(grouping: injections, by: \.interactionId) {
            let isNew = created?.id == interactionId
            var seen =
                isNew
                ? Set<String>()
                : Set(
                    try Row.fetchAll(
                        db, sql: "SELECT DISTINCT lesson_id, arm FROM injections WHERE interaction_id = ?", arguments: [interactionId]
                    ).map { "\($0["lesson_id"] as String) \($0["arm"] as String)" })
            let new = added.filter { seen.insert("\($0.lessonId) \($0.arm.rawValue)").inserted }
            guard !new.isEmpty else { continue }
            let outcome = isNew && created?.feedback.isEmpty == true ? 0 : try liftOutcome(of: interactionId, rules: rules, db: db)
            for injection in new {
                try db.executeCached(
                    sql: """
                        INSERT INTO lift_counts (lesson_id, agent, arm, exposures, negative, positive)
                        VALUES (?, coalesce((SELECT agent FROM interactions WHERE id = ?), ''), ?, 1, ?, ?)
                        ON CONFLICT (lesson_id, arm) DO UPDATE SET exposures = exposures + 1,
                            negative = negative + excluded.negative, positive = positive + excluded.positive
                        """,
                    arguments: [injection.lessonId, interactionId, injection.arm.rawValue, outcome == -1 ? 1 : 0, outcome == 1 ? 1 : 0])
            }
        }
    }

    /// A lesson's counts by arm, or an agent's summed over its lessons.
    static func countedArms(lessonId: String? = nil, agent: String? = nil, db: Database) throws -> (treatment: LiftArm, control: LiftArm) {
        let (column, value) = lessonId.map { ("lesson_id", $0) } ?? ("agent", agent ?? "")
        var arms: [ExposureArm: LiftArm] = [:]
        for row in try Row.fetchAll(
            db,
            sql: "SELECT arm, SUM(exposures) AS e, SUM(negative) AS n, SUM(positive) AS p FROM lift_counts WHERE \(column) = ? GROUP BY arm",
            arguments: [value])
        {
            guard let arm = ExposureArm(rawValue: row["arm"]) else { continue }
            arms[arm] = LiftArm(exposures: row["e"], negative: row["n"], positive: row["p"])
        }
        let none = LiftArm(exposures: 0, negative: 0, positive: 0)
        return (arms[.treatment] ?? none, arms[.control] ?? none)
    }

    /// The rules counts are kept under, when they are `rules`: reads can use them.
    func keptUnder(_ rules: OutcomeRules) -> Bool {
        liftRules.withLock { $0 == rules }
    }
}

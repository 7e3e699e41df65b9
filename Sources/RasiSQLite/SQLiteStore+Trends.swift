import Foundation
import GRDB
import RasiCore

// MARK: - Trends: outcomes, exposures and lessons per hour or day

extension SQLiteStore: TrendStore {
    public func trendCounts(_ query: TrendQuery, rules: OutcomeRules) async throws -> [Date: TrendCounts] {
        try await database.read { db in
            var counts: [Date: TrendCounts] = [:]
            let bucket = { (column: String) in Self.bucketStart(column, query.bucket) }
            let problem = "json_extract(r.verdict, '$.verdict') = 'problem'"
            let (filter, arguments) = Self.trendFilter(query, interaction: "i")

            let outcome = rules.sqlConditions(interaction: "i.id", problemVerdict: problem, never: "0")
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT \(bucket("i.created_at")) AS b, COUNT(*) AS n, SUM(CASE WHEN \(outcome.negative) THEN 1 ELSE 0 END) AS negative,
                        SUM(CASE WHEN NOT (\(outcome.negative)) AND \(outcome.positive) THEN 1 ELSE 0 END) AS positive
                    FROM interactions i WHERE \(filter) GROUP BY b
                    """, arguments: arguments)
            {
                let start: Date = row["b"]
                counts[start, default: TrendCounts()].interactions = row["n"]
                counts[start, default: TrendCounts()].negative = row["negative"] ?? 0
                counts[start, default: TrendCounts()].positive = row["positive"] ?? 0
            }

            let exposure = rules.sqlConditions(interaction: "e.interaction_id", problemVerdict: problem, never: "0")
            let ownOnly = query.lessonId == nil ? "" : " AND j.lesson_id = ?"
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT e.b, e.arm, COUNT(*) AS n, SUM(CASE WHEN \(exposure.negative) THEN 1 ELSE 0 END) AS negative,
                        SUM(CASE WHEN NOT (\(exposure.negative)) AND \(exposure.positive) THEN 1 ELSE 0 END) AS positive
                    FROM (SELECT DISTINCT j.interaction_id, j.lesson_id, j.arm, \(bucket("i.created_at")) AS b
                        FROM injections j JOIN interactions i ON i.id = j.interaction_id WHERE \(filter)\(ownOnly)) e
                    GROUP BY e.b, e.arm
                    """, arguments: arguments + StatementArguments(query.lessonId.map { [$0] } ?? []))
            {
                let start: Date = row["b"]
                let arm = LiftArm(exposures: row["n"], negative: row["negative"] ?? 0, positive: row["positive"] ?? 0)
                switch ExposureArm(rawValue: row["arm"]) {
                case .treatment: counts[start, default: TrendCounts()].treatment = arm
                case .control: counts[start, default: TrendCounts()].control = arm
                case nil: continue
                }
            }

            // A lesson's first version is its creation; a retired version after one that was not, its retirement.
            let (lessons, lessonArguments) = Self.trendLessonFilter(query)
            for (event, condition) in [
                (0, "NOT EXISTS (SELECT 1 FROM lesson_versions p WHERE p.lesson_id = v.lesson_id AND p.version < v.version)"),
                (
                    1,
                    """
                    json_extract(v.snapshot, '$.status') = 'retired' AND EXISTS (SELECT 1 FROM lesson_versions p
                        WHERE p.lesson_id = v.lesson_id AND p.version = v.version - 1 AND json_extract(p.snapshot, '$.status') <> 'retired')
                    """
                )
            ] {
                for row in try Row.fetchAll(
                    db,
                    sql: "SELECT \(bucket("v.changed_at")) AS b, COUNT(*) AS n FROM lesson_versions v WHERE \(lessons) AND \(condition) GROUP BY b",
                    arguments: lessonArguments)
                {
                    let start: Date = row["b"]
                    if event == 0 {
                        counts[start, default: TrendCounts()].lessonsCreated = row["n"]
                    } else {
                        counts[start, default: TrendCounts()].lessonsRetired = row["n"]
                    }
                }
            }
            return counts
        }
    }

    public func busiest(byTopic: Bool, in query: TrendQuery, limit: Int) async throws -> [(name: String, interactions: Int)] {
        try await database.read { db in
            let (filter, arguments) = Self.trendFilter(query, interaction: "i")
            let column = byTopic ? "i.topic" : "i.agent"
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT \(column) AS name, COUNT(*) AS n FROM interactions i WHERE \(filter) AND \(column) IS NOT NULL
                    GROUP BY name ORDER BY n DESC, name LIMIT ?
                    """, arguments: arguments + [limit]
            ).map { ($0["name"], $0["n"]) }
        }
    }

    /// The start of the hour or day of a stored time (GRDB stores `yyyy-MM-dd HH:mm:ss.SSS`, UTC).
    static func bucketStart(_ column: String, _ bucket: TrendQuery.Bucket) -> String {
        bucket == .hour ? "substr(\(column), 1, 13) || ':00:00'" : "substr(\(column), 1, 10) || ' 00:00:00'"
    }

    /// The interactions `query` covers, for the interactions table aliased `i`.
    static func trendFilter(_ query: TrendQuery, interaction i: String) -> (String, StatementArguments) {
        trendConditions(
            query, time: "\(i).created_at", agent: "\(i).agent", topic: "\(i).topic",
            lesson: "\(i).id IN (SELECT interaction_id FROM injections WHERE lesson_id = ?)")
    }

    /// The lesson versions `query` covers, for `lesson_versions` aliased `v`: the agent and topic are the version's own.
    static func trendLessonFilter(_ query: TrendQuery) -> (String, StatementArguments) {
        trendConditions(
            query, time: "v.changed_at", agent: "json_extract(v.snapshot, '$.agent')", topic: "json_extract(v.snapshot, '$.topic')",
            lesson: "v.lesson_id = ?")
    }

    /// `query`'s span and filters over the given columns; `lesson` is a condition on one argument, the lesson id.
    static func trendConditions(_ query: TrendQuery, time: String, agent: String, topic: String, lesson: String) -> (String, StatementArguments) {
        var conditions = ["\(time) >= ?", "\(time) < ?"]
        var arguments: StatementArguments = [query.since, query.until]
        for (condition, value) in [("\(agent) = ?", query.agent), ("\(topic) = ?", query.topic), (lesson, query.lessonId)] {
            guard let value else { continue }
            conditions.append(condition)
            arguments += [value]
        }
        return (conditions.joined(separator: " AND "), arguments)
    }
}

import Foundation
import PostgresNIO
import RasiCore

// MARK: - Trends: outcomes, exposures and lessons per hour or day

extension PostgresStore: TrendStore {
    public func trendCounts(_ query: TrendQuery, rules: OutcomeRules) async throws -> [Date: TrendCounts] {
        try await read { db in
            var counts: [Date: TrendCounts] = [:]
            let unit = query.bucket.rawValue
            let problem = "(r.verdict::jsonb ->> 'verdict') = 'problem'"

            var interactions = TrendSQL(query)
            let filter = interactions.interactionFilter("i")
            let outcome = rules.sqlConditions(interaction: "i.id", problemVerdict: problem, never: "false")
            for row in try await db.rows(
                interactions.query(
                    """
                    SELECT date_trunc('\(unit)', i.created_at) AS b, count(*)::int AS n,
                        coalesce(sum(CASE WHEN \(outcome.negative) THEN 1 ELSE 0 END), 0)::int AS negative,
                        coalesce(sum(CASE WHEN NOT (\(outcome.negative)) AND \(outcome.positive) THEN 1 ELSE 0 END), 0)::int AS positive
                    FROM interactions i WHERE \(filter) GROUP BY b
                    """))
            {
                let start: Date = try row["b"]
                counts[start, default: TrendCounts()].interactions = try row["n"]
                counts[start, default: TrendCounts()].negative = try row["negative"]
                counts[start, default: TrendCounts()].positive = try row["positive"]
            }

            var exposures = TrendSQL(query)
            var exposureFilter = exposures.interactionFilter("i")
            if let lessonId = query.lessonId { exposureFilter += " AND j.lesson_id = \(exposures.bind(lessonId))" }
            let exposure = rules.sqlConditions(interaction: "e.interaction_id", problemVerdict: problem, never: "false")
            for row in try await db.rows(
                exposures.query(
                    """
                    SELECT e.b, e.arm, count(*)::int AS n, coalesce(sum(CASE WHEN \(exposure.negative) THEN 1 ELSE 0 END), 0)::int AS negative,
                        coalesce(sum(CASE WHEN NOT (\(exposure.negative)) AND \(exposure.positive) THEN 1 ELSE 0 END), 0)::int AS positive
                    FROM (SELECT DISTINCT j.interaction_id, j.lesson_id, j.arm, date_trunc('\(unit)', i.created_at) AS b
                        FROM injections j JOIN interactions i ON i.id = j.interaction_id WHERE \(exposureFilter)) e
                    GROUP BY e.b, e.arm
                    """))
            {
                let start: Date = try row["b"]
                let arm = LiftArm(exposures: try row["n"], negative: try row["negative"], positive: try row["positive"])
                switch ExposureArm(rawValue: try row["arm"]) {
                case .treatment: counts[start, default: TrendCounts()].treatment = arm
                case .control: counts[start, default: TrendCounts()].control = arm
                case nil: continue
                }
            }

            // A lesson's first version is its creation; a retired version after one that was not, its retirement.
            for (event, condition) in [
                (0, "NOT EXISTS (SELECT 1 FROM lesson_versions p WHERE p.lesson_id = v.lesson_id AND p.version < v.version)"),
                (
                    1,
                    """
                    (v.snapshot::jsonb ->> 'status') = 'retired' AND EXISTS (SELECT 1 FROM lesson_versions p
                        WHERE p.lesson_id = v.lesson_id AND p.version = v.version - 1 AND (p.snapshot::jsonb ->> 'status') <> 'retired')
                    """
                )
            ] {
                var lessons = TrendSQL(query)
                let lessonFilter = lessons.lessonFilter()
                for row in try await db.rows(
                    lessons.query(
                        "SELECT date_trunc('\(unit)', v.changed_at) AS b, count(*)::int AS n FROM lesson_versions v WHERE \(lessonFilter) AND \(condition) GROUP BY b"
                    ))
                {
                    let start: Date = try row["b"]
                    if event == 0 {
                        counts[start, default: TrendCounts()].lessonsCreated = try row["n"]
                    } else {
                        counts[start, default: TrendCounts()].lessonsRetired = try row["n"]
                    }
                }
            }
            return counts
        }
    }

    public func busiest(byTopic: Bool, in query: TrendQuery, limit: Int) async throws -> [(name: String, interactions: Int)] {
        try await read { db in
            var sql = TrendSQL(query)
            let filter = sql.interactionFilter("i")
            let column = byTopic ? "i.topic" : "i.agent"
            let limitBind = sql.bind(limit)
            return try await db.rows(
                sql.query(
                    """
                    SELECT \(column) AS name, count(*)::int AS n FROM interactions i WHERE \(filter) AND \(column) IS NOT NULL
                    GROUP BY name ORDER BY n DESC, name LIMIT \(limitBind)
                    """)
            ).map { (try $0["name"], try $0["n"]) }
        }
    }
}

/// A trend query's filters as SQL with numbered binds.
private struct TrendSQL {
    let trend: TrendQuery
    var binds = PostgresBindings()

    init(_ trend: TrendQuery) {
        self.trend = trend
    }

    /// Appends a value and returns its placeholder.
    mutating func bind(_ value: some PostgresDynamicTypeEncodable) -> String {
        binds.append(value)
        return "$\(binds.count)"
    }

    /// The interactions the query covers, for the interactions table aliased `i`.
    mutating func interactionFilter(_ i: String) -> String {
        conditions(
            time: "\(i).created_at", agent: "\(i).agent", topic: "\(i).topic",
            lesson: { "\(i).id IN (SELECT interaction_id FROM injections WHERE lesson_id = \($0))" })
    }

    /// The lesson versions the query covers, for `lesson_versions` aliased `v`: the agent and topic are the version's own.
    mutating func lessonFilter() -> String {
        conditions(
            time: "v.changed_at", agent: "(v.snapshot::jsonb ->> 'agent')", topic: "(v.snapshot::jsonb ->> 'topic')",
            lesson: { "v.lesson_id = \($0)" })
    }

    /// The span and filters over the given columns; `lesson` makes the condition on the lesson id's placeholder.
    mutating func conditions(time: String, agent: String, topic: String, lesson: (String) -> String) -> String {
        var conditions = ["\(time) >= \(bind(trend.since.pg))", "\(time) < \(bind(trend.until.pg))"]
        if let value = trend.agent { conditions.append("\(agent) = \(bind(value))") }
        if let value = trend.topic { conditions.append("\(topic) = \(bind(value))") }
        if let value = trend.lessonId { conditions.append(lesson(bind(value))) }
        return conditions.joined(separator: " AND ")
    }

    func query(_ sql: String) -> PostgresQuery {
        PostgresQuery(unsafeSQL: sql, binds: binds)
    }
}

import Foundation
import PostgresNIO
import RasiCore

// MARK: - Retention, user deletion, audit

extension PostgresStore: PrivacyStore {
    public func purgeInteractions(olderThan date: Date) async throws -> PurgeCount {
        try await purge { "created_at < \($0.bind(date.pg))" }
    }

    public func purgeUser(_ userId: String) async throws -> PurgeCount {
        try await purge { "user_id = \($0.bind(userId))" }
    }

    /// Deletes in batches of 1,000 interactions, each batch one transaction; the foreign keys
    /// cascade to steps, feedback, flags, injections, outcomes, judge runs, jobs and response ids.
    private func purge(where condition: (inout SQLBuilder) -> String) async throws -> PurgeCount {
        var sql = SQLBuilder()
        let matching = condition(&sql)
        let query = sql.query(
            """
            WITH gone AS (
                DELETE FROM interactions WHERE id IN (
                    SELECT id FROM interactions WHERE \(matching) LIMIT \(PurgeCount.batchSize) FOR UPDATE SKIP LOCKED)
                RETURNING id)
            SELECT (SELECT count(*) FROM gone) AS interactions,
                   (SELECT count(*) FROM feedback WHERE interaction_id IN (SELECT id FROM gone)) AS feedback,
                   (SELECT count(*) FROM judge_runs WHERE interaction_id IN (SELECT id FROM gone)) AS judge_runs
            """)
        var count = PurgeCount()
        while true {
            let batch = try await write { db -> PurgeCount in
                guard let row = try await db.one(query) else { return PurgeCount() }
                var batch = PurgeCount()
                batch.interactions = try row["interactions"]
                batch.feedback = try row["feedback"]
                batch.judgeRuns = try row["judge_runs"]
                return batch
            }
            if count.add(batch: batch) { return count }
        }
    }

    public func recordAudit(_ entry: AuditEntry) async throws {
        try await write { db in try await Self.insertAudit(entry, db: db) }
    }

    static func insertAudit(_ entry: AuditEntry, db: PostgresConnection) async throws {
        try await db.run(
            """
            INSERT INTO audit_log (at, actor, action, target, detail)
            VALUES (\(entry.at.pg), \(entry.actor), \(entry.action), \(entry.target), \(entry.detail))
            """)
    }

    public func listAudit(limit: Int, before: Int?) async throws -> [AuditEntry] {
        try await read { db in
            try await db.rows("SELECT * FROM audit_log WHERE id < \(before ?? Int.max) ORDER BY id DESC LIMIT \(limit)").map {
                AuditEntry(
                    id: try $0["id"], at: try $0["at"], actor: try $0["actor"], action: try $0["action"], target: try $0["target"],
                    detail: try $0["detail"])
            }
        }
    }
}

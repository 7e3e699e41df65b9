import Foundation
import GRDB
import RasiCore

// MARK: - Retention, user deletion, audit

extension SQLiteStore: PrivacyStore {
    public func purgeInteractions(olderThan date: Date) async throws -> PurgeCount {
        try await purge(where: "created_at < ?", [date])
    }

    public func purgeUser(_ userId: String) async throws -> PurgeCount {
        try await purge(where: "user_id = ?", [userId])
    }

    /// Deletes in batches of 1,000 interactions, each batch one transaction, so a large purge
    /// never holds the write lock for long; the foreign keys (GRDB turns them on for every
    /// connection) cascade to steps, feedback, flags, injections, outcomes, judge runs, jobs and
    /// response ids, and the FTS triggers drop the index entries.
    private func purge(where condition: String, _ arguments: StatementArguments) async throws -> PurgeCount {
        var count = PurgeCount()
        while true {
            let batch = try await database.write { db -> PurgeCount in
                var batch = PurgeCount()
                let ids = try String.fetchAll(
                    db, sql: "SELECT id FROM interactions WHERE \(condition) LIMIT \(PurgeCount.batchSize)", arguments: arguments)
                guard !ids.isEmpty else { return batch }
                let placeholders = Self.placeholders(ids.count)
                let list = StatementArguments(ids)
                batch.feedback =
                    try Int.fetchOne(
                        db, sql: "SELECT count(*) FROM feedback WHERE interaction_id IN (\(placeholders))", arguments: list) ?? 0
                batch.judgeRuns =
                    try Int.fetchOne(
                        db, sql: "SELECT count(*) FROM judge_runs WHERE interaction_id IN (\(placeholders))", arguments: list) ?? 0
                try db.execute(sql: "DELETE FROM interactions WHERE id IN (\(placeholders))", arguments: list)
                batch.interactions = db.changesCount
                return batch
            }
            if count.add(batch: batch) { return count }
        }
    }

    public func recordAudit(_ entry: AuditEntry) async throws {
        try await database.write { db in try Self.insertAudit(entry, db: db) }
    }

    static func insertAudit(_ entry: AuditEntry, db: Database) throws {
        try db.execute(
            sql: "INSERT INTO audit_log (at, actor, action, target, detail) VALUES (?, ?, ?, ?, ?)",
            arguments: [entry.at, entry.actor, entry.action, entry.target, entry.detail])
    }

    public func listAudit(limit: Int, before: Int?) async throws -> [AuditEntry] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM audit_log WHERE id < ? ORDER BY id DESC LIMIT ?", arguments: [before ?? Int.max, limit]).map {
                AuditEntry(id: $0["id"], at: $0["at"], actor: $0["actor"], action: $0["action"], target: $0["target"], detail: $0["detail"])
            }
        }
    }
}

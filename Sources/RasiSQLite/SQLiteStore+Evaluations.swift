import Foundation
import GRDB
import RasiCore

// MARK: - Evaluations

extension SQLiteStore: EvaluationStore {
    public func saveEvaluation(_ report: EvaluationReport) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO evaluations (id, suite, model, created_at, report) VALUES (?, ?, ?, ?, ?)",
                arguments: [report.id, report.suite, report.model, report.createdAt, RasiJSON.string(report)])
        }
    }

    public func evaluation(id: String) async throws -> EvaluationReport? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT report FROM evaluations WHERE id = ?", arguments: [id])
                .flatMap { Self.json(EvaluationReport.self, $0, "report") }
        }
    }

    public func listEvaluations(limit: Int) async throws -> [EvaluationReport] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT report FROM evaluations ORDER BY created_at DESC, id DESC LIMIT ?", arguments: [limit])
                .compactMap { Self.json(EvaluationReport.self, $0, "report") }
        }
    }
}

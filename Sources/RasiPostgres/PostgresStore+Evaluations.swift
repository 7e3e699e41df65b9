import Foundation
import PostgresNIO
import RasiCore

// MARK: - Evaluations

extension PostgresStore: EvaluationStore {
    public func saveEvaluation(_ report: EvaluationReport) async throws {
        try await write { db in
            try await db.run(
                """
                INSERT INTO evaluations (id, suite, model, created_at, report)
                VALUES (\(report.id), \(report.suite), \(report.model), \(report.createdAt.pg), \(RasiJSON.string(report)))
                ON CONFLICT (id) DO UPDATE SET suite = excluded.suite, model = excluded.model, report = excluded.report
                """)
        }
    }

    public func evaluation(id: String) async throws -> EvaluationReport? {
        try await read { db in try await db.one("SELECT report FROM evaluations WHERE id = \(id)")?.json(EvaluationReport.self, "report") }
    }

    public func listEvaluations(limit: Int) async throws -> [EvaluationReport] {
        try await read { db in
            try await db.rows("SELECT report FROM evaluations ORDER BY created_at DESC, id DESC LIMIT \(limit)")
                .compactMap { $0.json(EvaluationReport.self, "report") }
        }
    }
}

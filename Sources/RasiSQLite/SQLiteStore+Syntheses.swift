import Foundation
import GRDB
import RasiCore

// MARK: - Syntheses

extension SQLiteStore: SynthesisStore {
    public func synthesis(key: String) async throws -> Synthesis? {
        try await database.read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM syntheses WHERE key = ?", arguments: [key]).map(Self.synthesis)
        }
    }

    public func saveSynthesis(_ synthesis: Synthesis) async throws {
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT OR IGNORE INTO syntheses (key, agent, prompt, output, model, prompt_tokens, completion_tokens, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    synthesis.key, synthesis.agent, RasiJSON.string(synthesis.prompt), synthesis.output, synthesis.model,
                    synthesis.tokens.prompt, synthesis.tokens.completion, synthesis.createdAt
                ])
        }
    }

    public func listSyntheses(limit: Int) async throws -> [Synthesis] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM syntheses ORDER BY created_at DESC LIMIT ?", arguments: [limit]).map(Self.synthesis)
        }
    }

    static func synthesis(_ row: Row) -> Synthesis {
        Synthesis(
            key: row["key"], agent: row["agent"],
            prompt: Self.json([JSONValue].self, row, "prompt") ?? [],
            output: row["output"], model: row["model"], tokens: TokenUsage(prompt: row["prompt_tokens"], completion: row["completion_tokens"]),
            createdAt: row["created_at"])
    }
}

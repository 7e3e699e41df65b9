import Foundation
import PostgresNIO
import RasiCore

// MARK: - Syntheses

extension PostgresStore: SynthesisStore {
    public func synthesis(key: String) async throws -> Synthesis? {
        try await read { db in try await db.one("SELECT * FROM syntheses WHERE key = \(key)").map(Self.synthesis) }
    }

    public func saveSynthesis(_ s: Synthesis) async throws {
        try await write { db in
            try await db.run(
                """
                INSERT INTO syntheses (key, agent, prompt, output, model, prompt_tokens, completion_tokens, created_at)
                VALUES (\(s.key), \(s.agent), \(RasiJSON.string(s.prompt)), \(s.output), \(s.model), \(s.tokens.prompt), \(s.tokens.completion),
                    \(s.createdAt.pg))
                ON CONFLICT DO NOTHING
                """)
        }
    }

    public func listSyntheses(limit: Int) async throws -> [Synthesis] {
        try await read { db in try await db.rows("SELECT * FROM syntheses ORDER BY created_at DESC LIMIT \(limit)").map(Self.synthesis) }
    }

    static func synthesis(_ row: PGRow) throws -> Synthesis {
        Synthesis(
            key: try row["key"], agent: try row["agent"], prompt: row.json([JSONValue].self, "prompt") ?? [],
            output: try row["output"], model: try row["model"],
            tokens: TokenUsage(prompt: try row["prompt_tokens"], completion: try row["completion_tokens"]), createdAt: try row["created_at"])
    }
}

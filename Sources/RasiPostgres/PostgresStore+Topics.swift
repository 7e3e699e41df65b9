import Foundation
import PostgresNIO
import RasiCore

// MARK: - Topics

extension PostgresStore: TopicStore {
    public func listTopics() async throws -> [Topic] {
        try await read { db in
            try await db.rows("SELECT * FROM topics ORDER BY name").map {
                Topic(name: try $0["name"], description: try $0["description"], examples: $0.json([String].self, "examples") ?? [])
            }
        }
    }

    public func saveTopic(_ topic: Topic, at date: Date) async throws {
        try await write { db in
            try await db.run(
                """
                INSERT INTO topics (name, description, examples, updated_at)
                VALUES (\(topic.name), \(topic.description), \(RasiJSON.string(topic.examples)), \(date.pg))
                ON CONFLICT (name) DO UPDATE SET description = excluded.description, examples = excluded.examples, updated_at = excluded.updated_at
                """)
        }
    }

    public func deleteTopic(name: String) async throws -> Bool {
        try await write { db in try await db.run("DELETE FROM topics WHERE name = \(name) RETURNING 1") > 0 }
    }
}

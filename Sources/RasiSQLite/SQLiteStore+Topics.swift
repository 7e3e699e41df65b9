import Foundation
import GRDB
import RasiCore

// MARK: - Topics

extension SQLiteStore: TopicStore {
    public func listTopics() async throws -> [Topic] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM topics ORDER BY name").map { row in
                Topic(
                    name: row["name"], description: row["description"],
                    examples: Self.json([String].self, row, "examples") ?? [])
            }
        }
    }

    public func saveTopic(_ topic: Topic, at date: Date) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO topics (name, description, examples, updated_at) VALUES (?, ?, ?, ?)",
                arguments: [topic.name, topic.description, RasiJSON.string(topic.examples), date])
        }
    }

    public func deleteTopic(name: String) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM topics WHERE name = ?", arguments: [name])
            return db.changesCount > 0
        }
    }
}

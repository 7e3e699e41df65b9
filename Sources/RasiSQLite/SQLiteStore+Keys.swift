import Foundation
import GRDB
import RasiCore

// MARK: - Keys

extension SQLiteStore: KeyStore {
    public func createKey(_ key: APIKey, secretHash: String) async throws {
        try await database.write { db in
            try db.execute(
                sql: "INSERT INTO api_keys (id, name, role, prefix, secret_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                arguments: [key.id, key.name, key.role.rawValue, key.prefix, secretHash, key.createdAt])
        }
    }

    public func activeKey(secretHash: String) async throws -> APIKey? {
        try await readNow { db in
            try Row.fetchOne(db.cachedStatement(sql: "SELECT * FROM api_keys WHERE secret_hash = ? AND revoked_at IS NULL"), arguments: [secretHash])
                .map(Self.key)
        }
    }

    public func listKeys() async throws -> [APIKey] {
        try await database.read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM api_keys ORDER BY created_at").map(Self.key)
        }
    }

    public func revokeKey(id: String, at date: Date) async throws -> Bool {
        try await database.write { db in
            try db.execute(sql: "UPDATE api_keys SET revoked_at = coalesce(revoked_at, ?) WHERE id = ?", arguments: [date, id])
            return db.changesCount > 0
        }
    }

    public func hasActiveAdminKey() async throws -> Bool {
        try await database.read { db in
            try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL)") ?? false
        }
    }

    static func key(_ row: Row) -> APIKey {
        APIKey(
            id: row["id"], name: row["name"], role: Role(rawValue: row["role"]) ?? .agent, prefix: row["prefix"],
            createdAt: row["created_at"], revokedAt: row["revoked_at"])
    }
}

// MARK: - Panel sessions

extension SQLiteStore: SessionStore {
    public func createSession(secretHash: String, keyId: String, csrfToken: String, now: Date, expiresAt: Date) async throws {
        try await database.write { db in
            // Expired sessions go as new ones come, so the table stays the size of the signed-in team.
            try db.execute(sql: "DELETE FROM sessions WHERE expires_at < ?", arguments: [now])
            try db.execute(
                sql: "INSERT INTO sessions (secret_hash, key_id, csrf_token, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
                arguments: [secretHash, keyId, csrfToken, now, expiresAt])
        }
    }

    public func session(secretHash: String, now: Date) async throws -> PanelSession? {
        try await database.read { db in
            guard
                let row = try Row.fetchOne(
                    db,
                    sql: """
                        SELECT k.*, s.csrf_token, s.expires_at FROM sessions s JOIN api_keys k ON k.id = s.key_id
                        WHERE s.secret_hash = ? AND s.expires_at > ? AND k.revoked_at IS NULL
                        """, arguments: [secretHash, now])
            else { return nil }
            return PanelSession(key: Self.key(row), csrfToken: row["csrf_token"], expiresAt: row["expires_at"])
        }
    }

    public func deleteSession(secretHash: String) async throws {
        try await database.write { db in
            try db.execute(sql: "DELETE FROM sessions WHERE secret_hash = ?", arguments: [secretHash])
        }
    }
}

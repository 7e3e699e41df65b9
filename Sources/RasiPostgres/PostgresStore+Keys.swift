import Foundation
import PostgresNIO
import RasiCore

// MARK: - Keys

extension PostgresStore: KeyStore {
    public func createKey(_ key: APIKey, secretHash: String) async throws {
        try await write { db in
            try await db.run(
                """
                INSERT INTO api_keys (id, name, role, prefix, secret_hash, created_at)
                VALUES (\(key.id), \(key.name), \(key.role.rawValue), \(key.prefix), \(secretHash), \(key.createdAt.pg))
                """)
        }
    }

    public func activeKey(secretHash: String) async throws -> APIKey? {
        try await read { db in
            try await db.one("SELECT * FROM api_keys WHERE secret_hash = \(secretHash) AND revoked_at IS NULL").map(Self.key)
        }
    }

    public func listKeys() async throws -> [APIKey] {
        try await read { db in try await db.rows("SELECT * FROM api_keys ORDER BY created_at").map(Self.key) }
    }

    public func revokeKey(id: String, at date: Date) async throws -> Bool {
        try await write { db in
            try await db.run("UPDATE api_keys SET revoked_at = coalesce(revoked_at, \(date.pg)) WHERE id = \(id) RETURNING 1") > 0
        }
    }

    public func hasActiveAdminKey() async throws -> Bool {
        try await read { db in
            try await db.one("SELECT EXISTS (SELECT 1 FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL) AS found")?["found"] ?? false
        }
    }

    static func key(_ row: PGRow) throws -> APIKey {
        APIKey(
            id: try row["id"], name: try row["name"], role: Role(rawValue: try row["role"]) ?? .agent, prefix: try row["prefix"],
            createdAt: try row["created_at"], revokedAt: try row["revoked_at"])
    }
}

// MARK: - Panel sessions

extension PostgresStore: SessionStore {
    public func createSession(secretHash: String, keyId: String, csrfToken: String, now: Date, expiresAt: Date) async throws {
        try await write { db in
            try await db.run("DELETE FROM sessions WHERE expires_at < \(now.pg)")
            try await db.run(
                """
                INSERT INTO sessions (secret_hash, key_id, csrf_token, created_at, expires_at)
                VALUES (\(secretHash), \(keyId), \(csrfToken), \(now.pg), \(expiresAt.pg))
                """)
        }
    }

    public func session(secretHash: String, now: Date) async throws -> PanelSession? {
        try await read { db in
            guard
                let row = try await db.one(
                    """
                    SELECT k.*, s.csrf_token, s.expires_at FROM sessions s JOIN api_keys k ON k.id = s.key_id
                    WHERE s.secret_hash = \(secretHash) AND s.expires_at > \(now.pg) AND k.revoked_at IS NULL
                    """)
            else { return nil }
            return PanelSession(key: try Self.key(row), csrfToken: try row["csrf_token"], expiresAt: try row["expires_at"])
        }
    }

    public func deleteSession(secretHash: String) async throws {
        try await write { db in try await db.run("DELETE FROM sessions WHERE secret_hash = \(secretHash)") }
    }
}

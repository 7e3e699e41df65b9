import Foundation
import GRDB
import RasiCore

// MARK: - Leases

extension SQLiteStore: LeaseStore {
    public func acquireLease(_ name: String, holder: String, until: Date, now: Date) async throws -> Bool {
        try await database.write { db in
            try db.execute(
                sql: """
                    INSERT INTO leases (name, holder, until) VALUES (?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                    WHERE leases.holder = excluded.holder OR leases.until < ?
                    """, arguments: [name, holder, until, now])
            return db.changesCount > 0
        }
    }
}

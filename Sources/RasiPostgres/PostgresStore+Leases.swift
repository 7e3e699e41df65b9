import Foundation
import PostgresNIO
import RasiCore

// MARK: - Leases

extension PostgresStore: LeaseStore {
    public func acquireLease(_ name: String, holder: String, until: Date, now: Date) async throws -> Bool {
        try await write { db in
            try await db.run(
                """
                INSERT INTO leases (name, holder, until) VALUES (\(name), \(holder), \(until.pg))
                ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until = excluded.until
                WHERE leases.holder = excluded.holder OR leases.until < \(now.pg)
                RETURNING 1
                """) > 0
        }
    }
}

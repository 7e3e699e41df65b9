import Foundation
import Logging
import NIOPosix
import PostgresNIO
import RasiCore
import Synchronization

/// What the store's watcher last found: nil while PostgreSQL answers, else why it does not.
final class Outage: Sendable {
    private let state = Mutex<String?>(nil)

    var current: String? { state.withLock { $0 } }

    /// Records what the watcher found; true when that changed.
    func update(_ problem: String?) -> Bool {
        state.withLock { current in
            defer { current = problem }
            return (current == nil) != (problem == nil)
        }
    }
}

extension PostgresStore: StoreHealth {
    public func outage() async -> String? { health.current }

    /// Every 2 s, a `SELECT 1` on a fresh connection of its own (so a busy pool is never taken
    /// for a dead server, and a connection the server dropped never leaves the watcher waiting).
    /// While PostgreSQL is away, calls fail at once with 503 instead of waiting for the pool's
    /// circuit breaker (a minute); once it answers again the pool reconnects by itself.
    func watch() async {
        while !Task.isCancelled {
            let problem: String?
            do {
                try await probe()
                problem = nil
            } catch {
                problem = (Self.translated(error) as? RasiError)?.description ?? "the database did not answer (\(error))"
            }
            if health.update(problem) {
                if let problem {
                    logger.error("the database is unreachable; calls get 503 until it is back", metadata: ["cause": "\(problem)"])
                } else {
                    logger.notice("the database is reachable again")
                }
            }
            try? await Task.sleep(for: .seconds(2))
        }
    }

    /// Connects (within 2 s), runs `SELECT 1`, and closes.
    private func probe() async throws {
        let connection = try await PostgresConnection.connect(
            on: MultiThreadedEventLoopGroup.singleton.any(), configuration: connectionConfiguration, id: 1, logger: Self.statementLogger)
        do {
            _ = try await connection.query("SELECT 1", logger: Self.statementLogger).collect()
            try? await connection.close()
        } catch {
            try? await connection.close()
            throw error
        }
    }
}

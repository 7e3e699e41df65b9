import Foundation
import Logging
import NIOPosix
import PostgresNIO
import RasiCore
import Synchronization

/// What the store's watcher last found: nil while PostgreSQL answers, else why it does not;
/// and the operations waiting to hear that it went away.
final class Outage: Sendable {
    private struct State {
        var problem: String?
        var waiting: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var next: UInt64 = 0
    }

    private let state = Mutex(State())

    var current: String? { state.withLock { $0.problem } }

    /// Records what the watcher found; true when that changed. Going away wakes every waiter.
    func update(_ problem: String?) -> Bool {
        let (changed, woken) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
            let changed = (state.problem == nil) != (problem == nil)
            state.problem = problem
            guard problem != nil else { return (changed, []) }
            defer { state.waiting = [:] }
            return (changed, Array(state.waiting.values))
        }
        for continuation in woken { continuation.resume() }
        return changed
    }

    /// Returns when the database is found away, or when the calling task is cancelled.
    func untilAway() async {
        let id = state.withLock { state in
            state.next += 1
            return state.next
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow = state.withLock { state in
                    if state.problem != nil || Task.isCancelled { return true }
                    state.waiting[id] = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiting.removeValue(forKey: id) }?.resume()
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

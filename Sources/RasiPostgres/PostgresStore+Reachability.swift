import Foundation
import Logging
import NIOCore
import NIOPosix
import PostgresNIO
import RasiCore

extension PostgresStore {
    /// Connects once, within `timeout`, and checks what rasi needs of the server: it answers,
    /// takes the credentials, has the database, and offers pgvector. The pool itself retries a
    /// server it cannot reach for a minute before giving up with a circuit-breaker error; a start
    /// should fail fast instead, saying which host, why, and which setting to fix.
    public static func checkReachable(url: String, within timeout: Duration = .seconds(10)) async throws {
        let target = try Target(url: url)
        let configuration = try target.connectionConfiguration(timeout: timeout)
        let connecting = configuration
        let problem: String? = try await withThrowingTaskGroup(of: String?.self) { group in
            group.addTask {
                do {
                    let connection = try await PostgresConnection.connect(
                        on: MultiThreadedEventLoopGroup.singleton.any(), configuration: connecting, id: 0, logger: statementLogger)
                    let rows = try await connection.query(
                        "SELECT 1 FROM pg_available_extensions WHERE name = 'vector'", logger: statementLogger
                    ).collect()
                    try? await connection.close()
                    return rows.isEmpty ? "the server has no pgvector extension (install pgvector; rasi needs its vector type)" : nil
                } catch let error as PSQLError {
                    return describe(error, target: target)
                }
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return "no answer within \(timeout.components.seconds) s"
            }
            let first = try await group.next() ?? nil
            group.cancelAll()
            return first
        }
        if let problem {
            throw RasiError.unavailable("cannot use PostgreSQL at \(target.display): \(problem); check RASI_DATABASE_URL")
        }
    }

    /// Why a connection failed, in words: refused, unreachable, credentials, a missing database.
    static func describe(_ error: PSQLError, target: Target) -> String {
        if let state = error.serverInfo?[.sqlState] {
            switch state {
            case "28P01", "28000": return "the server refused the credentials of user \"\(target.username)\" (\(state))"
            case "3D000": return "database \"\(target.database ?? target.username)\" does not exist (\(state))"
            default: return PostgresStoreError(error).description
            }
        }
        if error.code == .connectionError, let underlying = error.underlying {
            let text = String(describing: underlying)
            if text.contains("Connection refused") { return "connection refused (is PostgreSQL running and listening on port \(target.port)?)" }
            if text.lowercased().contains("timed out") || text.contains("connectTimeout") { return "the connection timed out" }
            return "cannot connect (\(text))"
        }
        return "\(error.code)"
    }
}

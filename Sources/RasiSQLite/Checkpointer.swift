import Foundation
import GRDB
import GRDBSQLite
import Synchronization

/// Moves the write-ahead log into the database file on a thread of its own, not in the commit
/// of whichever call crossed the threshold.
///
/// SQLite's automatic checkpoint runs inside the commit that brings the log past 1,000 pages:
/// that caller waits while pages are copied and the database file is synced (5 to 7 ms here, on
/// a model call's `log` write about once in a hundred calls). Here the writer's WAL hook only
/// notes the log's length; past `threshold` pages it starts a passive checkpoint on the
/// checkpointer's own connection, which copies what no reader still needs while writes go on.
/// A checkpoint that could not copy everything (a long read was open) is tried again after a
/// later commit. Durability is unchanged: a commit is on disk, in the log, when it returns.
final class Checkpointer: Sendable {
    let path: String
    let threshold: Int
    private let queue = DispatchQueue(label: "rasi.sqlite.checkpoint", qos: .utility)
    private struct State {
        var connection: DatabaseQueue?
        var running = false
        var completed = 0
    }
    private let state = Mutex(State())

    init(path: String, threshold: Int = 1000) {
        self.path = path
        self.threshold = threshold
    }

    /// Checkpoints that ran without an error so far (tests).
    var completed: Int { state.withLock { $0.completed } }

    /// Installed on every connection of the store; only the writer commits, so only its hook fires.
    /// Replaces SQLite's automatic checkpoint, which is itself a WAL hook.
    func install(on db: Database) {
        sqlite3_wal_hook(
            db.sqliteConnection,
            { context, _, _, pages in
                Unmanaged<Checkpointer>.fromOpaque(context!).takeUnretainedValue().committed(pages: Int(pages))
                return SQLITE_OK
            }, Unmanaged.passUnretained(self).toOpaque())
    }

    /// Called on the writer right after a commit, with the log's length in pages.
    private func committed(pages: Int) {
        guard pages >= threshold else { return }
        let start = state.withLock { state -> Bool in
            defer { state.running = true }
            return !state.running
        }
        if start { queue.async { self.checkpoint() } }
    }

    private func checkpoint() {
        var done = false
        do {
            let connection = try state.withLock { state in
                if let connection = state.connection { return connection }
                var configuration = Configuration()
                configuration.busyMode = .timeout(5)
                let opened = try DatabaseQueue(path: path, configuration: configuration)
                state.connection = opened
                return opened
            }
            try connection.writeWithoutTransaction { try $0.checkpoint(.passive) }
            done = true
        } catch {
            // A failed attempt is retried after the next commit past the threshold.
        }
        state.withLock {
            $0.running = false
            if done { $0.completed += 1 }
        }
    }

    /// Waits for a checkpoint in progress to end (tests).
    func drain() {
        queue.sync {}
    }
}

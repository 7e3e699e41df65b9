import GRDB
import RasiCore
import Synchronization

/// The active lessons, as last committed, in process memory: the score of lessons retrieval
/// keeps for a model call are read without touching the database file.
///
/// Reading them from the file was the slowest step of retrieval at 100k lessons: a model call's
/// lessons are random rows of a table far larger than SQLite's cache, so each read went to the
/// system's page cache, and from there to the disk once the system had reclaimed pages left
/// unread for a while (on the machine measured, every minute): 0.9 ms at p50, up to 450 ms at
/// worst (`rasi bench gateway`). The vectors and terms retrieval ranks by are in memory already.
///
/// Kept equal to the file by watching every transaction on the writer: a commit that changes,
/// adds or deletes rows of `lessons`, by whatever statement, drops those rows from the cache
/// before the write returns. A lesson not cached (dropped, or added since loading) is read from
/// the file and cached again, unless a commit changed lessons meanwhile.
final class LessonCache: TransactionObserver, @unchecked Sendable {
    private struct State {
        var lessons: [String: Lesson] = [:]
        var idsByRow: [Int64: String] = [:]
        /// Bumped by every commit that changes lessons: a read from the file that straddles one is not cached.
        var generation = 0
    }

    private let state = Mutex(State())
    /// Rows the writer's open transaction changed; touched only on the writer's queue.
    private var changedRows: [Int64] = []

    /// Caches `lesson`, read from `row` at `generation`, unless a commit has changed lessons since.
    func insert(_ lesson: Lesson, row: Int64, readAt generation: Int) {
        state.withLock { state in
            guard state.generation == generation else { return }
            state.lessons[lesson.id] = lesson
            state.idsByRow[row] = lesson.id
        }
    }

    /// The cached lessons of `ids`, the ids not cached, and the generation to read those at.
    func lookup(_ ids: [String]) -> (found: [Lesson], missing: [String], generation: Int) {
        state.withLock { state in
            var found: [Lesson] = []
            var missing: [String] = []
            for id in ids {
                if let lesson = state.lessons[id] { found.append(lesson) } else { missing.append(id) }
            }
            return (found, missing, state.generation)
        }
    }

    var generation: Int { state.withLock { $0.generation } }

    var count: Int { state.withLock { $0.lessons.count } }

    // MARK: TransactionObserver (called on the writer's queue)

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        eventKind.tableName == "lessons"
    }

    func databaseDidChange(with event: DatabaseEvent) {
        changedRows.append(event.rowID)
    }

    func databaseDidCommit(_ db: Database) {
        let rows = changedRows
        changedRows = []
        guard !rows.isEmpty else { return }
        state.withLock { state in
            state.generation += 1
            for row in rows {
                if let id = state.idsByRow.removeValue(forKey: row) { state.lessons[id] = nil }
            }
        }
    }

    func databaseDidRollback(_ db: Database) {
        changedRows = []
    }
}

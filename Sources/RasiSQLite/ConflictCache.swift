import GRDB
import RasiCore
import Synchronization

/// The open conflicts between lessons, as last committed, in process memory: every model call
/// asks which of the lessons it is about to inject contradict each other, and reading that from
/// the table was half of the selection's time (0.3 of 0.7 ms at p50, `rasi bench gateway`).
///
/// Kept equal to the file as `LessonCache` is: a commit that changes `lesson_conflicts`, by any
/// statement, drops the copy before the write returns, and the next call reads the table again.
/// Conflicts are few beside lessons, and change only when one is found or resolved.
final class ConflictCache: TransactionObserver, @unchecked Sendable {
    private struct State {
        /// For each lesson in an open conflict, the lessons it contradicts; nil until read.
        var partners: [String: Set<String>]?
        /// Bumped by every commit that changes conflicts: a read that straddles one is not kept.
        var generation = 0
    }

    private let state = Mutex(State())
    /// Whether the writer's open transaction changed conflicts; touched only on the writer's queue.
    private var changed = false

    /// The open conflicts among `ids`; `load` reads every open pair when the copy is missing.
    func pairs(among ids: [String], load: () async throws -> [LessonPair]) async rethrows -> Set<LessonPair> {
        let (cached, generation) = state.withLock { ($0.partners, $0.generation) }
        let partners: [String: Set<String>]
        if let cached {
            partners = cached
        } else {
            var loaded: [String: Set<String>] = [:]
            for pair in try await load() {
                loaded[pair.first, default: []].insert(pair.second)
                loaded[pair.second, default: []].insert(pair.first)
            }
            state.withLock { if $0.generation == generation { $0.partners = loaded } }
            partners = loaded
        }
        let wanted = Set(ids)
        var found = Set<LessonPair>()
        for id in wanted {
            for other in partners[id] ?? [] where wanted.contains(other) { found.insert(LessonPair(id, other)) }
        }
        return found
    }

    // MARK: TransactionObserver (called on the writer's queue)

    func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool {
        eventKind.tableName == "lesson_conflicts"
    }

    func databaseDidChange(with event: DatabaseEvent) {
        changed = true
    }

    func databaseDidCommit(_ db: Database) {
        guard changed else { return }
        changed = false
        state.withLock { state in
            state.generation += 1
            state.partners = nil
        }
    }

    func databaseDidRollback(_ db: Database) {
        changed = false
    }
}

import Foundation
import GRDB
import RasiCore
import Synchronization

/// The open conflicts between lessons, as last committed, in process memory: every model call
/// asks which of the lessons it is about to inject contradict each other, and reading that from
/// the table was half of the selection's time (0.3 of 0.7 ms at p50, `rasi bench gateway`).
///
/// Kept equal to the file: a commit that finds or resolves conflicts changes the copy before the
/// write returns; one that deletes any drops it, and the next call reads the table again.
final class ConflictCache: TransactionObserver, @unchecked Sendable {
    private struct State {
        /// For each lesson in an open conflict, the lessons it contradicts; nil until read.
        var partners: [String: Set<String>]?
        /// Bumped by every commit that changes conflicts: a read that straddles one is not kept.
        var generation = 0
    }

    private let state = Mutex(State())
    /// The rows the writer's open transaction inserted or updated, and whether it deleted any;
    /// touched only on the writer's queue.
    private var touched: [Int64] = []
    private var deleted = false

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
        if event.kind == .delete { deleted = true } else { touched.append(event.rowID) }
    }

    /// A conflict found or resolved changes the copy in place: reading every open pair again
    /// after each one cost each call a full read once thousands were open (the soak's p99 of
    /// `select` climbed with them). A deletion, whose pair the event does not tell, drops the copy.
    func databaseDidCommit(_ db: Database) {
        guard deleted || !touched.isEmpty else { return }
        defer { (touched, deleted) = ([], false) }
        var changes: [(LessonPair, open: Bool)] = []
        if !deleted {
            for rowID in Set(touched) {
                guard
                    let row = try? Row.fetchOne(
                        db, sql: "SELECT lesson_a, lesson_b, resolved_at FROM lesson_conflicts WHERE rowid = ?", arguments: [rowID])
                else {
                    deleted = true
                    break
                }
                changes.append((LessonPair(row["lesson_a"], row["lesson_b"]), (row["resolved_at"] as Date?) == nil))
            }
        }
        state.withLock { state in
            // Bumped either way: a read of the table that began before this commit is not kept.
            state.generation += 1
            guard !deleted, state.partners != nil else {
                state.partners = nil
                return
            }
            // In place: the copy is not duplicated to change a few pairs.
            for (pair, open) in changes {
                if open {
                    state.partners![pair.first, default: []].insert(pair.second)
                    state.partners![pair.second, default: []].insert(pair.first)
                } else {
                    state.partners![pair.first]?.remove(pair.second)
                    state.partners![pair.second]?.remove(pair.first)
                }
            }
        }
    }

    func databaseDidRollback(_ db: Database) {
        (touched, deleted) = ([], false)
    }
}

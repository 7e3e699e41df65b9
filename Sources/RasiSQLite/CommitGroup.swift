import GRDB

/// Group commit: writes that arrive while a commit is in flight wait for it, then go to disk
/// together, in one transaction and so one fsync. Each write runs in a savepoint of its own, so
/// one that fails is undone alone; every caller returns only once its group is committed, so an
/// acknowledged write is as durable as one committed alone.
///
/// No background task: the caller that finds no commit in flight leads; when its group is on
/// disk it hands the lead to the first write that queued meanwhile.
actor CommitGroup {
    typealias Work = @Sendable (Database) throws -> Void

    private enum Turn {
        case done(Result<Void, any Error>)
        case lead
    }

    private let database: any DatabaseWriter
    private var waiting: [(work: Work, turn: CheckedContinuation<Turn, Never>)] = []
    private var leading = false

    init(_ database: any DatabaseWriter) {
        self.database = database
    }

    func write(_ work: @escaping Work) async throws {
        if leading {
            switch await withCheckedContinuation({ waiting.append((work, $0)) }) {
            case .done(let result): return try result.get()
            case .lead: break
            }
        }
        leading = true
        let group = waiting
        waiting = []
        // The actor is free while the group commits: the next writes queue up meanwhile.
        let results = await commit([work] + group.map(\.work))
        for (entry, result) in zip(group, results.dropFirst()) { entry.turn.resume(returning: .done(result)) }
        if waiting.isEmpty {
            leading = false
        } else {
            waiting.removeFirst().turn.resume(returning: .lead)
        }
        try results[0].get()
    }

    private func commit(_ works: [Work]) async -> [Result<Void, any Error>] {
        do {
            return try await database.write { db in
                works.map { work in
                    Result {
                        try db.inSavepoint {
                            try work(db)
                            return .commit
                        }
                    }
                }
            }
        } catch {
            return works.map { _ in .failure(error) }
        }
    }
}

import Foundation
import GRDB
import RasiCore
import Synchronization

/// The embedded default store: one SQLite file in WAL mode, opened through GRDB.
///
/// Every write is committed with `synchronous = FULL` before the caller is answered, so whatever
/// a caller acknowledges survives a crash of the process or of the machine. Interactions are
/// written in groups (`CommitGroup`): concurrent calls share a commit.
public final class SQLiteStore: Sendable {
    let database: any DatabaseWriter
    /// The gateway's writes (an interaction begun, then finished), committed in groups.
    let commits: CommitGroup
    /// Vectors of the active lessons, for the embedding model in use; nil when retrieval is lexical only.
    let index: FlatVectorIndex?
    /// The active lessons' examples in `index`, and their counter-examples.
    let examples = ExampleVectors()
    /// BM25 over the active lessons' situations, for the lexical side of retrieval.
    let lexical = LexicalIndex()
    /// The active lessons as committed, for the reads on every model call's path.
    let cache = LessonCache()
    let conflicts = ConflictCache()
    let quickReads: QuickReads
    /// Checkpoints the write-ahead log off the commits' path.
    let checkpointer: Checkpointer
    let embeddingModel: String?
    /// The rules the lift counts are kept under, as stored with them; nil while none are (nothing is kept).
    let liftRules: Mutex<OutcomeRules?>

    /// Opens (creating if needed) the database at `path`, migrates it to the latest schema, and
    /// loads the active lessons' situations, and their vectors of `embeddingModel`, into the in-process indexes.
    public init(path: String, embeddingModel: String? = nil, dimensions: Int = 384) throws {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent()
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        checkpointer = Checkpointer(path: path)
        database = try DatabasePool(path: path, configuration: Self.configuration(checkpointer))
        try Self.migrator.migrate(database)
        liftRules = Mutex(try database.read(Self.storedLiftRules))
        database.add(transactionObserver: cache, extent: .databaseLifetime)
        database.add(transactionObserver: conflicts, extent: .databaseLifetime)
        quickReads = try QuickReads(path: path, count: 2)
        commits = CommitGroup(database)
        self.embeddingModel = embeddingModel
        index = embeddingModel.map { _ in FlatVectorIndex(dimensions: dimensions) }
        try loadIndex()
    }

    /// One pass over the active lessons fills the indexes and the cache: every lesson, its
    /// situation's terms, and each vector of `embeddingModel` (none is joined when it is nil).
    private func loadIndex() throws {
        // A large partition's vector graph is built in the background once all is loaded.
        if let index { try index.holdingGraphs(loadRows) } else { try loadRows() }
    }

    private func loadRows() throws {
        let generation = cache.generation
        try database.read { db in
            let rows = try Row.fetchCursor(
                db,
                sql: """
                    SELECT \(Self.lessonColumns), l.rowid, e.vector FROM lessons l
                    LEFT JOIN lesson_embeddings e ON e.lesson_id = l.id AND e.model = ?
                    WHERE l.status = 'active'
                    """, arguments: [embeddingModel])
            while let row = try rows.next() {
                let lesson = Self.lesson(row)
                cache.insert(lesson, row: row[Self.lessonColumnCount], readAt: generation)
                lexical.upsert(id: lesson.id, agent: lesson.agent, text: lesson.situation)
                guard let index, let blob: Data = row[Self.lessonColumnCount + 1] else { continue }
                let vector = Self.floats(blob)
                if vector.count == index.dimensions { index.upsert(id: lesson.id, agent: lesson.agent, vector: vector) }
            }
            guard let index, let embeddingModel else { return }
            let points = try Row.fetchCursor(
                db,
                sql: """
                    SELECT x.lesson_id, l.agent, x.kind, x.vector FROM lesson_example_embeddings x JOIN lessons l ON l.id = x.lesson_id
                    WHERE l.status = 'active' AND x.model = ? ORDER BY x.lesson_id, x.kind, x.position
                    """, arguments: [embeddingModel])
            var current: (id: String, agent: String, examples: [[Float]], counters: [[Float]])?
            func flush() {
                guard let c = current else { return }
                examples.set(c.id, agent: c.agent, examples: c.examples, counterExamples: c.counters, in: index)
            }
            while let row = try points.next() {
                let id: String = row[0]
                if current?.id != id {
                    flush()
                    current = (id, row[1], [], [])
                }
                let vector = Self.floats(row[3])
                guard vector.count == index.dimensions else { continue }
                if (row[2] as String) == "counter" { current?.counters.append(vector) } else { current?.examples.append(vector) }
            }
            flush()
        }
    }

    /// `?,?,?`: the placeholders of an `IN (...)` list of `count` values.
    static func placeholders(_ count: Int) -> String {
        Array(repeating: "?", count: count).joined(separator: ",")
    }

    /// A JSON text column decoded; nil when it is NULL or unreadable.
    static func json<T: Decodable>(_ type: T.Type, _ row: Row, _ column: String) -> T? {
        (row[column] as String?).flatMap { try? RasiJSON.decoder().decode(T.self, from: Data($0.utf8)) }
    }

    static func floats(_ data: Data) -> [Float] {
        var vector = [Float](repeating: 0, count: data.count / 4)
        _ = vector.withUnsafeMutableBytes { data.copyBytes(to: $0) }
        return vector
    }

    static func blob(_ vector: [Float]) -> Data {
        vector.withUnsafeBytes { Data($0) }
    }

    private static func configuration(_ checkpointer: Checkpointer) -> Configuration {
        var configuration = Configuration()
        configuration.busyMode = .timeout(5)
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
            checkpointer.install(on: db)
            // Temporary data in memory: a group commit's savepoints keep their statement journals
            // there, not in files created and deleted in /var/tmp for every group.
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
        }
        return configuration
    }

    /// Parses `sqlite:PATH` (also `sqlite://PATH`).
    public static func path(fromURL url: String) -> String? {
        guard url.hasPrefix("sqlite:") else { return nil }
        var path = String(url.dropFirst("sqlite:".count))
        if path.hasPrefix("//") { path.removeFirst(2) }
        return path.isEmpty ? nil : path
    }
}

/// Connections of their own for the short reads on every model call's path (its key, the
/// lessons retrieval keeps, their conflicts), run on the calling thread with statements compiled
/// once per connection. GRDB's async `read` hops to a queue that waits for a free connection,
/// then to the connection's own queue, and back: thread switches that cost more than the lookup.
///
/// A read takes a free connection or none: it never waits for one. Waiting, on one of Swift's
/// few cooperative threads, for a connection of the shared pool deadlocked the server under 32
/// concurrent clients: async reads held the pool's connections while their continuations waited
/// for those very threads. When every quick connection is busy, the read goes through the pool's
/// async `read` instead.
final class QuickReads: Sendable {
    private let connections: [DatabaseQueue]
    private let free: Mutex<[Int]>

    init(path: String, count: Int) throws {
        var configuration = Configuration()
        configuration.readonly = true
        configuration.busyMode = .timeout(5)
        connections = try (0..<count).map { _ in try DatabaseQueue(path: path, configuration: configuration) }
        free = Mutex(Array(connections.indices))
    }

    /// Runs `body` on a free connection, or returns nil at once when none is free.
    func read<T>(_ body: (Database) throws -> T) throws -> T? {
        guard let index = free.withLock({ $0.popLast() }) else { return nil }
        defer { free.withLock { $0.append(index) } }
        return try connections[index].read(body)
    }
}

extension SQLiteStore {
    /// A short read on the calling thread (`QuickReads`), or through the pool when its connections are busy.
    func readNow<T: Sendable>(_ body: @Sendable (Database) throws -> T) async throws -> T {
        if let value = try quickReads.read(body) { return value }
        return try await database.read(body)
    }
}

extension Database {
    /// Runs a statement compiled once per connection. The write path of every gateway call (an
    /// interaction's row, its steps, injections, feedback) runs the same few statements, and
    /// compiling one, with the triggers that keep the text index, cost as much as running it.
    func executeCached(sql: String, arguments: StatementArguments) throws {
        try cachedStatement(sql: sql).execute(arguments: arguments)
    }
}

// MARK: - Moving to another store

extension SQLiteStore: TableSource {
    /// The tables rasi keeps, parents before children, as `rasi migrate` copies them.
    public var tableNames: [String] { Self.tables }

    public static let tables = [
        "api_keys", "sessions", "interactions", "response_ids", "steps", "feedback", "flags", "lessons", "lesson_versions",
        "lesson_embeddings", "lesson_example_embeddings", "injections", "judge_runs", "jobs", "lesson_conflicts", "lesson_outcomes", "syntheses",
        "topics", "audit_log",
        "evaluations"
    ]

    /// A page of a table's rows in storage order, after the row `after` (a rowid), every value
    /// as text: numbers as written, dates as SQLite keeps them (UTC), vectors as `[x,y,...]`;
    /// nil for NULL. The row's `rowid` is offered as the column `rowid`.
    public func tableRows(_ table: String, after: Int64, limit: Int) async throws -> (columns: [String], rows: [(rowid: Int64, values: [String?])]) {
        guard Self.tables.contains(table) else { throw RasiError.invalidField("table", "unknown table \(table)") }
        return try await database.read { db in
            let rows = try Row.fetchAll(
                db, sql: "SELECT *, rowid AS rasi_rowid FROM \(table) WHERE rowid > ? ORDER BY rowid LIMIT ?",
                arguments: [after, limit])
            let columns = try db.columns(in: table).map(\.name) + ["rowid"]
            return (
                columns,
                rows.map { row in
                    let values: [String?] = row.databaseValues.map { value in
                        switch value.storage {
                        case .null: return nil
                        case .int64(let number): return String(number)
                        case .double(let number): return String(number)
                        case .string(let text): return text
                        case .blob(let data): return "[" + Self.floats(data).map { String($0) }.joined(separator: ",") + "]"
                        }
                    }
                    return (row["rasi_rowid"], values)
                }
            )
        }
    }

    public func count(table: String) async throws -> Int {
        guard Self.tables.contains(table) else { throw RasiError.invalidField("table", "unknown table \(table)") }
        return try await database.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM \(table)") ?? 0 }
    }
}

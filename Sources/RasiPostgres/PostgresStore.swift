import Foundation
import Logging
import NIOCore
import PostgresNIO
import RasiCore
import Synchronization
import _ConnectionPoolModule

/// The scale-out store: PostgreSQL with pgvector, through PostgresNIO.
///
/// Stateless apart from its connection pool, so any number of `rasi serve` replicas can share
/// one database: vectors live in a pgvector column with an HNSW index, lexical search is
/// PostgreSQL's full-text search, and a lesson is visible to every replica once committed.
/// Work that must happen once (the judge's jobs, the periodic sweeps) is claimed with row
/// locks (`FOR UPDATE SKIP LOCKED`) or leases.
public final class PostgresStore: Sendable {
    let client: PostgresClient
    /// The server as one connection sees it, for the reachability watcher.
    let connectionConfiguration: PostgresConnection.Configuration
    /// Whether PostgreSQL answers, as the watcher last found.
    let health = Outage()
    let embeddingModel: String?
    let dimensions: Int
    /// A job whose holder has not finished it after this long is taken to be lost with its
    /// process, and is queued again (a judge call is bounded well below this).
    let staleJobAfter: TimeInterval
    /// What the lexical side's posting budget knows about words, kept in process.
    let lexemeStatistics = LexemeStatistics()
    /// The pool's own log (connections failing, the circuit breaker): the server's logger.
    let logger: Logger
    /// The rules the lift counts are kept under, once `prepareLiftCounts` has run; nil until then (nothing is kept).
    let liftRules = Mutex<OutcomeRules?>(nil)
    /// Per-statement logging stays off: at debug level it would log every query's text.
    static let statementLogger = Logger(label: "rasi.postgres", factory: { _ in SwiftLogNoOpLogHandler() })

    /// A store over `url` (`postgres://user:pass@host:port/db`, with `?sslmode=disable|prefer|require`).
    /// Nothing connects until `run()` runs the connection pool: in `rasi serve` as a service beside
    /// the HTTP server; elsewhere through `withStore`. Then `migrate()` brings the schema up to date.
    public init(
        url: String, embeddingModel: String? = nil, dimensions: Int = 384, staleJobAfter: TimeInterval = 600,
        logger: Logger = Logger(label: "rasi.postgres")
    ) throws {
        self.client = PostgresClient(configuration: try Self.configuration(fromURL: url), backgroundLogger: logger)
        self.connectionConfiguration = try Target(url: url).connectionConfiguration(timeout: .seconds(2))
        self.embeddingModel = embeddingModel
        self.dimensions = dimensions
        self.staleJobAfter = staleJobAfter
        self.logger = logger
    }

    /// Runs the connection pool until the calling task is cancelled; the store works only meanwhile.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.client.run() }
            group.addTask { await self.watch() }
            await group.next()
            group.cancelAll()
        }
    }

    /// A store over `url` for the duration of `body`: its pool runs in a child task, the schema is
    /// migrated first, and the pool is closed when `body` returns or throws.
    public static func withStore<T>(
        url: String, embeddingModel: String? = nil, dimensions: Int = 384, staleJobAfter: TimeInterval = 600,
        logger: Logger = Logger(label: "rasi.postgres"), _ body: (PostgresStore) async throws -> T
    ) async throws -> T {
        let store = try PostgresStore(
            url: url, embeddingModel: embeddingModel, dimensions: dimensions, staleJobAfter: staleJobAfter, logger: logger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await store.run() }
            defer { group.cancelAll() }
            try await store.migrate()
            return try await body(store)
        }
    }

    /// Runs one statement (`CREATE DATABASE`, say) over a pool of its own, closed afterwards.
    public static func execute(_ sql: String, at url: String) async throws {
        let client = PostgresClient(configuration: try configuration(fromURL: url), backgroundLogger: statementLogger)
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            try await client.query(PostgresQuery(unsafeSQL: sql), logger: statementLogger)
        }
    }

    /// Whether a database URL names PostgreSQL.
    public static func accepts(_ url: String) -> Bool {
        url.hasPrefix("postgres://") || url.hasPrefix("postgresql://")
    }

    /// What a `postgres://` URL names, parsed once for the pool and for the reachability check.
    struct Target {
        var host: String
        var port: Int
        var username: String
        var password: String?
        var database: String?
        var sslMode: String?
        var pool: Int

        init(url: String) throws {
            guard PostgresStore.accepts(url), let components = URLComponents(string: url), let host = components.host, !host.isEmpty else {
                throw RasiError.invalidField("RASI_DATABASE_URL", "must be postgres://user:password@host:port/database")
            }
            let database = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
            let query = Dictionary((components.queryItems ?? []).map { ($0.name, $0.value ?? "") }, uniquingKeysWith: { $1 })
            self.host = host
            port = components.port ?? 5432
            username = components.user?.removingPercentEncoding ?? "postgres"
            password = components.password?.removingPercentEncoding
            self.database = database.isEmpty ? nil : database
            sslMode = query["sslmode"]
            pool = Int(query["pool"] ?? "") ?? 20
        }

        /// One connection's configuration, connecting within `timeout`.
        func connectionConfiguration(timeout: Duration) throws -> PostgresConnection.Configuration {
            let tls: PostgresConnection.Configuration.TLS =
                switch sslMode {
                case "disable": .disable
                case "require", "verify-ca", "verify-full": .require(try .init(configuration: .makeClientConfiguration()))
                default: .prefer(try .init(configuration: .makeClientConfiguration()))
                }
            var configuration = PostgresConnection.Configuration(
                host: host, port: port, username: username, password: password, database: database, tls: tls)
            configuration.options.connectTimeout = .seconds(Int64(timeout.components.seconds))
            return configuration
        }

        /// The URL without its password, to name in messages.
        var display: String { "postgres://\(username)@\(host):\(port)/\(database ?? username)" }
    }

    static func configuration(fromURL url: String) throws -> PostgresClient.Configuration {
        let target = try Target(url: url)
        let tls: PostgresClient.Configuration.TLS =
            switch target.sslMode {
            case "disable": .disable
            case "require", "verify-ca", "verify-full": .require(.makeClientConfiguration())
            default: .prefer(.makeClientConfiguration())
            }
        var configuration = PostgresClient.Configuration(
            host: target.host, port: target.port, username: target.username, password: target.password, database: target.database, tls: tls)
        configuration.options.maximumConnections = target.pool
        // Timestamps are read and written as instants; UTC keeps text output (logs, psql) unambiguous.
        configuration.options.additionalStartupParameters = [("TimeZone", "UTC"), ("application_name", "rasi")]
        return configuration
    }

    // MARK: Running statements

    @discardableResult
    /// Runs `body` on one pooled connection, outside a transaction (reads, single statements).
    func read<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await unlessAway { client in try await client.withConnection { connection in try await body(connection) } }
        } catch {
            throw Self.translated(error)
        }
    }

    @discardableResult
    /// Runs `body` in one transaction, committed when it returns; the body's own error is rethrown as it is.
    /// A transaction that PostgreSQL aborted whole, to break a deadlock or a serialization conflict,
    /// kept nothing, so it is run again, a few times, after a short random pause. Lesson writes take
    /// their agents' `lexical_totals` rows as they go: two imports naming the same agents in opposite
    /// orders each wait for the other, and one is aborted.
    func write<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        var retried = 0
        while true {
            do {
                return try await transaction(body)
            } catch let error as PostgresStoreError where error.abortedTransaction && retried < Self.transactionRetries {
                retried += 1
                try await Task.sleep(for: .milliseconds(Int.random(in: 10...50) * retried))
            }
        }
    }

    /// How many times a transaction that the server aborted (deadlock, serialization) is run again.
    static let transactionRetries = 4

    private func transaction<T: Sendable>(_ body: (PostgresConnection) async throws -> T) async throws -> T {
        do {
            return try await unlessAway { client in
                try await client.withTransaction(logger: logger) { connection in try await body(connection) }
            }
        } catch let error as PostgresTransactionError {
            throw Self.translated(error.closureError ?? error.commitError ?? error.beginError ?? error)
        } catch {
            throw Self.translated(error)
        }
    }

    /// Runs `operation` unless PostgreSQL is away, and gives up on it (503) the moment the watcher
    /// finds it away: a call waiting for a connection then would otherwise wait for the pool's
    /// circuit breaker, a minute.
    private func unlessAway<T: Sendable>(_ operation: (PostgresClient) async throws -> T) async throws -> T {
        if let outage = health.current { throw RasiError.unavailable(outage) }
        // The operation runs in a child task, and the group awaits its children before it returns:
        // it never outlives this call, as its non-escaping type promises.
        return try await withoutActuallyEscaping(operation) { operation in
            let running = UncheckedSendable(operation)
            return try await withThrowingTaskGroup(of: T?.self) { group in
                group.addTask { try await running.value(self.client) }
                group.addTask {
                    await self.health.untilAway()
                    return nil
                }
                defer { group.cancelAll() }
                guard let result = try await group.next() ?? nil else {
                    throw RasiError.unavailable(health.current ?? "the database is unreachable; try again shortly")
                }
                return result
            }
        }
    }

    /// A database error in rasi's terms. A connection that broke, a server shutting down, or a
    /// pool that could not open a connection mean the database is away, not that the statement
    /// was wrong: `unavailable`, which callers get as 503 with `Retry-After`. The pool keeps
    /// trying to connect, so the store recovers by itself once PostgreSQL is back.
    static func translated(_ error: any Error) -> any Error {
        if let error = error as? PSQLError {
            let broken: [PSQLError.Code] = [.connectionError, .serverClosedConnection, .clientClosedConnection, .uncleanShutdown, .poolClosed]
            let state = error.serverInfo?[.sqlState] ?? ""
            if broken.contains(error.code) || state.hasPrefix("08") || state.hasPrefix("57P") {
                return RasiError.unavailable(
                    "the database is unreachable (PostgreSQL: \(state.isEmpty ? "\(error.code)" : state)); try again shortly")
            }
            return PostgresStoreError(error)
        }
        if let error = error as? ConnectionPoolError {
            return RasiError.unavailable("the database is unreachable (PostgreSQL pool: \(error)); try again shortly")
        }
        return error
    }

    /// The SQL literal of a string: for the few names that must be literal (an index's predicate).
    static func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
    }
}

/// A value the compiler cannot prove Sendable, handed to a child task that cannot outlive its owner.
struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}

/// A database error with the server's own words (PostgresNIO hides them by default, since a
/// query's values may be sensitive; the server's message and code name no values).
public struct PostgresStoreError: Error, CustomStringConvertible {
    public let code: String
    public let message: String

    init(_ error: PSQLError) {
        code = error.serverInfo?[.sqlState] ?? "\(error.code)"
        message = error.serverInfo?[.message] ?? "\(error.code)"
    }

    public var description: String { "PostgreSQL error \(code): \(message)" }

    /// The server rolled the whole transaction back to break a deadlock (40P01) or a
    /// serialization conflict (40001): running it again is safe.
    var abortedTransaction: Bool { code == "40P01" || code == "40001" }
}

// MARK: - Rows, timestamps and vectors

extension PostgresConnection {
    func rows(_ query: PostgresQuery) async throws -> [PGRow] {
        var rows: [PGRow] = []
        for try await row in try await self.query(query, logger: PostgresStore.statementLogger) { rows.append(PGRow(row.makeRandomAccess())) }
        return rows
    }

    func one(_ query: PostgresQuery) async throws -> PGRow? {
        try await rows(query).first
    }

    /// Runs a statement; returns how many rows it returned (use `RETURNING 1` to count the rows a write touched).
    @discardableResult
    func run(_ query: PostgresQuery) async throws -> Int {
        var count = 0
        for try await _ in try await self.query(query, logger: PostgresStore.statementLogger) { count += 1 }
        return count
    }
}

/// A result row, read by column name.
struct PGRow {
    let raw: PostgresRandomAccessRow

    init(_ raw: PostgresRandomAccessRow) {
        self.raw = raw
    }

    subscript<T: PostgresDecodable>(_ column: String) -> T {
        get throws { try raw[column].decode(T.self) }
    }

    subscript(_ column: String) -> Date {
        get throws { PGTime.normalized(try raw[column].decode(Date.self)) }
    }

    subscript(_ column: String) -> Date? {
        get throws { try raw[column].decode(Date?.self).map(PGTime.normalized) }
    }

    /// A JSON text column decoded; nil when it is NULL or unreadable.
    func json<T: Decodable>(_ type: T.Type, _ column: String) -> T? {
        ((try? raw[column].decode(String?.self)) ?? nil).flatMap { try? RasiJSON.decoder().decode(T.self, from: Data($0.utf8)) }
    }
}

/// A timestamp written at whole milliseconds, as the embedded store keeps them, so a date
/// reads back the same from either store (PostgresNIO's own encoding truncates a `Double`).
struct PGTime: PostgresNonThrowingEncodable {
    static let postgresEpoch: Int64 = 946_684_800_000
    let milliseconds: Int64

    init(_ date: Date) {
        milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded())
    }

    static var psqlType: PostgresDataType { .timestamptz }
    static var psqlFormat: PostgresFormat { .binary }

    func encode<JSONEncoder: PostgresJSONEncoder>(into byteBuffer: inout ByteBuffer, context: PostgresEncodingContext<JSONEncoder>) {
        byteBuffer.writeInteger((milliseconds - Self.postgresEpoch) * 1000)
    }

    static func normalized(_ date: Date) -> Date {
        Date(timeIntervalSince1970: (date.timeIntervalSince1970 * 1000).rounded() / 1000)
    }
}

extension Date {
    var pg: PGTime { PGTime(self) }
}

extension Optional where Wrapped == Date {
    var pg: PGTime? { map(PGTime.init) }
}

/// A pgvector value: sent as text (`[1,2,3]`, cast with `::vector`), read in pgvector's binary
/// form (dimensions, then big-endian float32s).
struct PGVector: PostgresDecodable {
    let values: [Float]

    static func text(_ vector: [Float]) -> String {
        "[" + vector.map { String($0) }.joined(separator: ",") + "]"
    }

    init<JSONDecoder: PostgresJSONDecoder>(
        from buffer: inout ByteBuffer, type: PostgresDataType, format: PostgresFormat, context: PostgresDecodingContext<JSONDecoder>
    ) throws {
        switch format {
        case .binary:
            guard let dimensions = buffer.readInteger(as: Int16.self), buffer.readInteger(as: Int16.self) != nil,
                buffer.readableBytes == Int(dimensions) * 4
            else { throw PostgresDecodingError.Code.failure }
            var values = [Float]()
            values.reserveCapacity(Int(dimensions))
            for _ in 0..<dimensions {
                guard let bits = buffer.readInteger(endianness: .big, as: UInt32.self) else { throw PostgresDecodingError.Code.failure }
                values.append(Float(bitPattern: bits))
            }
            self.values = values
        case .text:
            let text = buffer.readString(length: buffer.readableBytes) ?? ""
            values = text.trimmingCharacters(in: CharacterSet(charactersIn: "[] ")).split(separator: ",").compactMap { Float($0) }
        }
    }
}

/// SQL assembled piece by piece, with its values bound as `$1, $2, ...`.
struct SQLBuilder {
    var binds = PostgresBindings()
    private var count = 0

    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value) -> String {
        binds.append(value)
        count += 1
        return "$\(count)"
    }

    mutating func bind<Value: PostgresDynamicTypeEncodable>(_ value: Value?) -> String {
        binds.append(value)
        count += 1
        return "$\(count)"
    }

    func query(_ sql: String) -> PostgresQuery {
        PostgresQuery(unsafeSQL: sql, binds: binds)
    }
}

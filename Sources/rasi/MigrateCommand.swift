import ArgumentParser
import Foundation
import RasiCore
import RasiEngine
import RasiModelClient
import RasiPostgres
import RasiSQLite

/// Moving up: copies an embedded store into PostgreSQL, table by table, as it is.
struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Copy everything from a SQLite store into PostgreSQL, idempotently, and verify the counts.",
        discussion: """
            Rows already in PostgreSQL (by key) are left as they are, so the command can be run again, \
            for instance after a last sync once the old server is stopped. Every table is then counted \
            on both sides: each row of the source must be in the target.
            """)

    @Option(help: "The store to copy: sqlite:PATH.") var from: String
    @Option(help: "The PostgreSQL to copy into: postgres://user:password@host:port/database.") var to: String
    @Option(help: "Rows per insert.") var batch = 500

    func run() async throws {
        guard let path = SQLiteStore.path(fromURL: from) else { throw ValidationError("--from must be sqlite:PATH") }
        guard FileManager.default.fileExists(atPath: path) else { throw ValidationError("no SQLite store at \(path)") }
        guard PostgresStore.accepts(to) else { throw ValidationError("--to must be postgres://user:password@host:port/database") }
        // Opening migrates both to the latest schema, so the two have the same tables.
        let source = try SQLiteStore(path: path)
        let copies = try await PostgresStore.withStore(url: to) { target in
            print("table                 source    copied  already there  target")
            return try await target.copy(from: source, batch: batch) { copy in
                print(
                    copy.table.padding(toLength: 18, withPad: " ", startingAt: 0)
                        + String(format: "%10d%10d%15d%8d", copy.source, copy.copied, copy.alreadyThere, copy.target))
            }
        }
        let mismatched = copies.filter { !$0.isComplete }.map(\.table)
        if !mismatched.isEmpty {
            throw ValidationError("counts do not match for: \(mismatched.joined(separator: ", "))")
        }
        print("verified: every table has at least the source's rows")
    }
}

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
        let target = try await PostgresStore(url: to)

        var mismatched: [String] = []
        print("table                 source    copied  already there  target")
        for table in SQLiteStore.tables {
            let columns = try await target.columns(of: table)
            var copied = 0, seen = 0, after: Int64 = 0
            while true {
                let page = try await source.tableRows(table, after: after, limit: max(1, batch))
                guard let last = page.rows.last else { break }
                // A column PostgreSQL has and SQLite lacks takes its default; `id` where SQLite keys by rowid.
                let sourceIndex = Dictionary(uniqueKeysWithValues: page.columns.enumerated().map { ($1, $0) })
                let shared = columns.compactMap { column in
                    (sourceIndex[column.name] ?? (column.name == "id" ? sourceIndex["rowid"] : nil)).map { (column, $0) }
                }
                copied += try await target.insertRows(
                    table: table, columns: shared.map(\.0), rows: page.rows.map { row in shared.map { row.values[$0.1] } })
                seen += page.rows.count
                after = last.rowid
            }
            try await target.advanceIdentity(table: table)
            let sourceCount = try await source.count(table: table)
            let targetCount = try await target.count(table: table)
            print(table.padding(toLength: 18, withPad: " ", startingAt: 0)
                  + String(format: "%10d%10d%15d%8d", sourceCount, copied, seen - copied, targetCount))
            if targetCount < sourceCount || seen != sourceCount { mismatched.append(table) }
        }
        await target.shutdown()
        if !mismatched.isEmpty {
            throw ValidationError("counts do not match for: \(mismatched.joined(separator: ", "))")
        }
        print("verified: every table has at least the source's rows")
    }
}

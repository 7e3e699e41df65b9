import GRDB
import RasiCore

/// SQLite's errors that mean the disk, not the statement: a full disk (or a file-size limit) and
/// failed writes. Reads keep working meanwhile, and the next write succeeds once space returns.
extension DatabaseError: StoreOutageError {
    public var outage: String? {
        switch resultCode {
        case .SQLITE_FULL: "the database's disk is full (SQLite: \(message ?? "database or disk is full")); free space and try again"
        case .SQLITE_IOERR:
            "the database's disk failed a write (SQLite: \(message ?? "disk I/O error"), code \(extendedResultCode.rawValue)); try again"
        case .SQLITE_CANTOPEN: "the database file cannot be opened (SQLite: \(message ?? "unable to open database file"))"
        case .SQLITE_READONLY: "the database is read-only (SQLite: \(message ?? "attempt to write a readonly database"))"
        default: nil
        }
    }
}

extension SQLiteStore: StoreHealth {
    /// The file is in this process's hands: reads always work, and a write that cannot be made
    /// says why itself.
    public func outage() async -> String? { nil }
}

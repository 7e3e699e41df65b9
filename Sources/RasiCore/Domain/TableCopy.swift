import Foundation

/// A store whose tables can be read as they are, row by row: the source of `rasi migrate`.
public protocol TableSource: Sendable {
    /// Every table, in an order that copies each before the tables that refer to it.
    var tableNames: [String] { get }
    /// A page of a table's rows in storage order after the row `after` (a row id), every value
    /// as text, nil for NULL.
    func tableRows(_ table: String, after: Int64, limit: Int) async throws -> (columns: [String], rows: [(rowid: Int64, values: [String?])])
    func count(table: String) async throws -> Int
}

/// What copying one table did: the source's rows, those copied, those the target had already.
public struct TableCopy: Sendable {
    public var table: String
    public var source: Int
    public var copied: Int
    public var alreadyThere: Int
    public var target: Int

    public init(table: String, source: Int, copied: Int, alreadyThere: Int, target: Int) {
        self.table = table
        self.source = source
        self.copied = copied
        self.alreadyThere = alreadyThere
        self.target = target
    }

    /// Every row of the source is in the target.
    public var isComplete: Bool { target >= source && copied + alreadyThere == source }
}

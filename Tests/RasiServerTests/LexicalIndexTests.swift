import Foundation
import GRDB
import Testing

@testable import RasiSQLite

/// The in-process lexical index stands in for FTS5 in retrieval, so it is checked against FTS5
/// itself: the same terms from the same texts, and the same BM25 where the two index the same
/// documents.
@Suite struct LexicalIndexTests {
    static let clinc150 = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../../shared/data/clinc150/clinc150_dev.json")

    /// Every request of CLINC150's training split.
    static func requests() throws -> [String] {
        let corpus = try JSONSerialization.jsonObject(with: Data(contentsOf: clinc150)) as? [String: Any]
        let train = try #require(corpus?["train"] as? [[Any]])
        return train.compactMap { $0.first as? String }
    }

    /// A one-column FTS5 table with the lessons' tokenizer, filled with `texts` (rowid = position + 1).
    static func fts5(_ texts: [String]) throws -> DatabaseQueue {
        let database = try DatabaseQueue()
        try database.write { db in
            try db.execute(sql: "CREATE VIRTUAL TABLE docs USING fts5(body, tokenize = 'porter unicode61')")
            for text in texts { try db.execute(sql: "INSERT INTO docs (body) VALUES (?)", arguments: [text]) }
        }
        return database
    }

    @Test func itsTermsAreTheOnesFTS5MakesOfTheSameTexts() throws {
        let texts = try Self.requests() + ["Naïve café résumés", "it's 10:30, don't", "agreed feed hopping filing conditional relational"]
        let database = try Self.fts5(texts)
        let expected = try database.write { db in
            try db.execute(sql: "CREATE VIRTUAL TABLE vocabulary USING fts5vocab(docs, 'row')")
            return Set(try String.fetchAll(db, sql: "SELECT term FROM vocabulary"))
        }
        let made = Set(texts.flatMap(LexicalTokens.tokens))
        #expect(expected.count > 4_000)
        #expect(made.subtracting(expected).sorted() == [])
        #expect(expected.subtracting(made).sorted() == [])
    }

    @Test func knownStemsFollowPorter() {
        let stems = [
            "caresses": "caress", "ponies": "poni", "cats": "cat", "agreed": "agre", "hopping": "hop", "filing": "file",
            "relational": "relat", "conditional": "condit", "generalization": "gener", "happy": "happi", "feed": "feed",
            "sky": "sky", "controll": "control", "at": "at"
        ]
        for (word, stem) in stems { #expect(PorterStemmer.stem(word) == stem, "\(word)") }
    }

    @Test func itsBM25IsFTS5sOverTheSameDocuments() throws {
        let texts = Array(try Self.requests().prefix(3000))
        let database = try Self.fts5(texts)
        let index = LexicalIndex()
        for (position, text) in texts.enumerated() { index.upsert(id: String(format: "%05d", position + 1), agent: "a", text: text) }
        for query in [["transfer", "money", "savings"], ["card", "declined", "why"], ["book", "flight", "tomorrow"]] {
            let hits = index.search(agent: "a", words: query, limit: 10, postingBudget: nil)
            let expected = try database.read { db in
                try Row.fetchAll(
                    db, sql: "SELECT rowid, bm25(docs) AS score FROM docs WHERE docs MATCH ? ORDER BY score, rowid LIMIT 10",
                    arguments: [query.map { "\"\($0)\"" }.joined(separator: " OR ")])
            }
            #expect(hits.count == 10)
            #expect(hits.map(\.id) == expected.map { String(format: "%05d", $0["rowid"] as Int64) }, "\(query)")
            for (hit, row) in zip(hits, expected) { #expect(abs(hit.score + (row["score"] as Double)) < 1e-9, "\(query)") }
        }
    }

    @Test func aRemovedOrMovedLessonIsNoLongerFoundWhereItWas() {
        let index = LexicalIndex()
        index.upsert(id: "l1", agent: "a", text: "refund a damaged parcel")
        index.upsert(id: "l2", agent: "a", text: "parcel tracking number")
        index.upsert(id: "l3", agent: "b", text: "refund policy for parcels")
        #expect(index.search(agent: "a", words: ["parcel"], limit: 5, postingBudget: nil).map(\.id).sorted() == ["l1", "l2"])

        index.remove(id: "l2")
        index.upsert(id: "l1", agent: "b", text: "refund a damaged parcel")
        #expect(index.search(agent: "a", words: ["parcel"], limit: 5, postingBudget: nil).isEmpty)
        #expect(index.search(agent: "b", words: ["parcels"], limit: 5, postingBudget: nil).map(\.id).sorted() == ["l1", "l3"])

        index.upsert(id: "l4", agent: "b", text: "the damaged parcel")
        index.upsert(id: "l3", agent: "b", text: "opening hours")
        #expect(index.search(agent: "b", words: ["damaged"], limit: 5, postingBudget: nil).map(\.id).sorted() == ["l1", "l4"])
        #expect(index.search(agent: "b", words: ["refund"], limit: 5, postingBudget: nil).map(\.id) == ["l1"])
        #expect(index.count == 3)
    }

    @Test func aPostingBudgetRanksOnlyTheRarestTerms() {
        let index = LexicalIndex()
        for i in 0..<50 { index.upsert(id: "common-\(i)", agent: "a", text: "account question \(i)") }
        index.upsert(id: "rare", agent: "a", text: "account frozen abroad")
        let budgeted = index.search(agent: "a", words: ["account", "frozen"], limit: 10, postingBudget: 10)
        #expect(budgeted.map(\.id) == ["rare"])
        #expect(index.search(agent: "a", words: ["account", "frozen"], limit: 10, postingBudget: nil).count == 10)
    }
}

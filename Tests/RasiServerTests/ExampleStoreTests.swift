import Foundation
import RasiCore
import RasiPostgres
import RasiSQLite
import Testing

/// How every store keeps and searches a lesson's examples and counter-examples, against SQLite
/// and PostgreSQL alike: a request close to any example finds the lesson, one closer to a
/// counter-example than to any of its examples does not.
@Suite struct ExampleStoreTests {
    static let model = "example-test-model"

    /// The unit vector along axis `i` of an 8-dimensional space, leaning toward axis `lean`.
    func axis(_ i: Int, lean: Int? = nil) -> [Float] {
        var v = [Float](repeating: 0, count: 8)
        v[i] = 1
        if let lean { v[lean] = 0.3 }
        let norm = sqrt(v.reduce(0) { $0 + $1 * $1 })
        return v.map { $0 / norm }
    }

    /// The cosine of `axis(i, lean: j)` with `axis(i)`, and with `axis(j)`.
    static let leaning = (near: 1 / Double(1.09).squareRoot(), far: 0.3 / Double(1.09).squareRoot())

    func lesson(
        _ situation: String, examples: [String] = [], counterExamples: [String] = [], agent: String = "default",
        status: LessonStatus = .active
    ) -> Lesson {
        Lesson.create(
            fields: LessonFields(
                agent: agent, situation: situation, did: "d", shouldHaveDone: "s", why: "w", correctBehavior: "c", status: status,
                examples: examples.map { LessonExample($0, source: .reviewer) },
                counterExamples: counterExamples.map { LessonExample($0, source: .judge) }),
            author: "t")
    }

    func embedding(_ situation: [Float], examples: [[Float]] = [], counterExamples: [[Float]] = []) -> LessonEmbedding {
        LessonEmbedding(model: Self.model, vector: situation, examples: examples, counterExamples: counterExamples)
    }

    func near(_ a: Double, _ b: Double) -> Bool { abs(a - b) < 1e-4 }

    /// Counts a table's rows, in either store.
    func count(_ table: String, in store: any RasiStore) async throws -> Int {
        switch store {
        case let store as SQLiteStore: return try await store.count(table: table)
        case let store as PostgresStore: return try await store.count(table: table)
        default: throw RasiError.invalidField("store", "unknown store")
        }
    }

    @Test(arguments: StoreKind.allCases) func aRequestCloseToAnExampleFindsTheLessonThroughIt(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind, embeddingModel: Self.model, dimensions: 8) { store in
            // Given a lesson whose situation is along axis 0 and whose examples are along axes 1 and 2,
            // and a lesson without examples along axis 3,
            let cancel = lesson("cancel a subscription", examples: ["stop my plan", "end billing"], counterExamples: ["cancel an order"])
            let plain = lesson("change the delivery address")
            try await store.importLessons([
                (cancel, embedding(axis(0), examples: [axis(1), axis(2)], counterExamples: [axis(7)])),
                (plain, embedding(axis(3)))
            ])

            // when a request is close to the second example,
            let found = try await store.denseCandidates(agent: "default", vector: axis(2, lean: 3), limit: 5)
            // then the lesson is found first, scored by that example, which is named,
            #expect(found.map(\.lesson.id) == [cancel.id, plain.id])
            #expect(near(found[0].score, Self.leaning.near))
            #expect(found[0].matched == LessonExample("end billing", source: .reviewer))
            #expect(found[1].matched == nil && near(found[1].score, Self.leaning.far))
            let hits = try await store.denseHits(agent: "default", vector: axis(2, lean: 3), limit: 5)
            #expect(hits.map(\.example) == [1, nil])
            let scores = try await store.denseScores(ids: [cancel.id, plain.id], vector: axis(1))
            #expect(scores[cancel.id]?.example == 0 && near(scores[cancel.id]?.score ?? 0, 1))
            #expect(near(scores[plain.id]?.score ?? 1, 0))

            // and a request closest to the situation names no example.
            let bySituation = try await store.denseHits(agent: "default", vector: axis(0, lean: 1), limit: 1)
            #expect(bySituation.map(\.id) == [cancel.id] && bySituation[0].example == nil)
            #expect(near(bySituation[0].score, Self.leaning.near))
            // An example is its lesson's only: another agent's search does not find it.
            #expect(try await store.denseHits(agent: "other", vector: axis(1), limit: 5).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases) func aCounterExampleCloserThanTheBestExampleKeepsTheLessonOut(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind, embeddingModel: Self.model, dimensions: 8) { store in
            // Given a lesson along axis 0 with an example along axis 1 and a counter-example along axis 3,
            let refund = lesson("refund a damaged parcel", examples: ["my parcel arrived broken"], counterExamples: ["my parcel is late"])
            let other = lesson("open a new account")
            try await store.importLessons([
                (refund, embedding(axis(0), examples: [axis(1)], counterExamples: [axis(3)])),
                (other, embedding(axis(4)))
            ])

            // a request nearer the counter-example than the example does not find it, by any search,
            for request in [axis(3), axis(3, lean: 1)] {
                #expect(try await store.denseCandidates(agent: "default", vector: request, limit: 5).map(\.lesson.id) == [other.id])
                #expect(try await store.denseScores(ids: [refund.id, other.id], vector: request).keys.sorted() == [other.id])
            }
            // while one nearer the example than the counter-example does.
            let found = try await store.denseCandidates(agent: "default", vector: axis(1, lean: 3), limit: 5)
            #expect(found.first?.lesson.id == refund.id && found.first?.matched?.text == "my parcel arrived broken")
            #expect(near(found.first?.score ?? 0, Self.leaning.near))
            #expect(try await store.denseScores(ids: [refund.id], vector: axis(1, lean: 3))[refund.id]?.example == 0)
        }
    }

    @Test(arguments: StoreKind.allCases) func anUpdateReplacesTheExamplesVectors(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind, embeddingModel: Self.model, dimensions: 8) { store in
            // Given a lesson with two examples (axes 1, 2) and a counter-example (axis 4),
            var lesson = self.lesson("reset a password", examples: ["forgot my login", "locked out"], counterExamples: ["reset the router"])
            try await store.createLesson(lesson, embedding: embedding(axis(0), examples: [axis(1), axis(2)], counterExamples: [axis(4)]))
            #expect(try await store.denseHits(agent: "default", vector: axis(2), limit: 5).first?.example == 1)
            #expect(try await store.denseHits(agent: "default", vector: axis(4), limit: 5).isEmpty)

            // when its next version has one other example (axis 3) and no counter-example,
            lesson = lesson.applying(LessonFields(examples: [LessonExample("cannot sign in", source: .reviewer)], counterExamples: []))
            try await store.updateLesson(lesson, changedBy: "t", embedding: embedding(axis(0), examples: [axis(3)]))

            // then the new example finds it, the old ones no longer do, and nothing blocks it.
            let byNew = try #require(try await store.denseCandidates(agent: "default", vector: axis(3), limit: 5).first)
            #expect(byNew.lesson.id == lesson.id && byNew.matched?.text == "cannot sign in" && near(byNew.score, 1))
            for old in [axis(1), axis(2)] {
                let hit = try #require(try await store.denseHits(agent: "default", vector: old, limit: 5).first)
                #expect(hit.example == nil && near(hit.score, 0))
            }
            #expect(try await store.denseHits(agent: "default", vector: axis(4), limit: 5).map(\.id) == [lesson.id])
            #expect(try await count("lesson_example_embeddings", in: store) == 1)
        }
    }

    @Test(arguments: StoreKind.allCases) func aRetiredOrDeletedLessonIsNotFoundThroughItsExamples(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind, embeddingModel: Self.model, dimensions: 8) { store in
            // Given two lessons each with an example exactly where a request will be, and one without,
            var retired = lesson("book a flight", examples: ["fly me to Rome"])
            let deleted = lesson("book a train", examples: ["train to Milan"])
            let kept = lesson("book a hotel")
            try await store.importLessons([
                (retired, embedding(axis(0), examples: [axis(1)])),
                (deleted, embedding(axis(2), examples: [axis(3)])),
                (kept, embedding(axis(4, lean: 1)))
            ])
            #expect(try await store.denseCandidates(agent: "default", vector: axis(1), limit: 1).first?.lesson.id == retired.id)

            // when one is retired and the other deleted,
            retired.status = .retired
            retired.version += 1
            try await store.updateLesson(retired, changedBy: "t", embedding: nil)
            #expect(try await store.deleteLesson(id: deleted.id, by: "t"))

            // then neither is found, by its examples or otherwise; the other lesson still is.
            for request in [axis(1), axis(3)] {
                #expect(try await store.denseCandidates(agent: "default", vector: request, limit: 5).map(\.lesson.id) == [kept.id])
                #expect(try await store.denseScores(ids: [retired.id, deleted.id], vector: request).isEmpty)
            }
            // The deleted lesson's vectors are gone with it; the retired one keeps its own.
            #expect(try await count("lesson_example_embeddings", in: store) == 1)

            // Active again, with its vectors, it is found through its example again.
            retired.status = .active
            retired.version += 1
            try await store.updateLesson(retired, changedBy: "t", embedding: embedding(axis(0), examples: [axis(1)]))
            let again = try await store.denseCandidates(agent: "default", vector: axis(1), limit: 1)
            #expect(again.first?.lesson.id == retired.id && again.first?.matched?.text == "fly me to Rome")
        }
    }

    @Test(arguments: StoreKind.allCases, StoreKind.allCases)
    func exportedLessonsKeepTheirExamplesWhenImported(_ from: StoreKind, _ to: StoreKind) async throws {
        // Given a lesson with examples and counter-examples of every source, edited once,
        var lesson = self.lesson("track a parcel", examples: ["where is my package"], counterExamples: ["where is your shop"])
        lesson.examples.append(LessonExample("has my order shipped", source: .interaction))
        lesson.counterExamples.append(LessonExample("track my running", source: .outcome))
        let edited = lesson.applying(LessonFields(examples: lesson.examples + [LessonExample("parcel status", source: .judge)]))
        let exported = try await withTemporaryStore(from, embeddingModel: Self.model, dimensions: 8) { store in
            try await store.createLesson(lesson, embedding: embedding(axis(0), examples: [axis(1), axis(2)], counterExamples: [axis(3), axis(4)]))
            try await store.updateLesson(
                edited, changedBy: "t", embedding: embedding(axis(0), examples: [axis(1), axis(2), axis(5)], counterExamples: [axis(3), axis(4)]))
            return try await store.exportLessonVersions()
        }
        #expect(exported.map(\.lesson.version) == [1, 2])
        #expect(exported.map(\.lesson.examples.count) == [2, 3])

        try await withTemporaryStore(to, embeddingModel: Self.model, dimensions: 8) { store in
            // when the export is imported into another store,
            let imported = try await store.importLessonVersions(exported)
            #expect(imported.added == 2 && imported.updated == [lesson.id])

            // then the lesson and each version keep their examples and counter-examples, sources included,
            let read = try #require(try await store.lesson(id: lesson.id))
            #expect(read.examples == edited.examples && read.counterExamples == edited.counterExamples)
            #expect(read.examples.map(\.source) == [.reviewer, .interaction, .judge])
            #expect(read.counterExamples.map(\.source) == [.judge, .outcome])
            let history = try await store.lessonHistory(id: lesson.id)
            #expect(history.map(\.lesson.examples) == [lesson.examples, edited.examples])
            #expect(history.map(\.lesson.counterExamples) == [lesson.counterExamples, edited.counterExamples])
            // and, the vectors not being exported, it waits to be embedded again: then its examples find it.
            #expect(try await store.lessonsWithoutEmbedding(model: Self.model).map(\.id) == [lesson.id])
            #expect(try await store.denseHits(agent: "default", vector: axis(5), limit: 5).isEmpty)
            try await store.saveEmbeddings([
                (read, embedding(axis(0), examples: [axis(1), axis(2), axis(5)], counterExamples: [axis(3), axis(4)]))
            ])
            let found = try await store.denseCandidates(agent: "default", vector: axis(5), limit: 5)
            #expect(found.first?.matched == LessonExample("parcel status", source: .judge))
            #expect(try await store.denseCandidates(agent: "default", vector: axis(4), limit: 5).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases) func importingANewerVersionDropsTheStaleExampleVectors(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind, embeddingModel: Self.model, dimensions: 8) { store in
            // Given a lesson found through its example,
            let lesson = self.lesson("pay an invoice", examples: ["settle my bill"], counterExamples: ["send an invoice"])
            try await store.createLesson(lesson, embedding: embedding(axis(0), examples: [axis(1)], counterExamples: [axis(2)]))
            #expect(try await store.denseHits(agent: "default", vector: axis(1), limit: 5).first?.example == 0)

            // when a newer version of it, with other examples, is imported,
            var newer = lesson.applying(LessonFields(examples: [LessonExample("pay what I owe", source: .reviewer)]))
            newer.updatedAt = Date(timeIntervalSince1970: 1_764_000_000)
            let imported = try await store.importLessonVersions([LessonVersion(lesson: newer, changedBy: "import", changedAt: newer.updatedAt)])
            #expect(imported.updated == [lesson.id])

            // then its old vectors, examples and counter-examples alike, are gone until it is embedded again.
            #expect(try await count("lesson_example_embeddings", in: store) == 0)
            #expect(try await store.denseHits(agent: "default", vector: axis(1), limit: 5).isEmpty)
            #expect(try await store.lessonsWithoutEmbedding(model: Self.model).map(\.examples) == [newer.examples])
        }
    }

    @Test(arguments: StoreKind.allCases) func aLessonWithManyCloseExamplesLeavesRoomForTheNextLesson(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind, embeddingModel: Self.model, dimensions: 8) { store in
            // Given a lesson whose situation and six examples are all close to a request, and a
            // second lesson farther away,
            let many = lesson("many ways", examples: (0..<6).map { "way \($0)" })
            let second = lesson("second")
            try await store.importLessons([
                (many, embedding(axis(0), examples: (1...6).map { axis(0, lean: $0) })),
                (second, embedding(axis(7, lean: 0)))
            ])
            // the two nearest lessons are both lessons, not one lesson's many points.
            let found = try await store.denseHits(agent: "default", vector: axis(0), limit: 2)
            #expect(found.map(\.id) == [many.id, second.id])
        }
    }

    @Test(arguments: StoreKind.allCases) func aLessonWithManyCloseExamplesLeavesRoomForAnotherLessonsExample(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind, embeddingModel: Self.model, dimensions: 8) { store in
            // Given a lesson with five examples close to a request (cosine 0.958), another with one
            // example a little farther (0.894), both with situations opposite the request, and two
            // lessons whose situations are farther still (0.287 and 0),
            let many = lesson("many ways", examples: (1...5).map { "way \($0)" })
            let one = lesson("one way", examples: ["the other way"])
            let opposite = axis(0).map { -$0 }
            let towardFive = [Float(1), 0, 0, 0, 0, 0.5, 0, 0].map { $0 / Float(1.25).squareRoot() }
            try await store.importLessons([
                (many, embedding(opposite, examples: (1...5).map { axis(0, lean: $0) })),
                (one, embedding(opposite, examples: [towardFive])),
                (lesson("leaning"), embedding(axis(6, lean: 0))),
                (lesson("orthogonal"), embedding(axis(7)))
            ])
            // the two nearest lessons are the two found through their examples.
            let found = try await store.denseHits(agent: "default", vector: axis(0), limit: 2)
            #expect(found.map(\.id) == [many.id, one.id])
            #expect(found.map { $0.example != nil } == [true, true])
        }
    }

    @Test func reopeningSQLiteReloadsTheExampleVectorsOfActiveLessons() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("rasi.sqlite").path
        // Given a store with an active lesson that has an example and a counter-example, and a
        // retired lesson with an example,
        let active = lesson("renew a passport", examples: ["my passport expired"], counterExamples: ["renew a library card"])
        var retired = lesson("renew a licence", examples: ["my licence expired"])
        do {
            let store = try SQLiteStore(path: path, embeddingModel: Self.model, dimensions: 8)
            try await store.importLessons([
                (active, embedding(axis(0), examples: [axis(1)], counterExamples: [axis(2)])),
                (retired, embedding(axis(3), examples: [axis(4)]))
            ])
            retired.status = .retired
            retired.version += 1
            try await store.updateLesson(retired, changedBy: "t", embedding: nil)
        }

        // when it is opened again,
        let reopened = try SQLiteStore(path: path, embeddingModel: Self.model, dimensions: 8)

        // then the active lesson's example finds it and its counter-example still keeps it out,
        let found = try await reopened.denseCandidates(agent: "default", vector: axis(1), limit: 5)
        #expect(found.map(\.lesson.id) == [active.id])
        #expect(found.first?.matched == LessonExample("my passport expired", source: .reviewer) && near(found.first?.score ?? 0, 1))
        #expect(try await reopened.denseHits(agent: "default", vector: axis(2, lean: 1), limit: 5).isEmpty)
        // the retired lesson's example is not loaded,
        #expect(try await reopened.denseHits(agent: "default", vector: axis(4), limit: 5).map(\.id) == [active.id])
        // and another model's store loads none of these vectors.
        let otherModel = try SQLiteStore(path: path, embeddingModel: "another-model", dimensions: 8)
        #expect(try await otherModel.denseHits(agent: "default", vector: axis(1), limit: 5).isEmpty)
    }
}

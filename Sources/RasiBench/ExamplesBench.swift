import ArgumentParser
import Foundation
import RasiCore
import RasiEmbeddings
import RasiSQLite

/// `rasi bench retrieval --examples 0,4,8`: what a lesson's examples add to finding it.
///
/// One lesson per intent, made from one training request (its situation: the intent's first
/// request of the lesson split), with the intent's next K training requests as its examples:
/// they stand in for the paraphrases the judge's model proposes. The lessons and their example
/// vectors go through the real store and are retrieved as `rasi serve` retrieves them; each K
/// picks its own floor on the floor split, as the main table does. A second table gets the same
/// examples through the proposal path instead (`ProposedExamplesBench.swift`).
extension RetrievalBench {
    struct ExamplesRow: Codable {
        /// Examples per lesson.
        var k: Int
        var mode: String
        var floor: Double
        /// Share of in-scope queries whose first injected lesson is their intent's.
        var rightLessonShare: Double
        var rightLessonAmongInjected: Double
        /// Share of in-scope queries whose first injected lesson matched through an example.
        var matchedByExample: Double
        var inScopeInjected: Double
        /// Share of the reported out-of-scope queries that get no lesson.
        var oosAbstention: Double
        var floorSplitAbstention: Double
        /// Model-proposed rows only: lessons whose proposal was stored, and those whose examples
        /// are, once stored, exactly what the script answered.
        var lessonsProposed: Int?
        var lessonsAsScripted: Int?

        enum CodingKeys: String, CodingKey {
            case k, mode, floor
            case lessonsProposed = "lessons_proposed"
            case lessonsAsScripted = "lessons_as_scripted"
            case rightLessonShare = "right_lesson_share"
            case rightLessonAmongInjected = "right_lesson_among_injected"
            case matchedByExample = "matched_by_example"
            case inScopeInjected = "in_scope_injected"
            case oosAbstention = "oos_abstention"
            case floorSplitAbstention = "floor_split_abstention"
        }
    }

    /// Checked before the main run, which takes a while.
    func validate() throws {
        guard let examples else { return }
        let counts = integers(examples)
        guard !counts.isEmpty, counts.allSatisfy({ (0...LessonExample.maxCount).contains($0) }) else {
            throw ValidationError("--examples takes counts between 0 and \(LessonExample.maxCount), such as 0,4,8")
        }
    }

    /// Each intent of the lesson split and its requests, in order: the first is its lesson's
    /// situation, the next ones its examples. Every intent needs `1 + most` of them.
    func intentRequests(_ training: [Item], most: Int) throws -> [(intent: String, requests: [Item])] {
        let byIntent = Dictionary(grouping: training, by: \.intent)
        let intents = Set(training.map(\.intent)).sorted()
        if let short = intents.first(where: { byIntent[$0, default: []].count < 1 + most }) {
            throw ValidationError("intent \(short) has fewer than \(1 + most) requests in \(lessons)")
        }
        return intents.map { ($0, byIntent[$0, default: []]) }
    }

    /// One row per count and mode. `vectors` are those of `queries + oos + floorItems`, in that order.
    func examplesStudy(
        counts: [Int], training: [Item], queries: [Item], oos: [Item], floorItems: [Item], vectors: [[Float]], model: MiniLM, folder: URL
    ) async throws -> [ExamplesRow] {
        let intents = try intentRequests(training, most: counts.max() ?? 0)
        var rows: [ExamplesRow] = []
        for count in counts {
            let store = try SQLiteStore(
                path: folder.appendingPathComponent("examples-\(count).sqlite").path, embeddingModel: MiniLM.modelName,
                dimensions: model.dimensions)
            try await Self.importLessons(
                intents.map { intent, requests in (intent, requests[0].text, requests[1..<(1 + count)].map(\.text)) }, into: store, model: model)
            rows += try await examplesRows(
                count: count, store: store, queries: queries, oos: oos, floorItems: floorItems, vectors: vectors, model: model)
        }
        return rows
    }

    /// One lesson per intent, its situation and examples as given, embedded as the engine embeds a
    /// lesson (its situation, then its examples) but all in one batch; returns them as stored.
    @discardableResult
    static func importLessons(_ lessons: [(intent: String, situation: String, examples: [String])], into store: SQLiteStore, model: MiniLM)
        async throws -> [Lesson]
    {
        let now = Date()
        let made = lessons.map { intent, situation, examples in
            Lesson.create(
                fields: LessonFields(
                    agent: "bench", topic: intent, situation: situation, shouldHaveDone: "-", correctBehavior: "-",
                    examples: examples.map { LessonExample($0, source: .judge) }),
                author: "bench", now: now)
        }
        let lessonVectors = model.embedBatch(made.flatMap(\.embeddedTexts))
        var offset = 0
        try await store.importLessons(
            made.map { lesson in
                defer { offset += lesson.embeddedTexts.count }
                let own = Array(lessonVectors[offset..<(offset + lesson.embeddedTexts.count)])
                return (lesson, LessonEmbedding(model: MiniLM.modelName, vectors: own, examples: lesson.examples.count))
            })
        return made
    }

    /// The dense and hybrid rows of one count, over the lessons of `store`.
    func examplesRows(
        count: Int, store: SQLiteStore, queries: [Item], oos: [Item], floorItems: [Item], vectors: [[Float]], model: MiniLM
    ) async throws -> [ExamplesRow] {
        var rows: [ExamplesRow] = []
        for mode in ["dense", "hybrid"] {
            let ranked = try await Self.retrieve(queries + oos + floorItems, vectors: vectors, mode: mode, store: store, model: model).ranked
            let m = measure(ranked, queries: queries, oos: oos.count)
            rows.append(
                ExamplesRow(
                    k: count, mode: mode, floor: m.floor, rightLessonShare: m.rightFirst, rightLessonAmongInjected: m.rightAmongInjected,
                    matchedByExample: m.firstByExample, inScopeInjected: m.inScopeInjected, oosAbstention: m.oosNothingInjected,
                    floorSplitAbstention: m.floorSplitNothingInjected))
        }
        return rows
    }

    /// The rows as a table under `caption`; model-proposed rows also say how many lessons got the
    /// scripted examples.
    static func printExamples(_ rows: [ExamplesRow], caption: String) {
        print("")
        print(caption)
        let proposed = rows.contains { $0.lessonsAsScripted != nil }
        print(
            "K   mode     floor   right lesson  right among injected  by example  in-scope injected  oos nothing injected"
                + (proposed ? "  proposed  as scripted" : ""))
        for r in rows {
            print(
                String(r.k).padding(toLength: 4, withPad: " ", startingAt: 0) + r.mode.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(
                        format: "%.3f   %.4f        %.4f                %.4f      %.4f             %.4f",
                        r.floor, r.rightLessonShare, r.rightLessonAmongInjected, r.matchedByExample, r.inScopeInjected, r.oosAbstention)
                    + (proposed ? String(format: "                  %4d      %4d", r.lessonsProposed ?? 0, r.lessonsAsScripted ?? 0) : ""))
        }
    }
}

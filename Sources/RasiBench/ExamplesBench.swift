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
/// picks its own floor on the floor split, as the main table does.
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

        enum CodingKeys: String, CodingKey {
            case k, mode, floor
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

    /// One row per count and mode. `vectors` are those of `queries + oos + floorItems`, in that order.
    func examplesStudy(
        counts: [Int], training: [Item], queries: [Item], oos: [Item], floorItems: [Item], vectors: [[Float]], model: MiniLM, folder: URL
    ) async throws -> [ExamplesRow] {
        let byIntent = Dictionary(grouping: training, by: \.intent)
        let intents = Set(training.map(\.intent)).sorted()
        let most = counts.max() ?? 0
        if let short = intents.first(where: { byIntent[$0, default: []].count < 1 + most }) {
            throw ValidationError("intent \(short) has fewer than \(1 + most) requests in \(lessons)")
        }
        let all = queries + oos + floorItems
        var rows: [ExamplesRow] = []
        for count in counts {
            let store = try SQLiteStore(
                path: folder.appendingPathComponent("examples-\(count).sqlite").path, embeddingModel: MiniLM.modelName,
                dimensions: model.dimensions)
            let now = Date()
            let made = intents.map { intent in
                let requests = byIntent[intent, default: []]
                return Lesson.create(
                    fields: LessonFields(
                        agent: "bench", topic: intent, situation: requests[0].text, shouldHaveDone: "-", correctBehavior: "-",
                        examples: requests[1..<(1 + count)].map { LessonExample($0.text, source: .judge) }),
                    author: "bench", now: now)
            }
            // Embedded as the engine embeds a lesson: its situation, then its examples, in one batch.
            let lessonVectors = model.embedBatch(made.flatMap(\.embeddedTexts))
            var offset = 0
            try await store.importLessons(
                made.map { lesson in
                    defer { offset += lesson.embeddedTexts.count }
                    let own = Array(lessonVectors[offset..<(offset + lesson.embeddedTexts.count)])
                    return (lesson, LessonEmbedding(model: MiniLM.modelName, vectors: own, examples: lesson.examples.count))
                })
            for mode in ["dense", "hybrid"] {
                let ranked = try await Self.retrieve(all, vectors: vectors, mode: mode, store: store, model: model).ranked
                let m = measure(ranked, queries: queries, oos: oos.count)
                rows.append(
                    ExamplesRow(
                        k: count, mode: mode, floor: m.floor, rightLessonShare: m.rightFirst, rightLessonAmongInjected: m.rightAmongInjected,
                        matchedByExample: m.firstByExample, inScopeInjected: m.inScopeInjected, oosAbstention: m.oosNothingInjected,
                        floorSplitAbstention: m.floorSplitNothingInjected))
            }
        }
        return rows
    }

    static func printExamples(_ rows: [ExamplesRow], lessons: String, floorSplit: String, oosTarget: Double) {
        print("")
        print(
            """
            one lesson per intent from one \(lessons) request, with K other requests of its intent as examples; \
            floor picked on \(floorSplit) for \(Int(oosTarget * 100))% nothing injected; \
            right lesson = the first lesson injected is the query's intent's
            """
        )
        print("K   mode     floor   right lesson  right among injected  by example  in-scope injected  oos nothing injected")
        for r in rows {
            print(
                String(r.k).padding(toLength: 4, withPad: " ", startingAt: 0) + r.mode.padding(toLength: 9, withPad: " ", startingAt: 0)
                    + String(
                        format: "%.3f   %.4f        %.4f                %.4f      %.4f             %.4f",
                        r.floor, r.rightLessonShare, r.rightLessonAmongInjected, r.matchedByExample, r.inScopeInjected, r.oosAbstention))
        }
    }
}

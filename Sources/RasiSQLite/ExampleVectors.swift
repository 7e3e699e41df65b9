import Foundation
import RasiCore
import Synchronization

/// The vectors of the active lessons' examples and counter-examples, beside their situations.
///
/// Each example is a point of its own in the vector index (id `lesson#n`), so a request close to
/// any of a lesson's ways of asking finds it. Counter-examples are kept here instead: they never
/// make a lesson a candidate, they are only compared with the request once it is one.
final class ExampleVectors: Sendable {
    private struct Entry {
        var examples: Int
        var counters: [[Float]]
    }

    private let state = Mutex<[String: Entry]>([:])

    static func pointId(_ lesson: String, _ example: Int) -> String { "\(lesson)#\(example)" }

    /// The lesson a point of the index belongs to, and which example it is (nil: the situation).
    static func owner(of point: String) -> (lesson: String, example: Int?) {
        guard let mark = point.lastIndex(of: "#"), let example = Int(point[point.index(after: mark)...]) else { return (point, nil) }
        return (String(point[..<mark]), example)
    }

    /// Whether any lesson has examples or counter-examples: without, a search is the index's alone.
    var isEmpty: Bool { state.withLock { $0.isEmpty } }

    /// Replaces the lesson's example points in `index` and its counter-examples here.
    func set(_ id: String, agent: String, examples: [[Float]], counterExamples: [[Float]], in index: FlatVectorIndex) {
        let previous = state.withLock { state in
            let previous = state[id]?.examples ?? 0
            state[id] = examples.isEmpty && counterExamples.isEmpty ? nil : Entry(examples: examples.count, counters: counterExamples)
            return previous
        }
        for (n, vector) in examples.enumerated() { index.upsert(id: Self.pointId(id, n), agent: agent, vector: vector) }
        for n in examples.count..<max(previous, examples.count) { index.remove(id: Self.pointId(id, n)) }
    }

    func remove(_ id: String, from index: FlatVectorIndex) {
        let previous = state.withLock { $0.removeValue(forKey: id)?.examples ?? 0 }
        for n in 0..<previous { index.remove(id: Self.pointId(id, n)) }
    }

    /// How many example points the lesson has in the index, and its counter-examples' vectors.
    func vectors(of id: String) -> (examples: Int, counters: [[Float]]) {
        state.withLock { state in state[id].map { ($0.examples, $0.counters) } ?? (0, []) }
    }

    /// Each lesson's relevance to `query` over its situation and examples, the lessons a closer
    /// counter-example blocks left out (`ExampleMatch`).
    func matches(_ ids: [String], query: [Float], in index: FlatVectorIndex) -> [String: LessonHit] {
        var points: [String] = []
        var owned: [(id: String, examples: Int, counters: [[Float]])] = []
        for id in ids {
            let (examples, counters) = vectors(of: id)
            owned.append((id, examples, counters))
            points.append(id)
            for n in 0..<examples { points.append(Self.pointId(id, n)) }
        }
        let scores = index.scores(ids: points, query: query)
        var hits: [String: LessonHit] = [:]
        for (id, examples, counters) in owned {
            guard let situation = scores[id] else { continue }
            let exampleScores = (0..<examples).map { Double(scores[Self.pointId(id, $0)] ?? -1) }
            let counterScores = counters.map { Embeddings.cosine(query, $0) }
            guard let match = ExampleMatch.score(situation: Double(situation), examples: exampleScores, counterExamples: counterScores) else {
                continue
            }
            hits[id] = LessonHit(id: id, score: match.score, example: match.example)
        }
        return hits
    }
}

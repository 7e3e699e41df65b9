import Foundation
import RasiCore
import Synchronization

/// BM25 over the active lessons' situations, in process, partitioned by agent, kept equal to
/// the committed state as the vector index is (`SQLiteStore.updateIndex`).
///
/// FTS5 ranked up to `LexicalBudget.postings` matches by reading each one's row of the
/// full-text index: at 100k lessons that was the longer side of a hybrid retrieval (p50 10 ms on
/// a slower machine of this kind; README, performance). Here a posting is a slot and a count in
/// memory, so ranking them costs microseconds. The terms and the formula are FTS5's (`porter
/// unicode61`; k1 = 1.2, b = 0.75, an IDF below zero raised to 1e-6), over the agent's active
/// lessons and their situations alone, where FTS5 counted every lesson and all its fields.
public final class LexicalIndex: Sendable {
    struct Posting {
        var slot: Int32
        var count: Int32
    }

    struct Partition {
        /// The lesson in each slot; a removed lesson's slot is reused.
        var ids: [String] = []
        var lengths: [Int32] = []
        var terms: [[String]] = []
        var free: [Int32] = []
        var slots: [String: Int32] = [:]
        var postings: [String: [Posting]] = [:]
        var totalLength = 0
        var count: Int { slots.count }
    }

    private let state = Mutex<(partitions: [String: Partition], agentOf: [String: String])>(([:], [:]))

    public init() {}

    public var count: Int { state.withLock { $0.agentOf.count } }

    public func hasLessons(agent: String) -> Bool {
        state.withLock { $0.partitions[agent] != nil }
    }

    /// Adds or replaces the situation of `id`, moving it to `agent`'s partition if needed.
    public func upsert(id: String, agent: String, text: String) {
        let tokens = LexicalTokens.tokens(text)
        var counts: [String: Int32] = [:]
        for token in tokens { counts[token, default: 0] += 1 }
        state.withLock { state in
            if let previous = state.agentOf[id] { Self.remove(id, from: previous, in: &state.partitions) }
            state.agentOf[id] = agent
            Self.insert(id, counts: counts, length: tokens.count, into: &state.partitions[agent, default: Partition()])
        }
    }

    public func remove(id: String) {
        state.withLock { state in
            guard let agent = state.agentOf.removeValue(forKey: id) else { return }
            Self.remove(id, from: agent, in: &state.partitions)
        }
    }

    private static func insert(_ id: String, counts: [String: Int32], length: Int, into partition: inout Partition) {
        let slot: Int32
        if let reused = partition.free.popLast() {
            slot = reused
            partition.ids[Int(slot)] = id
            partition.lengths[Int(slot)] = Int32(length)
            partition.terms[Int(slot)] = Array(counts.keys)
        } else {
            slot = Int32(partition.ids.count)
            partition.ids.append(id)
            partition.lengths.append(Int32(length))
            partition.terms.append(Array(counts.keys))
        }
        partition.slots[id] = slot
        partition.totalLength += length
        for (term, count) in counts { partition.postings[term, default: []].append(Posting(slot: slot, count: count)) }
    }

    private static func remove(_ id: String, from agent: String, in partitions: inout [String: Partition]) {
        guard let slot = partitions[agent]?.slots.removeValue(forKey: id) else { return }
        // Mutated in place through the dictionary: a copy would duplicate every posting list.
        Self.clear(slot, in: &partitions[agent]!)
        if partitions[agent]!.count == 0 { partitions[agent] = nil }
    }

    private static func clear(_ slot: Int32, in partition: inout Partition) {
        for term in partition.terms[Int(slot)] {
            guard let position = partition.postings[term]?.firstIndex(where: { $0.slot == slot }) else { continue }
            partition.postings[term]!.swapAt(position, partition.postings[term]!.count - 1)
            partition.postings[term]!.removeLast()
            if partition.postings[term]!.isEmpty { partition.postings[term] = nil }
        }
        partition.totalLength -= Int(partition.lengths[Int(slot)])
        partition.ids[Int(slot)] = ""
        partition.terms[Int(slot)] = []
        partition.free.append(slot)
    }

    /// The `limit` lessons of `agent` with the highest BM25 for `words` (tokenized and stemmed as
    /// the lessons were), best first, ties by id. With a posting budget only the rarest terms
    /// are ranked (`LexicalBudget`).
    public func search(agent: String, words: [String], limit: Int, postingBudget: Int?) -> [LessonHit] {
        var terms: [String] = []
        for word in words {
            for token in LexicalTokens.tokens(word) where !terms.contains(token) { terms.append(token) }
        }
        return state.withLock { state in
            guard let partition = state.partitions[agent], limit > 0, !terms.isEmpty else { return [] }
            var ranked = terms
            if let budget = postingBudget {
                ranked = LexicalBudget.rarest(terms.map { ($0, partition.postings[$0]?.count ?? 0) }, budget: budget)
            }
            let documents = Double(partition.count)
            let averageLength = Double(partition.totalLength) / documents
            let k1 = 1.2
            let b = 0.75
            var scores: [Int32: Double] = [:]
            for term in ranked {
                guard let postings = partition.postings[term] else { continue }
                let hits = Double(postings.count)
                var idf = log((documents - hits + 0.5) / (hits + 0.5))
                if idf <= 0 { idf = 1e-6 }
                for posting in postings {
                    let frequency = Double(posting.count)
                    let length = Double(partition.lengths[Int(posting.slot)])
                    scores[posting.slot, default: 0] += idf * frequency * (k1 + 1) / (frequency + k1 * (1 - b + b * length / averageLength))
                }
            }
            // The best `limit` (slot, score) pairs, best first, kept as they come: most scores fall
            // below the last kept and cost one comparison (sorting every scored lesson, up to the
            // posting budget, took a tenth of a gateway call's CPU). A slot's id is read only to break
            // a tie, and made a hit only for those kept.
            let ids = partition.ids
            func better(_ a: (slot: Int32, score: Double), _ b: (slot: Int32, score: Double)) -> Bool {
                a.score != b.score ? a.score > b.score : ids[Int(a.slot)] < ids[Int(b.slot)]
            }
            var best: [(slot: Int32, score: Double)] = []
            best.reserveCapacity(limit + 1)
            for (slot, score) in scores {
                let entry = (slot: slot, score: score)
                if best.count == limit, !better(entry, best[limit - 1]) { continue }
                var low = 0
                var high = best.count
                while low < high {
                    let middle = (low + high) / 2
                    if better(best[middle], entry) { low = middle + 1 } else { high = middle }
                }
                best.insert(entry, at: low)
                if best.count > limit { best.removeLast() }
            }
            return best.map { LessonHit(id: ids[Int($0.slot)], score: $0.score) }
        }
    }
}

import Synchronization

/// Exact nearest-neighbour search over unit vectors by inner product (= cosine), in process,
/// partitioned by agent so a search only reads that agent's lessons.
///
/// Vectors live in one contiguous float array per agent and are scanned with SIMD; the
/// measured alternative (HNSW) is in `rasi bench index`, and the README says why exact won.
public final class FlatVectorIndex: Sendable {
    struct Partition {
        var ids: [String] = []
        var vectors: [Float] = []
        var positions: [String: Int] = [:]
    }

    public let dimensions: Int
    private let state = Mutex<(partitions: [String: Partition], agentOf: [String: String])>(([:], [:]))

    public init(dimensions: Int) {
        self.dimensions = dimensions
    }

    public var count: Int { state.withLock { $0.agentOf.count } }

    /// Adds or replaces the vector of `id`, moving it to `agent`'s partition if needed.
    public func upsert(id: String, agent: String, vector: [Float]) {
        precondition(vector.count == dimensions, "vector has \(vector.count) dimensions, the index \(dimensions)")
        state.withLock { state in
            if let previous = state.agentOf[id], previous != agent { Self.remove(id, from: previous, in: &state.partitions) }
            state.agentOf[id] = agent
            var partition = state.partitions[agent, default: Partition()]
            if let position = partition.positions[id] {
                partition.vectors.replaceSubrange(position * dimensions..<(position + 1) * dimensions, with: vector)
            } else {
                partition.positions[id] = partition.ids.count
                partition.ids.append(id)
                partition.vectors.append(contentsOf: vector)
            }
            state.partitions[agent] = partition
        }
    }

    public func remove(id: String) {
        state.withLock { state in
            guard let agent = state.agentOf.removeValue(forKey: id) else { return }
            Self.remove(id, from: agent, in: &state.partitions)
        }
    }

    private static func remove(_ id: String, from agent: String, in partitions: inout [String: Partition]) {
        guard var partition = partitions[agent], let position = partition.positions.removeValue(forKey: id) else { return }
        let d = partition.vectors.count / max(partition.ids.count, 1)
        let last = partition.ids.count - 1
        if position != last {
            // Move the last vector into the hole, so the array stays contiguous.
            let moved = partition.ids[last]
            partition.ids[position] = moved
            partition.positions[moved] = position
            for j in 0..<d { partition.vectors[position * d + j] = partition.vectors[last * d + j] }
        }
        partition.ids.removeLast()
        partition.vectors.removeLast(d)
        partitions[agent] = partition.ids.isEmpty ? nil : partition
    }

    /// The `k` ids of `agent` with the highest inner product with `query`, best first.
    public func search(agent: String, query: [Float], k: Int) -> [(id: String, score: Float)] {
        state.withLock { state in
            guard let partition = state.partitions[agent], k > 0 else { return [] }
            var top = TopK(k: k)
            partition.vectors.withUnsafeBufferPointer { vectors in
                query.withUnsafeBufferPointer { q in
                    for row in 0..<partition.ids.count {
                        top.insert(row, Self.dot(q.baseAddress!, vectors.baseAddress! + row * dimensions, count: dimensions))
                    }
                }
            }
            return top.sorted().map { (partition.ids[$0.row], $0.score) }
        }
    }

    /// Inner products of `query` with the given ids' vectors (ids not in the index are left out).
    public func scores(ids: [String], query: [Float]) -> [String: Float] {
        state.withLock { state in
            var result: [String: Float] = [:]
            for id in ids {
                guard let agent = state.agentOf[id], let partition = state.partitions[agent], let row = partition.positions[id] else { continue }
                result[id] = partition.vectors.withUnsafeBufferPointer { vectors in
                    query.withUnsafeBufferPointer { Self.dot($0.baseAddress!, vectors.baseAddress! + row * dimensions, count: dimensions) }
                }
            }
            return result
        }
    }

    @inline(__always)
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var sum = SIMD16<Float>()
        var i = 0
        while i + 16 <= count {
            let x = UnsafeRawPointer(a + i).loadUnaligned(as: SIMD16<Float>.self)
            let y = UnsafeRawPointer(b + i).loadUnaligned(as: SIMD16<Float>.self)
            sum += x * y
            i += 16
        }
        var total = sum.sum()
        while i < count {
            total += a[i] * b[i]
            i += 1
        }
        return total
    }
}

/// The k best (row, score) pairs seen, in a small min-heap.
struct TopK {
    let k: Int
    private var heap: [(row: Int, score: Float)] = []

    init(k: Int) {
        self.k = k
        heap.reserveCapacity(k)
    }

    mutating func insert(_ row: Int, _ score: Float) {
        if heap.count < k {
            heap.append((row, score))
            var i = heap.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                guard heap[i].score < heap[parent].score else { break }
                heap.swapAt(i, parent)
                i = parent
            }
        } else if score > heap[0].score {
            heap[0] = (row, score)
            var i = 0
            while true {
                let left = 2 * i + 1, right = left + 1
                var smallest = i
                if left < heap.count, heap[left].score < heap[smallest].score { smallest = left }
                if right < heap.count, heap[right].score < heap[smallest].score { smallest = right }
                if smallest == i { break }
                heap.swapAt(i, smallest)
                i = smallest
            }
        }
    }

    func sorted() -> [(row: Int, score: Float)] {
        heap.sorted { $0.score > $1.score }
    }
}

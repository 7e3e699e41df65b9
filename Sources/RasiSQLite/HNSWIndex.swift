import CRasiKernels
import Foundation

/// Hierarchical navigable small-world graph (Malkov & Yashunin, 2018) over unit vectors by
/// inner product: the approximate index `rasi bench index` measures against exact search.
/// Not thread-safe (a search marks visited nodes): callers hold a lock, as `FlatVectorIndex` does.
public final class HNSWIndex: @unchecked Sendable {
    public let dimensions: Int
    public let m: Int
    public let efConstruction: Int
    public var efSearch: Int
    let maxLayer0: Int
    let levelFactor: Double

    /// The vectors, contiguous, in a buffer this class owns: searches hold pointers into it,
    /// which an array's storage would not allow outside `withUnsafeBufferPointer`.
    private var storage: UnsafeMutablePointer<Float>
    private var capacity = 1024
    /// Layer-0 neighbours, `maxLayer0` slots a node; `layer0Count` says how many are used.
    private var layer0: [Int32] = []
    private var layer0Count: [UInt8] = []
    /// Upper-layer neighbours: upper[node][level - 1].
    private var upper: [[[Int32]]] = []
    private var entry: Int32 = -1
    private var topLevel = -1
    private var visited: [UInt32] = []
    private var generation: UInt32 = 0
    private var rng = SystemRandomNumberGenerator()

    public var count: Int { layer0Count.count }

    public init(dimensions: Int, m: Int = 16, efConstruction: Int = 100, efSearch: Int = 64) {
        self.dimensions = dimensions
        self.m = m
        self.efConstruction = efConstruction
        self.efSearch = efSearch
        maxLayer0 = 2 * m
        levelFactor = 1 / log(Double(m))
        storage = .allocate(capacity: capacity * dimensions)
    }

    deinit {
        storage.deallocate()
    }

    /// Bytes held by vectors and links.
    public var memoryBytes: Int {
        count * dimensions * 4 + layer0.count * 4 + layer0Count.count + visited.count * 4
            + upper.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count * 4 + 16 } + 8 }
    }

    public func add(_ vector: [Float]) {
        precondition(vector.count == dimensions)
        let node = Int32(count)
        if count == capacity {
            // Grows before any pointer into the buffer is taken for this insertion.
            let larger = UnsafeMutablePointer<Float>.allocate(capacity: 2 * capacity * dimensions)
            larger.update(from: storage, count: count * dimensions)
            storage.deallocate()
            storage = larger
            capacity *= 2
        }
        vector.withUnsafeBufferPointer { (storage + count * dimensions).update(from: $0.baseAddress!, count: dimensions) }
        layer0.append(contentsOf: repeatElement(-1, count: maxLayer0))
        layer0Count.append(0)
        visited.append(0)
        let level = Int(-log(Double.random(in: Double.ulpOfOne..<1, using: &rng)) * levelFactor)
        upper.append(Array(repeating: [], count: level))
        guard entry >= 0 else {
            entry = node
            topLevel = level
            return
        }
        var current = entry
        var currentScore = score(node, current)
        if topLevel > level {
            for layer in stride(from: topLevel, to: level, by: -1) {
                (current, currentScore) = greedy(from: current, score: currentScore, query: node, layer: layer)
            }
        }
        for layer in stride(from: min(level, topLevel), through: 0, by: -1) {
            let found = searchLayer(query: pointer(node), entries: [(current, currentScore)], ef: efConstruction, layer: layer)
            let chosen = selectNeighbours(found, limit: m)
            setNeighbours(node, layer: layer, chosen.map(\.0))
            for (neighbour, _) in chosen { link(neighbour, to: node, layer: layer) }
            if let best = found.first { (current, currentScore) = best }
        }
        if level > topLevel {
            topLevel = level
            entry = node
        }
    }

    /// The `k` nearest ids (insertion order) to `query`, best first, with their inner products.
    public func search(_ query: [Float], k: Int, ef: Int? = nil) -> [(id: Int, score: Float)] {
        guard entry >= 0 else { return [] }
        return query.withUnsafeBufferPointer { q in
            var current = entry
            var currentScore = dot(q.baseAddress!, entry)
            for layer in stride(from: topLevel, to: 0, by: -1) {
                (current, currentScore) = greedy(from: current, score: currentScore, query: q.baseAddress!, layer: layer)
            }
            return searchLayer(query: q.baseAddress!, entries: [(current, currentScore)], ef: max(ef ?? efSearch, k), layer: 0)
                .prefix(k).map { (Int($0.0), $0.1) }
        }
    }

    // MARK: graph

    private func neighbours(_ node: Int32, layer: Int) -> ArraySlice<Int32> {
        if layer == 0 {
            let start = Int(node) * maxLayer0
            return layer0[start..<(start + Int(layer0Count[Int(node)]))]
        }
        return upper[Int(node)][layer - 1][...]
    }

    private func setNeighbours(_ node: Int32, layer: Int, _ list: [Int32]) {
        if layer == 0 {
            let start = Int(node) * maxLayer0
            for (i, n) in list.prefix(maxLayer0).enumerated() { layer0[start + i] = n }
            layer0Count[Int(node)] = UInt8(min(list.count, maxLayer0))
        } else {
            upper[Int(node)][layer - 1] = list
        }
    }

    private func link(_ node: Int32, to newcomer: Int32, layer: Int) {
        var list = Array(neighbours(node, layer: layer))
        let limit = layer == 0 ? maxLayer0 : m
        list.append(newcomer)
        if list.count > limit {
            let scored = list.map { ($0, score(node, $0)) }.sorted { $0.1 > $1.1 }
            list = selectNeighbours(scored, limit: limit).map(\.0)
        }
        setNeighbours(node, layer: layer, list)
    }

    /// The heuristic of the paper (algorithm 4): keep a candidate only if it is closer to the
    /// node than to every neighbour kept so far, so links spread across clusters.
    private func selectNeighbours(_ candidates: [(Int32, Float)], limit: Int) -> [(Int32, Float)] {
        var kept: [(Int32, Float)] = []
        var skipped: [(Int32, Float)] = []
        for candidate in candidates {
            guard kept.count < limit else { break }
            if kept.allSatisfy({ score(candidate.0, $0.0) < candidate.1 }) { kept.append(candidate) } else { skipped.append(candidate) }
        }
        for candidate in skipped where kept.count < limit { kept.append(candidate) }
        return kept
    }

    private func greedy(from start: Int32, score startScore: Float, query: Int32, layer: Int) -> (Int32, Float) {
        greedy(from: start, score: startScore, query: pointer(query), layer: layer)
    }

    private func greedy(from start: Int32, score startScore: Float, query: UnsafePointer<Float>, layer: Int) -> (Int32, Float) {
        var current = start
        var best = startScore
        var improved = true
        while improved {
            improved = false
            let list = neighbours(current, layer: layer)
            for n in list { rasi_prefetch(pointer(n), vectorBytes) }
            for n in list {
                let s = dot(query, n)
                if s > best {
                    best = s
                    current = n
                    improved = true
                }
            }
        }
        return (current, best)
    }

    /// Best-first search of one layer with a beam of `ef`; results best first.
    private func searchLayer(query: UnsafePointer<Float>, entries: [(Int32, Float)], ef: Int, layer: Int) -> [(Int32, Float)] {
        generation &+= 1
        if generation == 0 {
            for i in visited.indices { visited[i] = 0 }
            generation = 1
        }
        var candidates = Heap<Float>(maxFirst: true) // most similar first
        var results = Heap<Float>(maxFirst: false) // least similar on top, to evict
        for (node, s) in entries {
            visited[Int(node)] = generation
            candidates.push(node, s)
            results.push(node, s)
        }
        while let (node, s) = candidates.pop() {
            if results.count >= ef, let worst = results.peekScore, s < worst { break }
            // The vectors about to be scored are asked for together: a graph's neighbours lie
            // anywhere in memory, and fetched one after another each would wait its own trip.
            let list = neighbours(node, layer: layer)
            for n in list where visited[Int(n)] != generation { rasi_prefetch(pointer(n), vectorBytes) }
            for n in list where visited[Int(n)] != generation {
                visited[Int(n)] = generation
                let ns = dot(query, n)
                if results.count < ef || ns > results.peekScore! {
                    candidates.push(n, ns)
                    results.push(n, ns)
                    if results.count > ef { _ = results.pop() }
                }
            }
        }
        var out: [(Int32, Float)] = []
        while let item = results.pop() { out.append(item) }
        return out.reversed()
    }

    private var vectorBytes: Int { dimensions * MemoryLayout<Float>.size }

    private func pointer(_ node: Int32) -> UnsafePointer<Float> {
        UnsafePointer(storage + Int(node) * dimensions)
    }

    private func score(_ a: Int32, _ b: Int32) -> Float {
        FlatVectorIndex.dot(pointer(a), pointer(b), count: dimensions)
    }

    private func dot(_ query: UnsafePointer<Float>, _ node: Int32) -> Float {
        FlatVectorIndex.dot(query, pointer(node), count: dimensions)
    }
}

/// A binary heap of (node, score), highest or lowest score on top.
struct Heap<S: Comparable> {
    private var items: [(Int32, S)] = []
    let maxFirst: Bool

    init(maxFirst: Bool) {
        self.maxFirst = maxFirst
    }

    var count: Int { items.count }
    var peekScore: S? { items.first?.1 }

    private func before(_ a: S, _ b: S) -> Bool { maxFirst ? a > b : a < b }

    mutating func push(_ node: Int32, _ score: S) {
        items.append((node, score))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard before(items[i].1, items[parent].1) else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    mutating func pop() -> (Int32, S)? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1
                let r = l + 1
                var best = i
                if l < items.count, before(items[l].1, items[best].1) { best = l }
                if r < items.count, before(items[r].1, items[best].1) { best = r }
                if best == i { break }
                items.swapAt(i, best)
                i = best
            }
        }
        return top
    }
}

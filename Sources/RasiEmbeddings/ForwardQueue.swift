import Foundation
import Synchronization

/// Runs a model's forward passes on a thread of their own, off Swift's cooperative pool (a
/// pass is milliseconds of arithmetic that would otherwise hold one of its few threads), and
/// batches the texts that arrive while a pass runs into the next one, so concurrent requests
/// share the weights' trip through the cache: a sentence in a batch costs about three quarters
/// of one embedded alone (`rasi bench embed`: 410 sentences/s batched, 3.2 ms alone).
///
/// Large submissions go in chunks of `maxBatch`, so a bulk embedding does not hold back the
/// single queries that arrive meanwhile. Queries waiting together are taken `maxPass` at a time:
/// a pass answers all its texts at once, and clients answered together come back together, so
/// one large pass keeps a burst of clients in step round after round, each waiting for all the
/// others (`rasi bench gateway`, 32 clients). Smaller passes answer the first sooner and spread
/// the clients out. One queue serves
/// one model: each job brings the pass to run (its model's), and a batch runs the first one's.
final class ForwardQueue: Sendable {
    typealias Forward = @Sendable ([String]) -> [[Float]]

    private struct Job {
        let texts: [String]
        let forward: Forward
        let continuation: CheckedContinuation<[[Float]], Never>
    }

    private struct State {
        var pending: [Job] = []
        var running = false
    }

    private let state = Mutex(State())
    private let thread = DispatchQueue(label: "rasi.embeddings", qos: .userInitiated)
    let maxBatch: Int
    let maxPass: Int

    /// `maxPass` 4 was measured best of 32, 8 and 4 (`docs/benchmarks.md`, gateway tail).
    init(maxBatch: Int = 32, maxPass: Int = 4) {
        self.maxBatch = maxBatch
        self.maxPass = maxPass
    }

    func embed(_ texts: [String], forward: @escaping Forward) async -> [[Float]] {
        var vectors: [[Float]] = []
        vectors.reserveCapacity(texts.count)
        var start = 0
        while start < texts.count {
            let chunk = Array(texts[start..<min(start + maxBatch, texts.count)])
            vectors += await submit(chunk, forward: forward)
            start += chunk.count
        }
        return vectors
    }

    private func submit(_ texts: [String], forward: @escaping Forward) async -> [[Float]] {
        await withCheckedContinuation { continuation in
            let idle = state.withLock { state in
                state.pending.append(Job(texts: texts, forward: forward, continuation: continuation))
                defer { state.running = true }
                return !state.running
            }
            if idle { thread.async { self.drain() } }
        }
    }

    /// Takes what is pending (up to `maxPass` texts, at least one job), runs it as one pass,
    /// answers each job with its own vectors; stops when nothing is left.
    private func drain() {
        while let jobs = next() {
            let vectors = jobs[0].forward(jobs.flatMap(\.texts))
            var offset = 0
            for job in jobs {
                job.continuation.resume(returning: Array(vectors[offset..<offset + job.texts.count]))
                offset += job.texts.count
            }
        }
    }

    private func next() -> [Job]? {
        state.withLock { state in
            guard !state.pending.isEmpty else {
                state.running = false
                return nil
            }
            var taken = 1
            var texts = state.pending[0].texts.count
            while taken < state.pending.count, texts + state.pending[taken].texts.count <= maxPass {
                texts += state.pending[taken].texts.count
                taken += 1
            }
            defer { state.pending.removeFirst(taken) }
            return Array(state.pending.prefix(taken))
        }
    }
}

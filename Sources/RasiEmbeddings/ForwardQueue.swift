import Foundation
import RasiCore
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
///
/// A caller with a deadline (`waitingAtMost`) is not queued when the model would start on its
/// texts only after it: the queue knows what it holds and, from the passes it ran, what a text
/// costs, so it answers nil at once instead of making the caller wait (the gateway then picks
/// lessons by words alone). An idle model always takes the texts.
final class ForwardQueue: Sendable {
    typealias Forward = @Sendable ([String]) -> [[Float]]

    private struct Job {
        let texts: [String]
        let forward: Forward
        let continuation: CheckedContinuation<[[Float]]?, Never>
    }

    private struct State {
        var pending: [Job] = []
        var pendingTexts = 0
        var running = false
        /// The pass under way: when it began and how many texts it holds.
        var pass: (started: ContinuousClock.Instant, texts: Int)?
        /// Seconds of model time per text, a moving average over the passes run (each weighs a fifth).
        var secondsPerText: Double?

        /// How long texts queued now would wait for their pass to begin: what is left of the
        /// pass under way, then the texts queued before them.
        func expectedWait(now: ContinuousClock.Instant) -> Double {
            guard running, let secondsPerText else { return 0 }
            var left = 0.0
            if let pass { left = max(0, Double(pass.texts) * secondsPerText - (now - pass.started).seconds) }
            return left + Double(pendingTexts) * secondsPerText
        }
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
            vectors += await submit(chunk, waitingAtMost: nil, forward: forward) ?? []
            start += chunk.count
        }
        return vectors
    }

    /// The vectors, or nil (at once, nothing queued) when the model is not expected to begin
    /// on them within `limit`. At most `maxBatch` texts.
    func embed(_ texts: [String], waitingAtMost limit: Duration, forward: @escaping Forward) async -> [[Float]]? {
        precondition(texts.count <= maxBatch, "a deadline applies to one pass's texts")
        return await submit(texts, waitingAtMost: limit.seconds, forward: forward)
    }

    /// Seconds the model would take to begin on texts queued now (0 when idle).
    var expectedWait: Double { state.withLock { $0.expectedWait(now: .now) } }

    private func submit(_ texts: [String], waitingAtMost limit: Double?, forward: @escaping Forward) async -> [[Float]]? {
        await withCheckedContinuation { continuation in
            let (queued, idle) = state.withLock { state -> (Bool, Bool) in
                if let limit, state.expectedWait(now: .now) > limit { return (false, false) }
                state.pending.append(Job(texts: texts, forward: forward, continuation: continuation))
                state.pendingTexts += texts.count
                defer { state.running = true }
                return (true, !state.running)
            }
            if !queued { continuation.resume(returning: nil) }
            if idle { thread.async { self.drain() } }
        }
    }

    /// Takes what is pending (up to `maxPass` texts, at least one job), runs it as one pass,
    /// answers each job with its own vectors; stops when nothing is left.
    private func drain() {
        while let jobs = next() {
            let texts = jobs.flatMap(\.texts)
            let started = ContinuousClock.now
            let vectors = jobs[0].forward(texts)
            let perText = (ContinuousClock.now - started).seconds / Double(max(1, texts.count))
            state.withLock { state in
                state.secondsPerText = state.secondsPerText.map { 0.8 * $0 + 0.2 * perText } ?? perText
                state.pass = nil
            }
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
            defer {
                state.pending.removeFirst(taken)
                state.pendingTexts -= texts
                state.pass = (.now, texts)
            }
            return Array(state.pending.prefix(taken))
        }
    }
}

import Foundation
import RasiCore
import Testing

/// Embeds a text as its length, and counts the texts it was asked for.
final class CountingEmbedder: Embedder, @unchecked Sendable {
    let dimensions = 1
    private let lock = NSLock()
    private var count = 0
    var embedded: Int { lock.withLock { count } }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        lock.withLock { count += texts.count }
        return texts.map { [Float($0.count)] }
    }
}

@Suite struct CachingEmbedderTests {
    @Test func aTextEmbeddedRecentlyIsNotEmbeddedAgain() async throws {
        let base = CountingEmbedder()
        let cached = CachingEmbedder(base, capacity: 8)
        #expect(try await cached.embed(["how do I reset my password"]) == [[26]])
        #expect(try await cached.embed(["what are the steps to change it", "how do I reset my password"]) == [[31], [26]])
        #expect(base.embedded == 2)
    }

    @Test func theCacheStaysWithinItsCapacity() async throws {
        let base = CountingEmbedder()
        let cached = CachingEmbedder(base, capacity: 4)
        let texts = (0..<20).map { String(repeating: "x", count: $0 + 1) }
        for text in texts { #expect(try await cached.embed([text]) == [[Float(text.count)]]) }
        _ = try await cached.embed([texts[0]])
        #expect(base.embedded == 21) // the oldest was evicted and embedded again
        _ = try await cached.embed([texts[19]])
        #expect(base.embedded == 21) // the newest was kept
    }
}

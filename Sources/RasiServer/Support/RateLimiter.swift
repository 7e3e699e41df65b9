import Foundation
import RasiCore

/// A token bucket per key: `rate` requests a second sustained, `burst` at once. One key that
/// floods is refused with 429 while every other key is served as before.
actor RateLimiter {
    let rate: Double
    let burst: Double
    private var buckets: [String: (tokens: Double, at: Date)] = [:]

    init(rate: Double, burst: Double) {
        self.rate = rate
        self.burst = max(burst, 1)
    }

    /// Takes one token for `key`; throws `rateLimited` with the wait when there is none.
    func take(_ key: String, now: Date = Date()) throws {
        guard rate > 0 else { return }
        var bucket = buckets[key] ?? (burst, now)
        bucket.tokens = min(burst, bucket.tokens + now.timeIntervalSince(bucket.at) * rate)
        bucket.at = now
        guard bucket.tokens >= 1 else {
            buckets[key] = bucket
            throw RasiError.rateLimited(retryAfter: max(1, Int(((1 - bucket.tokens) / rate).rounded(.up))))
        }
        bucket.tokens -= 1
        buckets[key] = bucket
        // Idle keys' buckets are full again; forget them so the table stays the size of the active keys.
        if buckets.count > 10_000 { buckets = buckets.filter { now.timeIntervalSince($0.value.at) * rate < burst } }
    }
}

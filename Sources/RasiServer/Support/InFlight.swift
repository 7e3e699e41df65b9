import Synchronization

/// A bound on the gateway calls in flight at once. A call past the bound is answered 503 at
/// once (with `Retry-After`) rather than queued without end, so a flood cannot pile up work
/// and memory behind the upstream; the calls already admitted finish as usual.
final class InFlight: Sendable {
    /// Held while a call is in flight (for a stream, until its last chunk); releases when dropped.
    final class Lease: Sendable {
        let bound: InFlight
        init(_ bound: InFlight) { self.bound = bound }
        deinit { bound.count.withLock { $0 -= 1 } }
    }

    let limit: Int
    fileprivate let count = Mutex(0)

    init(limit: Int) {
        self.limit = limit
    }

    /// A lease, or nil when `limit` calls are in flight already.
    func enter() -> Lease? {
        let admitted = count.withLock { count -> Bool in
            guard limit <= 0 || count < limit else { return false }
            count += 1
            return true
        }
        return admitted ? Lease(self) : nil
    }
}

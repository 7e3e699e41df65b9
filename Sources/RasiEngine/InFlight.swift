import Synchronization

/// A bound on the gateway calls in flight at once. A call past the bound is answered 503 at
/// once (with `Retry-After`) rather than queued without end, so a flood cannot pile up work
/// and memory behind the upstream; the calls already admitted finish as usual.
public final class InFlight: Sendable {
    /// Held while a call is in flight (for a stream, until its last chunk); releases when dropped.
    public final class Lease: Sendable {
        let bound: InFlight
        init(_ bound: InFlight) { self.bound = bound }
        deinit { bound.count.withLock { $0 -= 1 } }
    }

    public let limit: Int
    fileprivate let count = Mutex(0)

    public init(limit: Int) {
        self.limit = limit
    }

    /// A lease, or nil when `limit` calls are in flight already.
    public func enter() -> Lease? {
        let admitted = count.withLock { count -> Bool in
            guard limit <= 0 || count < limit else { return false }
            count += 1
            return true
        }
        return admitted ? Lease(self) : nil
    }
}

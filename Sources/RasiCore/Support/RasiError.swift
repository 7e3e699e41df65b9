/// The errors of rasi's domain. They are mapped to HTTP once, at the server's edge.
public enum RasiError: Error, Sendable, Equatable {
    /// A request field is missing, has the wrong type or an invalid value.
    case invalidField(String, String)
    /// The request body is not JSON.
    case malformedJSON(String)
    case notFound(String)
    case unauthorized(String)
    case forbidden(String)
    case payloadTooLarge(Int)
    case conflict(String)
    /// The upstream model answered with an error or could not be reached.
    case upstream(status: Int, message: String)
    /// The store or configuration is unusable.
    case unavailable(String)
    /// The key made too many requests; it may try again after this many seconds.
    case rateLimited(retryAfter: Int)
    /// Too much work in flight: try again shortly.
    case overloaded(String)
}

extension RasiError: CustomStringConvertible {
    public var description: String {
        switch self {
        case .invalidField(let field, let message): "invalid field `\(field)`: \(message)"
        case .malformedJSON(let message): "malformed JSON: \(message)"
        case .notFound(let what): "\(what) not found"
        case .unauthorized(let message): message
        case .forbidden(let message): message
        case .payloadTooLarge(let limit): "request body is larger than the limit of \(limit) bytes"
        case .conflict(let message): message
        case .upstream(let status, let message): "upstream error \(status): \(message)"
        case .unavailable(let message): message
        case .rateLimited(let seconds): "too many requests for this key: try again in \(seconds) s"
        case .overloaded(let message): message
        }
    }
}

/// A store's error that means the store cannot take the work now (its disk is full, its
/// database is away), not that the work was wrong. Answered 503 with `Retry-After`; the store
/// recovers by itself once the cause is gone.
public protocol StoreOutageError: Error {
    /// What is wrong, in words a user can act on; nil when this error is not an outage.
    var outage: String? { get }
}

import HTTPTypes
import Hummingbird
import RasiCore

/// Who may call a route: anyone, or a key of at least this role; `panel` routes are the admin
/// panel's pages, reached with a session cookie (or a key), whose forms carry a CSRF token.
public enum Access: Sendable, Equatable {
    case open
    case role(Role)
    case panel(Role)
}

/// One registered route and who may call it. The table is public so tests can check
/// every route, and a new route cannot be added without saying who may call it.
public struct RouteEntry: Sendable, Equatable {
    public var method: HTTPRequest.Method
    public var path: String
    public var access: Access
}

extension HTTPField.Name {
    static let apiKey = Self("x-api-key")!
}

/// Registers routes with their access rule. The only way routes are added to rasi's router.
final class GuardedRouter: @unchecked Sendable {
    // Mutated only while the router is built, before the server starts.
    let router: Router<RasiRequestContext>
    let keys: any KeyStore & SessionStore
    /// Largest form body a panel page accepts.
    let maxFormBytes: Int
    let limiter: RateLimiter
    private(set) var entries: [RouteEntry] = []

    init(router: Router<RasiRequestContext>, keys: any KeyStore & SessionStore, maxFormBytes: Int, limiter: RateLimiter) {
        self.router = router
        self.keys = keys
        self.maxFormBytes = maxFormBytes
        self.limiter = limiter
    }

    func on(
        _ method: HTTPRequest.Method, _ path: String, _ access: Access,
        _ handler: @escaping @Sendable (Request, RasiRequestContext) async throws -> Response
    ) {
        entries.append(RouteEntry(method: method, path: path, access: access))
        let keys = self.keys
        let maxFormBytes = self.maxFormBytes
        let limiter = self.limiter
        router.on(RouterPath(path), method: method) { request, context in
            var context = context
            switch access {
            case .open:
                return try await handler(request, context)
            case .role(let required):
                let key = try await Self.authenticate(request, keys: keys)
                try await limiter.take(key.id)
                context.key = try Self.permit(key, required)
                return try await handler(request, context)
            case .panel(let required):
                do {
                    var request = request
                    guard try await PanelAuth.signIn(&request, context: &context, store: keys, maxFormBytes: maxFormBytes) else {
                        return PanelAuth.redirectToSignIn(from: request)
                    }
                    try await limiter.take(context.key!.id)
                    context.key = try Self.permit(context.key!, required)
                    return try await handler(request, context)
                } catch {
                    return PanelPages.error(error, context: context)
                }
            }
        }
    }

    static func permit(_ key: APIKey, _ required: Role) throws -> APIKey {
        guard key.role.allows(required) else {
            throw RasiError.forbidden("this key's role (\(key.role.rawValue)) may not do this; it needs \(required.rawValue)")
        }
        return key
    }

    /// The active key named by `Authorization: Bearer KEY`, or by `x-api-key: KEY` (what the
    /// Anthropic SDKs send), or 401.
    static func authenticate(_ request: Request, keys: any KeyStore) async throws -> APIKey {
        let secret: Substring
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else {
                throw RasiError.unauthorized("malformed Authorization header: expected Bearer KEY")
            }
            secret = parts[1]
        } else if let header = request.headers[.apiKey] {
            secret = Substring(header)
        } else {
            throw RasiError.unauthorized("missing API key: send Authorization: Bearer KEY (or x-api-key: KEY)")
        }
        // Looked up by its SHA-256, so the secret itself is never compared or stored.
        guard let key = try await keys.activeKey(secretHash: KeySecret.hash(secret.trimmingCharacters(in: .whitespaces))) else {
            throw RasiError.unauthorized("invalid or revoked API key")
        }
        return key
    }
}

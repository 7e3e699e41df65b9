import HTTPTypes
import Hummingbird
import RasiCore

/// The request context of every route: Hummingbird's core storage plus the caller's key,
/// once a guarded route has checked it.
public struct RasiRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public var key: APIKey?
    /// The admin panel session, when the caller signed in through the panel.
    public var session: PanelSession?
    /// A panel form's fields, parsed once its CSRF token was checked.
    public var form: [String: String] = [:]

    public init(source: Source) {
        coreContext = .init(source: source)
    }

    /// The name lessons and reviews are attributed to.
    public var actor: String { key.map { "\($0.name) (\($0.id))" } ?? "anonymous" }
}

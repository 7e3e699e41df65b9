import Foundation
import HTTPTypes
import Hummingbird
import RasiCore

/// Signing in to the admin panel: a reviewer's or admin's key buys a session cookie
/// (HttpOnly, SameSite=Strict, expiring); every form carries the session's CSRF token.
enum PanelAuth {
    static let sessionCookie = "rasi_session"
    /// Holds the sign-in form's own CSRF token (double submit), before any session exists.
    static let signInCookie = "rasi_signin"

    /// Authenticates a panel request by its session cookie, or by a key in `Authorization`
    /// (scripts). A POST's form is parsed, and from a session its CSRF token must match.
    /// Returns false when the request carries neither credential.
    static func signIn(
        _ request: inout Request, context: inout RasiRequestContext, store: any KeyStore & SessionStore, maxFormBytes: Int
    ) async throws -> Bool {
        if request.headers[.authorization] != nil {
            context.key = try await GuardedRouter.authenticate(request, keys: store)
        } else if let secret = request.cookies[sessionCookie]?.value,
            let session = try await store.session(secretHash: KeySecret.hash(secret), now: Date())
        {
            context.key = session.key
            context.session = session
        } else {
            return false
        }
        if request.method == .post {
            context.form = try await form(&request, limit: maxFormBytes)
            // A key in a header cannot be sent by another site's form; a cookie can.
            if let session = context.session, !KeySecret.constantTimeEquals(context.form["csrf"] ?? "", session.csrfToken) {
                throw RasiError.forbidden("the form's security token is missing or stale: reload the page and try again")
            }
        }
        return true
    }

    /// An `application/x-www-form-urlencoded` body.
    static func form(_ request: inout Request, limit: Int) async throws -> [String: String] {
        FormEncoding.parse(String(buffer: try await request.bytes(limit: limit)))
    }

    /// Where to go after signing in: a panel page only, so the link cannot send anyone elsewhere.
    static func safeNext(_ next: String?) -> String {
        guard let next, next.hasPrefix("/admin/"), !next.hasPrefix("//"), !next.contains("\\") else { return "/admin/interactions" }
        return next
    }

    static func redirectToSignIn(from request: Request) -> Response {
        let here = request.method == .get ? request.uri.description : "/admin/interactions"
        let next = here.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "/-_.~"))) ?? ""
        return redirect("/admin/login?next=\(next)")
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location])
    }

    /// A cookie scoped to the panel; Secure when the request came over HTTPS (through a proxy that says so).
    static func cookie(_ name: String, value: String, maxAge: Int, request: Request) -> Cookie {
        let secure = request.headers[HTTPField.Name("X-Forwarded-Proto")!]?.lowercased() == "https"
        return Cookie(name: name, value: value, maxAge: maxAge, path: "/admin", secure: secure, httpOnly: true, sameSite: .strict)
    }
}

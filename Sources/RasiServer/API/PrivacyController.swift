import Foundation
import Hummingbird
import Logging
import RasiCore
import RasiEngine

/// Deleting one end user's data, and the audit log.
struct PrivacyController {
    let services: RasiServices

    func register(_ routes: GuardedRouter) {
        routes.on(.delete, "/api/v1/users/{id}/data", .role(.admin), deleteUser)
        routes.on(.get, "/api/v1/audit", .role(.admin), audit)
    }

    /// Everything stored about one end user (`X-RASI-User` / `user_id`): their interactions with
    /// steps, feedback, flags, injections and judge runs, and the search index entries. Lessons
    /// hold only redacted text and stay.
    @Sendable func deleteUser(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let user = try context.id()
        let count = try await services.deleteUserData(user, by: context.actor)
        return try JSONBody.response([
            "user_id": JSONValue.string(user), "deleted": try JSONBody.decode(JSONValue.self, from: RasiJSON.encoder().encode(count))
        ])
    }

    @Sendable func audit(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let query = Query(request)
        let cursor = try query.string("cursor").map { text -> Int in
            guard let id = Int(text) else { throw RasiError.invalidField("cursor", "must be an entry id") }
            return id
        }
        let limit = try query.limit()
        let entries = try await services.auditLog(limit: limit, before: cursor)
        return try JSONBody.response(Page(entries, key: "entries", limit: limit, id: { String($0.id) }))
    }
}

import Foundation
import Hummingbird
import RasiCore
import RasiEngine

/// API keys (admin only). A secret is shown once, when created; the store keeps its hash.
struct KeysController {
    let services: RasiServices
    let limits: ServerLimits

    func register(_ routes: GuardedRouter) {
        routes.on(.post, "/api/v1/keys", .role(.admin), create)
        routes.on(.get, "/api/v1/keys", .role(.admin), list)
        routes.on(.delete, "/api/v1/keys/{id}", .role(.admin), revoke)
    }

    struct CreateBody: Decodable {
        var role: Role
        var name: String?
    }

    struct Created: Encodable {
        var key: APIKey
        var secret: String
    }

    @Sendable func create(_ request: Request, context: RasiRequestContext) async throws -> Response {
        var request = request
        let body = try await request.decodeJSON(CreateBody.self, limit: limits.maxBodyBytes)
        let created = try await services.createKey(role: body.role, name: body.name ?? "\(body.role.rawValue) key", by: context.actor)
        return try JSONBody.response(Created(key: created.key, secret: created.secret), status: .created)
    }

    @Sendable func list(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try JSONBody.response(["keys": try await services.keys()])
    }

    @Sendable func revoke(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        try await services.revokeKey(id, by: context.actor)
        return Response(status: .noContent)
    }
}

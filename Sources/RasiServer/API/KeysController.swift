import Foundation
import Hummingbird
import RasiCore
import RasiEngine

/// API keys (admin only). A secret is shown once, when created; the store keeps its hash.
struct KeysController {
    let services: RasiServices

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
        let body = try await request.decodeJSON(CreateBody.self, limit: services.configuration.maxBodyBytes)
        let name = body.name ?? "\(body.role.rawValue) key"
        guard name.count <= LessonFields.maxNameLength else { throw RasiError.invalidField("name", "must be at most 100 characters") }
        let created = try await KeyIssuer.create(role: body.role, name: name, by: context.actor, in: services.store)
        return try JSONBody.response(Created(key: created.0, secret: created.1), status: .created)
    }

    @Sendable func list(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try JSONBody.response(["keys": try await services.store.listKeys()])
    }

    @Sendable func revoke(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let id = try context.id()
        guard try await KeyIssuer.revoke(id: id, by: context.actor, in: services.store) else { throw RasiError.notFound("key \(id)") }
        return Response(status: .noContent)
    }
}

/// Makes keys: the API and `rasi keys create` both go through here.
public enum KeyIssuer {
    /// Makes a key and stores its hash; returns the key and its secret. Audited.
    public static func create(role: Role, name: String, by actor: String, in store: any KeyStore & PrivacyStore) async throws -> (APIKey, String) {
        let secret = KeySecret.generate()
        let key = APIKey(id: Identifier.make("key"), name: name, role: role, prefix: KeySecret.displayPrefix(secret), createdAt: Date())
        try await store.createKey(key, secretHash: KeySecret.hash(secret))
        try await store.recordAudit(AuditEntry(actor: actor, action: "key.create", target: key.id, detail: "\(role.rawValue) key \"\(name)\""))
        return (key, secret)
    }

    /// Revokes a key at once (its panel sessions end with it); false when unknown. Audited.
    public static func revoke(id: String, by actor: String, in store: any KeyStore & PrivacyStore) async throws -> Bool {
        guard try await store.revokeKey(id: id, at: Date()) else { return false }
        try await store.recordAudit(AuditEntry(actor: actor, action: "key.revoke", target: id))
        return true
    }
}

import Crypto
import Foundation

/// What a key may do. Each role includes the ones before it.
public enum Role: String, Codable, Sendable, CaseIterable, Comparable {
    /// Gateway, ingest, feedback, retrieve.
    case agent
    /// An agent's rights, plus reading interactions and lessons, writing lessons, running the judge.
    case reviewer
    /// Everything, plus keys, settings and purges.
    case admin

    private var rank: Int {
        switch self {
        case .agent: 0
        case .reviewer: 1
        case .admin: 2
        }
    }

    public static func < (lhs: Role, rhs: Role) -> Bool { lhs.rank < rhs.rank }

    /// Whether a key of this role may do what `required` guards.
    public func allows(_ required: Role) -> Bool { self >= required }
}

/// An API key as stored: never the secret, only its SHA-256.
public struct APIKey: Codable, Sendable, Equatable {
    public var id: String
    public var name: String
    public var role: Role
    /// The first characters of the secret, enough to recognise a key in a list.
    public var prefix: String
    public var createdAt: Date
    public var revokedAt: Date?

    public init(id: String, name: String, role: Role, prefix: String, createdAt: Date, revokedAt: Date? = nil) {
        self.id = id
        self.name = name
        self.role = role
        self.prefix = prefix
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }

    enum CodingKeys: String, CodingKey {
        case id, name, role, prefix
        case createdAt = "created_at"
        case revokedAt = "revoked_at"
    }
}

/// Makes secrets and hashes them. The hash is what the store keeps and looks up.
public enum KeySecret {
    /// A new random secret: `rasi_` followed by 40 hex digits (160 bits).
    public static func generate() -> String {
        var bytes = [UInt8](repeating: 0, count: 20)
        var rng = SystemRandomNumberGenerator()
        for i in bytes.indices { bytes[i] = rng.next() }
        return "rasi_" + bytes.hexadecimal
    }

    public static func hash(_ secret: String) -> String {
        SHA256.hash(data: Data(secret.utf8)).hexadecimal
    }

    public static func displayPrefix(_ secret: String) -> String {
        String(secret.prefix(9))
    }

    /// Compares two equal-length strings in time that does not depend on where they differ.
    public static func constantTimeEquals(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}

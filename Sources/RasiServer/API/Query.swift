import Foundation
import Hummingbird
import RasiCore

/// Typed access to query parameters, with 400s that name the parameter.
struct Query {
    let parameters: Parameters

    init(_ request: Request) {
        parameters = request.uri.queryParameters
    }

    func string(_ name: String) -> String? {
        parameters.get(name).flatMap { $0.isEmpty ? nil : String($0) }
    }

    func bool(_ name: String) throws -> Bool? {
        guard let text = string(name) else { return nil }
        switch text.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw RasiError.invalidField(name, "must be true or false")
        }
    }

    func limit(default value: Int = 50, max: Int = 200) throws -> Int {
        guard let text = string("limit") else { return value }
        guard let n = Int(text), (1...max).contains(n) else { throw RasiError.invalidField("limit", "must be a number from 1 to \(max)") }
        return n
    }

    func date(_ name: String) throws -> Date? {
        guard let text = string(name) else { return nil }
        guard let date = Timestamp.parse(text) else { throw RasiError.invalidField(name, "must be an ISO-8601 date") }
        return date
    }

    func oneOf<T: RawRepresentable & CaseIterable>(_ name: String, _ type: T.Type) throws -> T? where T.RawValue == String {
        guard let text = string(name) else { return nil }
        guard let value = T(rawValue: text) else {
            throw RasiError.invalidField(name, "must be one of " + T.allCases.map(\.rawValue).joined(separator: ", "))
        }
        return value
    }
}

/// A page of a list and the cursor of the next one (the last id), `null` at the end.
struct Page<Item: Encodable & Sendable>: Encodable, Sendable {
    let items: [Item]
    let nextCursor: String?
    let key: String

    init(_ items: [Item], key: String, limit: Int, id: (Item) -> String) {
        self.items = items
        self.key = key
        nextCursor = items.count == limit ? items.last.map(id) : nil
    }

    struct Keys: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(items, forKey: Keys(stringValue: key))
        try c.encode(nextCursor, forKey: Keys(stringValue: "next_cursor"))
    }
}

extension RasiRequestContext {
    func id() throws -> String {
        try parameters.require("id")
    }
}

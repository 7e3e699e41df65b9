import Foundation
import Hummingbird
import RasiCore

/// Typed access to query parameters, with 400s that name the parameter.
struct Query {
    let parameters: [String: String]

    init(_ request: Request) {
        // Decoded as a browser's GET form encodes them (`+` is a space), like a form body.
        parameters = FormEncoding.parse(request.uri.query ?? "")
    }

    func string(_ name: String) -> String? {
        parameters[name].flatMap { $0.isEmpty ? nil : $0 }
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

    /// An ISO-8601 time, or a day (`2026-11-24`, as a browser's date field sends it) from its start, UTC.
    func date(_ name: String) throws -> Date? {
        guard let text = string(name) else { return nil }
        guard let date = Timestamp.parse(text.count == 10 ? text + "T00:00:00Z" : text) else {
            throw RasiError.invalidField(name, "must be an ISO-8601 date, such as 2026-11-24 or 2026-11-24T09:30:00Z")
        }
        return date
    }

    /// The interaction list's filters, as the API and the panel both take them.
    func interactionFilter() throws -> InteractionFilter {
        InteractionFilter(
            agent: string("agent"), api: try oneOf("api", AgentAPI.self), flagged: try bool("flagged"),
            feedback: try oneOf("feedback", InteractionFilter.FeedbackFilter.self),
            topic: string("topic"), text: string("q"), since: try date("since"), limit: try limit(), before: string("cursor"))
    }

    /// The lesson list's filters, as the API and the panel both take them.
    func lessonFilter() throws -> LessonFilter {
        LessonFilter(
            agent: string("agent"), status: try oneOf("status", LessonStatus.self), topic: string("topic"),
            text: string("q"), limit: try limit(), before: string("cursor"))
    }

    /// The trends' filters, as the API and the panel both take them (`bucket` hour by default).
    func trendQuery(now: Date = Date()) throws -> TrendQuery {
        try TrendQuery.recent(
            agent: string("agent"), topic: string("topic"), lessonId: string("lesson"), bucket: try oneOf("bucket", TrendQuery.Bucket.self) ?? .hour,
            since: try date("since"), now: now)
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

/// `application/x-www-form-urlencoded`: query strings and the panel's form bodies.
enum FormEncoding {
    static func parse(_ text: String) -> [String: String] {
        var fields: [String: String] = [:]
        for pair in text.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String { String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(s) }
            guard let name = parts.first.map(decode), !name.isEmpty else { continue }
            fields[name] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return fields
    }
}

extension RasiRequestContext {
    func id() throws -> String {
        try parameters.require("id")
    }
}

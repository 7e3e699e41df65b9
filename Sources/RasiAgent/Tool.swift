import Foundation
import RasiCore

/// A tool the agent can call, declared as a Swift type: its arguments decode from the JSON the
/// model writes, against the JSON schema the model is shown.
///
/// ```swift
/// struct Weather: Tool {
///     struct Arguments: Decodable, Sendable { var city: String }
///     let name = "get_weather"
///     let description = "The current weather in a city"
///     let parameters = JSONSchema.object(["city": JSONSchema.string("The city's name")], required: ["city"])
///     func call(_ arguments: Arguments) async throws -> ToolOutput { "Sunny in \(arguments.city)" }
/// }
/// ```
public protocol Tool: Sendable {
    associatedtype Arguments: Decodable & Sendable
    /// The function name the model calls (letters, digits, `_` and `-`).
    var name: String { get }
    var description: String { get }
    /// A JSON schema of `Arguments`.
    var parameters: JSONValue { get }
    /// Runs the tool. A thrown error is shown to the model as the tool's result, and traced.
    func call(_ arguments: Arguments) async throws -> ToolOutput
}

/// What a tool returns to the model, and the changes of state it made (traced as steps).
public struct ToolOutput: Sendable, Equatable, ExpressibleByStringLiteral {
    public var content: String
    public var stateChanges: [StateChange]

    public init(_ content: String, stateChanges: [StateChange] = []) {
        self.content = content
        self.stateChanges = stateChanges
    }

    public init(stringLiteral value: String) {
        self.init(value)
    }
}

/// A change a tool made to the world outside the conversation: an order placed, a ticket opened.
public struct StateChange: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// For tools that take no arguments.
public struct NoArguments: Decodable, Sendable {
    public init() {}
}

extension Tool {
    /// The tool as OpenAI's `tools` entry.
    public var definition: JSONValue {
        ["type": "function", "function": ["name": .string(name), "description": .string(description), "parameters": parameters]]
    }

    /// Decodes the model's argument text and runs the tool; a decoding failure names the problem
    /// so the model can correct itself.
    func invoke(arguments text: String) async throws -> ToolOutput {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        let arguments: Arguments
        do {
            arguments = try JSONDecoder().decode(Arguments.self, from: Data((trimmed.isEmpty ? "{}" : trimmed).utf8))
        } catch {
            throw ToolArgumentError(tool: name, message: Self.describe(error))
        }
        return try await call(arguments)
    }

    static func describe(_ error: any Error) -> String {
        switch error as? DecodingError {
        case .keyNotFound(let key, _): return "\(key.stringValue) is required"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "\(context.codingPath.map(\.stringValue).joined(separator: ".")): \(context.debugDescription)"
        case .dataCorrupted: return "the arguments are not valid JSON"
        default: return String(describing: error)
        }
    }
}

/// The model's arguments did not fit the tool's schema.
public struct ToolArgumentError: Error, CustomStringConvertible {
    public var tool: String
    public var message: String
    public var description: String { "invalid arguments for \(tool): \(message)" }
}

/// A tool whose name, description and schema are data, not a type: for tools read from a
/// file, such as an evaluation suite's. Its arguments arrive as JSON.
public struct DynamicTool: Tool {
    public let name: String
    public let description: String
    public let parameters: JSONValue
    let body: @Sendable (JSONValue) async throws -> ToolOutput

    public init(
        name: String, description: String, parameters: JSONValue = JSONSchema.object(),
        body: @escaping @Sendable (JSONValue) async throws -> ToolOutput
    ) {
        self.name = name
        self.description = description
        self.parameters = parameters
        self.body = body
    }

    public func call(_ arguments: JSONValue) async throws -> ToolOutput {
        try await body(arguments)
    }
}

import Foundation
import RasiCore

/// The scripted model's behaviour: rules tried in order, the first match answers.
///
/// ```json
/// {"rules": [
///   {"name": "minerals",
///    "when": {"last_user_contains": ["gut", "energy"], "prompt_contains": "minerals"},
///    "reply": {"content": "Consider magnesium and iron.", "reasoning": "The lesson says ..."}},
///   {"when": {"last_role": "tool"}, "reply": {"content": "Done: {{last_tool_result}}"}},
///   {"when": {"last_user_contains": "order"},
///    "reply": {"tool_calls": [{"name": "lookup_order", "arguments": {"id": "42"}}]}}
/// ],
///  "default": {"content": "I am not sure."}}
/// ```
public struct Script: Codable, Sendable {
    public var rules: [Rule]
    public var fallback: Reply?

    public init(rules: [Rule] = [], fallback: Reply? = nil) {
        self.rules = rules
        self.fallback = fallback
    }

    enum CodingKeys: String, CodingKey {
        case rules
        case fallback = "default"
    }

    public struct Rule: Codable, Sendable {
        public var name: String?
        public var when: Condition
        public var reply: Reply
    }

    /// Every given condition must hold. Text comparisons ignore case.
    public struct Condition: Codable, Sendable {
        /// Each of these appears in the latest user message.
        public var lastUserContains: Texts?
        /// At least one of these appears in the latest user message.
        public var lastUserContainsAny: Texts?
        /// Each of these appears somewhere in the prompt (any message, system messages included).
        public var promptContains: Texts?
        /// None of these appears anywhere in the prompt.
        public var promptLacks: Texts?
        /// The role of the last message ("user", "tool", ...).
        public var lastRole: String?

        enum CodingKeys: String, CodingKey {
            case lastUserContains = "last_user_contains"
            case lastUserContainsAny = "last_user_contains_any"
            case promptContains = "prompt_contains"
            case promptLacks = "prompt_lacks"
            case lastRole = "last_role"
        }
    }

    public struct Reply: Codable, Sendable {
        public var content: String?
        public var reasoning: String?
        public var toolCalls: [ToolCall]?
        /// Answer with this HTTP error instead.
        public var error: ErrorReply?
        /// Wait this long before answering.
        public var delayMs: Int?
        /// Streaming only: after the first content chunk, wait until this gate is released
        /// (`POST /_scripted/gates/NAME`), so a test can observe chunks arriving one by one.
        public var holdAfterFirstChunk: String?
        /// Route the latest user message to one of the request's tools (see `ToolRouter`):
        /// calls it, or answers with `content` when no tool fits.
        public var route: Bool?

        public init(content: String? = nil, reasoning: String? = nil, toolCalls: [ToolCall]? = nil) {
            self.content = content
            self.reasoning = reasoning
            self.toolCalls = toolCalls
        }

        enum CodingKeys: String, CodingKey {
            case content, reasoning, error, route
            case toolCalls = "tool_calls"
            case delayMs = "delay_ms"
            case holdAfterFirstChunk = "hold_after_first_chunk"
        }
    }

    public struct ToolCall: Codable, Sendable {
        public var name: String
        /// Any JSON; sent to the client as a JSON string, as OpenAI does.
        public var arguments: ScriptJSON?
    }

    public struct ErrorReply: Codable, Sendable {
        public var status: Int
        public var message: String?
    }

    /// One string or a list of strings.
    public struct Texts: Codable, Sendable {
        public var values: [String]

        public init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let one = try? container.decode(String.self) {
                values = [one]
            } else {
                values = try container.decode([String].self)
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(values)
        }
    }
}

/// JSON kept as its text, so tool arguments pass through exactly as scripted.
public struct ScriptJSON: Codable, Sendable {
    public var text: String

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let string = try? container.decode(String.self) {
            text = string
        } else {
            text = String(decoding: RasiJSON.canonical(try container.decode(JSONValue.self)), as: UTF8.self)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(text)
    }
}

/// What a rule is matched against, read from a chat completion request.
struct Prompt {
    let lastUser: String
    let whole: String
    /// The system messages' text, where rasi injects lessons.
    let system: String
    let lastRole: String?
    let lastToolResult: String

    init(_ request: JSONValue) {
        let messages = request["messages"]?.arrayValue ?? []
        func text(_ content: JSONValue?) -> String {
            if let s = content?.stringValue { return s }
            return (content?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
        }
        lastUser = text(messages.last(where: { $0["role"]?.stringValue == "user" })?["content"])
        lastRole = messages.last?["role"]?.stringValue
        lastToolResult = text(messages.last(where: { $0["role"]?.stringValue == "tool" })?["content"])
        system = messages.filter { $0["role"]?.stringValue == "system" }.map { text($0["content"]) }.joined(separator: "\n")
        var parts: [String] = []
        for message in messages {
            parts.append(text(message["content"]))
            for call in message["tool_calls"]?.arrayValue ?? [] {
                parts.append(call["function"]?["name"]?.stringValue ?? "")
                parts.append(call["function"]?["arguments"]?.stringValue ?? "")
            }
        }
        whole = parts.joined(separator: "\n")
    }
}

extension Script {
    /// The reply of the first rule whose conditions all hold, else the default.
    func reply(to prompt: Prompt) -> (String?, Reply) {
        for rule in rules where rule.when.holds(for: prompt) { return (rule.name, rule.reply) }
        return (nil, fallback ?? Reply(content: "The scripted model has no rule for this request."))
    }
}

extension Script.Condition {
    func holds(for prompt: Prompt) -> Bool {
        let user = prompt.lastUser.lowercased()
        let whole = prompt.whole.lowercased()
        if let texts = lastUserContains?.values, !texts.allSatisfy({ user.contains($0.lowercased()) }) { return false }
        if let texts = lastUserContainsAny?.values, !texts.contains(where: { user.contains($0.lowercased()) }) { return false }
        if let texts = promptContains?.values, !texts.allSatisfy({ whole.contains($0.lowercased()) }) { return false }
        if let texts = promptLacks?.values, texts.contains(where: { whole.contains($0.lowercased()) }) { return false }
        if let role = lastRole, prompt.lastRole != role { return false }
        return true
    }
}

import Foundation
import RasiCore

/// The scripted model's behaviour: rules tried in order, the first match answers.
///
/// The rules are the same for Chat Completions, Responses and Messages: each request is read
/// into chat terms first (`Prompt`). System text is the system messages, Responses'
/// `instructions` and developer messages, or Messages' `system`; a Responses
/// `function_call_output` or a Messages user turn made only of `tool_result` blocks is a message
/// of role "tool", whose text `{{last_tool_result}}` stands for.
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
        /// Response headers sent with the answer, error or not (`Retry-After`, rate limits, request ids).
        public var headers: [String: String]?

        public init(content: String? = nil, reasoning: String? = nil, toolCalls: [ToolCall]? = nil) {
            self.content = content
            self.reasoning = reasoning
            self.toolCalls = toolCalls
        }

        enum CodingKeys: String, CodingKey {
            case content, reasoning, error, route, headers
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

/// What a rule is matched against: a conversation, read from any of the model APIs into chat terms.
struct Prompt {
    /// One message of the conversation in chat terms: role "system", "user", "assistant" or "tool".
    struct Turn {
        var role: String
        var text: String
        var toolCalls: [(name: String, arguments: String)] = []
    }

    let lastUser: String
    let whole: String
    /// The system messages' text, where rasi injects lessons.
    let system: String
    let lastRole: String?
    let lastToolResult: String

    init(_ turns: [Turn]) {
        lastUser = turns.last(where: { $0.role == "user" })?.text ?? ""
        lastRole = turns.last?.role
        lastToolResult = turns.last(where: { $0.role == "tool" })?.text ?? ""
        system = turns.filter { $0.role == "system" }.map(\.text).joined(separator: "\n")
        var parts: [String] = []
        for turn in turns {
            parts.append(turn.text)
            for call in turn.toolCalls {
                parts.append(call.name)
                parts.append(call.arguments)
            }
        }
        whole = parts.joined(separator: "\n")
    }

    /// The text of a message's content: a string, or the `text` of each of its parts (all three APIs name it so).
    static func text(_ content: JSONValue?) -> String {
        if let s = content?.stringValue { return s }
        return (content?.arrayValue ?? []).compactMap { $0["text"]?.stringValue }.joined(separator: "\n")
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

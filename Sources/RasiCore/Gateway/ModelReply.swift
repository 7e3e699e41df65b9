import Foundation

/// What the model answered in one call, from a whole response or assembled from a stream.
public struct ModelReply: Sendable, Equatable {
    public struct ToolCall: Sendable, Equatable {
        public var id: String
        public var name: String
        public var arguments: String
    }

    public var content: String?
    public var reasoning: String?
    public var toolCalls: [ToolCall] = []
    public var model: String?
    public var usage: TokenUsage?
    public var finishReason: String?
    /// The upstream's id for this reply, when a later call can refer to it (the Responses API's
    /// `previous_response_id`).
    public var responseId: String?

    public init(
        content: String? = nil, reasoning: String? = nil, toolCalls: [ToolCall] = [], model: String? = nil, usage: TokenUsage? = nil,
        finishReason: String? = nil, responseId: String? = nil
    ) {
        self.content = content
        self.reasoning = reasoning
        self.toolCalls = toolCalls
        self.model = model
        self.usage = usage
        self.finishReason = finishReason
        self.responseId = responseId
    }

    /// Reads a non-streaming chat completion body.
    public init(completion json: JSONValue) {
        let message = json["choices"]?.arrayValue?.first?["message"]
        content = message?["content"]?.stringValue
        reasoning = Self.reasoning(in: message)
        toolCalls = (message?["tool_calls"]?.arrayValue ?? []).map { call in
            ToolCall(
                id: call["id"]?.stringValue ?? "", name: call["function"]?["name"]?.stringValue ?? "",
                arguments: call["function"]?["arguments"]?.stringValue ?? "")
        }
        model = json["model"]?.stringValue
        usage = Self.usage(in: json["usage"])
        finishReason = json["choices"]?.arrayValue?.first?["finish_reason"]?.stringValue
    }

    /// The steps this reply adds to its interaction: thinking, then tool calls, then the message.
    public func steps(at date: Date = Date()) -> [Step] {
        var steps: [Step] = []
        if let reasoning, !reasoning.isEmpty { steps.append(Step(kind: .thinking, content: reasoning, at: date)) }
        for call in toolCalls {
            steps.append(Step(kind: .toolCall, name: call.name, arguments: call.arguments, callId: call.id, at: date))
        }
        if let content, !content.isEmpty { steps.append(Step(kind: .message, name: "assistant", content: content, at: date)) }
        return steps
    }

    /// Providers name the reasoning trace differently: `reasoning_content` (DeepSeek, vLLM),
    /// `reasoning` (OpenRouter, Ollama).
    static func reasoning(in message: JSONValue?) -> String? {
        message?["reasoning_content"]?.stringValue ?? message?["reasoning"]?.stringValue
    }

    static func usage(in json: JSONValue?) -> TokenUsage? {
        guard let json, json.objectValue != nil else { return nil }
        return TokenUsage(prompt: Int(json["prompt_tokens"]?.intValue ?? 0), completion: Int(json["completion_tokens"]?.intValue ?? 0))
    }
}

/// Reads one API's stream, event by event, into the reply it adds up to.
public protocol StreamEventReader: Sendable {
    init()
    /// One server-sent event's data, parsed as JSON.
    mutating func read(_ event: JSONValue)
    /// What the events read so far add up to; also when the stream broke off.
    func reply() -> ModelReply
}

/// Assembles a `ModelReply` from server-sent events as they pass through, without holding
/// the stream back: feed it each chunk of bytes, read the reply when the stream ends.
public struct StreamAccumulator<Reader: StreamEventReader>: Sendable {
    private var pending: [UInt8] = []
    private var reader = Reader()

    public init() {}

    public mutating func consume(_ bytes: some Sequence<UInt8>) {
        pending.append(contentsOf: bytes)
        var start = pending.startIndex
        while let newline = pending[start...].firstIndex(of: UInt8(ascii: "\n")) {
            handle(line: pending[start..<newline])
            start = newline + 1
        }
        pending.removeFirst(start)
    }

    /// Every API rasi serves puts one JSON object on each `data:` line (the `event:` line
    /// repeats its `type`), so lines are read one by one, as bytes.
    private mutating func handle(line: ArraySlice<UInt8>) {
        var line = line
        while let first = line.first, first.isJSONWhitespace { line.removeFirst() }
        guard line.starts(with: "data:".utf8) else { return }
        var payload = line.dropFirst(5)
        while let first = payload.first, first.isJSONWhitespace { payload.removeFirst() }
        while let last = payload.last, last.isJSONWhitespace { payload.removeLast() }
        guard !payload.elementsEqual("[DONE]".utf8), let event = try? JSONValue(parsing: payload) else { return }
        reader.read(event)
    }

    public mutating func finish() -> ModelReply {
        if !pending.isEmpty {
            handle(line: pending[...])
            pending.removeAll()
        }
        return reader.reply()
    }
}

/// Chat Completions chunks: `choices[0].delta` carries text, reasoning and tool-call pieces.
public struct ChatStreamReader: StreamEventReader {
    private var content = ""
    private var reasoning = ""
    private var calls: [Int: ModelReply.ToolCall] = [:]
    private var model: String?
    private var usage: TokenUsage?
    private var finishReason: String?
    private var sawContent = false

    public init() {}

    public mutating func read(_ event: JSONValue) {
        if let m = event["model"]?.stringValue { model = m }
        if let u = ModelReply.usage(in: event["usage"]) { usage = u }
        guard let choice = event["choices"]?.arrayValue?.first else { return }
        if let reason = choice["finish_reason"]?.stringValue { finishReason = reason }
        let delta = choice["delta"]
        if let text = delta?["content"]?.stringValue {
            content += text
            sawContent = true
        }
        if let text = ModelReply.reasoning(in: delta) { reasoning += text }
        for call in delta?["tool_calls"]?.arrayValue ?? [] {
            let index = Int(call["index"]?.intValue ?? 0)
            var current = calls[index] ?? ModelReply.ToolCall(id: "", name: "", arguments: "")
            if let id = call["id"]?.stringValue { current.id = id }
            if let name = call["function"]?["name"]?.stringValue { current.name += name }
            if let arguments = call["function"]?["arguments"]?.stringValue { current.arguments += arguments }
            calls[index] = current
        }
    }

    public func reply() -> ModelReply {
        ModelReply(
            content: sawContent ? content : nil, reasoning: reasoning.isEmpty ? nil : reasoning,
            toolCalls: calls.keys.sorted().compactMap { calls[$0] }, model: model, usage: usage, finishReason: finishReason
        )
    }
}

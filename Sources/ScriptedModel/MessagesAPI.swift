import Foundation
import RasiCore

/// Anthropic Messages, `POST /v1/messages`: what the `anthropic` SDKs and LangChain's
/// `ChatAnthropic` speak. Errors come in Anthropic's shape too.
enum MessagesAPI: ModelAPI {
    static let requiredField = "messages"

    /// `system` is system text. A user message's `tool_result` blocks are tool turns, before the
    /// user turn of its other blocks; one made only of tool results therefore ends on a tool turn.
    /// An assistant's `tool_use` blocks are its tool calls; thinking and images are left out.
    static func read(_ body: JSONValue) -> ScriptedRequest? {
        guard let messages = body["messages"]?.arrayValue else { return nil }
        var turns: [Prompt.Turn] = []
        if let system = body["system"] { turns.append(Prompt.Turn(role: "system", text: Prompt.text(system))) }
        for message in messages {
            let role = message["role"]?.stringValue ?? "user"
            guard let blocks = message["content"]?.arrayValue else {
                turns.append(Prompt.Turn(role: role, text: Prompt.text(message["content"])))
                continue
            }
            let results = blocks.filter { $0["type"]?.stringValue == "tool_result" }
            for result in results { turns.append(Prompt.Turn(role: "tool", text: Prompt.text(result["content"]))) }
            let others = blocks.filter { $0["type"]?.stringValue != "tool_result" }
            guard !others.isEmpty || results.isEmpty else { continue }
            let calls = others.filter { $0["type"]?.stringValue == "tool_use" }.map { use in
                (name: use["name"]?.stringValue ?? "", arguments: String(decoding: RasiJSON.canonical(use["input"] ?? .object([:])), as: UTF8.self))
            }
            turns.append(Prompt.Turn(role: role, text: Prompt.text(.array(others)), toolCalls: calls))
        }
        return ScriptedRequest(body: body, prompt: Prompt(turns), tools: ToolRouter.tools(body["tools"]))
    }

    static func message(_ answer: Answer, for request: ScriptedRequest) -> JSONValue {
        var content: [JSONValue] = []
        if let reasoning = answer.reasoning {
            content.append(.object(["type": "thinking", "thinking": .string(reasoning), "signature": .string(signature)]))
        }
        if let text = answer.content, !text.isEmpty { content.append(.object(["type": "text", "text": .string(text)])) }
        for index in answer.toolCalls.indices { content.append(toolUse(answer, index, input: input(answer.toolCalls[index]).object)) }
        return .object([
            "id": .string(id(answer)), "type": "message", "role": "assistant", "model": .string(request.model),
            "content": .array(content), "stop_reason": .string(stopReason(answer)), "stop_sequence": .null,
            "usage": usage(answer, outputTokens: answer.outputTokens)
        ])
    }

    static func events(_ answer: Answer, for request: ScriptedRequest) -> EventStream {
        var stream = EventStream()
        var index = 0
        func block(_ start: JSONValue, _ deltas: [JSONValue]) {
            stream.event(.object(["type": "content_block_start", "index": .int(Int64(index)), "content_block": start]))
            for delta in deltas {
                stream.event(.object(["type": "content_block_delta", "index": .int(Int64(index)), "delta": delta]))
                if delta["type"]?.stringValue == "text_delta" { stream.holdHere() }
            }
            stream.event(.object(["type": "content_block_stop", "index": .int(Int64(index))]))
            index += 1
        }

        stream.event(
            .object([
                "type": "message_start",
                "message": .object([
                    "id": .string(id(answer)), "type": "message", "role": "assistant", "model": .string(request.model),
                    "content": [], "stop_reason": .null, "stop_sequence": .null, "usage": usage(answer, outputTokens: 1)
                ])
            ]))
        if let reasoning = answer.reasoning {
            block(
                .object(["type": "thinking", "thinking": "", "signature": ""]),
                ScriptedModelServer.words(reasoning).map { .object(["type": "thinking_delta", "thinking": .string($0)]) }
                    + [.object(["type": "signature_delta", "signature": .string(signature)])])
        }
        if let text = answer.content, !text.isEmpty {
            block(
                .object(["type": "text", "text": ""]),
                ScriptedModelServer.words(text).map { .object(["type": "text_delta", "text": .string($0)]) })
        } else {
            // No text to hold after: hold after whatever comes in its place.
            stream.holdAfter = stream.count
        }
        for (position, call) in answer.toolCalls.enumerated() {
            block(
                toolUse(answer, position, input: .object([:])),
                ScriptedModelServer.halves(input(call).text).map { .object(["type": "input_json_delta", "partial_json": .string($0)]) })
        }
        stream.event(
            .object([
                "type": "message_delta", "delta": .object(["stop_reason": .string(stopReason(answer)), "stop_sequence": .null]),
                "usage": .object(["output_tokens": .int(Int64(answer.outputTokens))])
            ]))
        stream.event(.object(["type": "message_stop"]))
        return stream
    }

    static func error(status: Int, message: String) -> JSONValue {
        let type =
            switch status {
            case 401: "authentication_error"
            case 403: "permission_error"
            case 404: "not_found_error"
            case 413: "request_too_large"
            case 429: "rate_limit_error"
            case 529: "overloaded_error"
            case 500...: "api_error"
            default: "invalid_request_error"
            }
        return .object(["type": "error", "error": .object(["type": .string(type), "message": .string(message)])])
    }

    /// The signature of every thinking block: clients keep it and send it back, nobody checks it.
    private static let signature = "scripted"

    /// A tool call's input: its arguments when they are a JSON object, else an empty object.
    private static func input(_ call: Answer.ToolCall) -> (object: JSONValue, text: String) {
        guard let object = try? JSONValue(parsing: call.arguments), object.objectValue != nil else {
            return (.object([:]), "{}")
        }
        return (object, call.arguments)
    }

    private static func toolUse(_ answer: Answer, _ index: Int, input: JSONValue) -> JSONValue {
        .object([
            "type": "tool_use", "id": .string("toolu_\(answer.number)_\(index)"), "name": .string(answer.toolCalls[index].name),
            "input": input
        ])
    }

    private static func id(_ answer: Answer) -> String { "msg_scripted_\(answer.number)" }

    private static func stopReason(_ answer: Answer) -> String { answer.toolCalls.isEmpty ? "end_turn" : "tool_use" }

    private static func usage(_ answer: Answer, outputTokens: Int) -> JSONValue {
        .object([
            "input_tokens": .int(Int64(answer.inputTokens)), "output_tokens": .int(Int64(outputTokens)),
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0
        ])
    }
}

import Foundation
import RasiCore

/// OpenAI Chat Completions, `POST /v1/chat/completions`: the API rasi's gateway speaks, so its
/// output is what rasi's tests compare byte for byte.
enum ChatCompletionsAPI: ModelAPI {
    static let requiredField = "messages"

    static func read(_ body: JSONValue) -> ScriptedRequest? {
        guard let messages = body["messages"]?.arrayValue else { return nil }
        let turns = messages.map { message in
            Prompt.Turn(
                role: message["role"]?.stringValue ?? "", text: Prompt.text(message["content"]),
                toolCalls: (message["tool_calls"]?.arrayValue ?? []).map { call in
                    (name: call["function"]?["name"]?.stringValue ?? "", arguments: call["function"]?["arguments"]?.stringValue ?? "")
                })
        }
        return ScriptedRequest(body: body, prompt: Prompt(turns), tools: ToolRouter.tools(body["tools"]))
    }

    static func message(_ answer: Answer, for request: ScriptedRequest) -> JSONValue {
        var message: [String: JSONValue] = ["role": .string("assistant"), "content": answer.content.map(JSONValue.string) ?? .null]
        if let reasoning = answer.reasoning { message["reasoning_content"] = .string(reasoning) }
        if !answer.toolCalls.isEmpty {
            message["tool_calls"] = .array(
                answer.toolCalls.enumerated().map { index, call in
                    .object([
                        "id": .string(callID(answer, index)), "type": .string("function"),
                        "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)])
                    ])
                })
        }
        return .object([
            "id": .string(id(answer)), "object": .string("chat.completion"), "created": 0, "model": .string(request.model),
            "choices": .array([.object(["index": 0, "message": .object(message), "finish_reason": .string(finishReason(answer))])]),
            "usage": usage(answer)
        ])
    }

    static func events(_ answer: Answer, for request: ScriptedRequest) -> EventStream {
        let includeUsage = request.body["stream_options"]?["include_usage"]?.boolValue == true
        func chunk(_ delta: [String: JSONValue], finish: String? = nil) -> JSONValue {
            var object: [String: JSONValue] = [
                "id": .string(id(answer)), "object": .string("chat.completion.chunk"), "created": 0, "model": .string(request.model),
                "choices": .array([.object(["index": 0, "delta": .object(delta), "finish_reason": finish.map(JSONValue.string) ?? .null])])
            ]
            if includeUsage { object["usage"] = .null }
            return .object(object)
        }
        var stream = EventStream()
        stream.data(chunk(["role": .string("assistant"), "content": .string("")]))
        for piece in ScriptedModelServer.words(answer.reasoning ?? "") { stream.data(chunk(["reasoning_content": .string(piece)])) }
        // The first content chunk, or whatever comes in its place.
        stream.holdAfter = stream.count
        for piece in ScriptedModelServer.words(answer.content ?? "") { stream.data(chunk(["content": .string(piece)])) }
        for (index, call) in answer.toolCalls.enumerated() {
            stream.data(
                chunk([
                    "tool_calls": .array([
                        .object([
                            "index": .int(Int64(index)), "id": .string(callID(answer, index)), "type": .string("function"),
                            "function": .object(["name": .string(call.name), "arguments": .string("")])
                        ])
                    ])
                ]))
            for part in ScriptedModelServer.halves(call.arguments) {
                stream.data(
                    chunk([
                        "tool_calls": .array([.object(["index": .int(Int64(index)), "function": .object(["arguments": .string(part)])])])
                    ]))
            }
        }
        stream.data(chunk([:], finish: finishReason(answer)))
        if includeUsage {
            stream.data(
                .object([
                    "id": .string(id(answer)), "object": .string("chat.completion.chunk"), "created": 0, "model": .string(request.model),
                    "choices": .array([]), "usage": usage(answer)
                ]))
        }
        stream.raw("data: [DONE]\n\n")
        return stream
    }

    static func error(status: Int, message: String) -> JSONValue {
        ScriptedModelServer.openAIError(message)
    }

    /// The id of a tool call, shared with Responses' `call_id`.
    static func callID(_ answer: Answer, _ index: Int) -> String {
        "call_\(answer.number)_\(index)"
    }

    private static func id(_ answer: Answer) -> String {
        "chatcmpl-scripted-\(answer.number)"
    }

    private static func finishReason(_ answer: Answer) -> String {
        answer.toolCalls.isEmpty ? "stop" : "tool_calls"
    }

    private static func usage(_ answer: Answer) -> JSONValue {
        .object([
            "prompt_tokens": .int(Int64(answer.inputTokens)), "completion_tokens": .int(Int64(answer.outputTokens)),
            "total_tokens": .int(Int64(answer.inputTokens + answer.outputTokens))
        ])
    }
}

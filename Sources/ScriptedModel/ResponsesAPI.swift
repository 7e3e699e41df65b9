import Foundation
import RasiCore

/// OpenAI Responses, `POST /v1/responses`: what the OpenAI Agents SDK speaks by default.
/// Its replies carry every field the `openai` Python SDK's `Response` model requires.
enum ResponsesAPI: ModelAPI {
    static let requiredField = "input"

    /// `instructions` and system or developer messages are system text; a `function_call` joins the
    /// assistant turn before it; a `function_call_output` is a tool turn; reasoning items are left out.
    static func read(_ body: JSONValue) -> ScriptedRequest? {
        let items: [JSONValue]
        if let text = body["input"]?.stringValue {
            items = [.object(["role": "user", "content": .string(text)])]
        } else if let array = body["input"]?.arrayValue {
            items = array
        } else {
            return nil
        }
        var turns: [Prompt.Turn] = []
        if let instructions = body["instructions"]?.stringValue { turns.append(Prompt.Turn(role: "system", text: instructions)) }
        for item in items {
            switch item["type"]?.stringValue ?? "message" {
            case "message":
                let role = item["role"]?.stringValue ?? "user"
                turns.append(Prompt.Turn(role: role == "developer" ? "system" : role, text: Prompt.text(item["content"])))
            case "function_call":
                let call = (name: item["name"]?.stringValue ?? "", arguments: item["arguments"]?.stringValue ?? "")
                if turns.last?.role == "assistant" {
                    turns[turns.count - 1].toolCalls.append(call)
                } else {
                    turns.append(Prompt.Turn(role: "assistant", text: "", toolCalls: [call]))
                }
            case "function_call_output":
                turns.append(Prompt.Turn(role: "tool", text: Prompt.text(item["output"])))
            default:
                continue
            }
        }
        return ScriptedRequest(body: body, prompt: Prompt(turns), tools: ToolRouter.tools(body["tools"]))
    }

    static func message(_ answer: Answer, for request: ScriptedRequest) -> JSONValue {
        var output: [JSONValue] = []
        if let reasoning = answer.reasoning { output.append(reasoningItem(answer, summary: [summaryPart(reasoning)])) }
        for index in answer.toolCalls.indices { output.append(functionCall(answer, index, arguments: answer.toolCalls[index].arguments)) }
        if let content = answer.content, !content.isEmpty { output.append(outputMessage(answer, content: [outputText(content)])) }
        return response(answer, for: request, status: "completed", output: output)
    }

    static func events(_ answer: Answer, for request: ScriptedRequest) -> EventStream {
        var stream = EventStream()
        func emit(_ type: String, _ fields: [String: JSONValue]) {
            stream.event(.object(fields.merging(["type": .string(type), "sequence_number": .int(Int64(stream.count))]) { $1 }))
        }
        let started = response(answer, for: request, status: "in_progress", output: [])
        emit("response.created", ["response": started])
        emit("response.in_progress", ["response": started])
        var output: [JSONValue] = []
        func add(_ item: JSONValue) {
            emit("response.output_item.added", ["output_index": .int(Int64(output.count)), "item": item])
        }
        func done(_ item: JSONValue) {
            emit("response.output_item.done", ["output_index": .int(Int64(output.count)), "item": item])
            output.append(item)
        }

        if let reasoning = answer.reasoning {
            let id = reasoningID(answer)
            add(reasoningItem(answer, summary: []))
            let at: [String: JSONValue] = ["item_id": .string(id), "output_index": .int(Int64(output.count)), "summary_index": 0]
            emit("response.reasoning_summary_part.added", at.merging(["part": summaryPart("")]) { $1 })
            for piece in ScriptedModelServer.words(reasoning) {
                emit("response.reasoning_summary_text.delta", at.merging(["delta": .string(piece)]) { $1 })
            }
            emit("response.reasoning_summary_text.done", at.merging(["text": .string(reasoning)]) { $1 })
            emit("response.reasoning_summary_part.done", at.merging(["part": summaryPart(reasoning)]) { $1 })
            done(reasoningItem(answer, summary: [summaryPart(reasoning)]))
        }
        // The first text delta holds the stream; without text, whatever comes in its place.
        stream.holdAfter = stream.count
        for (index, call) in answer.toolCalls.enumerated() {
            add(functionCall(answer, index, arguments: "", status: "in_progress"))
            let at: [String: JSONValue] = ["item_id": .string(functionCallID(answer, index)), "output_index": .int(Int64(output.count))]
            for part in ScriptedModelServer.halves(call.arguments) {
                emit("response.function_call_arguments.delta", at.merging(["delta": .string(part)]) { $1 })
            }
            emit("response.function_call_arguments.done", at.merging(["name": .string(call.name), "arguments": .string(call.arguments)]) { $1 })
            done(functionCall(answer, index, arguments: call.arguments))
        }
        if let content = answer.content, !content.isEmpty {
            stream.holdAfter = nil
            add(outputMessage(answer, content: [], status: "in_progress"))
            let at: [String: JSONValue] = ["item_id": .string(messageID(answer)), "output_index": .int(Int64(output.count)), "content_index": 0]
            emit("response.content_part.added", at.merging(["part": outputText("")]) { $1 })
            for piece in ScriptedModelServer.words(content) {
                emit("response.output_text.delta", at.merging(["delta": .string(piece), "logprobs": []]) { $1 })
                stream.holdHere()
            }
            emit("response.output_text.done", at.merging(["text": .string(content), "logprobs": []]) { $1 })
            emit("response.content_part.done", at.merging(["part": outputText(content)]) { $1 })
            done(outputMessage(answer, content: [outputText(content)]))
        }
        emit("response.completed", ["response": response(answer, for: request, status: "completed", output: output)])
        return stream
    }

    static func error(status: Int, message: String) -> JSONValue {
        ScriptedModelServer.openAIError(message)
    }

    /// The response object: in progress and empty when a stream starts, complete in the plain
    /// reply and in `response.completed`.
    private static func response(_ answer: Answer, for request: ScriptedRequest, status: String, output: [JSONValue]) -> JSONValue {
        let completed = status == "completed"
        return .object([
            "id": .string("resp_scripted_\(answer.number)"), "object": "response", "created_at": 0, "status": .string(status),
            "model": .string(request.model), "output": .array(output),
            "usage": completed
                ? .object([
                    "input_tokens": .int(Int64(answer.inputTokens)), "input_tokens_details": .object(["cached_tokens": 0]),
                    "output_tokens": .int(Int64(answer.outputTokens)), "output_tokens_details": .object(["reasoning_tokens": 0]),
                    "total_tokens": .int(Int64(answer.inputTokens + answer.outputTokens))
                ]) : .null,
            "parallel_tool_calls": true, "tool_choice": "auto", "tools": [], "text": .object(["format": .object(["type": "text"])]),
            "error": .null, "incomplete_details": .null, "instructions": .null, "metadata": .object([:]),
            "temperature": 1.0, "top_p": 1.0
        ])
    }

    private static func reasoningItem(_ answer: Answer, summary: [JSONValue]) -> JSONValue {
        .object(["type": "reasoning", "id": .string(reasoningID(answer)), "summary": .array(summary)])
    }

    private static func summaryPart(_ text: String) -> JSONValue {
        .object(["type": "summary_text", "text": .string(text)])
    }

    private static func functionCall(_ answer: Answer, _ index: Int, arguments: String, status: String = "completed") -> JSONValue {
        .object([
            "type": "function_call", "id": .string(functionCallID(answer, index)),
            "call_id": .string(ChatCompletionsAPI.callID(answer, index)), "name": .string(answer.toolCalls[index].name),
            "arguments": .string(arguments), "status": .string(status)
        ])
    }

    private static func outputMessage(_ answer: Answer, content: [JSONValue], status: String = "completed") -> JSONValue {
        .object([
            "type": "message", "id": .string(messageID(answer)), "role": "assistant", "status": .string(status), "content": .array(content)
        ])
    }

    private static func outputText(_ text: String) -> JSONValue {
        .object(["type": "output_text", "text": .string(text), "annotations": []])
    }

    private static func reasoningID(_ answer: Answer) -> String { "rs_scripted_\(answer.number)" }
    private static func functionCallID(_ answer: Answer, _ index: Int) -> String { "fc_scripted_\(answer.number)_\(index)" }
    private static func messageID(_ answer: Answer) -> String { "msg_scripted_\(answer.number)" }
}

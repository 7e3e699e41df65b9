import Foundation
import Hummingbird
import NIOCore
import RasiCore

/// The scripted model's state: its script, the requests it received, and the stream gates.
public actor ScriptedModelState {
    var script: Script
    /// The chat completion requests received, oldest first.
    public private(set) var requests: [JSONValue] = []
    var counter = 0
    private var released: Set<String> = []
    private var waiting: [String: [CheckedContinuation<Void, Never>]] = [:]

    public init(script: Script) {
        self.script = script
    }

    func record(_ request: JSONValue) -> Int {
        requests.append(request)
        counter += 1
        return counter
    }

    func replace(_ script: Script) {
        self.script = script
        released = []
    }

    func clearRequests() { requests = [] }

    func wait(for gate: String) async {
        if released.contains(gate) { return }
        await withCheckedContinuation { waiting[gate, default: []].append($0) }
    }

    /// Gates a stream is waiting on right now.
    var holding: [String] { waiting.filter { !$0.value.isEmpty }.keys.sorted() }

    func release(_ gate: String) {
        released.insert(gate)
        for continuation in waiting.removeValue(forKey: gate) ?? [] { continuation.resume() }
    }
}

/// A deterministic, scriptable OpenAI-compatible model server for tests and the demo:
/// `/v1/chat/completions` (streaming and not, with tool calls and reasoning) and
/// `/v1/models`, plus `/_scripted/*` to inspect what it received and change its script.
public enum ScriptedModelServer {
    public static let modelName = "rasi-scripted-model"

    public static func buildRouter(state: ScriptedModelState) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.post("/v1/chat/completions") { request, context in
            try await chatCompletion(request, context: context, state: state)
        }
        router.get("/v1/models") { _, _ in
            json(
                .object([
                    "object": .string("list"),
                    "data": .array([
                        .object([
                            "id": .string(modelName), "object": .string("model"), "owned_by": .string("rasi"), "created": 0
                        ])
                    ])
                ]))
        }
        router.post("/v1/embeddings") { request, _ in
            var request = request
            let body = try await request.collectBody(upTo: 16 << 20)
            guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: body)) else {
                return errorResponse(status: 400, message: "input is required")
            }
            let inputs = json["input"]?.arrayValue?.compactMap(\.stringValue) ?? json["input"]?.stringValue.map { [$0] } ?? []
            guard !inputs.isEmpty else { return errorResponse(status: 400, message: "input is required") }
            return Self.json(
                .object([
                    "object": .string("list"), "model": json["model"] ?? .string(modelName),
                    "data": .array(
                        inputs.enumerated().map { index, text in
                            .object([
                                "object": .string("embedding"), "index": .int(Int64(index)),
                                "embedding": .array(embedding(text).map { .double(Double($0)) })
                            ])
                        })
                ]))
        }
        router.get("/_scripted/requests") { _, _ in
            json(.object(["requests": .array(await state.requests)]))
        }
        router.delete("/_scripted/requests") { _, _ in
            await state.clearRequests()
            return Response(status: .noContent)
        }
        router.put("/_scripted/script") { request, context in
            var request = request
            let body = try await request.collectBody(upTo: 4 << 20)
            await state.replace(try JSONDecoder().decode(Script.self, from: Data(buffer: body)))
            return Response(status: .noContent)
        }
        router.get("/_scripted/gates") { _, _ in
            json(.object(["holding": .array(await state.holding.map(JSONValue.string))]))
        }
        router.post("/_scripted/gates/{name}") { _, context in
            await state.release(try context.parameters.require("name"))
            return Response(status: .noContent)
        }
        return router
    }

    static func chatCompletion(_ request: Request, context: BasicRequestContext, state: ScriptedModelState) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 16 << 20)
        guard let json = try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: body)), json["messages"]?.arrayValue != nil else {
            return errorResponse(status: 400, message: "messages is required")
        }
        let n = await state.record(json)
        let prompt = Prompt(json)
        let (_, reply) = await state.script.reply(to: prompt)
        if let delay = reply.delayMs { try await Task.sleep(for: .milliseconds(delay)) }
        if let error = reply.error { return errorResponse(status: error.status, message: error.message ?? "scripted error") }

        let model = json["model"]?.stringValue ?? modelName
        var scripted = (reply.toolCalls ?? []).map { (name: $0.name, arguments: $0.arguments?.text ?? "{}") }
        var content = reply.content.map { $0.replacingOccurrences(of: "{{last_tool_result}}", with: prompt.lastToolResult) }
        if reply.route == true {
            if let tool = ToolRouter.route(request: json, prompt: prompt) {
                scripted = [(name: tool, arguments: "{}")]
                content = nil
            } else {
                content = content ?? "No tool handles this request; it is out of scope."
            }
        }
        let calls = scripted.enumerated().map { i, call in
            (id: "call_\(n)_\(i)", name: call.name, arguments: call.arguments)
        }
        let finish = calls.isEmpty ? "stop" : "tool_calls"
        let promptTokens = max(1, prompt.whole.count / 4)
        let completionTokens = max(1, ((content ?? "") + (reply.reasoning ?? "") + calls.map(\.arguments).joined()).count / 4)
        let usage: JSONValue = .object([
            "prompt_tokens": .int(Int64(promptTokens)), "completion_tokens": .int(Int64(completionTokens)),
            "total_tokens": .int(Int64(promptTokens + completionTokens))
        ])
        let id = "chatcmpl-scripted-\(n)"

        guard json["stream"]?.boolValue == true else {
            var message: [String: JSONValue] = ["role": .string("assistant"), "content": content.map(JSONValue.string) ?? .null]
            if let reasoning = reply.reasoning { message["reasoning_content"] = .string(reasoning) }
            if !calls.isEmpty {
                message["tool_calls"] = .array(
                    calls.map { call in
                        .object([
                            "id": .string(call.id), "type": .string("function"),
                            "function": .object(["name": .string(call.name), "arguments": .string(call.arguments)])
                        ])
                    })
            }
            return Self.json(
                .object([
                    "id": .string(id), "object": .string("chat.completion"), "created": 0, "model": .string(model),
                    "choices": .array([.object(["index": 0, "message": .object(message), "finish_reason": .string(finish)])]),
                    "usage": usage
                ]))
        }

        let includeUsage = json["stream_options"]?["include_usage"]?.boolValue == true
        func chunk(_ delta: [String: JSONValue], finish: String? = nil) -> JSONValue {
            var object: [String: JSONValue] = [
                "id": .string(id), "object": .string("chat.completion.chunk"), "created": 0, "model": .string(model),
                "choices": .array([.object(["index": 0, "delta": .object(delta), "finish_reason": finish.map(JSONValue.string) ?? .null])])
            ]
            if includeUsage { object["usage"] = .null }
            return .object(object)
        }
        var events: [JSONValue] = [chunk(["role": .string("assistant"), "content": .string("")])]
        for piece in words(reply.reasoning ?? "") { events.append(chunk(["reasoning_content": .string(piece)])) }
        let firstContent = events.count
        for piece in words(content ?? "") { events.append(chunk(["content": .string(piece)])) }
        for (index, call) in calls.enumerated() {
            events.append(
                chunk([
                    "tool_calls": .array([
                        .object([
                            "index": .int(Int64(index)), "id": .string(call.id), "type": .string("function"),
                            "function": .object(["name": .string(call.name), "arguments": .string("")])
                        ])
                    ])
                ]))
            let half = call.arguments.index(call.arguments.startIndex, offsetBy: call.arguments.count / 2)
            for part in [String(call.arguments[..<half]), String(call.arguments[half...])] where !part.isEmpty {
                events.append(
                    chunk([
                        "tool_calls": .array([
                            .object([
                                "index": .int(Int64(index)), "function": .object(["arguments": .string(part)])
                            ])
                        ])
                    ]))
            }
        }
        events.append(chunk([:], finish: finish))
        if includeUsage {
            events.append(
                .object([
                    "id": .string(id), "object": .string("chat.completion.chunk"), "created": 0, "model": .string(model),
                    "choices": .array([]), "usage": usage
                ]))
        }
        let gate = reply.holdAfterFirstChunk
        let allEvents = events
        let responseBody = ResponseBody { writer in
            for (i, event) in allEvents.enumerated() {
                let data = RasiJSON.canonical(event)
                try await writer.write(ByteBuffer(string: "data: " + String(decoding: data, as: UTF8.self) + "\n\n"))
                if let gate, i == firstContent { await state.wait(for: gate) }
            }
            try await writer.write(ByteBuffer(string: "data: [DONE]\n\n"))
            try await writer.finish(nil)
        }
        return Response(status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: responseBody)
    }

    /// A deterministic stand-in for an embedding: each lower-cased word hashed (FNV-1a) into
    /// one of 64 dimensions. Texts sharing words are similar; it is not a language model.
    static func embedding(_ text: String) -> [Float] {
        var vector = [Float](repeating: 0, count: 64)
        let words = text.lowercased().split { !$0.isLetter && !$0.isNumber }
        for word in words {
            var hash: UInt32 = 2_166_136_261
            for byte in word.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
            vector[Int(hash % 64)] += 1
        }
        if words.isEmpty { vector[0] = 1 }
        return vector
    }

    /// Splits text into words that keep their following space, as model tokens do.
    static func words(_ text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        for character in text {
            current.append(character)
            if character == " " {
                pieces.append(current)
                current = ""
            }
        }
        if !current.isEmpty { pieces.append(current) }
        return pieces
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        let data = RasiJSON.canonical(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    static func errorResponse(status: Int, message: String) -> Response {
        json(
            .object(["error": .object(["message": .string(message), "type": .string("scripted_error"), "code": .string("scripted")])]),
            status: .init(code: status))
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import RasiCore

/// The scripted model's state: its script, the requests it received, and the stream gates.
public actor ScriptedModelState {
    var script: Script
    /// The model requests received, any API, oldest first.
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

/// A deterministic, scriptable model server for tests and the demo. It speaks three APIs, each
/// streaming and not, with tool calls and reasoning, all answered by the same `Script`:
///
/// - OpenAI Chat Completions, `POST /v1/chat/completions` (`ChatCompletionsAPI`);
/// - OpenAI Responses, `POST /v1/responses` (`ResponsesAPI`);
/// - Anthropic Messages, `POST /v1/messages` (`MessagesAPI`).
///
/// Each API reads its request into a `Prompt` in chat terms and writes the common `Answer` in
/// its own format. Besides: `/v1/models`, `/v1/embeddings`, and `/_scripted/*` to see the
/// requests received (any API), change the script and release stream gates.
public enum ScriptedModelServer {
    public static let modelName = "rasi-scripted-model"

    public static func buildRouter(state: ScriptedModelState) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.post("/v1/chat/completions") { request, _ in
            try await answer(ChatCompletionsAPI.self, request, state: state)
        }
        router.post("/v1/responses") { request, _ in
            try await answer(ResponsesAPI.self, request, state: state)
        }
        router.post("/v1/messages") { request, _ in
            try await answer(MessagesAPI.self, request, state: state)
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
            guard let json = try? JSONValue(parsing: body.readableBytesView) else {
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

    /// Answers a request to any of the APIs: the same rules, the same reply, the API's own wire format.
    static func answer<API: ModelAPI>(_ api: API.Type, _ request: Request, state: ScriptedModelState) async throws -> Response {
        var request = request
        let body = try await request.collectBody(upTo: 16 << 20)
        guard let json = try? JSONValue(parsing: body.readableBytesView), let scripted = API.read(json) else {
            return Self.json(API.error(status: 400, message: "\(API.requiredField) is required"), status: .badRequest)
        }
        let number = await state.record(json)
        let (_, reply) = await state.script.reply(to: scripted.prompt)
        if let delay = reply.delayMs { try await Task.sleep(for: .milliseconds(delay)) }
        var extra = HTTPFields()
        for (name, value) in reply.headers ?? [:] {
            if let name = HTTPField.Name(name) { extra.append(HTTPField(name: name, value: value)) }
        }
        if let error = reply.error {
            var response = Self.json(API.error(status: error.status, message: error.message ?? "scripted error"), status: .init(code: error.status))
            response.headers.append(contentsOf: extra)
            return response
        }
        let answer = Answer(reply: reply, to: scripted, number: number)
        guard scripted.stream else {
            var response = Self.json(API.message(answer, for: scripted))
            response.headers.append(contentsOf: extra)
            return response
        }

        let stream = API.events(answer, for: scripted)
        let gate = answer.gate
        let responseBody = ResponseBody { writer in
            for (i, event) in stream.events.enumerated() {
                try await writer.write(ByteBuffer(string: event))
                if let gate, i == stream.holdAfter { await state.wait(for: gate) }
            }
            try await writer.finish(nil)
        }
        var headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache"]
        headers.append(contentsOf: extra)
        return Response(status: .ok, headers: headers, body: responseBody)
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

    /// Tool arguments streamed in two halves, so a client must join them; an empty half is left out.
    static func halves(_ text: String) -> [String] {
        let half = text.index(text.startIndex, offsetBy: text.count / 2)
        return [String(text[..<half]), String(text[half...])].filter { !$0.isEmpty }
    }

    static func json(_ value: JSONValue, status: HTTPResponse.Status = .ok) -> Response {
        let data = RasiJSON.canonical(value)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(data: data)))
    }

    static func errorResponse(status: Int, message: String) -> Response {
        json(openAIError(message), status: .init(code: status))
    }

    /// OpenAI's error shape, for Chat Completions, Responses and embeddings.
    static func openAIError(_ message: String) -> JSONValue {
        .object(["error": .object(["message": .string(message), "type": .string("scripted_error"), "code": .string("scripted")])])
    }
}

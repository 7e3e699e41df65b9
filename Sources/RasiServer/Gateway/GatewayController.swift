import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import RasiCore
import RasiEngine
import RasiModelClient

extension HTTPField.Name {
    static let rasiAgent = Self("X-RASI-Agent")!
    static let rasiConversation = Self("X-RASI-Conversation")!
    static let rasiUser = Self("X-RASI-User")!
    static let rasiInteraction = Self("X-RASI-Interaction")!
    static let rasiLessons = Self("X-RASI-Lessons")!
}

/// Where one agent API's calls go: its upstream, the path there, the client's headers passed on,
/// and the error body its clients read.
struct Wire: Sendable {
    var upstream: Upstream
    var path: String
    /// Request headers of the client's that the upstream needs (Anthropic's version and betas).
    var clientHeaders: [String] = []
    /// Sent when the client did not send them.
    var defaultHeaders: [(name: String, value: String)] = []
    var errors: ErrorShape = .openAI
}

/// The gateway: one pipeline for every agent API. It retrieves and injects lessons, forwards to
/// the upstream model, and logs the whole exchange as an interaction; each API (Chat
/// Completions, Responses, Messages) is an `AgentRequest` that knows only its wire format.
/// Every other route under `/v1` is passed through to the upstream unchanged.
struct GatewayController {
    let services: RasiServices
    let limits: ServerLimits

    func register(_ routes: GuardedRouter) {
        let openAI = services.upstream
        let chat = Wire(upstream: openAI, path: "chat/completions")
        let responses = Wire(upstream: openAI, path: "responses")
        let messages = Wire(
            upstream: services.anthropic, path: "v1/messages", clientHeaders: ["anthropic-version", "anthropic-beta"],
            defaultHeaders: [("anthropic-version", "2023-06-01")], errors: .anthropic)
        routes.on(.post, "/v1/chat/completions", .role(.agent)) { request, context in
            try await relay(request, context: context, wire: chat, parse: ChatRequest.init(json:))
        }
        routes.on(.post, "/v1/responses", .role(.agent)) { request, context in
            try await relay(request, context: context, wire: responses, parse: ResponsesRequest.init(json:))
        }
        routes.on(.post, "/v1/messages", .role(.agent)) { request, context in
            try await relay(request, context: context, wire: messages, parse: MessagesRequest.init(json:))
        }
        let passthrough = Passthrough(
            metrics: RasiMetrics(services.metrics), inFlight: services.inFlight, maxBodyBytes: max(limits.maxBodyBytes, 64 << 20))
        for method in [HTTPRequest.Method.get, .post, .delete] {
            // Anthropic's other Messages routes (count_tokens, batches) go to Anthropic; the rest of /v1 to the upstream.
            routes.on(method, "/v1/messages/**", .role(.agent)) { request, context in
                try await passthrough.forward(request, context: context, to: messages.upstream, path: "v1/messages/")
            }
            routes.on(method, "/v1/**", .role(.agent)) { request, context in
                try await passthrough.forward(request, context: context, to: openAI, path: "")
            }
        }
    }

    /// Every call answered past the request's parsing says what rasi spent on it, phase by phase, in `Server-Timing`: `lessons` (the
    /// whole selection, of which `embed`, `lexical`, `dense` and `select`), `upstream` (until the
    /// model's reply began) and `log` (the closing write, on the reply's path unless streamed).
    func relay<Call: AgentRequest>(
        _ request: Request, context: RasiRequestContext, wire: Wire, parse: (JSONValue) throws -> Call
    ) async throws -> Response {
        try await PhaseTimings.reported { try await pipeline(request, context: context, wire: wire, parse: parse) }
    }

    func pipeline<Call: AgentRequest>(
        _ request: Request, context: RasiRequestContext, wire: Wire, parse: (JSONValue) throws -> Call
    ) async throws -> Response {
        guard let lease = services.inFlight.enter() else {
            throw RasiError.overloaded("rasi has \(services.inFlight.limit) model calls in flight; try again shortly")
        }
        var request = request
        let body = try await request.bytes(limit: limits.maxBodyBytes)
        let call = try parse(JSONBody.value(from: body.readableBytesView))
        let agent = try Self.agentName(request.headers[.rasiAgent])
        let userId = request.headers[.rasiUser]
        // A Responses call may continue a conversation the upstream keeps: found through the
        // response ids rasi logged, it joins that conversation (and, sending only tool outputs, that turn).
        var previous: Interaction?
        if let responseId = call.previousResponseId { previous = try await services.interaction(producing: responseId, agent: agent) }

        let selection: LessonSelection
        let query = call.userRequest ?? previous?.request ?? ""
        // The conversation the turn is logged under: the holdout decides per lesson and conversation.
        let conversation =
            request.headers[.rasiConversation].flatMap { $0.isEmpty ? nil : $0 } ?? previous?.conversationId
            ?? call.conversationId(agent: agent, userId: userId, header: nil)
        do {
            selection =
                query.isEmpty ? .empty : try await services.selectLessons(agent: agent, query: query, model: call.model, conversation: conversation)
        } catch {
            // Lessons help; they must not take the agent down. An unreachable embeddings endpoint
            // means this call goes out without lessons, and the log says why.
            context.logger.warning("lesson retrieval failed; forwarding without lessons", metadata: ["error": "\(error)"])
            selection = .empty
        }
        let log = TurnLog(services: services, logger: context.logger)
        // The upstream is called while the interaction is written: logging costs the caller no
        // time. Every outcome is recorded only once the interaction is durable, and the reply
        // is passed on only after that, so a failure is logged too.
        let forwarded = call.forwarded(injecting: selection.context)
        var upstreamHeaders = wire.clientHeaders.compactMap { name in
            HTTPField.Name(name).flatMap { request.headers[$0] }.map { (name: name, value: $0) }
        }
        upstreamHeaders += wire.defaultHeaders.filter { header in !upstreamHeaders.contains { $0.name == header.name } }
        let started = ContinuousClock.now
        let sendHeaders = upstreamHeaders
        async let sent = Result {
            try await PhaseTimings.measure("upstream") {
                try await wire.upstream.send(.POST, wire.path, json: forwarded, headers: sendHeaders)
            }
        }
        var (interaction, isNewTurn) = try await log.begin(
            call, agent: agent, userId: userId, conversationHeader: request.headers[.rasiConversation], selection: selection,
            previous: previous)

        var headers: HTTPFields = [:]
        headers[.rasiInteraction] = interaction.id
        headers[.rasiLessons] = selection.lessons.map(\.lesson.id).joined(separator: ",")
        let metrics = RasiMetrics(services.metrics)
        metrics.injected(selection.lessons.count, agent: agent)

        // A new turn may tell something about the previous one (a rephrase, a request for a
        // human); found while the upstream works, not before.
        // Strangers who open with the same words share a derived conversation: only a conversation
        // the client makes known (its header, a previous response, an end user, or the history it
        // resends) has an earlier turn of the same user to put a signal on.
        let known = request.headers[.rasiConversation].map { !$0.isEmpty } == true || previous != nil || userId != nil || call.resendsHistory
        let begun = interaction
        async let signals: Void = log.detectSignals(startingTurn: begun, isNew: isNewTurn, findingEarlierTurn: known)
        let exchange = Exchange(call: call, log: log, started: started, lease: lease, errors: wire.errors)
        do {
            let response = try await answer(await sent, exchange: exchange, interaction: &interaction, headers: headers)
            await signals
            metrics.call(api: Call.api, status: response.status.code)
            return response
        } catch {
            await signals
            // Failures after logging still tell the client which interaction to give feedback on.
            var response = ErrorMiddleware<RasiRequestContext>.response(for: error, shape: wire.errors)
            for field in headers { response.headers.append(field) }
            metrics.call(api: Call.api, status: response.status.code)
            return response
        }
    }

    /// One call on its way back: what was asked, where it is logged, when it started.
    struct Exchange<Call: AgentRequest>: Sendable {
        let call: Call
        let log: TurnLog
        let started: ContinuousClock.Instant
        let lease: InFlight.Lease
        let errors: ErrorShape

        /// Logs the failure, then answers it in the API's error shape.
        func fail(_ message: String, status: Int = 502, interaction: inout Interaction, headers: HTTPFields) async throws -> Response {
            try await log.finish(&interaction, call: call, reply: nil, error: message, since: started)
            var response = ErrorMiddleware<RasiRequestContext>.response(for: RasiError.upstream(status: status, message: message), shape: errors)
            for field in headers { response.headers.append(field) }
            return response
        }
    }

    /// Answers the client with the upstream's reply; logs the outcome on every path.
    func answer<Call>(
        _ sent: Result<HTTPClientResponse, any Error>, exchange: Exchange<Call>, interaction: inout Interaction, headers: HTTPFields
    ) async throws -> Response {
        var headers = headers
        let upstreamResponse: HTTPClientResponse
        switch sent {
        case .success(let response):
            upstreamResponse = response
        case .failure(let error):
            return try await exchange.fail("upstream unreachable: \(Self.describe(error))", interaction: &interaction, headers: headers)
        }
        headers.append(relayed: upstreamResponse.headers)

        let status = Int(upstreamResponse.status.code)
        if exchange.call.isStreaming && (200..<300).contains(status) {
            return streamingResponse(upstreamResponse, exchange: exchange, interaction: interaction, headers: headers)
        }

        let responseBody: ByteBuffer
        do {
            responseBody = try await upstreamResponse.body.collect(upTo: limits.maxUpstreamBodyBytes)
        } catch {
            return try await exchange.fail("upstream response unreadable: \(Self.describe(error))", interaction: &interaction, headers: headers)
        }
        guard (200..<300).contains(status) else {
            let message = "upstream returned \(status): \(Upstream.errorMessage(responseBody))"
            // The client's own mistakes (4xx) come back as the upstream said them; rasi's credentials
            // being refused, and server errors, are the gateway's failure: 502.
            guard (400..<500).contains(status), ![401, 403].contains(status) else {
                return try await exchange.fail(message, interaction: &interaction, headers: headers)
            }
            try await exchange.log.finish(&interaction, call: exchange.call, reply: nil, error: message, since: exchange.started)
            headers[.contentType] = "application/json"
            return Response(status: .init(code: status), headers: headers, body: .init(byteBuffer: responseBody))
        }
        guard let json = try? JSONValue(parsing: responseBody.readableBytesView), json.objectValue != nil else {
            let start = String(decoding: Data(buffer: responseBody).prefix(120), as: UTF8.self)
            return try await exchange.fail(
                "upstream answered \(status) with a body that is not a JSON object: \(start)", interaction: &interaction, headers: headers)
        }
        try await exchange.log.finish(&interaction, call: exchange.call, reply: Call.reply(from: json), error: nil, since: exchange.started)
        headers[.contentType] = upstreamResponse.headers.first(name: "content-type") ?? "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: responseBody))
    }

    /// Passes server-sent events through chunk by chunk as they arrive, reading them on the way
    /// to log the assembled reply when the stream ends (or breaks).
    func streamingResponse<Call>(
        _ upstream: HTTPClientResponse, exchange: Exchange<Call>, interaction: Interaction, headers: HTTPFields
    ) -> Response {
        var headers = headers
        headers[.contentType] = upstream.headers.first(name: "content-type") ?? "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let body = ResponseBody { writer in
            var accumulator = StreamAccumulator<Call.Events>()
            var failure: String?
            do {
                for try await chunk in upstream.body {
                    accumulator.consume(chunk.readableBytesView)
                    try await writer.write(chunk)
                }
            } catch {
                failure = "stream interrupted: \(Self.describe(error))"
            }
            let reply = accumulator.finish()
            var interaction = interaction
            // Logged even when the client went away mid-stream, so not tied to this task's cancellation.
            try await Task.detached {
                try await exchange.log.finish(&interaction, call: exchange.call, reply: reply, error: failure, since: exchange.started)
            }.value
            try await writer.finish(nil)
            // The call counts as in flight until its stream has ended.
            withExtendedLifetime(exchange.lease) {}
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    /// The agent named by `X-RASI-Agent`, `default` when absent.
    static func agentName(_ header: String?) throws -> String {
        guard let header else { return "default" }
        let name = header.trimmingCharacters(in: .whitespaces)
        guard !name.isEmpty, name.count <= LessonFields.maxNameLength else {
            throw RasiError.invalidField("X-RASI-Agent", "must be 1 to \(LessonFields.maxNameLength) characters")
        }
        return name
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? HTTPClientError { return "\(error)" }
        return String(describing: error)
    }
}

extension HTTPFields {
    /// Adds the upstream's headers that clients act on (`Retry-After`, rate limits, request ids).
    mutating func append(relayed upstream: HTTPHeaders) {
        for header in Upstream.relayedHeaders(upstream) {
            if let name = HTTPField.Name(header.name) { append(HTTPField(name: name, value: header.value)) }
        }
    }
}

import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
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

/// The OpenAI-compatible gateway: retrieves and injects lessons, forwards to the upstream
/// model, and logs the whole exchange as an interaction.
struct GatewayController {
    let services: RasiServices
    let limits: ServerLimits

    func register(_ routes: GuardedRouter) {
        routes.on(.post, "/v1/chat/completions", .role(.agent), chatCompletions)
        routes.on(.get, "/v1/models", .role(.agent), models)
    }

    /// Every call answered past the request's parsing says what rasi spent on it, phase by phase, in `Server-Timing`: `lessons` (the
    /// whole selection, of which `embed`, `lexical`, `dense` and `select`), `upstream` (until the
    /// model's reply began) and `log` (the closing write, on the reply's path unless streamed).
    @Sendable func chatCompletions(_ request: Request, context: RasiRequestContext) async throws -> Response {
        try await PhaseTimings.reported { try await relay(request, context: context) }
    }

    func relay(_ request: Request, context: RasiRequestContext) async throws -> Response {
        guard let lease = services.inFlight.enter() else {
            throw RasiError.overloaded("rasi has \(services.inFlight.limit) model calls in flight; try again shortly")
        }
        var request = request
        let body = try await request.bytes(limit: limits.maxBodyBytes)
        let chat = try ChatRequest(json: JSONBody.decode(JSONValue.self, from: Data(buffer: body)))
        let agent = try Self.agentName(request.headers[.rasiAgent])
        let userId = request.headers[.rasiUser]

        let selection: LessonSelection
        do {
            selection = try await services.selectLessons(agent: agent, query: chat.latestUserText, model: chat.model)
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
        var forwarded = chat.injecting(selection.context)
        if chat.isStreaming { forwarded = ChatRequest.askingForStreamUsage(forwarded) }
        let started = ContinuousClock.now
        async let sent = Result {
            try await PhaseTimings.measure("upstream") { try await services.upstream.send(.POST, "chat/completions", json: forwarded) }
        }
        var (interaction, isNewTurn) = try await log.begin(
            chat, agent: agent, userId: userId, conversationHeader: request.headers[.rasiConversation],
            selection: selection)

        var headers: HTTPFields = [:]
        headers[.rasiInteraction] = interaction.id
        headers[.rasiLessons] = selection.lessons.map(\.lesson.id).joined(separator: ",")
        let metrics = RasiMetrics(services.metrics)
        metrics.injected(selection.lessons.count, agent: agent)

        // A new turn may tell something about the previous one (a rephrase, a request for a
        // human); found while the upstream works, not before.
        let begun = interaction
        async let signals: Void = log.detectSignals(startingTurn: begun, isNew: isNewTurn)
        do {
            let response = try await answer(
                await sent, started: started, chat: chat, interaction: &interaction, headers: headers, log: log, lease: lease)
            await signals
            metrics.call(status: response.status.code)
            return response
        } catch {
            await signals
            // Failures after logging still tell the client which interaction to give feedback on.
            var response = ErrorMiddleware<RasiRequestContext>.response(for: error)
            for field in headers { response.headers.append(field) }
            metrics.call(status: response.status.code)
            return response
        }
    }

    /// Answers the client with the upstream's reply; logs the outcome on every path.
    func answer(
        _ sent: Result<HTTPClientResponse, any Error>, started: ContinuousClock.Instant, chat: ChatRequest, interaction: inout Interaction,
        headers: HTTPFields, log: TurnLog, lease: InFlight.Lease
    ) async throws -> Response {
        var headers = headers
        let upstreamResponse: HTTPClientResponse
        switch sent {
        case .success(let response):
            upstreamResponse = response
        case .failure(let error):
            let message = "upstream unreachable: \(Self.describe(error))"
            try await log.finish(&interaction, chat: chat, reply: nil, error: message, since: started)
            throw RasiError.upstream(status: 502, message: message)
        }

        let status = Int(upstreamResponse.status.code)
        if chat.isStreaming && (200..<300).contains(status) {
            return streamingResponse(
                upstreamResponse, chat: chat, interaction: interaction, headers: headers, started: started, log: log, lease: lease)
        }

        let responseBody: ByteBuffer
        do {
            responseBody = try await upstreamResponse.body.collect(upTo: limits.maxUpstreamBodyBytes)
        } catch {
            let message = "upstream response unreadable: \(Self.describe(error))"
            try await log.finish(&interaction, chat: chat, reply: nil, error: message, since: started)
            throw RasiError.upstream(status: 502, message: message)
        }
        guard (200..<300).contains(status) else {
            let message = "upstream returned \(status): \(Upstream.errorMessage(responseBody))"
            try await log.finish(&interaction, chat: chat, reply: nil, error: message, since: started)
            // The client's own mistakes (4xx) come back as the upstream said them; rasi's credentials
            // being refused, rate limits behind rasi, and server errors are the gateway's failure: 502.
            if (400..<500).contains(status), ![401, 403].contains(status) {
                var errorHeaders = headers
                errorHeaders[.contentType] = "application/json"
                return Response(status: .init(code: status), headers: errorHeaders, body: .init(byteBuffer: responseBody))
            }
            throw RasiError.upstream(status: 502, message: message)
        }
        let json = (try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: responseBody))) ?? .null
        try await log.finish(&interaction, chat: chat, reply: ModelReply(completion: json), error: nil, since: started)
        headers[.contentType] = upstreamResponse.headers.first(name: "content-type") ?? "application/json"
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: responseBody))
    }

    /// Passes server-sent events through chunk by chunk as they arrive, reading them on the way
    /// to log the assembled reply when the stream ends (or breaks).
    func streamingResponse(
        _ upstream: HTTPClientResponse, chat: ChatRequest, interaction: Interaction, headers: HTTPFields, started: ContinuousClock.Instant,
        log: TurnLog, lease: InFlight.Lease
    ) -> Response {
        var headers = headers
        headers[.contentType] = upstream.headers.first(name: "content-type") ?? "text/event-stream"
        headers[.cacheControl] = "no-cache"
        let body = ResponseBody { writer in
            var accumulator = StreamAccumulator()
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
                try await log.finish(&interaction, chat: chat, reply: reply, error: failure, since: started)
            }.value
            try await writer.finish(nil)
            // The call counts as in flight until its stream has ended.
            withExtendedLifetime(lease) {}
        }
        return Response(status: .ok, headers: headers, body: body)
    }

    @Sendable func models(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let response: HTTPClientResponse
        let body: ByteBuffer
        do {
            response = try await services.upstream.send(.GET, "models")
            body = try await response.body.collect(upTo: limits.maxUpstreamBodyBytes)
        } catch {
            throw RasiError.upstream(status: 502, message: "upstream unreachable: \(Self.describe(error))")
        }
        guard (200..<300).contains(Int(response.status.code)) else {
            throw RasiError.upstream(status: 502, message: "upstream returned \(response.status.code): \(Upstream.errorMessage(body))")
        }
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
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

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import RasiCore
import ScriptedModel
import Testing

@testable import rasi

/// The gateway's three agent APIs through one pipeline, against the scripted model.
@Suite struct GatewayAPITests {
    static let lesson = """
        {"situation": "Company asks for an invoice", "should_have_done": "Ask for the VAT number",
         "correct_behavior": "Ask for the company's VAT number before issuing a company invoice"}
        """
    static let script = """
        {"rules": [{"when": {"last_user_contains": "invoice", "prompt_contains": "VAT number"}, "reply": {"content": "Please send your VAT number."}},
                   {"when": {"last_role": "tool"}, "reply": {"content": "Done: {{last_tool_result}}"}},
                   {"when": {"last_user_contains": "order"}, "reply": {"tool_calls": [{"name": "lookup_order", "arguments": {"id": "42"}}]}},
                   {"when": {"last_user_contains": "busy"},
                    "reply": {"error": {"status": 429, "message": "slow down"},
                              "headers": {"Retry-After": "7", "x-ratelimit-remaining-requests": "0", "x-request-id": "req_busy"}}}],
         "default": {"content": "Here is your invoice."}}
        """

    func withGateway(_ test: @Sendable @escaping (TestRasi, any TestClientProtocol, ScriptedModelState) async throws -> Void) async throws {
        let script = try JSONDecoder().decode(Script.self, from: Data(Self.script.utf8))
        try await withScriptedModel(script) { port, state in
            try await TestRasi.run(upstreamPort: port) { rasi, client in try await test(rasi, client, state) }
        }
    }

    @Test func aLessonFromOneAPIIsInjectedThroughEveryAPIAndEachCallIsLoggedWithItsAPI() async throws {
        try await withGateway { rasi, client, model in
            _ = try await client.call(.post, "/api/v1/lessons", key: rasi.keys[.reviewer], json: Self.lesson)
            let ask = "I need an invoice for my company"
            let calls: [(AgentAPI, String, String)] = [
                (.chat, "/v1/chat/completions", #"{"model": "m", "messages": [{"role": "user", "content": "\#(ask)"}]}"#),
                (.responses, "/v1/responses", #"{"model": "m", "instructions": "Be brief.", "input": "\#(ask)"}"#),
                (
                    .messages, "/v1/messages",
                    #"{"model": "m", "max_tokens": 100, "system": "Be brief.", "messages": [{"role": "user", "content": "\#(ask)"}]}"#
                )
            ]
            for (api, path, body) in calls {
                let (status, reply, headers) = try await client.call(.post, path, key: rasi.keys[.agent], json: body)
                #expect(status == .ok, "\(api)")
                #expect(!(headers[.init("X-RASI-Lessons")!] ?? "").isEmpty, "\(api)")
                let id = try #require(headers[.init("X-RASI-Interaction")!])
                let logged = try #require(try await rasi.store.interaction(id: id))
                #expect(logged.api == api)
                #expect(logged.request == ask)
                #expect(logged.lessonsInjected.count == 1)
                #expect(logged.response == "Please send your VAT number.", "\(api): \(reply)")
            }
            // Each upstream request carried the lesson where its API keeps standing instructions,
            // and the client's own instructions as they were.
            let received = await model.requests
            #expect(received.count == 3)
            let system = received[0]["messages"]?.arrayValue?.first
            #expect(system?["role"] == "system")
            #expect(system?["content"]?.stringValue?.contains("VAT number") == true)
            #expect(received[1]["instructions"] == "Be brief.")
            #expect(received[1]["input"]?.arrayValue?.first?["content"]?.stringValue?.contains("VAT number") == true)
            #expect(received[2]["system"]?.stringValue?.hasPrefix("Be brief.\n\n") == true)
            #expect(received[2]["system"]?.stringValue?.contains("VAT number") == true)
        }
    }

    @Test func aToolOutputAfterPreviousResponseIdContinuesItsTurnAndANewRequestJoinsItsConversation() async throws {
        try await withGateway { rasi, client, _ in
            let key = rasi.keys[.agent]
            let (_, first, firstHeaders) = try await client.call(
                .post, "/v1/responses", key: key, json: #"{"model": "m", "input": "Where is my order?"}"#)
            let responseId = try #require(first["id"]?.stringValue)
            let call = try #require(first["output"]?.arrayValue?.first { $0["type"] == "function_call" })
            let callId = try #require(call["call_id"]?.stringValue)
            let interactionId = try #require(firstHeaders[.init("X-RASI-Interaction")!])

            let output = #"{"type": "function_call_output", "call_id": "\#(callId)", "output": "shipped"}"#
            let (_, second, secondHeaders) = try await client.call(
                .post, "/v1/responses", key: key, json: #"{"model": "m", "previous_response_id": "\#(responseId)", "input": [\#(output)]}"#)
            #expect(secondHeaders[.init("X-RASI-Interaction")!] == interactionId)
            let turn = try #require(try await rasi.store.interaction(id: interactionId))
            #expect(turn.steps.map(\.kind) == [.message, .toolCall, .toolResult, .message])
            #expect(turn.steps[2].name == "lookup_order")
            #expect(turn.response == "Done: shipped")

            let next = try #require(second["id"]?.stringValue)
            let (_, _, thirdHeaders) = try await client.call(
                .post, "/v1/responses", key: key, json: #"{"model": "m", "previous_response_id": "\#(next)", "input": "Thanks, and an invoice?"}"#)
            let thirdId = try #require(thirdHeaders[.init("X-RASI-Interaction")!])
            let third = try #require(try await rasi.store.interaction(id: thirdId))
            #expect(third.id != interactionId)
            #expect(third.conversationId == turn.conversationId)
            #expect(third.request == "Thanks, and an invoice?")
        }
    }

    @Test func anthropicClientsSendTheirKeyAsXApiKeyAndReadAnthropicErrors() async throws {
        try await withGateway { rasi, client, _ in
            let body = #"{"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hello"}]}"#
            let (ok, reply, _) = try await client.call(
                .post, "/v1/messages", key: nil, json: body, headers: [.init("x-api-key")!: try #require(rasi.keys[.agent])])
            #expect(ok == .ok)
            #expect(reply["type"] == "message")

            let (refused, error, _) = try await client.call(.post, "/v1/messages", key: nil, json: body, headers: [.init("x-api-key")!: "nope"])
            #expect(refused == .unauthorized)
            #expect(error["type"] == "error")
            #expect(error["error"]?["type"] == "authentication_error")

            let (bad, invalid, _) = try await client.call(.post, "/v1/messages", key: rasi.keys[.agent], json: #"{"model": "m", "messages": "hi"}"#)
            #expect(bad == .badRequest)
            #expect(invalid["error"]?["type"] == "invalid_request_error")
            #expect(invalid["error"]?["message"]?.stringValue?.contains("messages") == true)
            // The OpenAI routes keep OpenAI's shape.
            let (_, openAI, _) = try await client.call(.post, "/v1/responses", key: rasi.keys[.agent], json: #"{"model": "m"}"#)
            #expect(openAI["error"]?["code"] == "invalid_field")
        }
    }

    @Test func theUpstreamsRetryAfterRateLimitsAndRequestIdReachTheClient() async throws {
        try await withGateway { rasi, client, _ in
            for (path, body) in [
                ("/v1/chat/completions", #"{"model": "m", "messages": [{"role": "user", "content": "busy?"}]}"#),
                ("/v1/responses", #"{"model": "m", "input": "busy?"}"#),
                ("/v1/messages", #"{"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "busy?"}]}"#)
            ] {
                let (status, _, headers) = try await client.call(.post, path, key: rasi.keys[.agent], json: body)
                #expect(status == .tooManyRequests, "\(path)")
                #expect(headers[.retryAfter] == "7", "\(path)")
                #expect(headers[.init("x-ratelimit-remaining-requests")!] == "0", "\(path)")
                #expect(headers[.init("x-request-id")!] == "req_busy", "\(path)")
                let id = try #require(headers[.init("X-RASI-Interaction")!])
                let logged = try #require(try await rasi.store.interaction(id: id))
                #expect(logged.error?.contains("429") == true)
            }
        }
    }

    @Test func otherV1RoutesPassThroughToTheUpstreamWithRasisKeyChecked() async throws {
        try await withGateway { rasi, client, _ in
            let (status, embeddings, _) = try await client.call(
                .post, "/v1/embeddings", key: rasi.keys[.agent], json: #"{"model": "e", "input": ["a", "b"]}"#)
            #expect(status == .ok)
            #expect(embeddings["data"]?.arrayValue?.count == 2)
            let (models, list, _) = try await client.call(.get, "/v1/models", key: rasi.keys[.agent])
            #expect(models == .ok)
            #expect(list["data"]?.arrayValue?.first?["id"] == .string(ScriptedModelServer.modelName))
            // The upstream's own answer comes back, status included.
            let (missing, _, _) = try await client.call(.get, "/v1/no/such/route", key: rasi.keys[.agent])
            #expect(missing == .notFound)
            let (anonymous, _, _) = try await client.call(.post, "/v1/embeddings", key: nil, json: #"{"input": "a"}"#)
            #expect(anonymous == .unauthorized)
            // Not interactions.
            #expect(try await rasi.store.listInteractions(InteractionFilter()).isEmpty)
        }
    }
}

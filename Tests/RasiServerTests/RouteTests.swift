import Foundation
import Hummingbird
import HummingbirdTesting
import RasiCore
import RasiEngine
import RasiModelClient
import RasiServer
import ScriptedModel
import Testing

@testable import rasi

@Suite struct RouteAccessTests {
    /// Who may call each route. A route added without a line here fails this test.
    static let expected: [String: Access] = [
        "GET /healthz": .open,
        "GET /openapi.json": .open,
        "GET /metrics": .role(.agent),
        "POST /v1/chat/completions": .role(.agent),
        "POST /v1/responses": .role(.agent),
        "POST /v1/messages": .role(.agent),
        // Passed through to the upstream (Anthropic's, for the Messages API's other routes).
        "GET /v1/**": .role(.agent), "POST /v1/**": .role(.agent), "DELETE /v1/**": .role(.agent),
        "GET /v1/messages/**": .role(.agent), "POST /v1/messages/**": .role(.agent), "DELETE /v1/messages/**": .role(.agent),
        "POST /api/v1/interactions": .role(.agent),
        "GET /api/v1/interactions": .role(.reviewer),
        "GET /api/v1/interactions/{id}": .role(.reviewer),
        "POST /api/v1/interactions/{id}/feedback": .role(.agent),
        "POST /api/v1/interactions/{id}/lessons": .role(.reviewer),
        "DELETE /api/v1/interactions/{id}/flags": .role(.reviewer),
        "POST /api/v1/interactions/{id}/judge": .role(.reviewer),
        "GET /api/v1/interactions/{id}/judge": .role(.reviewer),
        "GET /api/v1/jobs": .role(.admin),
        "GET /api/v1/conflicts": .role(.reviewer),
        "POST /api/v1/conflicts/{id}/resolve": .role(.reviewer),
        "GET /api/v1/lessons/{id}/impact": .role(.reviewer),
        "POST /api/v1/lessons/{id}/examples": .role(.reviewer),
        "POST /api/v1/lessons/{id}/examples/proposals": .role(.reviewer),
        "GET /api/v1/lessons/{id}/examples/candidates": .role(.reviewer),
        "GET /api/v1/lessons/{id}/lift": .role(.reviewer),
        "GET /api/v1/agents/{agent}/lift": .role(.reviewer),
        "GET /api/v1/trends": .role(.reviewer),
        "GET /api/v1/syntheses": .role(.reviewer),
        "DELETE /api/v1/users/{id}/data": .role(.admin),
        "GET /api/v1/audit": .role(.admin),
        "GET /api/v1/topics": .role(.reviewer),
        "GET /api/v1/topics/suggestions": .role(.reviewer),
        "POST /api/v1/evaluations": .role(.reviewer),
        "GET /api/v1/evaluations": .role(.reviewer),
        "GET /api/v1/evaluations/{id}": .role(.reviewer),
        "GET /api/v1/evaluations/{id}/chart.svg": .role(.reviewer),
        "GET /admin/evaluations": .panel(.reviewer),
        "GET /admin/evaluations/{id}": .panel(.reviewer),
        "PUT /api/v1/topics/{id}": .role(.admin),
        "DELETE /api/v1/topics/{id}": .role(.admin),
        "GET /admin": .panel(.reviewer),
        "GET /admin/login": .open,
        "POST /admin/login": .open,
        "POST /admin/logout": .panel(.reviewer),
        "GET /admin/interactions": .panel(.reviewer),
        "GET /admin/interactions/{id}": .panel(.reviewer),
        "POST /admin/interactions/{id}/lessons": .panel(.reviewer),
        "POST /admin/interactions/{id}/judge": .panel(.reviewer),
        "POST /admin/interactions/{id}/dismiss": .panel(.reviewer),
        "GET /admin/review": .panel(.reviewer),
        "GET /admin/lessons": .panel(.reviewer),
        "GET /admin/lessons/{id}": .panel(.reviewer),
        "POST /admin/lessons/{id}": .panel(.reviewer),
        "POST /admin/lessons/{id}/status": .panel(.reviewer),
        "POST /admin/lessons/{id}/delete": .panel(.reviewer),
        "GET /admin/lessons/{id}/impact": .panel(.reviewer),
        "POST /admin/lessons/{id}/examples": .panel(.reviewer),
        "POST /admin/conflicts/{id}/resolve": .panel(.reviewer),
        "GET /admin/trends": .panel(.reviewer),
        "GET /admin/retrieve": .panel(.reviewer),
        "GET /admin/keys": .panel(.admin),
        "POST /admin/keys": .panel(.admin),
        "POST /admin/keys/{id}/revoke": .panel(.admin),
        "GET /api/v1/lessons": .role(.reviewer),
        "POST /api/v1/lessons": .role(.reviewer),
        "GET /api/v1/lessons/{id}": .role(.reviewer),
        "PATCH /api/v1/lessons/{id}": .role(.reviewer),
        "DELETE /api/v1/lessons/{id}": .role(.reviewer),
        "GET /api/v1/lessons/{id}/versions": .role(.reviewer),
        "POST /api/v1/retrieve": .role(.agent),
        "POST /api/v1/keys": .role(.admin),
        "GET /api/v1/keys": .role(.admin),
        "DELETE /api/v1/keys/{id}": .role(.admin)
    ]

    @Test func everyRouteHasTheExpectedAccessRuleAndEveryRuleIsEnforced() async throws {
        try await TestRasi.run { rasi, client in
            #expect(Dictionary(uniqueKeysWithValues: rasi.routes.map { ("\($0.method) \($0.path)", $0.access) }) == Self.expected)
            for route in rasi.routes {
                let uri = route.path.replacingOccurrences(of: "{id}", with: "unknown").replacingOccurrences(of: "**", with: "models")
                let (anonymous, _, _) = try await client.call(route.method, uri, key: nil)
                let required: Role
                switch route.access {
                case .open:
                    // Open routes answer anyone (a sign-in without a form is refused by its own check).
                    #expect(anonymous != .unauthorized || route.path == "/admin/login", "\(route.method) \(route.path)")
                    #expect(anonymous.code < 500)
                    continue
                case .role(let role):
                    required = role
                    #expect(anonymous == .unauthorized, "\(route.method) \(route.path) without a key")
                case .panel(let role):
                    // A browser without a session is sent to the sign-in page.
                    required = role
                    #expect(anonymous == .seeOther, "\(route.method) \(route.path) without a session")
                }
                for role in Role.allCases {
                    let (status, _, _) = try await client.call(route.method, uri, key: rasi.keys[role])
                    if role.allows(required) {
                        #expect(status != .forbidden && status != .unauthorized, "\(role) on \(route.method) \(route.path)")
                    } else {
                        #expect(status == .forbidden, "\(role) on \(route.method) \(route.path)")
                    }
                }
            }
        }
    }
}

@Suite struct OpenAPITests {
    @Test func theDescriptionNamesExactlyTheAPIRoutesEachDocumented() async throws {
        try await TestRasi.run { rasi, client in
            let (status, document, _) = try await client.call(.get, "/openapi.json", key: nil)
            #expect(status == .ok)
            #expect(document["openapi"]?.stringValue == "3.1.0")
            var described: [String: String] = [:]
            for (path, methods) in document["paths"]?.objectValue ?? [:] {
                for (method, operation) in methods.objectValue ?? [:] {
                    described["\(method.uppercased()) \(path)"] = operation["summary"]?.stringValue
                }
            }
            let routes = Set(rasi.routes.filter { !$0.path.hasPrefix("/admin") && !$0.path.hasSuffix("/**") }.map { "\($0.method) \($0.path)" })
            #expect(Set(described.keys) == routes)
            // A route without its own entry gets its key as summary: every route must be described.
            #expect(described.filter { $0.key == $0.value }.isEmpty, "undocumented: \(described.filter { $0.key == $0.value }.keys.sorted())")
        }
    }
}

@Suite struct LessonRouteTests {
    @Test func aNewLessonIsRetrievableOnTheNextRequestAndGoneAfterDeletion() async throws {
        try await TestRasi.run { rasi, client in
            let reviewer = rasi.keys[.reviewer]
            let agent = rasi.keys[.agent]
            let (created, lesson, _) = try await client.call(
                .post, "/api/v1/lessons", key: reviewer,
                json: """
                    {"situation": "Customer asks how to return a damaged item", "should_have_done": "Offer a prepaid label",
                     "correct_behavior": "Send a prepaid return label and apologise"}
                    """)
            #expect(created == .created)
            let id = try #require(lesson["id"]?.stringValue)

            let query = #"{"query": "My item arrived damaged, how do I return it?", "k": 3}"#
            let (_, hits, _) = try await client.call(.post, "/api/v1/retrieve", key: agent, json: query)
            #expect(hits["lessons"]?.arrayValue?.compactMap { $0["lesson"]?["id"]?.stringValue } == [id])
            #expect(hits["context"]?.stringValue?.contains("prepaid return label") == true)
            let score = try #require(hits["lessons"]?.arrayValue?.first?["score"])
            if case .double(let value) = score { #expect(value > 0.2 && value <= 1) } else { Issue.record("score is \(score)") }

            let (deleted, _, _) = try await client.call(.delete, "/api/v1/lessons/\(id)", key: reviewer)
            #expect(deleted == .noContent)
            let (_, after, _) = try await client.call(.post, "/api/v1/retrieve", key: agent, json: query)
            #expect(after["lessons"]?.arrayValue?.isEmpty == true)
            #expect(after["context"] == "")
        }
    }

    @Test func anOversizeBodyIs413() async throws {
        try await TestRasi.run { rasi, client in
            let big = #"{"situation": ""# + String(repeating: "x", count: 70 * 1024) + #""}"#
            let (status, body, _) = try await client.call(.post, "/api/v1/lessons", key: rasi.keys[.admin], json: big)
            #expect(status == .contentTooLarge)
            #expect(body["error"]?["code"] == "payload_too_large")
        }
    }

    @Test func healthzSaysWhetherTheSearchIndexesAreReady() async throws {
        try await TestRasi.run { rasi, client in
            let (status, body, _) = try await client.call(.get, "/healthz", key: nil, json: nil)
            #expect(status == .ok)
            #expect(body["status"] == "ok" && body["indexes"] == "ready")
        }
    }
}

@Suite struct GatewayRouteTests {
    @Test func theGatewayInjectsMatchingLessonsAndLogsTheTurn() async throws {
        let script = try JSONDecoder().decode(
            Script.self,
            from: Data(
                """
                {"rules": [{"when": {"last_user_contains": "invoice", "prompt_contains": "VAT number"}, \
                "reply": {"content": "Please send your VAT number."}},
                           {"when": {"last_user_contains": "invoice"}, "reply": {"content": "Here is your invoice."}}]}
                """.utf8))
        try await withScriptedModel(script) { port, _ in
            try await TestRasi.run(upstreamPort: port) { rasi, client in
                let chat = #"{"model": "m", "messages": [{"role": "user", "content": "I need an invoice for my company"}]}"#
                let (_, before, headers) = try await client.call(.post, "/v1/chat/completions", key: rasi.keys[.agent], json: chat)
                #expect(before["choices"]?.arrayValue?.first?["message"]?["content"] == "Here is your invoice.")
                #expect(headers[.init("X-RASI-Lessons")!] == "")

                _ = try await client.call(
                    .post, "/api/v1/lessons", key: rasi.keys[.reviewer],
                    json: """
                        {"situation": "Company asks for an invoice", "should_have_done": "Ask for the VAT number",
                         "correct_behavior": "Ask for the company's VAT number before issuing a company invoice"}
                        """)
                let (_, after, afterHeaders) = try await client.call(.post, "/v1/chat/completions", key: rasi.keys[.agent], json: chat)
                #expect(after["choices"]?.arrayValue?.first?["message"]?["content"] == "Please send your VAT number.")
                let interactionId = try #require(afterHeaders[.init("X-RASI-Interaction")!])
                let logged = try #require(try await rasi.store.interaction(id: interactionId))
                #expect(logged.lessonsInjected.count == 1)
                #expect(logged.response == "Please send your VAT number.")
            }
        }
    }
}

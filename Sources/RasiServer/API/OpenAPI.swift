import Foundation
import Hummingbird
import RasiCore

/// The OpenAPI 3.1 description of the gateway and the REST API, served at `/openapi.json`.
/// A test checks that it names exactly the routes the router has, with the same methods.
enum OpenAPI {
    typealias Schema = JSONValue

    static func ref(_ name: String) -> Schema { ["$ref": .string("#/components/schemas/\(name)")] }
    static func string(_ description: String? = nil, maxLength: Int? = nil, enumeration: [String]? = nil) -> Schema {
        var schema: [String: JSONValue] = ["type": "string"]
        if let description { schema["description"] = .string(description) }
        if let maxLength { schema["maxLength"] = .int(Int64(maxLength)) }
        if let enumeration { schema["enum"] = .array(enumeration.map { .string($0) }) }
        return .object(schema)
    }
    static func object(_ properties: [String: Schema], required: [String] = []) -> Schema {
        var schema: [String: JSONValue] = ["type": "object", "properties": .object(properties)]
        if !required.isEmpty { schema["required"] = .array(required.map { .string($0) }) }
        return .object(schema)
    }
    static let number: Schema = ["type": "number"]
    static let integer: Schema = ["type": "integer"]
    static let boolean: Schema = ["type": "boolean"]
    static let anyObject: Schema = ["type": "object"]

    /// A lesson's writable fields; the texts that must say something are non-blank.
    static let lessonProperties: [String: Schema] = [
        "agent": ["type": "string", "minLength": 1, "maxLength": .int(Int64(LessonFields.maxNameLength)), "pattern": "\\S"],
        "topic": string(maxLength: LessonFields.maxNameLength),
        "situation": ["type": "string", "maxLength": .int(Int64(LessonFields.maxFieldLength)), "pattern": "\\S"],
        "did": string(maxLength: LessonFields.maxFieldLength),
        "should_have_done": ["type": "string", "maxLength": .int(Int64(LessonFields.maxFieldLength)), "pattern": "\\S"],
        "why": string(maxLength: LessonFields.maxFieldLength),
        "correct_behavior": ["type": "string", "maxLength": .int(Int64(LessonFields.maxFieldLength)), "pattern": "\\S"],
        "polarity": string(enumeration: Polarity.allCases.map(\.rawValue)),
        "status": string(enumeration: LessonStatus.allCases.map(\.rawValue)),
        "confidence": ["type": "number", "minimum": 0, "maximum": 1],
        "examples": examples, "counter_examples": examples
    ]

    /// A lesson's examples: requests, each a string or `{text, source}`.
    static let examples: Schema = {
        let text: Schema = ["type": "string", "minLength": 1, "maxLength": .int(Int64(LessonExample.maxLength)), "pattern": "\\S"]
        let example = object(["text": text, "source": string(enumeration: LessonExample.Source.allCases.map(\.rawValue))], required: ["text"])
        return ["type": "array", "maxItems": .int(Int64(LessonExample.maxCount)), "items": ["oneOf": [text, example]]]
    }()

    static let schemas: [String: Schema] = [
        "Error": object(["error": object(["message": string(), "type": string(), "code": string()])]),
        "ChatRequest": object(
            [
                "model": string(), "stream": boolean,
                "messages": [
                    "type": "array", "minItems": 1,
                    "items": object(
                        [
                            "role": string(enumeration: ["system", "developer", "user", "assistant", "tool"]),
                            "content": string(), "tool_call_id": string()
                        ], required: ["role"])
                ],
                "tools": ["type": "array", "items": anyObject]
            ], required: ["model", "messages"]),
        "ResponsesRequest": object(
            [
                "model": string(), "stream": boolean, "instructions": string(), "previous_response_id": string(),
                "input": ["oneOf": [string(), ["type": "array", "items": anyObject]]], "tools": ["type": "array", "items": anyObject]
            ], required: ["model"]),
        "MessagesRequest": object(
            [
                "model": string(), "stream": boolean, "max_tokens": ["type": "integer"],
                "system": ["oneOf": [string(), ["type": "array", "items": anyObject]]],
                "messages": [
                    "type": "array", "minItems": 1,
                    "items": object(["role": string(enumeration: ["user", "assistant"]), "content": string()], required: ["role", "content"])
                ],
                "tools": ["type": "array", "items": anyObject]
            ], required: ["model", "max_tokens", "messages"]),
        "Step": object(
            [
                "kind": string(enumeration: Step.Kind.allCases.map(\.rawValue)), "name": string(), "arguments": string(),
                "content": string(), "call_id": string(), "at": string("ISO-8601")
            ], required: ["kind"]),
        "InteractionIngest": object(
            [
                "agent": string(maxLength: LessonFields.maxNameLength), "conversation_id": string(), "user_id": string(), "request": string(),
                "messages": ["type": "array", "items": anyObject], "steps": ["type": "array", "items": ref("Step")], "response": string(),
                "model": string(), "latency_ms": ["type": "integer", "minimum": 0], "tokens": object(["prompt": integer, "completion": integer]),
                "lessons_injected": ["type": "array", "items": string()], "topic": string(), "error": string()
            ], required: ["request"]),
        "Feedback": object([
            "rating": string(enumeration: Rating.allCases.map(\.rawValue)), "comment": string(maxLength: 4000),
            "source": string(enumeration: FeedbackSource.allCases.map(\.rawValue)),
            "signal": string(enumeration: Signal.allCases.map(\.rawValue))
        ]),
        "LessonFields": object(lessonProperties),
        "LessonCreate": object(lessonProperties, required: ["situation", "should_have_done", "correct_behavior"]),
        "Correction": object(lessonProperties, required: ["should_have_done", "correct_behavior"]),
        "ExampleMark": object(
            [
                "request": ["type": "string", "minLength": 1, "pattern": "\\S"], "interaction_id": string(), "applies": boolean,
                "source": string(enumeration: ["reviewer", "outcome"])
            ], required: ["applies"]),
        "Retrieve": object(["agent": string(), "query": string(), "k": ["type": "integer", "minimum": 1, "maximum": 20]], required: ["query"]),
        "KeyCreate": object(
            ["role": string(enumeration: Role.allCases.map(\.rawValue)), "name": string(maxLength: LessonFields.maxNameLength)],
            required: ["role"]),
        "Evaluation": object(
            [
                "id": string(), "suite": string(), "model": string(), "endpoint": string(), "created_at": string("ISO-8601"),
                "lessons_created": integer, "lesson_ids": ["type": "array", "items": string()],
                "curve": ["type": "array", "items": object(["lessons": integer, "pass_rate": anyObject])],
                "splits": anyObject,
                "results": [
                    "type": "array",
                    "items": object([
                        "id": string(), "split": string(enumeration: EvaluationSuite.Split.allCases.map(\.rawValue)),
                        "request": string(), "expected_tools": ["type": "array", "items": string()],
                        "attempts": ["type": "array", "items": anyObject]
                    ])
                ]
            ], required: ["id", "suite", "model", "endpoint", "created_at", "lessons_created", "lesson_ids", "curve", "splits", "results"]),
        "ConflictResolve": object(["keep": string("a lesson id of the pair, or both")], required: ["keep"]),
        "Topic": object(
            [
                "description": string(maxLength: LessonFields.maxFieldLength),
                "examples": ["type": "array", "maxItems": 50, "items": string(maxLength: LessonFields.maxFieldLength)]
            ],
            required: ["description"])
    ]

    /// What each route takes: a JSON body schema and query parameters.
    struct Operation {
        var summary: String
        var body: String?
        var query: [String] = []
    }

    static let operations: [String: Operation] = [
        "GET /healthz": .init(summary: "Liveness; no key needed"),
        "GET /openapi.json": .init(summary: "This description; no key needed"),
        "GET /metrics": .init(summary: "Prometheus metrics"),
        "POST /v1/chat/completions": .init(
            summary: "OpenAI-compatible chat completions through rasi (lessons injected, interaction logged)", body: "ChatRequest"),
        "POST /v1/responses": .init(
            summary: "OpenAI's Responses API through rasi (lessons injected, interaction logged)", body: "ResponsesRequest"),
        "POST /v1/messages": .init(
            summary: "Anthropic's Messages API through rasi (lessons added to system, interaction logged; errors in Anthropic's shape)",
            body: "MessagesRequest"),
        "POST /api/v1/interactions": .init(summary: "Log an interaction from an agent that does not use the gateway", body: "InteractionIngest"),
        "GET /api/v1/interactions": .init(
            summary: "Interactions, newest first; flagged=true is the review queue, oldest first",
            query: ["agent", "api", "flagged", "feedback", "topic", "q", "since", "limit", "cursor"]),
        "GET /api/v1/interactions/{id}": .init(summary: "One interaction with its full trace"),
        "POST /api/v1/interactions/{id}/feedback": .init(summary: "Feedback: a rating, a comment or a signal", body: "Feedback"),
        "POST /api/v1/interactions/{id}/lessons": .init(summary: "The correction box: a reviewer's lesson from this interaction", body: "Correction"),
        "DELETE /api/v1/interactions/{id}/flags": .init(summary: "Dismiss the open flags"),
        "POST /api/v1/interactions/{id}/judge": .init(summary: "Run the judge now"),
        "GET /api/v1/interactions/{id}/judge": .init(summary: "The judge's runs over this interaction"),
        "GET /api/v1/jobs": .init(summary: "Background jobs", query: ["status", "limit"]),
        "GET /api/v1/lessons": .init(summary: "Lessons, newest first", query: ["agent", "status", "topic", "q", "limit", "cursor"]),
        "POST /api/v1/lessons": .init(summary: "Create a lesson", body: "LessonCreate"),
        "GET /api/v1/lessons/{id}": .init(summary: "One lesson"),
        "PATCH /api/v1/lessons/{id}": .init(summary: "Edit a lesson (a new version)", body: "LessonFields"),
        "DELETE /api/v1/lessons/{id}": .init(summary: "Delete a lesson (its history is kept)"),
        "GET /api/v1/lessons/{id}/versions": .init(summary: "Every version, with who saved it and when"),
        "GET /api/v1/lessons/{id}/impact": .init(summary: "Recent requests that would retrieve the lesson", query: ["limit"]),
        "POST /api/v1/lessons/{id}/examples": .init(
            summary: "Mark a request as one the lesson applies to (an example) or not (a counter-example)", body: "ExampleMark"),
        "POST /api/v1/lessons/{id}/examples/proposals": .init(summary: "Ask the judge's model for examples now (a new version)"),
        "GET /api/v1/lessons/{id}/examples/candidates": .init(summary: "Requests the lesson was injected into that went wrong"),
        "GET /api/v1/lessons/{id}/lift": .init(summary: "The lesson's measured lift: treatment against the holdout's control"),
        "GET /api/v1/agents/{agent}/lift": .init(summary: "An agent's measured lift, its lessons' exposures pooled"),
        "GET /api/v1/trends": .init(
            summary: "Outcomes per hour or day: interactions, negative and positive outcomes, by arm, lessons created and retired",
            query: ["agent", "topic", "lesson", "bucket", "since"]),
        "POST /api/v1/retrieve": .init(summary: "The lessons the gateway would inject", body: "Retrieve"),
        "GET /api/v1/conflicts": .init(summary: "Contradicting lesson pairs", query: ["open", "limit"]),
        "POST /api/v1/conflicts/{id}/resolve": .init(summary: "Resolve a conflict", body: "ConflictResolve"),
        "GET /api/v1/syntheses": .init(summary: "Merges of conflicting lessons", query: ["limit"]),
        "GET /api/v1/topics": .init(summary: "Topics"),
        "GET /api/v1/topics/suggestions": .init(summary: "Clusters of unclassified requests", query: ["limit"]),
        "PUT /api/v1/topics/{id}": .init(summary: "Define a topic", body: "Topic"),
        "DELETE /api/v1/topics/{id}": .init(summary: "Remove a topic"),
        "DELETE /api/v1/users/{id}/data": .init(summary: "Delete everything stored about one end user"),
        "GET /api/v1/audit": .init(summary: "The audit log, newest first", query: ["limit", "cursor"]),
        "POST /api/v1/evaluations": .init(summary: "Keep a report of rasi eval (as it writes evaluation.json)", body: "Evaluation"),
        "GET /api/v1/evaluations": .init(summary: "Evaluation reports, newest first, without per-task results", query: ["limit"]),
        "GET /api/v1/evaluations/{id}": .init(summary: "One evaluation report, with every task's attempts"),
        "GET /api/v1/evaluations/{id}/chart.svg": .init(summary: "The evaluation's learning curve as SVG"),
        "POST /api/v1/keys": .init(summary: "Create a key (the secret is shown once)", body: "KeyCreate"),
        "GET /api/v1/keys": .init(summary: "Keys, never their secrets"),
        "DELETE /api/v1/keys/{id}": .init(summary: "Revoke a key at once")
    ]

    /// The document for the routes given (the panel's HTML pages are left out).
    static func document(routes: [RouteEntry]) -> JSONValue {
        var paths: [String: [String: JSONValue]] = [:]
        // The admin panel's pages are not an API; `/v1/**` is the upstream's API, passed through.
        for route in routes where !route.path.hasPrefix("/admin") && !route.path.hasSuffix("/**") {
            let key = "\(route.method) \(route.path)"
            let operation = operations[key] ?? Operation(summary: key)
            var spec: [String: JSONValue] = [
                "summary": .string(operation.summary),
                "operationId": .string(key.replacingOccurrences(of: "[^A-Za-z0-9]+", with: "_", options: .regularExpression)),
                "responses": [
                    "default": [
                        "description": "an answer (errors in OpenAI's shape)", "content": ["application/json": ["schema": ["type": "object"]]]
                    ]
                ]
            ]
            var parameters: [JSONValue] = operation.query.map { ["name": .string($0), "in": "query", "required": false, "schema": string()] }
            for name in ["id", "agent"] where route.path.contains("{\(name)}") {
                parameters.append(["name": .string(name), "in": "path", "required": true, "schema": string()])
            }
            if !parameters.isEmpty { spec["parameters"] = .array(parameters) }
            if let body = operation.body {
                spec["requestBody"] = ["required": true, "content": ["application/json": ["schema": ref(body)]]]
            }
            if case .open = route.access { spec["security"] = [] }
            paths[route.path, default: [:]][route.method.rawValue.lowercased()] = .object(spec)
        }
        return [
            "openapi": "3.1.0",
            "info": [
                "title": "rasi", "version": "1", "description": "Retrieval-augmented self-improvement for LLM agents: the gateway and the REST API."
            ],
            "servers": [["url": "/"]],
            "security": [["bearer": []]],
            "components": ["securitySchemes": ["bearer": ["type": "http", "scheme": "bearer"]], "schemas": .object(schemas)],
            "paths": .object(paths.mapValues { .object($0) })
        ]
    }
}

// A support agent built with RasiAgent, logging to a rasi server and learning from its lessons.
//
//   RASI_URL=http://127.0.0.1:8080 RASI_AGENT_KEY=... \
//   MODEL_BASE_URL=https://api.openai.com/v1 MODEL_API_KEY=sk-... MODEL=gpt-4o-mini \
//   swift run rasi-agent-example "Where is my order 42?"
//
// Add `--thumbs-down "why"` to send feedback on the turn afterwards.
import AsyncHTTPClient
import Foundation
import RasiAgent
import RasiCore
import RasiModelClient

/// A tool as a Swift type: its arguments decode from the model's JSON, against this schema.
struct LookupOrder: Tool {
    struct Arguments: Decodable, Sendable {
        var orderId: String

        enum CodingKeys: String, CodingKey {
            case orderId = "order_id"
        }
    }

    let name = "lookup_order"
    let description = "Looks up an order's status by its number"
    let parameters = JSONSchema.object(["order_id": JSONSchema.string("The order number")], required: ["order_id"])

    func call(_ arguments: Arguments) async throws -> ToolOutput {
        // A real agent would ask the order system here.
        ToolOutput(
            "order \(arguments.orderId): shipped on Monday, arriving Thursday",
            stateChanges: [StateChange("order_viewed", arguments.orderId)])
    }
}

let environment = ProcessInfo.processInfo.environment
func setting(_ name: String, _ fallback: String? = nil) -> String {
    guard let value = environment[name] ?? fallback else {
        FileHandle.standardError.write(Data("set \(name)\n".utf8))
        exit(2)
    }
    return value
}

var arguments = Array(CommandLine.arguments.dropFirst())
var complaint: String?
if let flag = arguments.firstIndex(of: "--thumbs-down") {
    complaint = flag + 1 < arguments.count ? arguments[flag + 1] : "Not helpful"
    arguments.removeSubrange(flag...min(flag + 1, arguments.count - 1))
}
let request = arguments.isEmpty ? "Where is my order 42?" : arguments.joined(separator: " ")

let http = HTTPClient(eventLoopGroupProvider: .singleton)
let agent = Agent(
    name: "support", model: setting("MODEL", "gpt-4o-mini"),
    instructions: "You are a customer support agent for an online shop. Use the tools to answer precisely.",
    tools: [LookupOrder()],
    chatModel: OpenAIChatModel(client: http, baseURL: setting("MODEL_BASE_URL", "https://api.openai.com/v1"), apiKey: environment["MODEL_API_KEY"]),
    rasi: RasiClient(baseURL: setting("RASI_URL", "http://127.0.0.1:8080"), key: setting("RASI_AGENT_KEY"), httpClient: http))

/// Runs the turn and sends the feedback, if any.
func runTurn(_ agent: Agent, _ request: String, complaint: String?) async throws {
    let run = try await agent.run(request)
    print("answer: \(run.answer ?? "(none)")")
    print("tools: \(run.toolCalls.joined(separator: ", "))")
    print("lessons: \(run.lessons.lessons.map(\.lesson.id).joined(separator: ","))")
    print("interaction: \(run.interactionId)")
    if let complaint {
        try await agent.feedback(on: run.interactionId, rating: .down, comment: complaint)
        print("feedback: sent")
    }
}

/// Shuts the client down however the turn ended.
func finish(_ http: HTTPClient, _ turn: () async throws -> Void) async -> Int32 {
    var status: Int32 = 0
    do {
        try await turn()
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        status = 1
    }
    try? await http.shutdown()
    return status
}

let complaintText = complaint
exit(await finish(http) { try await runTurn(agent, request, complaint: complaintText) })

import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import NIOCore
import NIOHTTP1
import RasiCore
import RasiEngine
import RasiModelClient
import RasiServer
import ScriptedModel
import ServiceLifecycle

/// `rasi demo`: the first five minutes without an API key. Starts rasi on a fresh embedded
/// store with the scripted model (clearly labelled; not an LLM) as its upstream, plays the seed
/// scenario through the real HTTP API, and leaves both running with the panel showing it all.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Play the seed scenario on a local rasi with the scripted model, and leave it running.")

    @Option(help: "rasi's port.") var port = 8080
    @Option(help: "The scripted model's port.") var modelPort = 8090
    @Option(help: "Folder of the demo's store, emptied at start.") var dataDir = "./rasi-demo"
    @OptionGroup var model: ModelOptions

    func run() async throws {
        var configuration = try RasiConfiguration.read(flags: ["port": "\(port)", "model-dir": model.modelDir])
        try? FileManager.default.removeItem(atPath: dataDir)
        // The demo's own store, the scripted model and its judge, whatever the environment names.
        configuration.databaseURL = "sqlite:\(dataDir)/rasi.sqlite"
        configuration.upstreamBaseURL = "http://127.0.0.1:\(modelPort)/v1"
        configuration.upstreamAPIKey = nil
        configuration.judge = JudgeConfiguration()
        let adminKey = KeySecret.generate()
        configuration.bootstrapAdminKey = adminKey

        var logger = Logger(label: "rasi")
        logger.logLevel = .warning
        let httpClient = makeHTTPClient(configuration)
        let scripted = Application(
            router: ScriptedModelServer.buildRouter(state: ScriptedModelState(script: .nutrition)),
            configuration: .init(address: .hostname("127.0.0.1", port: modelPort), serverName: "rasi-scripted-model"), logger: logger)
        let rasi = try await buildApplication(configuration, httpClient: httpClient, logger: logger)
        let scenario = Scenario(base: "http://127.0.0.1:\(port)", adminKey: adminKey, dataDir: dataDir, client: httpClient)
        let group = ServiceGroup(
            configuration: .init(services: [scripted, rasi, scenario], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }
}

/// The seed scenario, told as it happens, then waiting for the stop.
struct Scenario: Service {
    let base: String
    let adminKey: String
    let dataDir: String
    let client: HTTPClient

    func say(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    func call(
        _ method: HTTPMethod, _ path: String, key: String, json: JSONValue? = nil, headers: [(String, String)] = []
    ) async throws -> (JSONValue, HTTPHeaders) {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Authorization", value: "Bearer \(key)")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: RasiJSON.canonical(json)))
        }
        let response = try await client.execute(request, timeout: .seconds(30))
        let body = try await response.body.collect(upTo: 4 * 1024 * 1024)
        guard (200..<300).contains(Int(response.status.code)) else {
            throw ValidationError("\(method) \(path) answered \(response.status.code): \(String(buffer: body))")
        }
        return ((try? JSONValue(parsing: body.readableBytesView)) ?? .null, response.headers)
    }

    func ask(_ question: String, agentKey: String) async throws -> (answer: String, interaction: String, lessons: String) {
        let (reply, headers) = try await call(
            .POST, "/v1/chat/completions", key: agentKey,
            json: [
                "model": "demo", "messages": [["role": "user", "content": .string(question)]]
            ], headers: [("X-RASI-Agent", "nutrition")])
        let answer = reply["choices"]?.arrayValue?.first?["message"]?["content"]?.stringValue ?? ""
        return (answer, headers.first(name: "X-RASI-Interaction") ?? "", headers.first(name: "X-RASI-Lessons") ?? "")
    }

    func run() async throws {
        for _ in 0..<200 {
            if (try? await client.execute(HTTPClientRequest(url: base + "/healthz"), timeout: .seconds(1)))?.status == .ok { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        let (created, _) = try await call(.POST, "/api/v1/keys", key: adminKey, json: ["role": "agent", "name": "demo agent"])
        let agentKey = created["secret"]?.stringValue ?? ""

        say(
            """
            rasi demo: the upstream is rasi's SCRIPTED MODEL (deterministic rules, not an LLM), playing a
            nutrition assistant that only considers minerals when a lesson about them is in its context.

            1. A user asks the agent, through rasi's gateway:
            """)
        let question = "How can I fix my gut health? I'm also low on energy all the time."
        let first = try await ask(question, agentKey: agentKey)
        say("   user:  \(question)\n   agent: \(first.answer)\n   (interaction \(first.interaction); lessons injected: none)\n")

        _ = try await call(
            .POST, "/api/v1/interactions/\(first.interaction)/feedback", key: agentKey,
            json: ["rating": "down", "comment": "Nothing about my low energy."])
        say(
            """
            2. The user gives a thumbs-down: "Nothing about my low energy." The interaction is flagged for review
               (and the scripted judge proposes a lesson in the background).

            """)

        let (lesson, _) = try await call(
            .POST, "/api/v1/interactions/\(first.interaction)/lessons", key: adminKey,
            json: [
                "situation": "User asks about gut health together with low energy or fatigue",
                "should_have_done": "Consider minerals as well as fibre",
                "why": "Magnesium, zinc and iron shortfalls commonly cause both digestive trouble and fatigue",
                "correct_behavior": "Ask about the user's diet and mention minerals such as magnesium, zinc and iron"
            ])
        say(
            """
            3. A reviewer writes the correction; it becomes lesson \(lesson["id"]?.stringValue ?? ""):
               situation:        \(lesson["situation"]?.stringValue ?? "")
               did:              \(lesson["did"]?.stringValue ?? "")
               correct behaviour: \(lesson["correct_behavior"]?.stringValue ?? "")

            """)

        let similar = "What should I eat for better digestion and gut health when my energy is low?"
        let second = try await ask(similar, agentKey: agentKey)
        say(
            """
            4. A similar question, in other words, on the very next request:
               user:  \(similar)
               agent: \(second.answer)
               (lessons injected: \(second.lessons))

            """)

        say(
            """
            rasi keeps running. Open the admin panel and sign in with this admin key:
               panel:     \(base)/admin
               admin key: \(adminKey)
               agent key: \(agentKey)   (point any OpenAI client at \(base)/v1 with it)
            The interactions, the flag, the judge's proposal, the lesson and where it was injected are all there.
            Stop with Ctrl-C. The demo's store is in \(dataDir) and is emptied at the next start.
            """)
        try await gracefulShutdown()
    }
}

import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import RasiAgent
import RasiCore
import RasiEngine
import RasiModelClient
import RasiServer

/// `rasi eval`: the learning curve of the loop on a task suite, and the CLINC150 suite.
struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure the learning curve of the loop on a task suite.",
        subcommands: [Run.self, Clinc150.self], defaultSubcommand: Run.self)

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a suite, learn from the learn split's failures, run it again; report pass rates, fixes, regressions and tokens.",
            discussion: """
                The agent talks to any OpenAI-compatible endpoint (--base-url, --api-key, --model), through Chat \
                Completions, the Responses API or Anthropic's Messages API (--api); the judge of rubric tasks through \
                Chat Completions. Lessons and \
                interactions go to a running rasi server (--rasi and a reviewer --key; the panel then shows the \
                report under Evaluations), or to a store in this process (--database-url; a fresh temporary \
                SQLite store when neither is given). Writes evaluation.json and learning-curve.svg to --out.
                """)

        @Option(help: "The suite: a JSONL file, or clinc150 for the CLINC150 routing suite built with default options.") var suite: String
        @Option(help: "The suite's name in the report (default: the file's name).") var name: String?
        @Option(
            help: """
                The API the agent calls its model through: chat (Chat Completions, {base}/chat/completions), responses \
                (OpenAI's Responses API, {base}/responses) or messages (Anthropic's Messages API, {base}/v1/messages).
                """)
        var api: AgentAPI = .chat
        @Option(
            help: """
                The agent's endpoint: OpenAI-compatible with /v1 (default: RASI_UPSTREAM_BASE_URL); for --api messages, \
                Anthropic's without /v1 (default: RASI_ANTHROPIC_BASE_URL).
                """)
        var baseURL: String?
        @Option(help: "Its API key (default: RASI_UPSTREAM_API_KEY; for --api messages, RASI_ANTHROPIC_API_KEY).") var apiKey: String?
        @Option(help: "The agent's model.") var model: String
        @Option(
            help: """
                The judge's OpenAI-compatible endpoint for rubric tasks (default: the agent's; for --api messages, the \
                agent's with /v1, where Anthropic and the scripted model serve Chat Completions).
                """)
        var judgeBaseURL: String?
        @Option(help: "The judge's API key (default: the agent's when the endpoint is the same).") var judgeAPIKey: String?
        @Option(help: "The judge's model (default: the agent's).") var judgeModel: String?
        @Option(help: "A rasi server to work through, e.g. http://127.0.0.1:8080.") var rasi: String?
        @Option(help: "A reviewer (or admin) key of that server.") var key: String?
        @Option(name: .customLong("database-url"), help: "A store to work on in process: sqlite:PATH or postgres://…") var databaseURL: String?
        @Option(help: "Batches the learned lessons go live in; the suite is run once more after each.") var rounds = 1
        @Option(help: "Tasks run at once.") var concurrency = 4
        @Option(help: "Where evaluation.json and learning-curve.svg are written.") var out = "./rasi-eval"
        @Option(help: "The CLINC150 corpus folder, for --suite clinc150.") var clincData = "../shared/data/clinc150"
        @OptionGroup var modelOptions: ModelOptions

        func validate() throws {
            if rasi != nil, key == nil { throw ValidationError("--rasi needs --key, a reviewer key of that server") }
            if rasi != nil, databaseURL != nil { throw ValidationError("give --rasi or --database-url, not both") }
            guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
            guard concurrency >= 1 else { throw ValidationError("--concurrency must be at least 1") }
            if api == .messages, let baseURL, baseURL.trimmingCharacters(in: ["/"]).hasSuffix("/v1") {
                throw ValidationError("--api messages takes the endpoint without /v1, as RASI_ANTHROPIC_BASE_URL: rasi calls {base}/v1/messages")
            }
        }

        func loadSuite() throws -> (EvaluationSuite, String) {
            if suite == "clinc150" {
                return (try Clinc150.build(from: clincData, options: .init()), "clinc150")
            }
            let text = try String(contentsOfFile: suite, encoding: .utf8)
            return (try EvaluationSuite.parse(jsonl: text), URL(fileURLWithPath: suite).deletingPathExtension().lastPathComponent)
        }

        /// The agent's model, through the API of `--api`.
        func agentModel(_ http: HTTPClient, endpoint: String, key: String?) -> any ChatModel {
            switch api {
            case .chat: OpenAIChatModel(client: http, baseURL: endpoint, apiKey: key)
            case .responses: OpenAIResponsesModel(client: http, baseURL: endpoint, apiKey: key)
            case .messages: AnthropicMessagesModel(client: http, baseURL: endpoint, apiKey: key)
            }
        }

        func run() async throws {
            let (suite, suiteName) = try loadSuite()
            let endpointFlags: [String: String?] =
                api == .messages
                ? ["anthropic-base-url": baseURL, "anthropic-api-key": apiKey] : ["upstream-base-url": baseURL, "upstream-api-key": apiKey]
            var configuration = try RasiConfiguration.read(flags: endpointFlags.merging(["model-dir": modelOptions.modelDir]) { $1 })
            let endpoint = api == .messages ? configuration.anthropicBaseURL : configuration.upstreamBaseURL
            let key = api == .messages ? configuration.anthropicAPIKey : configuration.upstreamAPIKey
            var logger = Logger(label: "rasi.eval")
            logger.logLevel = .warning

            let http = HTTPClient(eventLoopGroupProvider: .singleton)
            var temporary: URL?
            var failure: (any Error)?
            do {
                func evaluate(_ connection: any RasiConnection, place: String) async throws {
                    let judgeEndpoint = judgeBaseURL ?? (api == .messages ? endpoint.trimmingCharacters(in: ["/"]) + "/v1" : endpoint)
                    let judgeKey = judgeAPIKey ?? (judgeBaseURL == nil ? key : nil)
                    let evaluation = Evaluation(
                        suite: suite, suiteName: name ?? suiteName, model: model, endpoint: endpoint,
                        chatModel: agentModel(http, endpoint: endpoint, key: key),
                        judge: Judge(model: OpenAIChatModel(client: http, baseURL: judgeEndpoint, apiKey: judgeKey)),
                        judgeModelName: judgeModel ?? model, rasi: connection, rounds: rounds, concurrency: concurrency,
                        progress: { print($0) })
                    print(
                        "rasi eval: \(suite.tasks.count) tasks of \(name ?? suiteName) on \(model) at \(endpoint) (\(api.rawValue) API); "
                            + "lessons and interactions \(place)")
                    let report = try await evaluation.run()
                    try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
                    try RasiJSON.encoder(pretty: true).encode(report)
                        .write(to: URL(fileURLWithPath: out).appendingPathComponent("evaluation.json"))
                    try EvaluationChart.svg(report).write(toFile: out + "/learning-curve.svg", atomically: true, encoding: .utf8)
                    for line in report.summaryLines { print(line) }
                    print("wrote \(out)/evaluation.json and \(out)/learning-curve.svg (evaluation \(report.id))")
                }
                if let rasi {
                    try await evaluate(RasiClient(baseURL: rasi, key: self.key!, httpClient: http), place: "through \(rasi)")
                } else {
                    if let databaseURL {
                        configuration.databaseURL = databaseURL
                    } else {
                        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-eval-\(UUID().uuidString)")
                        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
                        temporary = folder
                        configuration.databaseURL = "sqlite:\(folder.path)/rasi.sqlite"
                    }
                    try await withServices(configuration, httpClient: http, logger: logger) { services in
                        try await evaluate(
                            LocalRasi(services: services, author: "rasi eval", logger: logger), place: "in \(configuration.databaseURL)")
                    }
                }
            } catch {
                failure = error
            }
            // Closed whatever happened, the temporary store removed.
            try? await http.shutdown()
            if let temporary { try? FileManager.default.removeItem(at: temporary) }
            if let failure { throw failure }
        }
    }

    struct Clinc150: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "clinc150",
            abstract: "Write the CLINC150 tool-routing suite: each intent a tool; learn from its training split, test on its validation split; "
                + "out-of-scope requests expect no tool.")

        @Option(help: "The corpus folder (clinc150_dev.json, domains.json).") var data = "../shared/data/clinc150"
        @Option(help: "Learn tasks per intent.") var learnPerIntent = 2
        @Option(help: "Test tasks per intent.") var testPerIntent = 2
        @Option(help: "Out-of-scope tasks in each split.") var outOfScope = 20
        @Option(help: "Only the first N intents (all 150 by default).") var intents: Int?
        @Option(help: "Where to write the suite.") var out = "clinc150.jsonl"

        static func build(from folder: String, options: Clinc150Suite.Options) throws -> EvaluationSuite {
            let directory = URL(fileURLWithPath: folder)
            guard let corpus = try? Data(contentsOf: directory.appendingPathComponent("clinc150_dev.json")),
                let domains = try? Data(contentsOf: directory.appendingPathComponent("domains.json"))
            else { throw ValidationError("no CLINC150 corpus in \(folder) (clinc150_dev.json and domains.json)") }
            return try Clinc150Suite.build(corpus: corpus, domains: domains, options: options)
        }

        func run() async throws {
            let suite = try Self.build(
                from: data,
                options: .init(
                    learnPerIntent: max(0, learnPerIntent), testPerIntent: max(0, testPerIntent), outOfScope: max(0, outOfScope), intents: intents))
            try suite.jsonl().write(toFile: out, atomically: true, encoding: .utf8)
            let learn = suite.tasks.filter { $0.split == .learn }.count
            print("wrote \(out): \(suite.tools.count) tools, \(learn) learn and \(suite.tasks.count - learn) test tasks")
        }
    }
}

extension AgentAPI: ExpressibleByArgument {}

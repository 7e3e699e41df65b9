import ArgumentParser
import AsyncHTTPClient
import Foundation
import Hummingbird
import Logging
import RasiCore
import ScriptedModel

/// `rasi bench lift`: whether lift finds what a simulation knows to be true. The agent's tools are
/// CLINC150 intents (each request declares the tools of its intent's domain) and its model is the
/// scripted model, which calls the tool an injected lesson names and otherwise guesses by shared
/// words. The learn split is run without lessons: each request the guess gets wrong becomes a
/// lesson naming the right tool (a good lesson). Beside them, lessons are planted to be harmful:
/// each names a wrong tool for an intent the guess gets right. Then traffic goes through a real
/// `rasi serve` with a holdout; simulated users give a thumbs-down when the wrong tool was called
/// and, on a share of the rest, noise (a thumbs-down or a thumbs-up). Reported against the
/// simulation's ground truth: the planted lessons retired and after how many exposures, the good
/// lessons retired (wrongly, unless they truly hurt), and the agent's measured lift against its
/// true lift, every `--every` requests.
struct LiftBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lift",
        abstract: "Play simulated traffic with good and planted harmful lessons; check lift's retirements and figures against the truth.",
        discussion: """
            One lesson at most is injected per request (RASI_LESSONS_MAX=1), so each exposure's counterfactual is exact: with \
            the lesson the scripted model calls the lesson's tool if the request declares it, else its own guess; without \
            it, its own guess (asked of the scripted model directly). A request's true chance of a negative outcome is 1 \
            when the wrong tool (or none) is called, --noise when the right one is. The true lift is the mean, over the \
            exposures rasi logged (either arm), of that chance with the lesson minus without it.
            """)

    @Option(help: "Gateway requests in the traffic, each its own conversation.") var requests = 15000
    @Option(help: "Concurrent clients, each sending its next request and its feedback as soon as the last one is done.") var clients = 4
    @Option(help: "Domains whose intents are the agent's tools and the traffic's intents: the first N by name.") var domainCount = 3
    @Option(help: "Learn-split requests per intent, run without lessons; each one routed to a wrong tool becomes a good lesson.") var learn = 4
    @Option(help: "Lessons planted to be harmful, each on an intent whose learn requests were all routed right.") var planted = 8
    @Option(help: "Share of right tool calls that still get a thumbs-down (the users' noise).") var noise = 0.1
    @Option(help: "Share of right tool calls that get a thumbs-up.") var thumbsUp = 0.3
    @Option(help: "The served rasi's RASI_HOLDOUT.") var holdout = 0.2
    @Option(help: "The served rasi's RASI_LIFT_MIN_EXPOSURES.") var minExposures = 20
    @Option(help: "Requests between two rows of the convergence table.") var every = 1000
    @Option(help: "Seed of the splits, the traffic and the users' noise.") var seed: UInt64 = 1
    @Option(help: "A JSON file {split: [[text, intent], ...]}; its train and val splits are used.")
    var data = "../shared/data/clinc150/clinc150_dev.json"
    @Option(help: "A JSON file {domain: [intent, ...]}.") var domains = "../shared/data/clinc150/domains.json"
    @Option(help: "Where to write the JSON results.") var out = "rasi-bench/lift.json"
    @Option(help: "The rasi binary measured, run as `rasi serve`; by default the one next to rasi-bench.") var rasi: String?
    @OptionGroup var model: ModelOptions

    /// The agent the traffic and the lessons belong to.
    static let agent = "bench-lift"

    func validate() throws {
        guard requests >= 1, clients >= 1, domainCount >= 1, learn >= 1, every >= 1 else {
            throw ValidationError("--requests, --clients, --domain-count, --learn and --every must be at least 1")
        }
        guard planted >= 0, minExposures >= 1 else { throw ValidationError("--planted must not be negative, --min-exposures at least 1") }
        guard (0...1).contains(noise), (0...1).contains(thumbsUp), noise + thumbsUp <= 1 else {
            throw ValidationError("--noise and --thumbs-up are shares (0 to 1) of the right calls, together at most 1")
        }
        guard holdout > 0, holdout <= Holdout.maxShare else { throw ValidationError("--holdout must be above 0 and at most \(Holdout.maxShare)") }
    }

    func run() async throws {
        let started = ContinuousClock.now
        var rng = SplitMix64(seed: seed)
        let intents = try Self.intents(data: data, domains: domains, count: domainCount, learn: learn, rng: &rng)
        let traffic = (0..<requests).map { _ in
            let intent = intents.randomElement(using: &rng)!
            return LiftTraffic.Request(
                text: intent.pool.randomElement(using: &rng)!, intent: intent.name, domain: intent.domain, draw: Double.random(in: 0..<1, using: &rng)
            )
        }
        var logger = Logger(label: "rasi-bench")
        logger.logLevel = .critical // a cancelled upstream logs an error per connection still open
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)

        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 64
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        var upstream: Task<Void, any Error>?
        let report: LiftReport
        do {
            var reply = Script.Reply(content: "No tool handles this request.")
            reply.route = true
            let (upstreamURL, task) = try await GatewayBench.start(
                Application(
                    router: ScriptedModelServer.buildRouter(state: ScriptedModelState(script: Script(fallback: reply))),
                    configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "bench-lift-model"), logger: logger))
            upstream = task
            let tools = Dictionary(grouping: intents, by: \.domain).mapValues { LiftTraffic.tools($0.map(\.name)) }

            // The scripted model's own guess for every request, without lessons: the learn split's
            // failures, and each traffic request's counterfactual.
            var asked = Set(traffic.map(\.asked))
            for intent in intents { asked.formUnion(intent.learn.map { LiftTraffic.Asked(domain: intent.domain, text: $0) }) }
            Self.show("asking the scripted model for its own guess on \(asked.count) requests (\(intents.count) intents, \(tools.count) domains)")
            let guesses = try await LiftTraffic.guesses(http, model: upstreamURL, asked: Array(asked), tools: tools, clients: clients)
            let lessons = Self.lessons(intents, guesses: guesses, planted: planted, rng: &rng)
            Self.show(
                "learn split: \(intents.count * learn) requests, \(lessons.filter { $0.kind == .good }.count) routed wrong → good lessons; "
                    + "\(lessons.filter { $0.kind == .planted }.count) planted harmful lessons")

            let key = KeySecret.generate()
            var environment = GatewayBench.serveSettings(
                database: folder.appendingPathComponent("lift.sqlite").path, upstream: upstreamURL, key: key, model: model)
            environment.merge(
                [
                    "RASI_HOLDOUT": "\(holdout)", "RASI_LIFT_MIN_EXPOSURES": "\(minExposures)", "RASI_LESSONS_MAX": "1",
                    // Outcomes are the simulated users' thumbs only: each request is a conversation of its own.
                    "RASI_LIFT_NEGATIVE": "thumbs_down", "RASI_LESSON_EXAMPLES": "0"
                ]) { $1 }
            report = try await ServeProcess.serving(rasi ?? ServeProcess.siblingBinary, settings: environment, http: http) { server in
                let api = LiftAPI(http: http, url: server.url, key: key, agent: Self.agent)
                let stored = try await api.create(lessons)
                let simulation = LiftSimulation(
                    api: api, model: upstreamURL, tools: tools, guesses: guesses, lessons: stored, noise: noise, thumbsUp: thumbsUp)
                let learned = lessons.filter { $0.kind == .good }.count
                let setup = [
                    "intents": intents.count, "learn_requests": intents.count * learn, "learn_routed_wrong": learned, "good_lessons": learned,
                    "planted_lessons": lessons.count - learned,
                    "traffic_routed_right_without_lessons": traffic.filter { (guesses[$0.asked] ?? nil) == $0.intent }.count
                ]
                return try await simulation.run(
                    traffic, clients: clients, every: every, settings: settings(intents: intents), setup: setup, started: started)
            }
        } catch {
            try? await http.shutdown()
            upstream?.cancel()
            throw error
        }
        try await http.shutdown()
        upstream?.cancel()
        report.printSummary()
        try BenchOutput.write(report.json, to: out)
    }

    func settings(intents: [LiftIntent]) -> LiftReport.Settings {
        LiftReport.Settings(
            requests: requests, clients: clients, domains: Set(intents.map(\.domain)).sorted(), intents: intents.count,
            learnPerIntent: learn, planted: planted, noise: noise, thumbsUp: thumbsUp, holdout: holdout, minExposures: minExposures,
            lessonsMax: 1, seed: seed)
    }

    /// Writes a line to standard output at once (as `bench soak`): the table is worth reading while it runs.
    static func show(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    /// The first `count` domains by name, their intents in the file's order, each with its train
    /// and val requests shuffled: the first `learn` are its learn split, the rest its traffic's pool.
    static func intents(data: String, domains: String, count: Int, learn: Int, rng: inout SplitMix64) throws -> [LiftIntent] {
        let corpus = try RetrievalBench.load(data)
        guard let train = corpus["train"], let validation = corpus["val"] else { throw ValidationError("\(data) needs train and val") }
        guard let byDomain = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: domains))) as? [String: [String]] else {
            throw ValidationError("\(domains) is not {domain: [intent, ...]}")
        }
        let requests = Dictionary(grouping: train + validation, by: \.intent)
        var intents: [LiftIntent] = []
        for domain in byDomain.keys.sorted().prefix(count) {
            for name in byDomain[domain] ?? [] {
                let texts = (requests[name] ?? []).map(\.text).shuffled(using: &rng)
                guard texts.count > learn else { throw ValidationError("intent \(name) has \(texts.count) requests, not more than --learn \(learn)") }
                intents.append(LiftIntent(name: name, domain: domain, learn: Array(texts.prefix(learn)), pool: Array(texts.dropFirst(learn))))
            }
        }
        guard !intents.isEmpty else { throw ValidationError("\(domains) names no intents of \(data)") }
        return intents
    }

    /// A good lesson for each learn request the guess got wrong; harmful ones planted on intents
    /// whose learn requests it all got right (where a wrong tool truly hurts), each naming another
    /// tool of the intent's domain.
    static func lessons(_ intents: [LiftIntent], guesses: [LiftTraffic.Asked: String?], planted: Int, rng: inout SplitMix64) -> [LiftLesson] {
        var lessons: [LiftLesson] = []
        var clean: [LiftIntent] = []
        for intent in intents {
            let wrong = intent.learn.filter { guesses[LiftTraffic.Asked(domain: intent.domain, text: $0)] ?? nil != intent.name }
            lessons += wrong.map { LiftLesson(kind: .good, intent: intent.name, domain: intent.domain, tool: intent.name, situation: $0) }
            if wrong.isEmpty { clean.append(intent) }
        }
        for intent in clean.shuffled(using: &rng).prefix(planted) {
            let others = intents.filter { $0.domain == intent.domain && $0.name != intent.name }
            guard let tool = others.randomElement(using: &rng)?.name else { continue }
            lessons.append(LiftLesson(kind: .planted, intent: intent.name, domain: intent.domain, tool: tool, situation: intent.learn[0]))
        }
        if lessons.filter({ $0.kind == .planted }).count < planted {
            show("only \(clean.count) intents had every learn request routed right: \(min(clean.count, planted)) lessons planted")
        }
        return lessons
    }
}

/// One intent of the simulation: a tool of the agent, and the requests that want it.
struct LiftIntent {
    var name: String
    var domain: String
    var learn: [String]
    var pool: [String]
}

/// A lesson of the simulation, as the simulation knows it: good (from a learn-split failure, naming
/// the right tool) or planted (naming a wrong one).
struct LiftLesson: Sendable {
    enum Kind: String, Codable, Sendable {
        case good, planted
    }

    var kind: Kind
    /// The intent of its situation.
    var intent: String
    var domain: String
    /// The tool its correct behaviour names.
    var tool: String
    var situation: String
    var id = ""

    /// The lesson as `POST /api/v1/lessons` takes it.
    var body: JSONValue {
        [
            "agent": .string(LiftBench.agent), "topic": .string(intent), "situation": .string(situation),
            "should_have_done": .string("Call `\(tool)`."), "correct_behavior": .string("Call `\(tool)`.")
        ]
    }
}

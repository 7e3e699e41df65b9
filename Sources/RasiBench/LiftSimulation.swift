import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import RasiCore

/// The simulation's requests, the agent's tools, and the scripted model's own guess.
enum LiftTraffic {
    /// A request as one domain's agent gets it: its tools are that domain's intents.
    struct Asked: Hashable, Sendable {
        var domain: String
        var text: String
    }

    /// One request of the traffic, with the draw that decides its user's noise.
    struct Request: Sendable {
        var text: String
        var intent: String
        var domain: String
        /// Uniform in [0, 1): below `noise`, a right answer still gets a thumbs-down; then, below
        /// `noise + thumbsUp`, a thumbs-up.
        var draw: Double

        var asked: Asked { Asked(domain: domain, text: text) }
    }

    /// The intents as Chat Completions tools, in the file's order (the scripted model's guess
    /// takes the first of equally good tools); each described by its name's words only.
    static func tools(_ intents: [String]) -> JSONValue {
        .array(
            intents.map { name in
                [
                    "type": "function",
                    "function": [
                        "name": .string(name), "description": .string(name.replacingOccurrences(of: "_", with: " ")),
                        "parameters": ["type": "object", "properties": [:]]
                    ]
                ]
            })
    }

    static func body(_ text: String, tools: JSONValue) -> JSONValue {
        ["model": "bench", "messages": [["role": "user", "content": .string(text)]], "tools": tools]
    }

    /// The tool a Chat Completions answer calls; nil when it calls none.
    static func toolCalled(_ answer: JSONValue) -> String? {
        answer["choices"]?.arrayValue?.first?["message"]?["tool_calls"]?.arrayValue?.first?["function"]?["name"]?.stringValue
    }

    /// The scripted model's tool for each request without lessons, asked of it directly.
    static func guesses(
        _ http: HTTPClient, model: String, asked: [Asked], tools: [String: JSONValue], clients: Int
    ) async throws -> [Asked: String?] {
        try await withThrowingTaskGroup(of: [(Asked, String?)].self) { group in
            let lanes = max(clients, 8)
            for lane in 0..<lanes {
                group.addTask {
                    var found: [(Asked, String?)] = []
                    for index in stride(from: lane, to: asked.count, by: lanes) {
                        let item = asked[index]
                        let answer = try await LiftAPI.post(http, model + "/v1/chat/completions", body(item.text, tools: tools[item.domain] ?? []))
                        found.append((item, toolCalled(answer.json)))
                    }
                    return found
                }
            }
            var guesses: [Asked: String?] = [:]
            for try await part in group { for (item, tool) in part { guesses[item] = tool } }
            return guesses
        }
    }
}

/// rasi's API as the simulation uses it: one key (an admin key, so one key does everything), one agent.
struct LiftAPI: Sendable {
    var http: HTTPClient
    var url: String
    var key: String
    var agent: String

    typealias Answer = (json: JSONValue, data: Data, headers: HTTPHeaders)

    /// Sends a request; throws on any answer but 2xx.
    static func send(
        _ http: HTTPClient, _ method: HTTPMethod, _ url: String, body: JSONValue? = nil, headers: [(String, String)] = []
    ) async throws -> Answer {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: RasiJSON.canonical(body)))
        }
        let response = try await http.execute(request, timeout: .seconds(60))
        let data = Data(buffer: try await response.body.collect(upTo: 8 << 20))
        guard (200..<300).contains(response.status.code) else {
            throw ValidationError("\(method) \(url) answered \(response.status.code): \(String(decoding: data.prefix(300), as: UTF8.self))")
        }
        let json = data.isEmpty ? JSONValue.null : try JSONDecoder().decode(JSONValue.self, from: data)
        return (json, data, response.headers)
    }

    static func post(_ http: HTTPClient, _ url: String, _ body: JSONValue) async throws -> Answer {
        try await send(http, .POST, url, body: body)
    }

    func send(_ method: HTTPMethod, _ path: String, body: JSONValue? = nil, headers: [(String, String)] = []) async throws -> Answer {
        try await Self.send(http, method, url + path, body: body, headers: [("Authorization", "Bearer \(key)")] + headers)
    }

    /// Creates the lessons as a reviewer does (so they are active at once); returns them with their ids.
    func create(_ lessons: [LiftLesson]) async throws -> [LiftLesson] {
        var created: [LiftLesson] = []
        for var lesson in lessons {
            let answer = try await send(.POST, "/api/v1/lessons", body: lesson.body)
            guard let id = answer.json["id"]?.stringValue else { throw ValidationError("POST /api/v1/lessons answered no id") }
            lesson.id = id
            created.append(lesson)
        }
        return created
    }

    /// One gateway call in a conversation of its own: the interaction, the lessons injected, the tool called.
    func chat(_ text: String, tools: JSONValue, conversation: String) async throws -> (interaction: String, injected: [String], tool: String?) {
        let answer = try await send(
            .POST, "/v1/chat/completions", body: LiftTraffic.body(text, tools: tools),
            headers: [("X-RASI-Agent", agent), ("X-RASI-Conversation", conversation)])
        guard let interaction = answer.headers.first(name: "X-RASI-Interaction") else {
            throw ValidationError("a gateway answer had no X-RASI-Interaction")
        }
        let injected = (answer.headers.first(name: "X-RASI-Lessons") ?? "").split(separator: ",").map {
            $0.trimmingCharacters(in: .whitespaces)
        }
        return (interaction, injected, LiftTraffic.toolCalled(answer.json))
    }

    /// The lessons the holdout withheld from an interaction.
    func withheld(_ interaction: String) async throws -> [String] {
        try await send(.GET, "/api/v1/interactions/\(interaction)").json["lessons_withheld"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    func feedback(_ interaction: String, rating: String) async throws {
        _ = try await send(.POST, "/api/v1/interactions/\(interaction)/feedback", body: ["rating": .string(rating)])
    }

    func agentLift() async throws -> Lift {
        try JSONDecoder().decode(Lift.self, from: try await send(.GET, "/api/v1/agents/\(agent)/lift").data)
    }

    func lessonLift(_ id: String) async throws -> Lift {
        try JSONDecoder().decode(Lift.self, from: try await send(.GET, "/api/v1/lessons/\(id)/lift").data)
    }

    /// The agent's retired lessons, every page.
    func retired() async throws -> [Lesson] {
        var lessons: [Lesson] = []
        var cursor: String?
        repeat {
            let page = try await send(.GET, "/api/v1/lessons?agent=\(agent)&status=retired&limit=200" + (cursor.map { "&cursor=\($0)" } ?? ""))
            lessons += try RasiJSON.decoder().decode(Page.self, from: page.data).lessons
            cursor = page.json["next_cursor"]?.stringValue
        } while cursor != nil
        return lessons
    }

    struct Page: Decodable {
        var lessons: [Lesson]
    }
}

/// The simulated users and the ground truth: plays the traffic through rasi in blocks, and after
/// each block compares what rasi measured and retired with what the simulation knows.
struct LiftSimulation: Sendable {
    var api: LiftAPI
    var model: String
    var tools: [String: JSONValue]
    var guesses: [LiftTraffic.Asked: String?]
    var lessons: [LiftLesson]
    var noise: Double
    var thumbsUp: Double

    /// One request played: what rasi did, what the user said, and what the simulation knows of it.
    struct Played: Sendable {
        var lesson: String?
        var arm: ExposureArm?
        /// The tool called, and the tool the simulation expected to be called.
        var tool: String?
        var expected: String?
        var rating: String?
        /// The true chance of a negative outcome as served, and without any lesson.
        var served: Double
        var unaided: Double
        /// With a lesson exposed, its true effect on that chance: with it minus without it.
        var effect: Double?
    }

    func chanceOfNegative(_ tool: String?, intent: String) -> Double { tool == intent ? noise : 1 }

    func play(_ request: LiftTraffic.Request, number: Int, byId: [String: LiftLesson]) async throws -> Played {
        let declared = tools[request.domain] ?? []
        let answer = try await api.chat(request.text, tools: declared, conversation: "lift-\(number)")
        var lessonId = answer.injected.first
        var arm: ExposureArm? = lessonId == nil ? nil : .treatment
        if lessonId == nil, let withheld = try await api.withheld(answer.interaction).first {
            (lessonId, arm) = (withheld, .control)
        }
        let unaided = guesses[request.asked] ?? nil
        var expected = unaided
        var effect: Double?
        if let lesson = lessonId.flatMap({ byId[$0] }) {
            // With the lesson, the model calls the lesson's tool if the request declares it, else guesses.
            let declares = declared.arrayValue?.contains { $0["function"]?["name"]?.stringValue == lesson.tool } ?? false
            let aided = declares ? lesson.tool : unaided
            if arm == .treatment { expected = aided }
            effect = chanceOfNegative(aided, intent: request.intent) - chanceOfNegative(unaided, intent: request.intent)
        }
        let rating: String?
        if answer.tool != request.intent || request.draw < noise {
            rating = "down"
        } else {
            rating = request.draw < noise + thumbsUp ? "up" : nil
        }
        if let rating { try await api.feedback(answer.interaction, rating: rating) }
        return Played(
            lesson: lessonId, arm: arm, tool: answer.tool, expected: expected, rating: rating,
            served: chanceOfNegative(answer.tool, intent: request.intent), unaided: chanceOfNegative(unaided, intent: request.intent),
            effect: effect)
    }

    /// Plays the traffic in blocks of `every` requests from `clients` clients; after each block,
    /// reads rasi's lift and retirements.
    func run(
        _ traffic: [LiftTraffic.Request], clients: Int, every: Int, settings: LiftReport.Settings, setup: [String: Int],
        started: ContinuousClock.Instant
    ) async throws -> LiftReport {
        let byId = Dictionary(uniqueKeysWithValues: lessons.map { ($0.id, $0) })
        var ledger = LiftLedger()
        var retirements: [String: LiftReport.Retirement] = [:]
        var rows: [LiftReport.Row] = []
        LiftBench.show("requests  exposures t/c   planted retired  good retired   measured difference [95% interval]  true difference  agrees")
        for start in stride(from: 0, to: traffic.count, by: every) {
            let end = min(start + every, traffic.count)
            let played = try await withThrowingTaskGroup(of: [Played].self) { group in
                for client in 0..<clients {
                    group.addTask {
                        var mine: [Played] = []
                        for number in stride(from: start + client, to: end, by: clients) {
                            mine.append(try await play(traffic[number], number: number, byId: byId))
                        }
                        return mine
                    }
                }
                var all: [Played] = []
                for try await part in group { all += part }
                return all
            }
            for item in played { ledger.add(item) }
            // The scripted model keeps every request it answers: cleared, so the bench's memory stays flat.
            _ = try? await LiftAPI.send(api.http, .DELETE, model + "/_scripted/requests")

            for lesson in try await api.retired() where retirements[lesson.id] == nil {
                retirements[lesson.id] = LiftReport.Retirement(lesson, known: byId[lesson.id], seenBy: end)
            }
            let measured = try await api.agentLift()
            let row = LiftReport.Row(
                requests: end, measured: measured, trueDifference: ledger.trueDifference,
                plantedRetired: retirements.values.filter { $0.kind == .planted }.count,
                goodRetired: retirements.values.filter { $0.kind == .good }.count,
                agrees: measured.treatment == ledger.treatment && measured.control == ledger.control)
            rows.append(row)
            LiftBench.show(row.line)
        }
        // Each lesson's own figures, as rasi counts them, against the simulation's count.
        var disagreeing: [String] = []
        for lesson in lessons {
            let lift = try await api.lessonLift(lesson.id)
            let own = ledger.lessons[lesson.id] ?? LiftLedger.LessonTally()
            if lift.treatment != own.treatment || lift.control != own.control { disagreeing.append(lesson.id) }
        }
        return LiftReport(
            settings: settings, lessons: lessons, setup: setup, ledger: ledger, retirements: retirements, rows: rows, lessonsDisagreeing: disagreeing,
            seconds: (ContinuousClock.now - started).seconds)
    }
}

/// The simulation's own count of everything played.
struct LiftLedger {
    struct LessonTally {
        var treatment = LiftArm(exposures: 0, negative: 0, positive: 0)
        var control = LiftArm(exposures: 0, negative: 0, positive: 0)
        var effect = 0.0

        var exposures: Int { treatment.exposures + control.exposures }
        /// The lesson's true lift over the traffic it got.
        var trueLift: Double? { exposures == 0 ? nil : effect / Double(exposures) }

        mutating func add(_ played: LiftSimulation.Played) {
            let negative = played.rating == "down" ? 1 : 0
            let positive = played.rating == "up" ? 1 : 0
            switch played.arm {
            case .treatment:
                treatment = LiftArm(
                    exposures: treatment.exposures + 1, negative: treatment.negative + negative, positive: treatment.positive + positive)
            case .control:
                control = LiftArm(exposures: control.exposures + 1, negative: control.negative + negative, positive: control.positive + positive)
            case nil: return
            }
            effect += played.effect ?? 0
        }
    }

    var requests = 0
    var thumbsDown = 0
    var thumbsUp = 0
    var served = 0.0
    var unaided = 0.0
    /// Calls whose tool was not the one the simulation expected.
    var mismatches = 0
    /// The agent's exposures, pooled over its lessons (as rasi pools them).
    var agent = LessonTally()
    var lessons: [String: LessonTally] = [:]

    var treatment: LiftArm { agent.treatment }
    var control: LiftArm { agent.control }
    var trueDifference: Double? { agent.trueLift }

    mutating func add(_ played: LiftSimulation.Played) {
        requests += 1
        if played.rating == "down" { thumbsDown += 1 }
        if played.rating == "up" { thumbsUp += 1 }
        served += played.served
        unaided += played.unaided
        if played.tool != played.expected { mismatches += 1 }
        guard let lesson = played.lesson else { return }
        agent.add(played)
        lessons[lesson, default: LessonTally()].add(played)
    }
}

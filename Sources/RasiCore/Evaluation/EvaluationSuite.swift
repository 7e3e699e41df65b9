import Foundation

/// A task suite for `rasi eval`: requests to an agent, each checked by the tools it must call
/// or by the judge against a rubric, split into what the loop learns from and what it is tested on.
///
/// JSONL, one object a line, told apart by `type` (`task` when absent):
/// ```
/// {"type": "agent", "name": "router", "instructions": "Route each request to one tool."}
/// {"type": "tool", "agent": "router", "name": "book_flight", "description": "Book a flight", "parameters": {...}}
/// {"id": "t1", "agent": "router", "request": "get me a plane ticket to Oslo", "expected_tools": ["book_flight"], "split": "learn"}
/// {"id": "t2", "agent": "router", "request": "tell me a joke", "expected_tools": [], "split": "test"}
/// {"id": "t3", "request": "my gut hurts and I am tired", "rubric": "Considers minerals as a cause", "split": "test"}
/// ```
/// `expected_tools: []` expects no tool call. A task may give a rubric instead, or both.
public struct EvaluationSuite: Sendable, Equatable {
    public struct AgentSpec: Codable, Sendable, Equatable {
        public var name: String
        public var instructions: String
    }

    public struct ToolSpec: Codable, Sendable, Equatable {
        public var agent: String
        public var name: String
        public var description: String
        /// A JSON schema of the arguments; an object with no properties when absent.
        public var parameters: JSONValue?

        public init(agent: String, name: String, description: String, parameters: JSONValue? = nil) {
            self.agent = agent
            self.name = name
            self.description = description
            self.parameters = parameters
        }
    }

    public enum Split: String, Codable, Sendable, CaseIterable {
        case learn
        case test
    }

    public struct Task: Codable, Sendable, Equatable {
        public var id: String
        public var agent: String
        public var request: String
        /// The tools the agent must call (any order, each at least once, no others); empty means none.
        public var expectedTools: [String]?
        /// What the judge checks the answer against, when there are no expected tools (or as well).
        public var rubric: String?
        public var split: Split

        public init(id: String, agent: String = "default", request: String, expectedTools: [String]? = nil, rubric: String? = nil, split: Split) {
            self.id = id
            self.agent = agent
            self.request = request
            self.expectedTools = expectedTools
            self.rubric = rubric
            self.split = split
        }

        enum CodingKeys: String, CodingKey {
            case id, agent, request, rubric, split
            case expectedTools = "expected_tools"
        }
    }

    public var agents: [AgentSpec]
    public var tools: [ToolSpec]
    public var tasks: [Task]

    public init(agents: [AgentSpec] = [], tools: [ToolSpec] = [], tasks: [Task] = []) {
        self.agents = agents
        self.tools = tools
        self.tasks = tasks
    }

    public func instructions(of agent: String) -> String {
        agents.first { $0.name == agent }?.instructions ?? "You are a helpful assistant. Use a tool when one fits the request."
    }

    public func tools(of agent: String) -> [ToolSpec] {
        tools.filter { $0.agent == agent }
    }

    /// Reads a suite, naming the line and field of the first thing wrong.
    public static func parse(jsonl text: String) throws -> EvaluationSuite {
        var suite = EvaluationSuite()
        var ids = Set<String>()
        for (index, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty else { continue }
            let at = "line \(index + 1)"
            guard let json = try? JSONValue(parsing: line), let object = json.objectValue else {
                throw RasiError.invalidField(at, "is not a JSON object")
            }
            func text(_ key: String, required: Bool = true) throws -> String? {
                guard let value = object[key], value != .null else {
                    if required { throw RasiError.invalidField("\(at): \(key)", "is required") }
                    return nil
                }
                guard let string = value.stringValue, !string.trimmingCharacters(in: .whitespaces).isEmpty else {
                    throw RasiError.invalidField("\(at): \(key)", "must be a non-empty string")
                }
                return string
            }
            switch object["type"]?.stringValue ?? "task" {
            case "agent":
                suite.agents.append(AgentSpec(name: try text("name")!, instructions: try text("instructions")!))
            case "tool":
                let parameters = object["parameters"]
                if let parameters, parameters.objectValue == nil { throw RasiError.invalidField("\(at): parameters", "must be a JSON schema object") }
                suite.tools.append(
                    ToolSpec(
                        agent: try text("agent", required: false) ?? "default", name: try text("name")!,
                        description: try text("description")!, parameters: parameters))
            case "task":
                let id = try text("id")!
                guard ids.insert(id).inserted else { throw RasiError.invalidField("\(at): id", "\(id) is used twice") }
                var expected: [String]?
                if let value = object["expected_tools"], value != .null {
                    guard let list = value.arrayValue, list.allSatisfy({ $0.stringValue != nil }) else {
                        throw RasiError.invalidField("\(at): expected_tools", "must be a list of tool names")
                    }
                    expected = list.compactMap(\.stringValue)
                }
                let rubric = try text("rubric", required: false)
                guard expected != nil || rubric != nil else {
                    throw RasiError.invalidField("\(at): expected_tools", "a task needs expected_tools or a rubric")
                }
                guard let split = Split(rawValue: try text("split")!) else {
                    throw RasiError.invalidField("\(at): split", "must be learn or test")
                }
                suite.tasks.append(
                    Task(
                        id: id, agent: try text("agent", required: false) ?? "default", request: try text("request")!,
                        expectedTools: expected, rubric: rubric, split: split))
            case let other:
                throw RasiError.invalidField("\(at): type", "must be task, tool or agent, got \(other)")
            }
        }
        guard !suite.tasks.isEmpty else { throw RasiError.invalidField("suite", "has no tasks") }
        for task in suite.tasks {
            let known = Set(suite.tools(of: task.agent).map(\.name))
            if let unknown = task.expectedTools?.first(where: { !known.contains($0) }) {
                throw RasiError.invalidField("task \(task.id): expected_tools", "names \(unknown), which agent \(task.agent) has no tool for")
            }
        }
        return suite
    }

    /// The suite as JSONL, agents and tools first.
    public func jsonl() -> String {
        var lines: [Data] = []
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for agent in agents {
            lines.append(RasiJSON.canonical(["type": "agent", "name": .string(agent.name), "instructions": .string(agent.instructions)]))
        }
        for tool in tools {
            var object: [String: JSONValue] = [
                "type": "tool", "agent": .string(tool.agent), "name": .string(tool.name), "description": .string(tool.description)
            ]
            if let parameters = tool.parameters { object["parameters"] = parameters }
            lines.append(RasiJSON.canonical(.object(object)))
        }
        for task in tasks { lines.append((try? encoder.encode(task)) ?? Data()) }
        return lines.map { String(decoding: $0, as: UTF8.self) }.joined(separator: "\n") + "\n"
    }
}

import Foundation

/// Guidance merged by the judge's model from lessons that were chosen together but
/// contradict each other: cached by the exact lesson versions, and kept as the merge's log.
public struct Synthesis: Codable, Sendable, Equatable {
    /// The lesson versions merged, `ID@VERSION`, sorted and comma-joined.
    public var key: String
    public var agent: String
    public var prompt: [JSONValue]
    public var output: String
    public var model: String
    public var tokens: TokenUsage
    public var createdAt: Date

    public init(key: String, agent: String, prompt: [JSONValue], output: String, model: String, tokens: TokenUsage, createdAt: Date) {
        self.key = key
        self.agent = agent
        self.prompt = prompt
        self.output = output
        self.model = model
        self.tokens = tokens
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case key, agent, prompt, output, model, tokens
        case createdAt = "created_at"
    }

    public static func key(_ lessons: [Lesson]) -> String {
        lessons.map { "\($0.id)@\($0.version)" }.sorted().joined(separator: ",")
    }
}

/// The prompts for the judge's model when it edits lessons rather than judging a turn.
public enum LessonEditorPrompt {
    static func describe(_ lesson: Lesson) -> String {
        """
        Lesson \(lesson.id) (\(lesson.polarity.rawValue), confidence \(String(format: "%.2f", lesson.confidence)), \
        last changed \(Timestamp.format(lesson.updatedAt))):
        Situation: \(lesson.situation)
        Did: \(lesson.did)
        Should have done: \(lesson.shouldHaveDone)
        Why: \(lesson.why)
        Correct behaviour: \(lesson.correctBehavior)
        """
    }

    /// Merge lessons that disagree into one consistent block of guidance.
    public static func synthesis(_ lessons: [Lesson]) -> [JSONValue] {
        [
            .object([
                "role": "system",
                "content": .string(
                    """
                    You are rasi's lesson editor. Several reviewed lessons apply to the same request but disagree \
                    in part. Merge them into one consistent block of guidance for the agent: keep what they agree on, \
                    and where they conflict follow the more confident and more recent lesson, saying when the other \
                    applies if it still does. Answer with the guidance only, as short imperative sentences, no preamble.
                    """)
            ]),
            .object(["role": "user", "content": .string(lessons.map(describe).joined(separator: "\n\n"))])
        ]
    }

    /// Ask whether two lessons about similar situations contradict each other.
    public static func conflictCheck(_ a: Lesson, _ b: Lesson) -> [JSONValue] {
        [
            .object([
                "role": "system",
                "content": .string(
                    """
                    You are rasi's lesson editor. Two lessons apply to similar situations. Say whether following one \
                    would mean breaking the other. Answer with one JSON object and nothing else: \
                    {"contradict": true or false, "reason": "one sentence"}
                    """)
            ]),
            .object(["role": "user", "content": .string(describe(a) + "\n\n" + describe(b))])
        ]
    }

    /// The model's answer to `conflictCheck`: whether they contradict, and why; nil when unreadable.
    public static func parseConflictCheck(_ reply: String) -> (contradict: Bool, reason: String)? {
        guard let json = JudgeVerdict.extractObject(reply), let contradict = json["contradict"]?.boolValue else { return nil }
        return (contradict, json["reason"]?.stringValue ?? "")
    }

    /// Ask for other ways users would ask for what a lesson covers, and near misses where it must not apply.
    public static func examples(_ lesson: Lesson, count: Int) -> [JSONValue] {
        let known = ([lesson.situation] + lesson.examples.map(\.text)).map { "- " + $0 }.joined(separator: "\n")
        return [
            .object([
                "role": "system",
                "content": .string(
                    """
                    You are rasi's lesson editor. A lesson tells an agent how to handle a kind of request. Write \(count) \
                    other ways real users would ask for the same thing (varied wording, short, as a user would type them), \
                    and up to 3 near misses: requests that look alike but where the lesson must not apply. Answer with one \
                    JSON object and nothing else: {"examples": ["..."], "counter_examples": ["..."]}
                    """)
            ]),
            .object(["role": "user", "content": .string(describe(lesson) + "\nRequests it already matches:\n" + known)])
        ]
    }

    /// The model's answer to `examples`, validated: at least one example, each request a
    /// non-empty string of at most `LessonExample.maxLength` characters; at most `count`
    /// examples and 3 counter-examples are kept. Throws naming what was wrong.
    public static func parseExamples(_ reply: String, count: Int) throws(JudgeOutputError) -> (examples: [String], counterExamples: [String]) {
        guard let json = JudgeVerdict.extractObject(reply) else { throw JudgeOutputError("the reply holds no JSON object") }
        func texts(_ name: String, required: Bool) throws(JudgeOutputError) -> [String] {
            guard let value = json[name] else {
                if required { throw JudgeOutputError("`\(name)` is missing") }
                return []
            }
            guard let items = value.arrayValue else { throw JudgeOutputError("`\(name)` must be a list of strings") }
            var found: [String] = []
            for (i, item) in items.enumerated() {
                guard let text = item.stringValue?.trimmingCharacters(in: .whitespacesAndNewlines), !text.isEmpty else {
                    throw JudgeOutputError("`\(name)[\(i)]` must be a non-empty string")
                }
                guard text.count <= LessonExample.maxLength else {
                    throw JudgeOutputError("`\(name)[\(i)]` must be at most \(LessonExample.maxLength) characters")
                }
                found.append(text)
            }
            return found
        }
        let examples = try texts("examples", required: true)
        guard !examples.isEmpty else { throw JudgeOutputError("`examples` is empty") }
        return (Array(examples.prefix(count)), Array(try texts("counter_examples", required: false).prefix(3)))
    }
}

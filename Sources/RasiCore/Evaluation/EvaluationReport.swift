import Foundation

/// What the agent did on one task in one run of `rasi eval`, and whether it passed.
public struct EvaluationAttempt: Codable, Sendable, Equatable {
    public var passed: Bool
    /// The tools the agent called, in order.
    public var tools: [String]
    public var answer: String?
    public var interactionId: String?
    /// The lessons injected before the agent reasoned, and their size in tokens.
    public var lessons: [String]
    public var injectedTokens: Int
    /// Why it failed: the checker's or the judge's reason, or the error.
    public var reason: String?

    public init(
        passed: Bool, tools: [String] = [], answer: String? = nil, interactionId: String? = nil, lessons: [String] = [],
        injectedTokens: Int = 0, reason: String? = nil
    ) {
        self.passed = passed
        self.tools = tools
        self.answer = answer
        self.interactionId = interactionId
        self.lessons = lessons
        self.injectedTokens = injectedTokens
        self.reason = reason
    }

    enum CodingKeys: String, CodingKey {
        case passed, tools, answer, lessons, reason
        case interactionId = "interaction_id"
        case injectedTokens = "injected_tokens"
    }
}

/// The deterministic checker for tasks with expected tools.
public enum ToolCheck {
    /// Nil when the calls match: every expected tool called, nothing else (repeats allowed).
    public static func mismatch(called: [String], expected: [String]) -> String? {
        guard Set(called) != Set(expected) else { return nil }
        let did = called.isEmpty ? "called no tool" : "called " + called.joined(separator: ", ")
        let should = expected.isEmpty ? "no tool" : expected.joined(separator: ", ")
        return "\(did); expected \(should)"
    }
}

/// The learning curve of the loop on a suite: each round runs every task, then the next batch
/// of lessons (from the `learn` split's baseline failures) is added, until the last round.
public struct EvaluationReport: Codable, Sendable, Equatable {
    public struct Point: Codable, Sendable, Equatable {
        /// Lessons created by this evaluation that were live in this round.
        public var lessons: Int
        public var passRate: [String: Double]

        enum CodingKeys: String, CodingKey {
            case lessons
            case passRate = "pass_rate"
        }
    }

    public struct SplitSummary: Codable, Sendable, Equatable {
        public var tasks: Int
        public var passedBefore: Int
        public var passedAfter: Int
        public var passRateBefore: Double
        public var passRateAfter: Double
        /// Tasks that failed at baseline and pass at the end, and the reverse.
        public var fixed: [String]
        public var broken: [String]
        public var injectedTokensPerRequestBefore: Double
        public var injectedTokensPerRequestAfter: Double
        public var lessonsPerRequestAfter: Double

        enum CodingKeys: String, CodingKey {
            case tasks, fixed, broken
            case passedBefore = "passed_before"
            case passedAfter = "passed_after"
            case passRateBefore = "pass_rate_before"
            case passRateAfter = "pass_rate_after"
            case injectedTokensPerRequestBefore = "injected_tokens_per_request_before"
            case injectedTokensPerRequestAfter = "injected_tokens_per_request_after"
            case lessonsPerRequestAfter = "lessons_per_request_after"
        }
    }

    public struct TaskResult: Codable, Sendable, Equatable {
        public var id: String
        public var split: EvaluationSuite.Split
        public var request: String
        public var expectedTools: [String]?
        /// One attempt per round, the baseline first.
        public var attempts: [EvaluationAttempt]

        public init(id: String, split: EvaluationSuite.Split, request: String, expectedTools: [String]?, attempts: [EvaluationAttempt]) {
            self.id = id
            self.split = split
            self.request = request
            self.expectedTools = expectedTools
            self.attempts = attempts
        }

        enum CodingKeys: String, CodingKey {
            case id, split, request, attempts
            case expectedTools = "expected_tools"
        }
    }

    public var id: String
    public var suite: String
    public var model: String
    public var endpoint: String
    public var createdAt: Date
    public var lessonsCreated: Int
    public var lessonIds: [String]
    public var curve: [Point]
    public var splits: [String: SplitSummary]
    public var results: [TaskResult]

    enum CodingKeys: String, CodingKey {
        case id, suite, model, endpoint, curve, splits, results
        case createdAt = "created_at"
        case lessonsCreated = "lessons_created"
        case lessonIds = "lesson_ids"
    }

    /// The report of finished rounds: `lessonsLive[i]` lessons were live during round `i`.
    public init(
        id: String = Identifier.make("eval"), suite: String, model: String, endpoint: String, createdAt: Date = Date(),
        lessonIds: [String], lessonsLive: [Int], results: [TaskResult]
    ) {
        self.id = id
        self.suite = suite
        self.model = model
        self.endpoint = endpoint
        self.createdAt = createdAt
        self.lessonIds = lessonIds
        self.lessonsCreated = lessonIds.count
        self.results = results
        let splits = EvaluationSuite.Split.allCases.filter { split in results.contains { $0.split == split } }
        curve = lessonsLive.enumerated().map { round, lessons in
            Point(
                lessons: lessons,
                passRate: Dictionary(
                    uniqueKeysWithValues: splits.map { split in
                        (split.rawValue, Self.passRate(results.filter { $0.split == split }.map { $0.attempts[round] }))
                    }))
        }
        var summaries: [String: SplitSummary] = [:]
        for split in splits {
            let tasks = results.filter { $0.split == split }
            let before = tasks.map { $0.attempts.first! }
            let after = tasks.map { $0.attempts.last! }
            func perRequest(_ attempts: [EvaluationAttempt], _ value: (EvaluationAttempt) -> Int) -> Double {
                attempts.isEmpty ? 0 : Double(attempts.map(value).reduce(0, +)) / Double(attempts.count)
            }
            summaries[split.rawValue] = SplitSummary(
                tasks: tasks.count, passedBefore: before.filter(\.passed).count, passedAfter: after.filter(\.passed).count,
                passRateBefore: Self.passRate(before), passRateAfter: Self.passRate(after),
                fixed: tasks.filter { !$0.attempts.first!.passed && $0.attempts.last!.passed }.map(\.id),
                broken: tasks.filter { $0.attempts.first!.passed && !$0.attempts.last!.passed }.map(\.id),
                injectedTokensPerRequestBefore: perRequest(before, \.injectedTokens),
                injectedTokensPerRequestAfter: perRequest(after, \.injectedTokens),
                lessonsPerRequestAfter: perRequest(after) { $0.lessons.count })
        }
        self.splits = summaries
    }

    /// The share of attempts that passed, to four decimals; 0 for none.
    public static func passRate(_ attempts: [EvaluationAttempt]) -> Double {
        attempts.isEmpty ? 0 : (Double(attempts.filter(\.passed).count) / Double(attempts.count) * 10_000).rounded() / 10_000
    }

    /// The report's lines for a terminal.
    public var summaryLines: [String] {
        var lines = ["rasi eval \(suite) on \(model): \(results.count) tasks, \(lessonsCreated) lessons created"]
        for (name, split) in splits.sorted(by: { $0.key < $1.key }) {
            lines.append(
                String(
                    format: "  %@: pass rate %.1f%% -> %.1f%% (%d/%d -> %d/%d), fixed %d, broken %d, injected tokens/request %.0f -> %.0f",
                    name, split.passRateBefore * 100, split.passRateAfter * 100, split.passedBefore, split.tasks,
                    split.passedAfter, split.tasks, split.fixed.count, split.broken.count,
                    split.injectedTokensPerRequestBefore, split.injectedTokensPerRequestAfter))
        }
        return lines
    }
}

import Foundation

/// One question the judge answers about a turn, with a short name it is reported under.
public struct RubricItem: Codable, Sendable, Equatable {
    public var name: String
    public var question: String

    public init(name: String, question: String) {
        self.name = name
        self.question = question
    }
}

/// What the judge checks. The defaults are rasi's; configuration can add items.
public struct JudgeRubric: Sendable, Equatable {
    public var items: [RubricItem]

    public static let defaultItems = [
        RubricItem(
            name: "tools",
            question:
                "Did the agent call the right tools, with the right arguments, and use their results correctly? "
                + "(No tool needed and none called counts as met.)"
        ),
        RubricItem(
            name: "reasoning", question: "Was the agent's reasoning sound: no unsupported leaps, no misplaced confidence, no ignored evidence?"),
        RubricItem(name: "need", question: "Did the answer meet what the user needed, not only what they literally typed?")
    ]

    public init(extra: [RubricItem] = []) {
        items = Self.defaultItems + extra.filter { item in !Self.defaultItems.contains { $0.name == item.name } }
    }

    /// Extra items, one per line as `name: question`; blank lines and lines starting with # are skipped.
    public static func parseItems(_ text: String) throws -> [RubricItem] {
        try text.split(whereSeparator: \.isNewline).compactMap { raw in
            let line = raw.trimmingCharacters(in: .whitespaces)
            guard !line.isEmpty, !line.hasPrefix("#") else { return nil }
            guard let colon = line.firstIndex(of: ":") else {
                throw RasiError.invalidField("RASI_JUDGE_RUBRIC", "each line must be `name: question`, got \"\(line)\"")
            }
            let name = line[..<colon].trimmingCharacters(in: .whitespaces)
            let question = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, !question.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw RasiError.invalidField("RASI_JUDGE_RUBRIC", "each line must be `name: question` with a one-word name, got \"\(line)\"")
            }
            return RubricItem(name: name, question: question)
        }
    }
}

/// The lesson the judge proposes for a problem it found.
public struct ProposedLesson: Codable, Sendable, Equatable {
    public var situation: String
    public var did: String
    public var shouldHaveDone: String
    public var why: String
    public var correctBehavior: String
    public var topic: String?
    public var confidence: Double
    public var polarity: Polarity

    enum CodingKeys: String, CodingKey {
        case situation, did, why, topic, confidence, polarity
        case shouldHaveDone = "should_have_done"
        case correctBehavior = "correct_behavior"
    }

    /// The lesson's fields for the interaction it came from: `proposed` unless its confidence
    /// reaches the configured auto-approval level.
    public func fields(for interaction: Interaction, autoApproveAt: Double?) -> LessonFields {
        LessonFields(
            agent: interaction.agent, topic: topic, situation: situation, did: did, shouldHaveDone: shouldHaveDone, why: why,
            correctBehavior: correctBehavior, polarity: polarity,
            status: autoApproveAt.map { confidence >= $0 } == true ? .active : .proposed,
            confidence: confidence, sourceInteractionId: interaction.id)
    }
}

/// The judge's structured answer about one turn.
public struct JudgeVerdict: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable, CaseIterable {
        case ok
        case problem
    }

    public struct Score: Codable, Sendable, Equatable {
        public var item: String
        /// 1 (failed) to 5 (fully met).
        public var score: Int
        public var comment: String
    }

    public var verdict: Outcome
    public var summary: String
    public var rubric: [Score]
    public var lesson: ProposedLesson?
}

/// Why a judge's output was refused; the message is shown to the model on the retry.
public struct JudgeOutputError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public var description: String { message }

    init(_ message: String) {
        self.message = message
    }
}

extension JudgeVerdict {
    /// Parses and validates a judge's reply against the schema and the rubric. A code fence
    /// around the JSON is tolerated; anything else that is not the schema is an error that
    /// names the field.
    public static func parse(_ reply: String, rubric: JudgeRubric) throws(JudgeOutputError) -> JudgeVerdict {
        guard let json = extractObject(reply) else { throw JudgeOutputError("the reply is not a JSON object") }
        guard let verdictText = json["verdict"]?.stringValue else { throw JudgeOutputError("`verdict` is required: \"ok\" or \"problem\"") }
        guard let verdict = Outcome(rawValue: verdictText.lowercased()) else {
            throw JudgeOutputError("`verdict` must be \"ok\" or \"problem\", got \"\(verdictText)\"")
        }
        let summary = try text(json, "summary", required: false) ?? ""
        guard let items = json["rubric"]?.arrayValue else {
            throw JudgeOutputError("`rubric` must be a list with one entry per rubric item: " + rubric.items.map(\.name).joined(separator: ", "))
        }
        var scores: [Score] = []
        for (index, entry) in items.enumerated() {
            guard let name = entry["item"]?.stringValue else { throw JudgeOutputError("`rubric[\(index)].item` must be a string") }
            guard rubric.items.contains(where: { $0.name == name }) else {
                throw JudgeOutputError(
                    "`rubric[\(index)].item` \"\(name)\" is not a rubric item; the items are " + rubric.items.map(\.name).joined(separator: ", "))
            }
            guard let number = entry["score"]?.numberValue, number == number.rounded(), (1...5).contains(number) else {
                throw JudgeOutputError("`rubric[\(index)].score` must be a whole number from 1 to 5")
            }
            let comment = try text(entry, "comment", path: "rubric[\(index)].comment", required: true) ?? ""
            if !scores.contains(where: { $0.item == name }) { scores.append(Score(item: name, score: Int(number), comment: comment)) }
        }
        let missing = rubric.items.map(\.name).filter { name in !scores.contains { $0.item == name } }
        guard missing.isEmpty else { throw JudgeOutputError("`rubric` is missing the items " + missing.joined(separator: ", ")) }

        var lesson: ProposedLesson?
        if let object = json["lesson"], object != .null {
            guard object.objectValue != nil else { throw JudgeOutputError("`lesson` must be an object or null") }
            lesson = try proposedLesson(object)
        }
        if verdict == .problem && lesson == nil { throw JudgeOutputError("a \"problem\" verdict needs a `lesson`") }
        return JudgeVerdict(verdict: verdict, summary: summary, rubric: scores, lesson: lesson)
    }

    static func proposedLesson(_ json: JSONValue) throws(JudgeOutputError) -> ProposedLesson {
        func required(_ name: String) throws(JudgeOutputError) -> String {
            try text(json, name, path: "lesson.\(name)", required: true) ?? ""
        }
        let confidence: Double
        if let value = json["confidence"], value != .null {
            guard let number = value.numberValue, (0...1).contains(number) else {
                throw JudgeOutputError("`lesson.confidence` must be a number from 0 to 1")
            }
            confidence = number
        } else {
            confidence = 0.5
        }
        var polarity = Polarity.negative
        if let text = json["polarity"]?.stringValue {
            guard let parsed = Polarity(rawValue: text) else { throw JudgeOutputError("`lesson.polarity` must be \"negative\" or \"positive\"") }
            polarity = parsed
        }
        let topic = try text(json, "topic", path: "lesson.topic", required: false)
        return ProposedLesson(
            situation: try required("situation"), did: try required("did"), shouldHaveDone: try required("should_have_done"),
            why: try required("why"), correctBehavior: try required("correct_behavior"),
            topic: topic.flatMap { $0.isEmpty ? nil : String($0.prefix(LessonFields.maxNameLength)) }, confidence: confidence, polarity: polarity)
    }

    /// A string field: required ones must be non-blank; every one within the lesson field limit.
    static func text(_ json: JSONValue, _ name: String, path: String? = nil, required: Bool) throws(JudgeOutputError) -> String? {
        let path = path ?? name
        guard let value = json[name], value != .null else {
            if required { throw JudgeOutputError("`\(path)` is required: a non-empty string") }
            return nil
        }
        guard let string = value.stringValue else { throw JudgeOutputError("`\(path)` must be a string") }
        let trimmed = string.trimmingCharacters(in: .whitespacesAndNewlines)
        if required && trimmed.isEmpty { throw JudgeOutputError("`\(path)` must not be empty") }
        if trimmed.count > LessonFields.maxFieldLength {
            throw JudgeOutputError("`\(path)` must be at most \(LessonFields.maxFieldLength) characters")
        }
        return trimmed
    }

    /// The JSON object in a reply: the whole reply, or the text inside a code fence, or from
    /// the first `{` to the last `}`.
    public static func extractObject(_ reply: String) -> JSONValue? {
        var candidates = [reply.trimmingCharacters(in: .whitespacesAndNewlines)]
        if let first = reply.firstIndex(of: "{"), let last = reply.lastIndex(of: "}"), first < last {
            candidates.append(String(reply[first...last]))
        }
        for candidate in candidates {
            if let json = try? JSONValue(parsing: candidate), json.objectValue != nil { return json }
        }
        return nil
    }
}

import Foundation

public enum Polarity: String, Codable, Sendable, CaseIterable {
    /// Something the agent did wrong: don't do this, do this instead.
    case negative
    /// Something the agent did right and should keep doing.
    case positive
}

public enum LessonStatus: String, Codable, Sendable, CaseIterable {
    case proposed
    case active
    case retired
}

/// A request a lesson applies to (an example) or must not apply to (a counter-example), with
/// where it came from. Decoded from a bare string too (`"source": "reviewer"`).
public struct LessonExample: Codable, Sendable, Equatable, Hashable {
    public enum Source: String, Codable, Sendable, CaseIterable {
        /// The request of the interaction the lesson was made from.
        case interaction
        /// Proposed by the judge's model when the lesson was created.
        case judge
        /// Written or marked by a reviewer.
        case reviewer
        /// A request the lesson was injected into whose outcome said it did not fit (or did).
        case outcome
    }

    public var text: String
    public var source: Source

    public init(_ text: String, source: Source) {
        self.text = text
        self.source = source
    }

    public init(from decoder: any Decoder) throws {
        if let text = try? decoder.singleValueContainer().decode(String.self) {
            self.init(text, source: .reviewer)
            return
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(try container.decode(String.self, forKey: .text), source: try container.decodeIfPresent(Source.self, forKey: .source) ?? .reviewer)
    }

    enum CodingKeys: String, CodingKey { case text, source }

    /// Longest accepted example, in characters, and most examples of each kind per lesson.
    public static let maxLength = 500
    public static let maxCount = 50
}

/// A reviewed past case turned into guidance the agent reads before it reasons.
public struct Lesson: Codable, Sendable, Equatable {
    public var id: String
    public var agent: String
    public var topic: String?
    /// When the lesson applies: the kind of request, in words.
    public var situation: String
    public var did: String
    public var shouldHaveDone: String
    public var why: String
    public var correctBehavior: String
    /// Requests the lesson applies to, beyond its situation: retrieval matches them too.
    public var examples: [LessonExample]
    /// Requests that look alike but where the lesson must not apply: one closer to a request
    /// than the lesson's best match keeps it out.
    public var counterExamples: [LessonExample]
    public var polarity: Polarity
    public var status: LessonStatus
    public var confidence: Double
    public var sourceInteractionId: String?
    public var author: String
    public var createdAt: Date
    public var updatedAt: Date
    public var version: Int
    public var helpful: Int
    public var harmful: Int
    /// Why rasi asks a reviewer to look at this lesson (it retired it for being harmful); cleared by a reviewer's change.
    public var reviewReason: String?

    public init(
        id: String, agent: String, topic: String?, situation: String, did: String, shouldHaveDone: String,
        why: String, correctBehavior: String, polarity: Polarity, status: LessonStatus, confidence: Double,
        sourceInteractionId: String?, author: String, createdAt: Date, updatedAt: Date, version: Int,
        helpful: Int = 0, harmful: Int = 0, reviewReason: String? = nil, examples: [LessonExample] = [], counterExamples: [LessonExample] = []
    ) {
        self.reviewReason = reviewReason
        self.examples = examples
        self.counterExamples = counterExamples
        self.id = id
        self.agent = agent
        self.topic = topic
        self.situation = situation
        self.did = did
        self.shouldHaveDone = shouldHaveDone
        self.why = why
        self.correctBehavior = correctBehavior
        self.polarity = polarity
        self.status = status
        self.confidence = confidence
        self.sourceInteractionId = sourceInteractionId
        self.author = author
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.version = version
        self.helpful = helpful
        self.harmful = harmful
    }

    enum CodingKeys: String, CodingKey {
        case id, agent, topic, situation, did, why, polarity, status, confidence, author, version, helpful, harmful
        case shouldHaveDone = "should_have_done"
        case correctBehavior = "correct_behavior"
        case sourceInteractionId = "source_interaction_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case reviewReason = "review_reason"
        case examples
        case counterExamples = "counter_examples"
    }

    /// The text retrieval matches a request against: the situation, which says when the lesson applies.
    public var retrievalText: String { situation }

    /// Every text the lesson is embedded by, in `LessonEmbedding`'s order: the situation, the
    /// examples, the counter-examples.
    public var embeddedTexts: [String] { [situation] + examples.map(\.text) + counterExamples.map(\.text) }
}

extension Lesson {
    /// Snapshots and exports written before lessons had examples decode with none.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            id: try c.decode(String.self, forKey: .id), agent: try c.decode(String.self, forKey: .agent),
            topic: try c.decodeIfPresent(String.self, forKey: .topic), situation: try c.decode(String.self, forKey: .situation),
            did: try c.decode(String.self, forKey: .did), shouldHaveDone: try c.decode(String.self, forKey: .shouldHaveDone),
            why: try c.decode(String.self, forKey: .why), correctBehavior: try c.decode(String.self, forKey: .correctBehavior),
            polarity: try c.decode(Polarity.self, forKey: .polarity), status: try c.decode(LessonStatus.self, forKey: .status),
            confidence: try c.decode(Double.self, forKey: .confidence),
            sourceInteractionId: try c.decodeIfPresent(String.self, forKey: .sourceInteractionId), author: try c.decode(String.self, forKey: .author),
            createdAt: try c.decode(Date.self, forKey: .createdAt), updatedAt: try c.decode(Date.self, forKey: .updatedAt),
            version: try c.decode(Int.self, forKey: .version), helpful: try c.decodeIfPresent(Int.self, forKey: .helpful) ?? 0,
            harmful: try c.decodeIfPresent(Int.self, forKey: .harmful) ?? 0, reviewReason: try c.decodeIfPresent(String.self, forKey: .reviewReason),
            examples: try c.decodeIfPresent([LessonExample].self, forKey: .examples) ?? [],
            counterExamples: try c.decodeIfPresent([LessonExample].self, forKey: .counterExamples) ?? [])
    }
}

/// The writable fields of a lesson, as a reviewer or the API sends them. Every field is
/// optional so the same type serves create (after defaults) and partial update.
public struct LessonFields: Codable, Sendable, Equatable {
    public var agent: String?
    public var topic: String?
    public var situation: String?
    public var did: String?
    public var shouldHaveDone: String?
    public var why: String?
    public var correctBehavior: String?
    /// Replace the lesson's examples (or counter-examples) as a whole.
    public var examples: [LessonExample]?
    public var counterExamples: [LessonExample]?
    public var polarity: Polarity?
    public var status: LessonStatus?
    public var confidence: Double?
    public var sourceInteractionId: String?

    public init(
        agent: String? = nil, topic: String? = nil, situation: String? = nil, did: String? = nil,
        shouldHaveDone: String? = nil, why: String? = nil, correctBehavior: String? = nil,
        polarity: Polarity? = nil, status: LessonStatus? = nil, confidence: Double? = nil,
        sourceInteractionId: String? = nil, examples: [LessonExample]? = nil, counterExamples: [LessonExample]? = nil
    ) {
        self.examples = examples
        self.counterExamples = counterExamples
        self.agent = agent
        self.topic = topic
        self.situation = situation
        self.did = did
        self.shouldHaveDone = shouldHaveDone
        self.why = why
        self.correctBehavior = correctBehavior
        self.polarity = polarity
        self.status = status
        self.confidence = confidence
        self.sourceInteractionId = sourceInteractionId
    }

    enum CodingKeys: String, CodingKey {
        case agent, topic, situation, did, why, polarity, status, confidence
        case shouldHaveDone = "should_have_done"
        case correctBehavior = "correct_behavior"
        case sourceInteractionId = "source_interaction_id"
        case examples
        case counterExamples = "counter_examples"
    }

    /// Longest accepted text per field, in characters: lessons are read inside a prompt,
    /// so they must stay short enough to fit several in a context budget.
    public static let maxFieldLength = 2000
    public static let maxNameLength = 100

    /// Checks lengths and ranges; throws `invalidField` naming the first bad field. Text the
    /// `stored` lesson already holds is not measured again: redaction may have lengthened it
    /// (a placeholder longer than what it replaced), and an edit elsewhere must still save.
    public func validate(against stored: Lesson? = nil) throws {
        let texts: [(String, String?, Int, String?)] = [
            ("agent", agent, Self.maxNameLength, stored?.agent), ("topic", topic, Self.maxNameLength, stored?.topic),
            ("situation", situation, Self.maxFieldLength, stored?.situation), ("did", did, Self.maxFieldLength, stored?.did),
            ("should_have_done", shouldHaveDone, Self.maxFieldLength, stored?.shouldHaveDone),
            ("why", why, Self.maxFieldLength, stored?.why), ("correct_behavior", correctBehavior, Self.maxFieldLength, stored?.correctBehavior)
        ]
        let storedExamples = Set(((stored?.examples ?? []) + (stored?.counterExamples ?? [])).map(\.text))
        for (name, value, limit, kept) in texts where value != kept {
            if let value, value.count > limit {
                throw RasiError.invalidField(name, "must be at most \(limit) characters (got \(value.count))")
            }
        }
        if let agent, agent.trimmingCharacters(in: .whitespaces).isEmpty {
            throw RasiError.invalidField("agent", "must not be empty")
        }
        if let confidence, !(0...1).contains(confidence) {
            throw RasiError.invalidField("confidence", "must be between 0 and 1")
        }
        for (name, list) in [("examples", examples), ("counter_examples", counterExamples)] {
            guard let list else { continue }
            if list.count > LessonExample.maxCount {
                throw RasiError.invalidField(name, "must hold at most \(LessonExample.maxCount) requests (got \(list.count))")
            }
            for (i, example) in list.enumerated() {
                if example.text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
                    throw RasiError.invalidField("\(name)[\(i)]", "must not be empty")
                }
                if example.text.count > LessonExample.maxLength, !storedExamples.contains(example.text) {
                    throw RasiError.invalidField("\(name)[\(i)]", "must be at most \(LessonExample.maxLength) characters (got \(example.text.count))")
                }
            }
        }
    }

    /// Throws `invalidField` for the first of the fields a new lesson needs that is missing or blank.
    public func requireForCreation() throws {
        let required: [(String, String?)] = [
            ("situation", situation), ("should_have_done", shouldHaveDone), ("correct_behavior", correctBehavior)
        ]
        for (name, value) in required where (value ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw RasiError.invalidField(name, "is required")
        }
    }

    /// The fields with personal data redacted, as one record: a value gets the same placeholder
    /// in every field. Names and enums are left alone.
    public func redacted(by redactor: any Redactor) -> LessonFields {
        let texts = [situation, did, shouldHaveDone, why, correctBehavior]
        let examples = examples ?? []
        let counterExamples = counterExamples ?? []
        let redacted = redactor.redact(texts.map { $0 ?? "" } + examples.map(\.text) + counterExamples.map(\.text))
        var copy = self
        copy.situation = situation.map { _ in redacted[0] }
        copy.did = did.map { _ in redacted[1] }
        copy.shouldHaveDone = shouldHaveDone.map { _ in redacted[2] }
        copy.why = why.map { _ in redacted[3] }
        copy.correctBehavior = correctBehavior.map { _ in redacted[4] }
        var rest = redacted.dropFirst(5)
        func take(_ list: [LessonExample]) -> [LessonExample] {
            defer { rest = rest.dropFirst(list.count) }
            return zip(list, rest).map { LessonExample($1, source: $0.source) }
        }
        copy.examples = self.examples.map { _ in take(examples) }
        copy.counterExamples = self.counterExamples.map { _ in take(counterExamples) }
        return copy
    }
}

extension Lesson {
    /// A new lesson from validated fields.
    public static func create(
        id: String = Identifier.make("les"), fields: LessonFields, author: String, now: Date = Date()
    ) -> Lesson {
        Lesson(
            id: id, agent: fields.agent ?? "default", topic: fields.topic, situation: fields.situation ?? "",
            did: fields.did ?? "", shouldHaveDone: fields.shouldHaveDone ?? "", why: fields.why ?? "",
            correctBehavior: fields.correctBehavior ?? "", polarity: fields.polarity ?? .negative,
            status: fields.status ?? .active, confidence: fields.confidence ?? 0.8,
            sourceInteractionId: fields.sourceInteractionId, author: author, createdAt: now, updatedAt: now, version: 1,
            examples: Self.distinct(fields.examples ?? []), counterExamples: Self.distinct(fields.counterExamples ?? [])
        )
    }

    /// This lesson with the given fields changed, as its next version.
    public func applying(_ fields: LessonFields, now: Date = Date()) -> Lesson {
        var next = self
        if let v = fields.agent { next.agent = v }
        if let v = fields.topic { next.topic = v.isEmpty ? nil : v }
        if let v = fields.situation { next.situation = v }
        if let v = fields.did { next.did = v }
        if let v = fields.shouldHaveDone { next.shouldHaveDone = v }
        if let v = fields.why { next.why = v }
        if let v = fields.correctBehavior { next.correctBehavior = v }
        if let v = fields.polarity { next.polarity = v }
        if let v = fields.status { next.status = v }
        if let v = fields.confidence { next.confidence = v }
        if let v = fields.sourceInteractionId { next.sourceInteractionId = v }
        if let v = fields.examples { next.examples = Self.distinct(v) }
        if let v = fields.counterExamples { next.counterExamples = Self.distinct(v) }
        next.reviewReason = nil
        next.version += 1
        next.updatedAt = now
        return next
    }

    /// The examples without repeats (the same words, ignoring case and surrounding space), first kept.
    static func distinct(_ examples: [LessonExample]) -> [LessonExample] {
        var seen: Set<String> = []
        return examples.compactMap { example in
            let text = example.text.trimmingCharacters(in: .whitespacesAndNewlines)
            return seen.insert(text.lowercased()).inserted ? LessonExample(text, source: example.source) : nil
        }
    }
}

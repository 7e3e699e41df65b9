import Foundation

/// Two lessons of one agent that apply to similar situations but say different things,
/// shown to reviewers as a pair to resolve.
public struct LessonConflict: Codable, Sendable, Equatable {
    public var id: Int
    public var pair: LessonPair
    public var agent: String
    /// How alike the two situations are.
    public var similarity: Double
    public var reason: String
    public var detectedAt: Date
    public var resolvedAt: Date?
    public var resolvedBy: String?
    /// What the reviewer decided: `kept LESSON_ID` or `kept both`.
    public var resolution: String?

    public init(
        id: Int = 0, pair: LessonPair, agent: String, similarity: Double, reason: String, detectedAt: Date,
        resolvedAt: Date? = nil, resolvedBy: String? = nil, resolution: String? = nil
    ) {
        self.id = id
        self.pair = pair
        self.agent = agent
        self.similarity = similarity
        self.reason = reason
        self.detectedAt = detectedAt
        self.resolvedAt = resolvedAt
        self.resolvedBy = resolvedBy
        self.resolution = resolution
    }

    enum CodingKeys: String, CodingKey {
        case id
        case pair = "lessons"
        case agent, similarity, reason, resolution
        case detectedAt = "detected_at"
        case resolvedAt = "resolved_at"
        case resolvedBy = "resolved_by"
    }
}

/// When two similar lessons contradict each other.
public struct ConflictPolicy: Sendable, Equatable {
    /// Situations at least this similar (embedding cosine) are about the same case.
    public var situationSimilarity = 0.8
    /// Same polarity, but correct behaviours less similar than this, diverge.
    public var behaviorDivergence = 0.5
    /// With a judge model: merge conflicting lessons chosen for one request into one guidance
    /// block instead of keeping only the winner.
    public var synthesize = false
    /// With a judge model: it decides whether similar lessons contradict, instead of the rules.
    public var judgeCheck = false

    public init() {}

    /// Why two lessons about similar situations contradict, or nil when they agree.
    public func contradiction(_ a: Lesson, _ b: Lesson, behaviorSimilarity: Double) -> String? {
        if a.polarity != b.polarity { return "one says to avoid what the other says to repeat (opposite polarity)" }
        if behaviorSimilarity < behaviorDivergence {
            return String(format: "their correct behaviours diverge (similarity %.2f)", behaviorSimilarity)
        }
        return nil
    }
}

/// How feedback on interactions measures the lessons injected into them.
public struct EfficacyPolicy: Sendable, Equatable {
    /// Rated uses before a lesson can be retired automatically.
    public var minRated = 5
    /// Share of harmful rated uses at which an active lesson is retired and sent to review.
    public var harmfulRate = 0.5

    public init() {}

    /// What an interaction's feedback says about the lessons injected into it: helpful (true),
    /// harmful (false) or nothing. The latest rating decides; without one, the user asking again
    /// or asking for a human counts as harmful. A comment alone, or leaving, says nothing sure.
    public static func verdict(_ feedback: [Feedback]) -> Bool? {
        let ordered = feedback.sorted { $0.createdAt < $1.createdAt }
        if let rating = ordered.last(where: { $0.rating != nil })?.rating { return rating == .up }
        return ordered.contains { $0.signal == .rephrase || $0.signal == .escalate } ? false : nil
    }

    public func shouldRetire(helpful: Int, harmful: Int) -> Bool {
        let rated = helpful + harmful
        return rated >= minRated && Double(harmful) / Double(rated) >= harmfulRate
    }
}

/// One version of a lesson with who saved it and when: a line of `rasi lessons export`.
public struct LessonVersion: Codable, Sendable, Equatable {
    public var lesson: Lesson
    public var changedBy: String
    public var changedAt: Date

    public init(lesson: Lesson, changedBy: String, changedAt: Date) {
        self.lesson = lesson
        self.changedBy = changedBy
        self.changedAt = changedAt
    }

    enum CodingKeys: String, CodingKey {
        case lesson
        case changedBy = "changed_by"
        case changedAt = "changed_at"
    }
}

/// What an import did.
public struct LessonImport: Sendable, Equatable {
    /// Versions stored, and versions the store already had (by lesson id and version).
    public var added = 0
    public var skipped = 0
    /// Lessons whose current version changed; their vectors are made again.
    public var updated: [String] = []

    public init() {}
}

/// A topic an admin defines, to file interactions and lessons under.
public struct Topic: Codable, Sendable, Equatable {
    public var name: String
    public var description: String
    /// Requests that belong to it.
    public var examples: [String]

    public init(name: String, description: String, examples: [String]) {
        self.name = name
        self.description = description
        self.examples = examples
    }

    /// The texts a request is compared with: the description and every example.
    public var texts: [String] { [description] + examples }

    public static let unclassified = "unclassified"
}

/// Files a text under the topic whose description or examples it is most similar to, or
/// `unclassified` below the floor.
public struct TopicClassifier: Sendable {
    /// Each topic's texts' vectors.
    public let topics: [(name: String, vectors: [[Float]])]
    public let floor: Double

    public init(topics: [(name: String, vectors: [[Float]])], floor: Double) {
        self.topics = topics
        self.floor = floor
    }

    public func classify(_ vector: [Float]) -> (topic: String, score: Double) {
        var best = (topic: Topic.unclassified, score: 0.0)
        for topic in topics {
            for candidate in topic.vectors {
                let score = Embeddings.cosine(vector, candidate)
                if score > best.score { best = (topic.name, score) }
            }
        }
        return best.score >= floor ? best : (Topic.unclassified, best.score)
    }

    /// Groups texts by similarity (each joins the first group whose first member it is at
    /// least `similarity` to), largest groups first, with at least `minSize` members.
    public static func clusters(_ vectors: [[Float]], similarity: Double, minSize: Int) -> [[Int]] {
        var groups: [(leader: [Float], members: [Int])] = []
        for (index, vector) in vectors.enumerated() {
            if let match = groups.indices.first(where: { Embeddings.cosine(groups[$0].leader, vector) >= similarity }) {
                groups[match].members.append(index)
            } else {
                groups.append((vector, [index]))
            }
        }
        return groups.map(\.members).filter { $0.count >= minSize }.sorted { $0.count > $1.count }
    }
}

/// One entry of the audit log: who did what to which key, lesson or data, and when.
public struct AuditEntry: Codable, Sendable, Equatable {
    public var id: Int
    public var at: Date
    public var actor: String
    /// `key.create`, `key.revoke`, `lesson.create`, `lesson.update`, `lesson.delete`, `purge`, `user.delete`.
    public var action: String
    public var target: String
    public var detail: String?

    public init(id: Int = 0, at: Date = Date(), actor: String, action: String, target: String, detail: String? = nil) {
        self.id = id
        self.at = at
        self.actor = actor
        self.action = action
        self.target = target
        self.detail = detail
    }
}

/// What a purge removed.
public struct PurgeCount: Codable, Sendable, Equatable {
    public var interactions = 0
    public var feedback = 0
    public var judgeRuns = 0
    /// Interactions a purge deletes in one transaction; a smaller batch was the last.
    public static let batchSize = 1000

    public init() {}

    /// Adds one batch's counts; returns whether it was the last batch.
    public mutating func add(batch: PurgeCount) -> Bool {
        interactions += batch.interactions
        feedback += batch.feedback
        judgeRuns += batch.judgeRuns
        return batch.interactions < Self.batchSize
    }

    enum CodingKeys: String, CodingKey {
        case interactions, feedback
        case judgeRuns = "judge_runs"
    }
}

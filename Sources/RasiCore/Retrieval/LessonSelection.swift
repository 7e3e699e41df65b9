import Foundation

/// Which retrieved lessons go into the context, and in what order.
///
/// The similarity floor decides *whether* a lesson is relevant; everything else decides which
/// of the relevant ones are worth the context: a rank that weighs similarity by confidence,
/// recency and measured helpfulness; near-duplicates collapsed to the best; redundancy
/// penalised (MMR); at most `maxPerTopic` per topic; of two conflicting lessons the more
/// confident (then the newer) wins; at most `maxLessons`, within `tokenBudget`.
public struct LessonSelectionPolicy: Sendable, Equatable, Codable {
    /// Lessons whose similarity is below this are never injected, however they rank.
    public var minScore: Double
    /// At most this many lessons per request.
    public var maxLessons: Int
    /// The rendered context never exceeds this many tokens (by `TokenEstimator`).
    public var tokenBudget: Int
    /// How much confidence moves the rank: a factor of 1 ± weight/2 between confidence 0 and 1.
    public var confidenceWeight = 0.2
    /// The share of the rank an old lesson loses at most, and how fast (half-life in days).
    public var recencyWeight = 0.1
    public var recencyHalfLifeDays = 90.0
    /// How much measured helpfulness moves the rank (factor 1 ± weight/2), reached after
    /// `helpfulnessEvidence` rated uses; below that it counts in proportion.
    public var helpfulnessWeight = 0.3
    public var helpfulnessEvidence = 10
    /// Lessons this similar to one already chosen, with the same polarity and much the same
    /// correct behaviour, say the same thing: only the best is kept.
    public var duplicateSimilarity = 0.92
    /// MMR: a candidate's rank minus this times its highest similarity to the lessons chosen.
    public var diversity = 0.2
    /// At most this many lessons of one topic (lessons without a topic are not capped).
    public var maxPerTopic = 2
    /// The share of selected lessons withheld as a control group (`Holdout`), 0 to 0.5.
    public var holdout = 0.0

    /// Floor on the cosine of all-MiniLM-L6-v2 embeddings, picked on CLINC150 by `rasi bench retrieval`.
    public static let defaultDenseFloor = 0.51
    /// Floor on the lexical term cosine of `LexicalRetriever`.
    public static let defaultLexicalFloor = 0.2

    public init(minScore: Double = LessonSelectionPolicy.defaultLexicalFloor, maxLessons: Int = 3, tokenBudget: Int = 800) {
        self.minScore = minScore
        self.maxLessons = maxLessons
        self.tokenBudget = tokenBudget
    }

    enum CodingKeys: String, CodingKey {
        case minScore = "min_score"
        case maxLessons = "max_lessons"
        case tokenBudget = "token_budget"
        case confidenceWeight = "confidence_weight"
        case recencyWeight = "recency_weight"
        case recencyHalfLifeDays = "recency_half_life_days"
        case helpfulnessWeight = "helpfulness_weight"
        case helpfulnessEvidence = "helpfulness_evidence"
        case duplicateSimilarity = "duplicate_similarity"
        case diversity
        case maxPerTopic = "max_per_topic"
        case holdout
    }

    /// Decodes over a base policy: fields left out keep the base's value (per-agent overrides).
    public static func decode(_ json: JSONValue, over base: LessonSelectionPolicy) throws -> LessonSelectionPolicy {
        guard case .object(let fields) = json else { throw RasiError.invalidField("policy", "must be an object") }
        var merged = try JSONDecoder().decode(JSONValue.self, from: JSONEncoder().encode(base)).objectValue ?? [:]
        for (key, value) in fields {
            guard merged[key] != nil else {
                throw RasiError.invalidField(
                    "policy.\(key)", "is not a policy setting; the settings are " + merged.keys.sorted().joined(separator: ", "))
            }
            merged[key] = value
        }
        do {
            return try JSONDecoder().decode(LessonSelectionPolicy.self, from: JSONEncoder().encode(JSONValue.object(merged)))
        } catch {
            throw RasiError.invalidField("policy", "has a value of the wrong type: \(error)")
        }
    }
}

/// Two lessons that contradict each other, by id (order does not matter).
public struct LessonPair: Hashable, Sendable, Codable {
    public let first: String
    public let second: String

    public init(_ a: String, _ b: String) {
        (first, second) = a < b ? (a, b) : (b, a)
    }

    public func contains(_ id: String) -> Bool { first == id || second == id }
}

/// The outcome of selection: the lessons and the exact text injected.
/// Lessons chosen for one request, as `POST /api/v1/retrieve` answers with them.
public struct LessonSelection: Codable, Sendable, Equatable {
    /// A relevant lesson that was not injected, and why.
    public struct SetAside: Sendable, Equatable, Codable {
        public enum Reason: String, Sendable, Codable {
            case duplicate
            case topicCap = "topic_cap"
            case conflict, budget, limit
        }
        public var lessonId: String
        public var reason: Reason
        /// The chosen lesson it duplicates or loses a conflict to.
        public var to: String?

        enum CodingKeys: String, CodingKey {
            case reason, to
            case lessonId = "lesson_id"
        }
    }

    public var lessons: [ScoredLesson]
    /// The system message content; empty when no lesson was selected.
    public var context: String
    public var tokens: Int
    public var setAside: [SetAside] = []
    /// Conflicting pairs among the chosen lessons, kept because a synthesis step will merge them.
    public var conflicts: [LessonPair] = []
    /// Lessons the policy selected and the holdout withheld: not in `context`, recorded as control exposures.
    public var withheld: [ScoredLesson] = []

    public static let empty = LessonSelection(lessons: [], context: "", tokens: 0)

    /// The injections to record for these lessons placed into one interaction, best first.
    /// Withheld lessons are recorded too, in the control arm, ranked after the injected ones.
    public func injections(into interactionId: String) -> [Injection] {
        (lessons.map { ($0, ExposureArm.treatment) } + withheld.map { ($0, ExposureArm.control) }).enumerated().map { rank, entry in
            Injection(
                interactionId: interactionId, lessonId: entry.0.lesson.id, version: entry.0.lesson.version, rank: rank + 1,
                score: entry.0.score, arm: entry.1)
        }
    }

    /// `withheld` stays out of the JSON: `/retrieve` knows no conversation, so withholds nothing.
    enum CodingKeys: String, CodingKey {
        case lessons, context, tokens
        case setAside = "set_aside"
    }
}

extension LessonSelectionPolicy {
    /// The rank of a relevant lesson: its similarity weighed by confidence, recency and helpfulness.
    public func rank(_ candidate: ScoredLesson, now: Date) -> Double {
        let lesson = candidate.lesson
        let confidence = 1 + confidenceWeight * (lesson.confidence - 0.5)
        let ageDays = max(0, now.timeIntervalSince(lesson.updatedAt) / 86_400)
        let recency = 1 - recencyWeight * (1 - pow(0.5, ageDays / max(recencyHalfLifeDays, 0.001)))
        let rated = lesson.helpful + lesson.harmful
        // Laplace-smoothed share of helpful uses, trusted in proportion to the evidence.
        let helpfulShare = (Double(lesson.helpful) + 1) / (Double(rated) + 2)
        let evidence = min(1, Double(rated) / Double(max(helpfulnessEvidence, 1)))
        let helpfulness = 1 + helpfulnessWeight * (helpfulShare - 0.5) * evidence
        return candidate.score * confidence * recency * helpfulness
    }

    /// Two lessons for the same situation say the same thing when they point the same way and
    /// their correct behaviours share most of their terms; otherwise they complement or contradict.
    static func saySameThing(_ a: Lesson, _ b: Lesson) -> Bool {
        a.polarity == b.polarity && TextTerms.similarity(TextTerms.terms(a.correctBehavior), TextTerms.terms(b.correctBehavior)) >= 0.5
    }

    /// Of two conflicting lessons, the one that wins: the more confident, then the newer.
    public static func winner(_ a: Lesson, _ b: Lesson) -> Lesson {
        if a.confidence != b.confidence { return a.confidence > b.confidence ? a : b }
        return a.updatedAt >= b.updatedAt ? a : b
    }

    /// Chooses the lessons to inject from retrieved candidates.
    /// - Parameters:
    ///   - similarity: how alike two lessons are (their vectors' cosine), nil when unknown.
    ///   - conflicts: known contradicting pairs; the loser of each is set aside, unless
    ///     `keepConflicts` (a synthesis step will merge them).
    public func select(
        _ candidates: [ScoredLesson], maxLessons k: Int? = nil, now: Date = Date(),
        similarity: (Lesson, Lesson) -> Double? = { _, _ in nil }, conflicts: Set<LessonPair> = [], keepConflicts: Bool = false
    ) -> LessonSelection {
        let limit = min(k ?? maxLessons, maxLessons)
        var setAside: [LessonSelection.SetAside] = []
        var pool = candidates.filter { $0.score >= minScore && $0.lesson.status == .active }
            .map { (candidate: $0, rank: rank($0, now: now)) }
            .sorted { $0.rank > $1.rank }
        if !keepConflicts {
            let byId = Dictionary(pool.map { ($0.candidate.lesson.id, $0.candidate.lesson) }, uniquingKeysWith: { a, _ in a })
            var losers: [String: String] = [:]
            for pair in conflicts {
                guard let a = byId[pair.first], let b = byId[pair.second] else { continue }
                let win = Self.winner(a, b)
                losers[win.id == a.id ? b.id : a.id] = win.id
            }
            pool.removeAll { entry in
                guard let winner = losers[entry.candidate.lesson.id] else { return false }
                setAside.append(.init(lessonId: entry.candidate.lesson.id, reason: .conflict, to: winner))
                return true
            }
        }

        var chosen: [ScoredLesson] = []
        var block = LessonRenderer.Block()
        var perTopic: [String: Int] = [:]
        // Each waiting candidate's most similar chosen lesson, kept up to date as lessons are chosen.
        var closestChosen = [(Double, String)?](repeating: nil, count: pool.count)
        while !pool.isEmpty {
            // MMR: the best rank, less its redundancy with what is already chosen.
            func marginal(_ i: Int) -> Double { pool[i].rank - diversity * max(0, closestChosen[i]?.0 ?? 0) }
            let index = pool.indices.max { marginal($0) < marginal($1) }!
            let closest = closestChosen.remove(at: index)
            let candidate = pool.remove(at: index).candidate
            let id = candidate.lesson.id
            if let closest, closest.0 >= duplicateSimilarity,
                let twin = chosen.first(where: { $0.lesson.id == closest.1 })?.lesson, Self.saySameThing(candidate.lesson, twin),
                !conflicts.contains(LessonPair(id, twin.id))
            {
                setAside.append(.init(lessonId: id, reason: .duplicate, to: closest.1))
                continue
            }
            if let topic = candidate.lesson.topic, perTopic[topic, default: 0] >= maxPerTopic {
                setAside.append(.init(lessonId: id, reason: .topicCap))
                continue
            }
            if chosen.count >= limit {
                setAside.append(.init(lessonId: id, reason: .limit))
                continue
            }
            let trial = block.adding(candidate.lesson)
            guard trial.tokens <= tokenBudget else {
                setAside.append(.init(lessonId: id, reason: .budget))
                continue
            }
            chosen.append(candidate)
            block = trial
            if let topic = candidate.lesson.topic { perTopic[topic, default: 0] += 1 }
            for (i, entry) in pool.enumerated() {
                guard let alike = similarity(entry.candidate.lesson, candidate.lesson), alike > closestChosen[i]?.0 ?? -.infinity else { continue }
                closestChosen[i] = (alike, id)
            }
        }
        guard !chosen.isEmpty else { return LessonSelection(lessons: [], context: "", tokens: 0, setAside: setAside) }
        let kept =
            keepConflicts
            ? conflicts.filter { pair in chosen.contains { pair.first == $0.lesson.id } && chosen.contains { pair.second == $0.lesson.id } } : []
        return LessonSelection(
            lessons: chosen, context: block.text, tokens: block.tokens,
            setAside: setAside, conflicts: kept.sorted { ($0.first, $0.second) < ($1.first, $1.second) })
    }
}

/// Renders lessons into the system message placed before the conversation.
public enum LessonRenderer {
    public static let openingTag = "<rasi-lessons>"
    public static let closingTag = "</rasi-lessons>"

    static let introduction = "Lessons from reviewed past cases. Where the current request matches a situation below, follow its correct behaviour."

    public static func render(_ lessons: [Lesson]) -> String {
        lessons.reduce(Block()) { $0.adding($1) }.text
    }

    /// One lesson's lines in the block, without its number.
    static func entry(_ lesson: Lesson) -> String {
        let label = lesson.polarity == .negative ? "avoid a past mistake" : "repeat what worked"
        var lines = ["[\(label)] Situation: \(oneLine(lesson.situation))"]
        switch lesson.polarity {
        case .negative:
            if !lesson.did.isEmpty { lines.append("   What went wrong: \(oneLine(lesson.did))") }
            if !lesson.shouldHaveDone.isEmpty { lines.append("   What should have happened: \(oneLine(lesson.shouldHaveDone))") }
        case .positive:
            if !lesson.did.isEmpty { lines.append("   What went right: \(oneLine(lesson.did))") }
        }
        if !lesson.why.isEmpty { lines.append("   Why: \(oneLine(lesson.why))") }
        lines.append("   Correct behaviour: \(oneLine(lesson.correctBehavior))")
        return lines.joined(separator: "\n")
    }

    /// The block, built a lesson at a time, with its token count (`TokenEstimator`) kept as it
    /// grows: its lines are joined by line breaks, which end a word and count nothing, so the
    /// count of the whole is the sum of the counts of its parts. Selection tries each candidate
    /// on the block it has, rendering and counting that lesson once.
    public struct Block {
        private var entries: [String] = []
        public private(set) var tokens = 0

        public init() {}

        /// The block with `lesson` added after those already in it.
        public func adding(_ lesson: Lesson) -> Block {
            var next = self
            let numbered = "\(entries.count + 1). " + LessonRenderer.entry(lesson)
            if entries.isEmpty { next.tokens = Block.frame }
            next.entries.append(numbered)
            next.tokens += TokenEstimator.count(numbered)
            return next
        }

        /// The system message content; empty without lessons.
        public var text: String {
            guard !entries.isEmpty else { return "" }
            return ([openingTag, introduction] + entries.flatMap { ["", $0] } + [closingTag]).joined(separator: "\n")
        }

        static let frame = TokenEstimator.count(openingTag) + TokenEstimator.count(introduction) + TokenEstimator.count(closingTag)
    }

    /// Guidance the judge's model merged from lessons that disagree, in the same block.
    public static func renderSynthesis(_ guidance: String, of lessons: [Lesson]) -> String {
        [
            openingTag,
            """
            Guidance merged from reviewed past cases (\(lessons.map(\.id).joined(separator: ", "))) that disagree in part. \
            Where the current request matches, follow it.
            """,
            "",
            guidance.replacingOccurrences(of: closingTag, with: ""),
            closingTag
        ].joined(separator: "\n")
    }

    /// Collapses line breaks so a lesson field cannot break the block's structure.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
            .replacingOccurrences(of: closingTag, with: "")
    }
}

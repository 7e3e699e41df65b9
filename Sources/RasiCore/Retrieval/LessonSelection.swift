import Foundation

/// Which retrieved lessons go into the context: above a similarity floor, at most `k`,
/// and within a token budget.
public struct LessonSelectionPolicy: Sendable, Equatable {
    /// Lessons scoring below this are never injected.
    public var minScore: Double
    /// At most this many lessons per request.
    public var maxLessons: Int
    /// The rendered context never exceeds this many tokens (by `TokenEstimator`).
    public var tokenBudget: Int

    /// Floor on the cosine of all-MiniLM-L6-v2 embeddings, picked on CLINC150 by `rasi bench retrieval`.
    public static let defaultDenseFloor = 0.51
    /// Floor on the lexical term cosine of `LexicalRetriever`.
    public static let defaultLexicalFloor = 0.2

    public init(minScore: Double = LessonSelectionPolicy.defaultLexicalFloor, maxLessons: Int = 3, tokenBudget: Int = 800) {
        self.minScore = minScore
        self.maxLessons = maxLessons
        self.tokenBudget = tokenBudget
    }
}

/// The outcome of selection: the lessons and the exact text injected.
public struct LessonSelection: Sendable, Equatable {
    public var lessons: [ScoredLesson]
    /// The system message content; empty when no lesson was selected.
    public var context: String
    public var tokens: Int

    public static let empty = LessonSelection(lessons: [], context: "", tokens: 0)
}

extension LessonSelectionPolicy {
    /// Picks lessons in score order, skipping any that would push the context over budget.
    public func select(_ candidates: [ScoredLesson], maxLessons k: Int? = nil) -> LessonSelection {
        let limit = min(k ?? maxLessons, maxLessons)
        var chosen: [ScoredLesson] = []
        var tokens = 0
        for candidate in candidates where candidate.score >= minScore && candidate.lesson.status == .active {
            guard chosen.count < limit else { break }
            let trial = LessonRenderer.render(chosen.map(\.lesson) + [candidate.lesson])
            let trialTokens = TokenEstimator.count(trial)
            if trialTokens <= tokenBudget {
                chosen.append(candidate)
                tokens = trialTokens
            }
        }
        guard !chosen.isEmpty else { return .empty }
        return LessonSelection(lessons: chosen, context: LessonRenderer.render(chosen.map(\.lesson)), tokens: tokens)
    }
}

/// Renders lessons into the system message placed before the conversation.
public enum LessonRenderer {
    public static let openingTag = "<rasi-lessons>"
    public static let closingTag = "</rasi-lessons>"

    public static func render(_ lessons: [Lesson]) -> String {
        guard !lessons.isEmpty else { return "" }
        var lines = [
            openingTag,
            "Lessons from reviewed past cases. Where the current request matches a situation below, follow its correct behaviour.",
        ]
        for (index, lesson) in lessons.enumerated() {
            lines.append("")
            let label = lesson.polarity == .negative ? "avoid a past mistake" : "repeat what worked"
            lines.append("\(index + 1). [\(label)] Situation: \(oneLine(lesson.situation))")
            switch lesson.polarity {
            case .negative:
                if !lesson.did.isEmpty { lines.append("   What went wrong: \(oneLine(lesson.did))") }
                if !lesson.shouldHaveDone.isEmpty { lines.append("   What should have happened: \(oneLine(lesson.shouldHaveDone))") }
            case .positive:
                if !lesson.did.isEmpty { lines.append("   What went right: \(oneLine(lesson.did))") }
            }
            if !lesson.why.isEmpty { lines.append("   Why: \(oneLine(lesson.why))") }
            lines.append("   Correct behaviour: \(oneLine(lesson.correctBehavior))")
        }
        lines.append(closingTag)
        return lines.joined(separator: "\n")
    }

    /// Collapses line breaks so a lesson field cannot break the block's structure.
    static func oneLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
            .replacingOccurrences(of: closingTag, with: "")
    }
}

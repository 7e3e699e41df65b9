import Foundation
import Logging
import RasiCore

/// A lesson's examples and counter-examples: the other ways of asking it applies to, and the
/// near misses it must not. They come from the lesson's source interaction, from the judge's
/// model when the lesson is made, and from reviewers.
extension RasiServices {
    /// The fields with the source interaction's request among the examples, when it is not
    /// there already (and is not the situation itself).
    func withSourceRequest(_ fields: LessonFields) async throws -> LessonFields {
        guard let source = fields.sourceInteractionId, let interaction = try await store.interaction(id: source) else { return fields }
        let request = String(interaction.request.trimmingCharacters(in: .whitespacesAndNewlines).prefix(LessonExample.maxLength))
        let known = ([fields.situation ?? ""] + (fields.examples ?? []).map(\.text)).map { $0.lowercased() }
        guard !request.isEmpty, !known.contains(request.lowercased()) else { return fields }
        var fields = fields
        fields.examples = (fields.examples ?? []) + [LessonExample(request, source: .interaction)]
        return fields
    }

    /// Asks the judge's model, off the request path, for other ways of asking a new lesson covers
    /// (`RASI_LESSON_EXAMPLES`) and a few near misses. Nothing happens without a model to ask.
    func proposeExamplesInBackground(_ lesson: Lesson) {
        guard configuration.judge.lessonExamples > 0, lesson.version == 1, lesson.status != .retired else { return }
        Task { _ = try? await proposeExamples(lesson.id) }
    }

    /// Runs the judge's model's example task for a lesson and adds what it proposes, validated, as
    /// the lesson's next version by `rasi (judge)`. A failed call or an unreadable answer leaves
    /// the lesson as it is and is thrown, as is a retired lesson (`conflict`: it is not asked about,
    /// nor changed if retired meanwhile). Returns the new version, or nil when there is no model to ask.
    @discardableResult
    public func proposeExamples(_ id: String, logger: Logger = Logger(label: "rasi.examples")) async throws -> Lesson? {
        let lesson = try await self.lesson(id)
        guard lesson.status != .retired else { throw Self.retired(id) }
        var modelName = configuration.judge.model
        if modelName == nil, let source = lesson.sourceInteractionId { modelName = try await store.interaction(id: source)?.model }
        guard let modelName else { return nil }
        let count = max(1, configuration.judge.lessonExamples)
        do {
            let reply = try await judgeModel.complete(model: modelName, messages: LessonEditorPrompt.examples(lesson, count: count))
            let proposed = try LessonEditorPrompt.parseExamples(reply.content, count: count)
            // Read again: a reviewer may have changed the lesson meanwhile; what they wrote stays.
            let current = try await self.lesson(id)
            guard current.status != .retired else { throw Self.retired(id) }
            let examples = current.examples + proposed.examples.map { LessonExample($0, source: .judge) }
            let counters = current.counterExamples + proposed.counterExamples.map { LessonExample($0, source: .judge) }
            let next = try await updateLesson(
                current,
                with: LessonFields(
                    examples: Array(examples.prefix(LessonExample.maxCount)), counterExamples: Array(counters.prefix(LessonExample.maxCount))),
                by: Self.examplesAuthor, keepReviewReason: true)
            logger.notice(
                "the judge's model proposed examples",
                metadata: ["lesson": "\(id)", "examples": "\(proposed.examples.count)", "counter_examples": "\(proposed.counterExamples.count)"])
            return next
        } catch {
            logger.warning("the judge's model proposed no examples; the lesson is left as it is", metadata: ["lesson": "\(id)", "error": "\(error)"])
            throw error
        }
    }

    public static let examplesAuthor = "rasi (judge)"

    static func retired(_ id: String) -> RasiError {
        .conflict("lesson \(id) is retired: restore it (status active) before asking for examples")
    }

    /// Marks a past request as one the lesson applies to (an example) or must not apply to (a
    /// counter-example), by a reviewer: the lesson's next version. Marking it again moves it.
    public func markExample(
        lessonId: String, request: String, applies: Bool, by actor: String, source: LessonExample.Source = .reviewer
    ) async throws -> Lesson {
        let text = request.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { throw RasiError.invalidField("request", "must not be empty") }
        let current = try await lesson(lessonId)
        let same = { (example: LessonExample) in example.text.lowercased() == text.lowercased() }
        var examples = current.examples.filter { !same($0) }
        var counters = current.counterExamples.filter { !same($0) }
        let example = LessonExample(String(text.prefix(LessonExample.maxLength)), source: source)
        if applies { examples.append(example) } else { counters.append(example) }
        return try await updateLesson(current, with: LessonFields(examples: examples, counterExamples: counters), by: actor)
    }

    /// Marks a logged interaction's request for the lesson. A request that applies is "this is
    /// lesson X again": the interaction leaves the review queue (its flags are dismissed)
    /// instead of becoming a duplicate lesson.
    public func markExample(
        lessonId: String, interactionId: String, applies: Bool, by actor: String, source: LessonExample.Source = .reviewer
    ) async throws -> Lesson {
        let interaction = try await interaction(interactionId)
        guard interaction.agent == (try await lesson(lessonId)).agent else {
            throw RasiError.invalidField("interaction_id", "is an interaction of agent \(interaction.agent), not of the lesson's")
        }
        let lesson = try await markExample(lessonId: lessonId, request: interaction.request, applies: applies, by: actor, source: source)
        if applies { _ = try await dismissFlags(of: interactionId, by: actor) }
        return lesson
    }

    /// A request the outcomes suggest adding to a lesson: one where it was injected and the
    /// user or the judge said the answer was wrong is proposed as a counter-example.
    public struct ExampleCandidate: Encodable, Sendable {
        public var interactionId: String
        public var request: String
        public var applies: Bool
        public var reason: String

        enum CodingKeys: String, CodingKey {
            case request, applies, reason
            case interactionId = "interaction_id"
        }
    }

    /// The outcome proposals for a lesson, newest first, among its last `limit` injections:
    /// requests it was injected into whose outcome was negative (by `RASI_LIFT_NEGATIVE`, as lift
    /// counts them: by default a thumbs-down, a rephrase or an escalation, a judge's `problem`
    /// verdict), and that are not already among its examples or counter-examples. Accepting one
    /// is `markExample` with `applies: false`.
    public func exampleCandidates(lessonId: String, limit: Int = 100) async throws -> [ExampleCandidate] {
        let lesson = try await lesson(lessonId)
        let known = Set((lesson.examples + lesson.counterExamples).map { $0.text.lowercased() } + [lesson.situation.lowercased()])
        var seen = Set<String>()
        var candidates: [ExampleCandidate] = []
        for injection in try await store.injections(lessonId: lesson.id, limit: limit) {
            guard let interaction = try await store.interaction(id: injection.interactionId) else { continue }
            let request = interaction.request.trimmingCharacters(in: .whitespacesAndNewlines)
            let key = request.lowercased()
            guard !request.isEmpty, !known.contains(key), !seen.contains(key) else { continue }
            guard let reason = try await negativeOutcome(of: interaction) else { continue }
            seen.insert(key)
            candidates.append(ExampleCandidate(interactionId: interaction.id, request: request, applies: false, reason: reason))
        }
        return candidates
    }

    /// Why an interaction's outcome counts as negative under the lift's `OutcomeRules`, or nil when it does not.
    private func negativeOutcome(of interaction: Interaction) async throws -> String? {
        let rules = configuration.lift.outcomes
        if rules.negative.contains(.thumbsDown), let down = interaction.feedback.last(where: { $0.rating == .down }) {
            return "thumbs-down" + (down.comment.map { ": \($0)" } ?? "")
        }
        let signals = rules.negativeSignals
        if let signal = interaction.feedback.first(where: { $0.signal.map(signals.contains) == true })?.signal {
            return "signal: \(signal.rawValue)"
        }
        guard rules.negative.contains(.judgeProblem) else { return nil }
        if let run = try await store.judgeRuns(interactionId: interaction.id).last(where: { $0.verdict != nil }),
            let verdict = run.verdict, verdict.verdict == .problem
        {
            return "judge: \(verdict.summary)"
        }
        return nil
    }
}

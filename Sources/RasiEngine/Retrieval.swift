import Foundation
import RasiCore

/// Choosing the lessons for a request: retrieval, the agent's policy, known conflicts, merges.
extension RasiServices {
    /// Retrieves and selects the lessons for a request under the agent's policy: lessons
    /// compared by their vectors (their situations' terms without an embedder) for duplicates
    /// and diversity, known conflicts resolved.
    /// With synthesis configured, conflicting lessons chosen together are merged by the judge's
    /// model (`model`, the request's, when no judge model is set) into one block, cached by
    /// their versions; if that fails or does not fit the budget, the winner rule applies.
    /// Timed as the request's `lessons` phase (`Server-Timing`). With a `conversation`, the
    /// agent's holdout withholds some of the selected lessons (`LessonSelection.holdingOut`).
    public func selectLessons(agent: String, query: String, k: Int? = nil, model: String? = nil, conversation: String? = nil) async throws
        -> LessonSelection
    {
        let policy = configuration.policy(for: agent)
        return try await selectLessons(agent: agent, query: query, k: k, model: model).holdingOut(share: policy.holdout, conversation: conversation)
    }

    private func selectLessons(agent: String, query: String, k: Int?, model: String?) async throws -> LessonSelection {
        try await PhaseTimings.measure("lessons") {
            // An agent without lessons costs one indexed lookup, not an embedding.
            guard try await store.hasActiveLessons(agent: agent) else { return .empty }
            let policy = configuration.policy(for: agent)
            let candidates = try await retriever.candidates(agent: agent, query: query, limit: max(policy.maxLessons, k ?? 0) * 4)
            let synthesize = configuration.conflicts.synthesize
            let selection = try await select(candidates, policy: policy, k: k, keepConflicts: synthesize)
            guard synthesize, !selection.conflicts.isEmpty else { return selection }
            if let merged = try? await synthesized(selection, agent: agent, model: model, policy: policy) { return merged }
            return try await select(candidates, policy: policy, k: k)
        }
    }

    public func synthesized(_ selection: LessonSelection, agent: String, model: String?, policy: LessonSelectionPolicy) async throws
        -> LessonSelection
    {
        let lessons = selection.lessons.map(\.lesson)
        let key = Synthesis.key(lessons)
        var synthesis = try await store.synthesis(key: key)
        if synthesis == nil {
            guard let modelName = configuration.judge.model ?? model else { throw RasiError.unavailable("no model to merge lessons with") }
            let prompt = LessonEditorPrompt.synthesis(lessons)
            let reply = try await judgeModel.complete(model: modelName, messages: prompt)
            let output = reply.content.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !output.isEmpty else { throw RasiError.upstream(status: 502, message: "the merge came back empty") }
            let made = Synthesis(
                key: key, agent: agent, prompt: prompt, output: output, model: reply.model ?? modelName, tokens: reply.usage, createdAt: Date())
            try await store.saveSynthesis(made)
            synthesis = made
        }
        let context = LessonRenderer.renderSynthesis(synthesis!.output, of: lessons)
        let tokens = TokenEstimator.count(context)
        guard tokens <= policy.tokenBudget else { throw RasiError.unavailable("the merged guidance is over the token budget") }
        var merged = selection
        merged.context = context
        merged.tokens = tokens
        return merged
    }

    public func select(_ candidates: [ScoredLesson], policy: LessonSelectionPolicy, k: Int? = nil, keepConflicts: Bool = false) async throws
        -> LessonSelection
    {
        let relevant = candidates.filter { $0.score >= policy.minScore }.map(\.lesson.id)
        guard !relevant.isEmpty else { return .empty }
        return try await PhaseTimings.measure("select") {
            let vectors = embedder == nil ? [:] : try await store.lessonVectors(ids: relevant)
            let conflicts = try await store.conflictingPairs(among: relevant)
            return policy.select(
                candidates, maxLessons: k,
                similarity: { a, b in
                    if let x = vectors[a.id], let y = vectors[b.id] { return Embeddings.cosine(x, y) }
                    return TextTerms.similarity(TextTerms.terms(a.situation), TextTerms.terms(b.situation))
                }, conflicts: conflicts, keepConflicts: keepConflicts)
        }
    }
}

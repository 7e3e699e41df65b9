import Foundation
import Logging
import Metrics
import RasiModelClient
import RasiCore

/// The long-lived things the routes need, built once by `buildApplication`.
public struct RasiServices: Sendable {
    public var configuration: RasiConfiguration
    public var store: any RasiStore
    public var retriever: any LessonRetriever
    public var redactor: any Redactor
    public var upstream: Upstream
    /// The model lessons are embedded with, and its name; nil for lexical retrieval.
    public var embedder: (any Embedder)?
    public var embeddingModel: String?
    /// Where rasi's own counters go (the server exports them at `GET /metrics`).
    public var metrics: any MetricsFactory
    /// The judge agent, over the judge's model.
    public var judge: Judge
    /// The judge's model, also used to check and merge conflicting lessons.
    public let judgeModel: any ChatModel
    /// The admin-defined topics interactions and lessons are filed under.
    public let topics: TopicCatalog
    /// The bound on gateway calls in flight.
    public let inFlight: InFlight
    /// This process among the replicas sharing a store: it holds jobs and leases under this name.
    public let instance = Identifier.make("proc")

    public init(
        configuration: RasiConfiguration, store: any RasiStore, retriever: any LessonRetriever, redactor: any Redactor,
        upstream: Upstream, judgeModel: any ChatModel, embedder: (any Embedder)? = nil, embeddingModel: String? = nil,
        metrics: any MetricsFactory = MetricsSystem.factory
    ) {
        self.metrics = metrics
        self.judgeModel = judgeModel
        self.inFlight = InFlight(limit: configuration.maxInFlight)
        self.topics = TopicCatalog(store: store, embedder: embedder, floor: configuration.topicFloor)
        self.judge = Judge(model: judgeModel, rubric: JudgeRubric(extra: configuration.judge.extraRubric), attempts: configuration.judge.attempts)
        self.configuration = configuration
        self.store = store
        self.retriever = retriever
        self.redactor = redactor
        self.upstream = upstream
        self.embedder = embedder
        self.embeddingModel = embeddingModel
    }

    /// Validates, redacts, embeds and stores a new lesson. Every way of creating a lesson goes through here.
    public func createLesson(_ fields: LessonFields, author: String) async throws -> Lesson {
        let (lesson, embedding) = try await prepareLesson(fields, author: author)
        try await store.createLesson(lesson, embedding: embedding)
        await lessonStored(lesson, embedding: embedding, actor: author)
        return lesson
    }

    /// A new lesson validated, redacted and embedded, ready to store (alone, or with a judge run).
    public func prepareLesson(_ fields: LessonFields, author: String) async throws -> (Lesson, LessonEmbedding?) {
        try fields.requireForCreation()
        try fields.validate()
        var fields = fields
        if fields.topic == nil, let situation = fields.situation { fields.topic = try await topics.classify(situation) }
        let lesson = Lesson.create(fields: fields.redacted(by: redactor), author: author)
        return (lesson, try await embedding(of: lesson))
    }

    /// Saves an edit as the lesson's next version, re-embedded; live on the next request.
    public func updateLesson(_ current: Lesson, with fields: LessonFields, by actor: String) async throws -> Lesson {
        try fields.validate()
        let next = current.applying(fields.redacted(by: redactor))
        for (name, value) in [("situation", next.situation), ("should_have_done", next.shouldHaveDone), ("correct_behavior", next.correctBehavior)]
        where value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw RasiError.invalidField(name, "must not be empty")
        }
        let vector = try await embedding(of: next)
        try await store.updateLesson(next, changedBy: actor, embedding: vector)
        await lessonStored(next, embedding: vector, actor: actor)
        return next
    }

    public func embedding(of lesson: Lesson) async throws -> LessonEmbedding? {
        guard let embedder, let embeddingModel, let vector = try await embedder.embed([lesson.retrievalText]).first else { return nil }
        return LessonEmbedding(model: embeddingModel, vector: vector)
    }

    /// Embeds the lessons that have no vector from the model in use (made before it was configured).
    public func backfillEmbeddings(logger: Logger) async throws {
        guard let embedder, let embeddingModel else { return }
        let missing = try await store.lessonsWithoutEmbedding(model: embeddingModel)
        guard !missing.isEmpty else { return }
        logger.notice("embedding lessons that have no vector yet", metadata: ["count": "\(missing.count)", "model": "\(embeddingModel)"])
        // In batches, each batch one transaction: a large store is re-embedded at the bulk rate.
        var start = 0
        while start < missing.count {
            let batch = Array(missing[start..<min(start + 64, missing.count)])
            let vectors = try await embedder.embed(batch.map(\.retrievalText))
            try await store.saveEmbeddings(zip(batch, vectors).map { ($0, LessonEmbedding(model: embeddingModel, vector: $1)) })
            start += batch.count
        }
    }

    /// An interaction as it is logged: redacted as one record when `RASI_REDACT_INTERACTIONS`
    /// is on (the upstream still gets the user's words; only the log is redacted).
    /// `context` is read only when redacting: the common case pays nothing for it.
    public func forLog(_ interaction: Interaction, appending steps: [Step], context: @autoclosure () -> [String] = []) -> (Interaction, [Step]) {
        configuration.redactInteractions ? redactor.redact(interaction, appending: steps, context: context()) : (interaction, steps)
    }

    /// Retrieves and selects the lessons for a request under the agent's policy: lessons
    /// compared by their vectors (their situations' terms without an embedder) for duplicates
    /// and diversity, known conflicts resolved.
    /// With synthesis configured, conflicting lessons chosen together are merged by the judge's
    /// model (`model`, the request's, when no judge model is set) into one block, cached by
    /// their versions; if that fails or does not fit the budget, the winner rule applies.
    /// Timed as the request's `lessons` phase (`Server-Timing`).
    public func selectLessons(agent: String, query: String, k: Int? = nil, model: String? = nil) async throws -> LessonSelection {
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

    public func synthesized(_ selection: LessonSelection, agent: String, model: String?, policy: LessonSelectionPolicy) async throws -> LessonSelection {
        let lessons = selection.lessons.map(\.lesson)
        let key = Synthesis.key(lessons)
        var synthesis = try await store.synthesis(key: key)
        if synthesis == nil {
            guard let modelName = configuration.judge.model ?? model else { throw RasiError.unavailable("no model to merge lessons with") }
            let prompt = LessonEditorPrompt.synthesis(lessons)
            let reply = try await judgeModel.complete(model: modelName, messages: prompt)
            let output = reply.content.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !output.isEmpty else { throw RasiError.upstream(status: 502, message: "the merge came back empty") }
            let made = Synthesis(key: key, agent: agent, prompt: prompt, output: output, model: reply.model ?? modelName, tokens: reply.usage, createdAt: Date())
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

    public func select(_ candidates: [ScoredLesson], policy: LessonSelectionPolicy, k: Int? = nil, keepConflicts: Bool = false) async throws -> LessonSelection {
        let relevant = candidates.filter { $0.score >= policy.minScore }.map(\.lesson.id)
        guard !relevant.isEmpty else { return .empty }
        return try await PhaseTimings.measure("select") {
            let vectors = embedder == nil ? [:] : try await store.lessonVectors(ids: relevant)
            let conflicts = try await store.conflictingPairs(among: relevant)
            return policy.select(candidates, maxLessons: k, similarity: { a, b in
                if let x = vectors[a.id], let y = vectors[b.id] { return Embeddings.cosine(x, y) }
                return TextTerms.similarity(TextTerms.terms(a.situation), TextTerms.terms(b.situation))
            }, conflicts: conflicts, keepConflicts: keepConflicts)
        }
    }

    /// After a lesson is stored: audits the change and finds the lessons it contradicts. Neither
    /// fails the write that was already acknowledged.
    public func lessonStored(_ lesson: Lesson, embedding: LessonEmbedding?, actor: String) async {
        try? await store.recordAudit(AuditEntry(
            actor: actor, action: lesson.version == 1 ? "lesson.create" : "lesson.update", target: lesson.id,
            detail: "version \(lesson.version), \(lesson.status.rawValue)"))
        _ = try? await detectConflicts(lesson, embedding: embedding)
    }

    /// Removes a lesson from use at once, keeping its history. Audited.
    public func deleteLesson(_ id: String, by actor: String) async throws {
        guard try await store.deleteLesson(id: id, by: actor) else { throw RasiError.notFound("lesson \(id)") }
        try await store.recordAudit(AuditEntry(actor: actor, action: "lesson.delete", target: id))
    }

    /// Whether two lessons about the same case contradict: the judge's model decides when
    /// configured (and readable), the rules otherwise.
    public func contradiction(_ a: Lesson, _ b: Lesson) async throws -> String? {
        let policy = configuration.conflicts
        if policy.judgeCheck, let modelName = configuration.judge.model,
           let reply = try? await judgeModel.complete(model: modelName, messages: LessonEditorPrompt.conflictCheck(a, b)),
           let verdict = LessonEditorPrompt.parseConflictCheck(reply.content) {
            return verdict.contradict ? "the judge: " + (verdict.reason.isEmpty ? "they contradict" : verdict.reason) : nil
        }
        return policy.contradiction(a, b, behaviorSimilarity: try await textSimilarity(a.correctBehavior, b.correctBehavior))
    }

    /// Lessons of the same agent whose situations are about the same case, and that say
    /// something else: opposite polarity, or correct behaviours that diverge.
    @discardableResult
    public func detectConflicts(_ lesson: Lesson, embedding: LessonEmbedding?) async throws -> [LessonConflict] {
        guard lesson.status != .retired else { return [] }
        let policy = configuration.conflicts
        let similar: [ScoredLesson]
        if let embedding {
            similar = try await store.denseCandidates(agent: lesson.agent, vector: embedding.vector, limit: 10)
        } else {
            similar = try await LexicalRetriever(store: store).candidates(agent: lesson.agent, query: lesson.situation, limit: 20)
        }
        var found: [LessonConflict] = []
        for other in similar where other.lesson.id != lesson.id && other.score >= policy.situationSimilarity {
            guard let reason = try await contradiction(lesson, other.lesson) else { continue }
            let conflict = LessonConflict(pair: LessonPair(lesson.id, other.lesson.id), agent: lesson.agent, similarity: other.score,
                                          reason: reason, detectedAt: Date())
            try await store.recordConflict(conflict)
            found.append(conflict)
        }
        return found
    }

    /// Logs an interaction from an agent that does not use the gateway (the REST API, the Swift
    /// library in process): topic filed, redacted when configured, the lessons it names recorded
    /// as injections (at their current versions, unless `injections` says more), signals detected.
    public func ingest(_ interaction: Interaction, injections: [Injection]? = nil, logger: Logger) async throws -> Interaction {
        var interaction = interaction
        if interaction.topic == nil { interaction.topic = try? await topics.classify(interaction.request) ?? nil }
        var recorded = injections ?? []
        if injections == nil {
            for (rank, id) in interaction.lessonsInjected.enumerated() {
                guard let lesson = try await store.lesson(id: id) else { continue }
                recorded.append(Injection(interactionId: interaction.id, lessonId: id, version: lesson.version, rank: rank + 1, score: 0))
            }
        }
        let logged = forLog(interaction, appending: []).0
        try await store.createInteraction(logged, turnKey: nil, injections: recorded)
        await detectSignals(logged: logged, logger: logger)
        return try await store.interaction(id: interaction.id) ?? logged
    }

    /// Feedback on an interaction, from its user, a reviewer or a signal. False when it was an
    /// implicit signal the interaction already had: acknowledged, not counted twice.
    public func addFeedback(
        to interactionId: String, rating: Rating?, comment: String?, source: FeedbackSource = .user, signal: Signal? = nil
    ) async throws -> (feedback: Feedback, added: Bool) {
        let comment = comment?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard rating != nil || signal != nil || !(comment ?? "").isEmpty else {
            throw RasiError.invalidField("rating", "one of rating, comment or signal is required")
        }
        if let comment, comment.count > 4000 { throw RasiError.invalidField("comment", "must be at most 4000 characters") }
        let feedback = Feedback(
            id: Identifier.make("fb"), interactionId: interactionId, rating: rating,
            comment: configuration.redactInteractions ? comment.map(redactor.redact) : comment,
            source: source, signal: signal, createdAt: Date())
        let outcome = try await applySignals(interactionId, adding: [feedback])
        return (feedback, !outcome.added.isEmpty)
    }

    /// Creates the bootstrap admin key when it is configured and no admin key exists yet.
    public func bootstrapAdminKey(logger: Logger) async throws {
        guard let secret = configuration.bootstrapAdminKey, try await !store.hasActiveAdminKey() else { return }
        let key = APIKey(id: Identifier.make("key"), name: "bootstrap admin", role: .admin,
                         prefix: KeySecret.displayPrefix(secret), createdAt: Date())
        try await store.createKey(key, secretHash: KeySecret.hash(secret))
        try await store.recordAudit(AuditEntry(actor: "rasi (RASI_BOOTSTRAP_ADMIN_KEY)", action: "key.create", target: key.id, detail: "admin key \"bootstrap admin\""))
        logger.notice("created the bootstrap admin key from RASI_BOOTSTRAP_ADMIN_KEY", metadata: ["key": "\(key.id)"])
    }
}

/// rasi's own counters: gateway calls, injections, signals, flags, judge runs.
public struct RasiMetrics: Sendable {
    let factory: any MetricsFactory

    public init(_ factory: any MetricsFactory) {
        self.factory = factory
    }

    /// A gateway call answered with `status`.
    public func call(status: Int) {
        Counter(label: "rasi_gateway_calls_total", dimensions: [("status", String(status))], factory: factory).increment()
    }

    /// Lessons injected into one model call of `agent`.
    public func injected(_ count: Int, agent: String) {
        Counter(label: "rasi_lessons_injected_total", dimensions: [("agent", agent)], factory: factory).increment(by: count)
    }

    func recorded(_ outcome: SignalOutcome) {
        for feedback in outcome.added where feedback.source == .implicit {
            Counter(label: "rasi_signals_total", dimensions: [("signal", feedback.signal?.rawValue ?? "none")], factory: factory).increment()
        }
        for flag in outcome.raised {
            Counter(label: "rasi_flags_raised_total", dimensions: [("rule", flag.rule?.rawValue ?? "manual")], factory: factory).increment()
        }
    }

    func judged(_ run: JudgeRun) {
        Counter(label: "rasi_judge_runs_total", dimensions: [("status", run.status.rawValue)], factory: factory).increment()
    }
}

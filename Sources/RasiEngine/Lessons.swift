import Foundation
import Logging
import RasiCore

/// Reading lessons, their versions, and the conflicts and merges between them.
extension RasiServices {
    /// Lessons matching `filter`, newest first.
    public func lessons(_ filter: LessonFilter) async throws -> [Lesson] {
        try await store.listLessons(filter)
    }

    /// A lesson at its current version, in any status.
    public func lesson(_ id: String) async throws -> Lesson {
        guard let lesson = try await store.lesson(id: id) else { throw RasiError.notFound("lesson \(id)") }
        return lesson
    }

    /// Every version of a lesson, oldest first, each with who saved it and when: the audit trail.
    public func lessonVersions(_ id: String) async throws -> [LessonVersion] {
        let history = try await store.lessonHistory(id: id)
        guard !history.isEmpty else { throw RasiError.notFound("lesson \(id)") }
        return history
    }

    /// Conflicts between lessons (`open` ones, or resolved ones), each with both lessons as they are now.
    public func conflicts(open: Bool, limit: Int) async throws -> [(conflict: LessonConflict, lessons: [Lesson])] {
        var found: [(LessonConflict, [Lesson])] = []
        for conflict in try await store.listConflicts(open: open, limit: limit) {
            var lessons: [Lesson] = []
            for id in [conflict.pair.first, conflict.pair.second] {
                if let lesson = try await store.lesson(id: id) { lessons.append(lesson) }
            }
            found.append((conflict, lessons))
        }
        return found
    }

    /// The merges of conflicting lessons, newest first.
    public func syntheses(limit: Int) async throws -> [Synthesis] {
        try await store.listSyntheses(limit: limit)
    }
}

/// Writing lessons: every way of creating or changing one goes through here (validated,
/// redacted, embedded, audited, checked for conflicts).
extension RasiServices {
    /// Validates, redacts, embeds and stores a new lesson. Every way of creating a lesson goes through here.
    public func createLesson(_ fields: LessonFields, author: String) async throws -> Lesson {
        if let source = fields.sourceInteractionId, try await store.interaction(id: source) == nil {
            throw RasiError.invalidField("source_interaction_id", "names no interaction")
        }
        let (lesson, embedding) = try await prepareLesson(fields, author: author)
        try await store.createLesson(lesson, embedding: embedding)
        await lessonStored(lesson, embedding: embedding, actor: author)
        return lesson
    }

    /// A new lesson validated, redacted and embedded, ready to store (alone, or with a judge run).
    public func prepareLesson(_ fields: LessonFields, author: String) async throws -> (Lesson, LessonEmbedding?) {
        try fields.requireForCreation()
        try fields.validate()
        var fields = try await withSourceRequest(fields)
        try fields.validate()
        if fields.topic == nil, let situation = fields.situation { fields.topic = try await topics.classify(situation) }
        let lesson = Lesson.create(fields: fields.redacted(by: redactor), author: author)
        return (lesson, try await embedding(of: lesson))
    }

    /// Saves an edit as the lesson's next version, re-embedded; live on the next request.
    /// A change by rasi itself (`keepReviewReason`) leaves the reason a reviewer is asked to look.
    public func updateLesson(_ current: Lesson, with fields: LessonFields, by actor: String, keepReviewReason: Bool = false) async throws -> Lesson {
        try fields.validate(against: current)
        var next = current.applying(fields.redacted(by: redactor))
        if keepReviewReason { next.reviewReason = current.reviewReason }
        for (name, value) in [("situation", next.situation), ("should_have_done", next.shouldHaveDone), ("correct_behavior", next.correctBehavior)]
        where value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw RasiError.invalidField(name, "must not be empty")
        }
        let vector = try await embedding(of: next)
        try await store.updateLesson(next, changedBy: actor, embedding: vector)
        await lessonStored(next, embedding: vector, actor: actor)
        return next
    }

    /// The lesson's vectors: its situation's, its examples' and its counter-examples'.
    public func embedding(of lesson: Lesson) async throws -> LessonEmbedding? {
        guard let embedder, let embeddingModel else { return nil }
        let vectors = try await embedder.embed(lesson.embeddedTexts)
        guard vectors.count == lesson.embeddedTexts.count else { return nil }
        return LessonEmbedding(model: embeddingModel, vectors: vectors, examples: lesson.examples.count)
    }

    /// Embeds the lessons that have no vector from the model in use (made before it was configured).
    public func backfillEmbeddings(logger: Logger) async throws {
        guard let embedder, let embeddingModel else { return }
        try await Self.backfillEmbeddings(in: store, embedder: embedder, model: embeddingModel, logger: logger)
    }

    /// Embeds the lessons of `store` that have no vector from `model` (made before it was
    /// configured, or imported): `rasi serve` at start, and `rasi lessons import`. Returns how many.
    @discardableResult
    public static func backfillEmbeddings(
        in store: any LessonStore, embedder: any Embedder, model: String, logger: Logger
    ) async throws -> Int {
        let missing = try await store.lessonsWithoutEmbedding(model: model)
        guard !missing.isEmpty else { return 0 }
        logger.notice("embedding lessons that have no vector yet", metadata: ["count": "\(missing.count)", "model": "\(model)"])
        // In batches, each batch one transaction: a large store is re-embedded at the bulk rate.
        for start in stride(from: 0, to: missing.count, by: 64) {
            let batch = Array(missing[start..<min(start + 64, missing.count)])
            let vectors = try await embedder.embed(batch.flatMap(\.embeddedTexts))
            var offset = 0
            let embeddings = batch.map { lesson in
                defer { offset += lesson.embeddedTexts.count }
                let own = Array(vectors[offset..<offset + lesson.embeddedTexts.count])
                return (lesson, LessonEmbedding(model: model, vectors: own, examples: lesson.examples.count))
            }
            try await store.saveEmbeddings(embeddings)
        }
        return missing.count
    }

    /// After a lesson is stored: audits the change and finds the lessons it contradicts. Neither
    /// fails the write that was already acknowledged.
    public func lessonStored(_ lesson: Lesson, embedding: LessonEmbedding?, actor: String) async {
        try? await store.recordAudit(
            AuditEntry(
                actor: actor, action: lesson.version == 1 ? "lesson.create" : "lesson.update", target: lesson.id,
                detail: "version \(lesson.version), \(lesson.status.rawValue)"))
        _ = try? await detectConflicts(lesson, embedding: embedding)
        proposeExamplesInBackground(lesson)
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
            let verdict = LessonEditorPrompt.parseConflictCheck(reply.content)
        {
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
            let conflict = LessonConflict(
                pair: LessonPair(lesson.id, other.lesson.id), agent: lesson.agent, similarity: other.score,
                reason: reason, detectedAt: Date())
            try await store.recordConflict(conflict)
            found.append(conflict)
        }
        return found
    }
}

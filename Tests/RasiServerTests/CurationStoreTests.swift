import Foundation
import RasiCore
import RasiSQLite
import Testing

@Suite struct CurationStoreTests {
    func lesson(_ situation: String, confidence: Double = 0.8) -> Lesson {
        Lesson.create(
            fields: LessonFields(
                agent: "a", situation: situation, did: "d", shouldHaveDone: "s", why: "w",
                correctBehavior: "c", confidence: confidence), author: "t")
    }

    func interactionInjecting(_ lesson: Lesson, store: any RasiStore) async throws -> String {
        let interaction = Interaction(agent: "a", request: "q", lessonsInjected: [lesson.id])
        try await store.createInteraction(
            interaction, turnKey: nil,
            injections: [
                Injection(interactionId: interaction.id, lessonId: lesson.id, version: lesson.version, rank: 1, score: 0.9)
            ])
        return interaction.id
    }

    func rate(_ rating: Rating, _ interactionId: String, store: any RasiStore, efficacy: EfficacyPolicy = EfficacyPolicy()) async throws
        -> SignalOutcome
    {
        try await store.applySignals(
            interactionId: interactionId,
            adding: [
                Feedback(
                    id: Identifier.make("fb"), interactionId: interactionId, rating: rating, comment: nil, source: .user, signal: nil,
                    createdAt: Date())
            ],
            rules: FlagRules(), efficacy: efficacy, lift: nil, enqueueJudge: false, now: Date())
    }

    @Test(arguments: StoreKind.allCases) func feedbackCountsOncePerInteractionForEachInjectedLessonLatestWins(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let stored = lesson("refunds")
            try await store.createLesson(stored, embedding: nil)
            let first = try await interactionInjecting(stored, store: store)
            _ = try await rate(.up, first, store: store)
            _ = try await rate(.up, first, store: store)
            #expect(try await store.lesson(id: stored.id)?.helpful == 1)
            _ = try await rate(.down, first, store: store)
            let counted = try #require(try await store.lesson(id: stored.id))
            #expect(counted.helpful == 0 && counted.harmful == 1)
        }
    }

    @Test(arguments: StoreKind.allCases) func aLessonHarmfulOftenEnoughIsRetiredAndSentToReview(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let stored = lesson("refunds")
            try await store.createLesson(stored, embedding: nil)
            var efficacy = EfficacyPolicy()
            efficacy.minRated = 3
            _ = try await rate(.up, try await interactionInjecting(stored, store: store), store: store, efficacy: efficacy)
            let second = try await rate(.down, try await interactionInjecting(stored, store: store), store: store, efficacy: efficacy)
            #expect(second.retired.isEmpty) // 1 of 2 harmful, under the minimum of 3 rated uses
            let third = try await rate(.down, try await interactionInjecting(stored, store: store), store: store, efficacy: efficacy)
            #expect(third.retired == [stored.id]) // 2 of 3 harmful
            let retired = try #require(try await store.lesson(id: stored.id))
            #expect(retired.status == .retired && retired.version == 2)
            #expect(retired.reviewReason == "retired automatically: harmful in 2 of 3 rated uses")
            #expect(try await store.lessonHistory(id: stored.id).map(\.lesson.status) == [.active, .retired])
        }
    }

    @Test(arguments: StoreKind.allCases) func aConflictIsRecordedOnceAndResolved(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let pair = LessonPair("les_b", "les_a")
            let conflict = LessonConflict(pair: pair, agent: "a", similarity: 0.9, reason: "opposite polarity", detectedAt: Date())
            try await store.recordConflict(conflict)
            try await store.recordConflict(conflict)
            #expect(try await store.listConflicts(open: true, limit: 10).map(\.pair) == [pair])
            #expect(try await store.conflictingPairs(among: ["les_a", "les_b", "les_c"]) == [pair])
            #expect(try await store.conflictingPairs(among: ["les_a", "les_c"]).isEmpty)
            // One found after the open pairs were read is seen at once, beside the first.
            let later = LessonPair("les_c", "les_a")
            try await store.recordConflict(LessonConflict(pair: later, agent: "a", similarity: 0.8, reason: "r", detectedAt: Date()))
            #expect(try await store.conflictingPairs(among: ["les_a", "les_b", "les_c"]) == [pair, later])
            let id = try #require(try await store.listConflicts(open: true, limit: 10).first { $0.pair == pair }?.id)
            #expect(try await store.resolveConflict(id: id, by: "r", resolution: "kept les_a", at: Date())?.resolution == "kept les_a")
            #expect(try await store.conflictingPairs(among: ["les_a", "les_b"]).isEmpty)
            #expect(try await store.conflictingPairs(among: ["les_a", "les_b", "les_c"]) == [later])
        }
    }

    @Test(arguments: StoreKind.allCases) func exportThenImportIntoAnEmptyStoreRoundTripsIdentically(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { source in
            let first = lesson("refunds for damaged parcels")
            try await source.createLesson(first, embedding: nil)
            try await source.updateLesson(first.applying(LessonFields(correctBehavior: "offer a replacement first")), changedBy: "r", embedding: nil)
            try await source.createLesson(lesson("password resets", confidence: 0.6), embedding: nil)
            let exported = try await source.exportLessonVersions()
            #expect(exported.count == 3)
            // Into the other kind of store: what one exports, the other imports identically.
            try await withTemporaryStore(kind == .sqlite ? .postgres : .sqlite) { target in
                let imported = try await target.importLessonVersions(exported)
                #expect(imported.added == 3 && imported.skipped == 0 && imported.updated.count == 2)
                // The JSONL a team keeps in git comes out byte for byte the same.
                func lines(_ versions: [LessonVersion]) throws -> [String] {
                    try versions.map { String(decoding: try RasiJSON.encoder().encode($0), as: UTF8.self) }
                }
                #expect(try lines(try await target.exportLessonVersions()) == lines(exported))
                #expect(try await target.lesson(id: first.id)?.correctBehavior == "offer a replacement first")
                let again = try await target.importLessonVersions(exported)
                #expect(again.added == 0 && again.skipped == 3 && again.updated.isEmpty)
            }
        }
    }
}

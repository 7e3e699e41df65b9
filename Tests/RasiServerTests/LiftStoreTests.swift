import Foundation
import RasiCore
import RasiSQLite
import Testing

/// Exposures by arm, their outcomes, and retirement by lift: on SQLite and PostgreSQL alike.
@Suite struct LiftStoreTests {
    func lesson(_ situation: String) -> Lesson {
        Lesson.create(
            fields: LessonFields(agent: "a", situation: situation, did: "d", shouldHaveDone: "s", why: "w", correctBehavior: "c"), author: "t")
    }

    /// An interaction of agent `agent` exposed to `lesson` in `arm`; returns its id.
    func exposure(_ lesson: Lesson, arm: ExposureArm, agent: String = "a", store: any RasiStore) async throws -> String {
        var interaction = Interaction(agent: agent, request: "q", lessonsInjected: arm == .treatment ? [lesson.id] : [])
        interaction.lessonsWithheld = arm == .control ? [lesson.id] : []
        try await store.createInteraction(
            interaction, turnKey: nil,
            injections: [Injection(interactionId: interaction.id, lessonId: lesson.id, version: lesson.version, rank: 1, score: 0.9, arm: arm)])
        return interaction.id
    }

    @discardableResult
    func feedback(
        _ interactionId: String, rating: Rating? = nil, signal: Signal? = nil, lift: LiftPolicy? = nil, store: any RasiStore
    ) async throws -> SignalOutcome {
        try await store.applySignals(
            interactionId: interactionId,
            adding: [
                Feedback(
                    id: Identifier.make("fb"), interactionId: interactionId, rating: rating, comment: nil, source: signal == nil ? .user : .implicit,
                    signal: signal, createdAt: Date())
            ],
            rules: FlagRules(), efficacy: EfficacyPolicy(), lift: lift, enqueueJudge: false, now: Date())
    }

    @Test(arguments: StoreKind.allCases) func exposuresAreCountedByArmWithTheirOutcomes(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let stored = lesson("refunds")
            try await store.createLesson(stored, embedding: nil)
            // Treatment: a thumbs-down, a rephrase, a thumbs-up, one without feedback.
            try await feedback(try await exposure(stored, arm: .treatment, store: store), rating: .down, store: store)
            try await feedback(try await exposure(stored, arm: .treatment, store: store), signal: .rephrase, store: store)
            try await feedback(try await exposure(stored, arm: .treatment, store: store), rating: .up, store: store)
            _ = try await exposure(stored, arm: .treatment, store: store)
            // Control: a thumbs-up, then a thumbs-down on the same interaction (negative wins), and an abandonment.
            let mixed = try await exposure(stored, arm: .control, store: store)
            try await feedback(mixed, rating: .up, store: store)
            try await feedback(mixed, rating: .down, store: store)
            try await feedback(try await exposure(stored, arm: .control, store: store), signal: .abandon, store: store)

            let arms = try await store.liftArms(lessonId: stored.id, rules: OutcomeRules())
            #expect(arms.treatment == LiftArm(exposures: 4, negative: 2, positive: 1))
            #expect(arms.control == LiftArm(exposures: 2, negative: 1, positive: 0))
            // With abandonment and rephrases counted as negative, and thumbs-downs not (the mixed one is now positive).
            let other = try await store.liftArms(lessonId: stored.id, rules: try OutcomeRules.parse(["abandon", "rephrase"]))
            #expect(other.treatment == LiftArm(exposures: 4, negative: 1, positive: 1))
            #expect(other.control == LiftArm(exposures: 2, negative: 1, positive: 1))
            // The agent's figures pool its lessons; another agent has none.
            #expect(try await store.liftArms(agent: "a", rules: OutcomeRules()).treatment.exposures == 4)
            #expect(try await store.liftArms(agent: "b", rules: OutcomeRules()).control.exposures == 0)
            // Withheld lessons are not counted as injected for efficacy.
            let counted = try #require(try await store.lesson(id: stored.id))
            #expect(counted.helpful == 1 && counted.harmful == 2)
        }
    }

    @Test(arguments: StoreKind.allCases) func aLessonThatHurtsIsRetiredByLiftOnceBothArmsHaveEnoughExposures(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let bad = lesson("refunds")
            try await store.createLesson(bad, embedding: nil)
            let lift = LiftPolicy(minExposures: 5)
            // Control: five exposures, none negative.
            for _ in 0..<5 { try await feedback(try await exposure(bad, arm: .control, store: store), rating: .up, lift: lift, store: store) }
            // Treatment: negative every time; four exposures are not enough to decide.
            for _ in 0..<4 {
                let outcome = try await feedback(try await exposure(bad, arm: .treatment, store: store), rating: .down, lift: lift, store: store)
                #expect(outcome.retired.isEmpty)
            }
            // The fifth decides: the lesson hurts, and is retired in the same transaction.
            let decided = try await feedback(try await exposure(bad, arm: .treatment, store: store), rating: .down, lift: lift, store: store)
            #expect(decided.retired == [bad.id])
            let retired = try #require(try await store.lesson(id: bad.id))
            #expect(retired.status == .retired && retired.version == 2 && retired.harmful == 5)
            #expect(retired.reviewReason?.hasPrefix("retired automatically: negative outcomes 5 of 5 with the lesson, 0 of 5 without it") == true)
            #expect(try await store.lessonHistory(id: bad.id).last?.changedBy == LiftPolicy.actor)
        }
    }

    @Test(arguments: StoreKind.allCases) func withLiftDecidingTheHarmfulShareRuleRetiresNothing(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let stored = lesson("refunds")
            try await store.createLesson(stored, embedding: nil)
            // Five thumbs-downs with the lesson would retire it under the harmful-share rule; with
            // lift deciding and no control exposures, the verdict is unclear and it stays.
            for _ in 0..<5 {
                let outcome = try await feedback(
                    try await exposure(stored, arm: .treatment, store: store), rating: .down, lift: LiftPolicy(minExposures: 1), store: store)
                #expect(outcome.retired.isEmpty)
            }
            #expect(try await store.lesson(id: stored.id)?.status == .active)
            // Without lift, the next one retires it as today.
            let outcome = try await feedback(try await exposure(stored, arm: .treatment, store: store), rating: .down, store: store)
            #expect(outcome.retired == [stored.id])
        }
    }
}

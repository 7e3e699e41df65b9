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
            // Decided from the kept counts (the other tests count on read).
            try await store.prepareLiftCounts(rules: lift.outcomes)
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

    @Test(arguments: StoreKind.allCases) func aJudgesProblemVerdictThatDecidesLiftRetiresTheLessonInItsTransaction(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let bad = lesson("refunds")
            try await store.createLesson(bad, embedding: nil)
            let lift = LiftPolicy(minExposures: 5)
            for _ in 0..<5 { try await feedback(try await exposure(bad, arm: .control, store: store), rating: .up, lift: lift, store: store) }
            for _ in 0..<4 { try await feedback(try await exposure(bad, arm: .treatment, store: store), rating: .down, lift: lift, store: store) }
            // The fifth treated interaction gets no feedback: the judge finds the problem.
            let judged = try await exposure(bad, arm: .treatment, store: store)
            let problem = try RasiJSON.decoder().decode(JudgeVerdict.self, from: Data(#"{"verdict": "problem", "summary": "s", "rubric": []}"#.utf8))
            func run() -> JudgeRun {
                JudgeRun(interactionId: judged, status: .ok, model: "j", prompt: [], outputs: ["{}"], verdict: problem)
            }
            // Without lift deciding (no holdout for the agent) the verdict is only logged.
            try await store.recordJudgeRun(run(), lesson: nil)
            #expect(try await store.lesson(id: bad.id)?.status == .active)
            // With it, the verdict that makes the lift `hurts` retires the lesson.
            try await store.recordJudgeRun(run(), lesson: nil, lift: lift)
            let retired = try #require(try await store.lesson(id: bad.id))
            #expect(retired.status == .retired && retired.version == 2)
            #expect(retired.reviewReason?.hasPrefix("retired automatically: negative outcomes 5 of 5 with the lesson, 0 of 5 without it") == true)
            #expect(try await store.lessonHistory(id: bad.id).last?.changedBy == LiftPolicy.actor)

            // The queue's path does the same, in the transaction that finishes the job. Escalations
            // queue the judge, and do not count as negative here: 2 of 5 negative with the lesson
            // against 0 of 5 without is unclear; the judge's problem makes it 3 of 5, which hurts.
            let thumbs = LiftPolicy(minExposures: 5, outcomes: OutcomeRules(negative: [.thumbsDown, .judgeProblem]))
            let second = lesson("refunds again")
            try await store.createLesson(second, embedding: nil)
            for _ in 0..<5 { try await feedback(try await exposure(second, arm: .control, store: store), rating: .up, lift: thumbs, store: store) }
            for rating in [Rating.down, .down, .up, .up] {
                try await feedback(try await exposure(second, arm: .treatment, store: store), rating: rating, lift: thumbs, store: store)
            }
            let queued = try await exposure(second, arm: .treatment, store: store)
            let escalated = try await store.applySignals(
                interactionId: queued,
                adding: [
                    Feedback(
                        id: Identifier.make("fb"), interactionId: queued, rating: nil, comment: nil, source: .implicit, signal: .escalate,
                        createdAt: Date())
                ], rules: FlagRules(), efficacy: EfficacyPolicy(), lift: thumbs, enqueueJudge: true, now: Date())
            #expect(escalated.retired.isEmpty && escalated.judgeJob != nil)
            let job = try #require(try await store.claimJob(owner: "me", now: Date()))
            var finishing = run()
            finishing.interactionId = queued
            finishing.jobId = job.id
            #expect(try await store.finishJob(job, owner: "me", outcome: .done, run: finishing, lesson: nil, lift: thumbs, now: Date()))
            #expect(try await store.lesson(id: second.id)?.status == .retired)
        }
    }

    @Test(arguments: StoreKind.allCases) func keptCountsFollowEveryWriteAndEqualARebuild(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let rules = OutcomeRules()
            #expect(try await store.prepareLiftCounts(rules: rules)) // a new store: built (empty)
            #expect(try await store.prepareLiftCounts(rules: rules) == false) // the same rules: kept as they are
            let a = lesson("refunds")
            var b = lesson("shipping")
            b.agent = "b"
            try await store.createLesson(a, embedding: nil)
            try await store.createLesson(b, embedding: nil)
            // a: treatment down, treatment up then down (negative wins), control rephrase, control without outcome.
            try await feedback(try await exposure(a, arm: .treatment, store: store), rating: .down, store: store)
            let flips = try await exposure(a, arm: .treatment, store: store)
            try await feedback(flips, rating: .up, store: store)
            #expect(try await store.liftArms(lessonId: a.id, rules: rules).treatment == LiftArm(exposures: 2, negative: 1, positive: 1))
            try await feedback(flips, rating: .down, store: store)
            try await feedback(try await exposure(a, arm: .control, store: store), signal: .rephrase, store: store)
            _ = try await exposure(a, arm: .control, store: store)
            // b (another agent): thumbs-up, then the judge's problem on it makes it negative.
            let judged = try await exposure(b, arm: .treatment, agent: "b", store: store)
            try await feedback(judged, rating: .up, store: store)
            let problem = try RasiJSON.decoder().decode(JudgeVerdict.self, from: Data(#"{"verdict": "problem", "summary": "s", "rubric": []}"#.utf8))
            try await store.recordJudgeRun(
                JudgeRun(interactionId: judged, status: .ok, model: "j", prompt: [], outputs: ["{}"], verdict: problem), lesson: nil)
            // A later call of a turn that already has its outcome exposes a to it: counted with that outcome, once.
            var later = try #require(try await store.interaction(id: judged))
            let injection = Injection(interactionId: judged, lessonId: a.id, version: 1, rank: 1, score: 0.8, arm: .treatment)
            try await store.updateInteraction(later, appendingSteps: [], injections: [injection, injection], responseId: nil)
            later.updatedAt = Date()
            try await store.updateInteraction(later, appendingSteps: [], injections: [injection], responseId: nil)

            let kept = (
                a: try await store.liftArms(lessonId: a.id, rules: rules), b: try await store.liftArms(lessonId: b.id, rules: rules),
                agentA: try await store.liftArms(agent: "a", rules: rules)
            )
            #expect(kept.a.treatment == LiftArm(exposures: 3, negative: 3, positive: 0))
            #expect(kept.a.control == LiftArm(exposures: 2, negative: 1, positive: 0))
            #expect(kept.b.treatment == LiftArm(exposures: 1, negative: 1, positive: 0) && kept.b.control.exposures == 0)
            // The agent's figures sum its lessons' (a's exposure in b's interaction is counted under that interaction's agent).
            #expect(kept.agentA.control == kept.a.control)
            // Counted under other rules (a rebuild), then under these again (another): the same figures.
            #expect(try await store.prepareLiftCounts(rules: try OutcomeRules.parse(["thumbs_down"])))
            #expect(try await store.liftArms(lessonId: a.id, rules: try OutcomeRules.parse(["thumbs_down"])).control.negative == 0)
            #expect(try await store.prepareLiftCounts(rules: rules))
            #expect(try await store.liftArms(lessonId: a.id, rules: rules) == kept.a)
            #expect(try await store.liftArms(lessonId: b.id, rules: rules) == kept.b)
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

    @Test(arguments: StoreKind.allCases) func trendsCountEachBucketsOutcomesExposuresAndLessons(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let hour = 3600.0
            // 2025-12-01 09:00 UTC and the next two hours; day buckets start at midnight.
            let nine = Date(timeIntervalSince1970: 1_764_579_600)
            var refunds = lesson("refunds")
            refunds.topic = "billing"
            refunds.createdAt = nine + 60
            refunds.updatedAt = nine + 60
            try await store.createLesson(refunds, embedding: nil)
            var other = lesson("passwords")
            other.agent = "b"
            other.createdAt = nine + 120
            other.updatedAt = nine + 120
            try await store.createLesson(other, embedding: nil)

            func interaction(at: Date, agent: String = "a", topic: String?, arm: ExposureArm?, rating: Rating?) async throws {
                var interaction = Interaction(agent: agent, request: "q", lessonsInjected: arm == .treatment ? [refunds.id] : [])
                interaction.lessonsWithheld = arm == .control ? [refunds.id] : []
                interaction.topic = topic
                interaction.createdAt = at
                let injections = arm.map {
                    [Injection(interactionId: interaction.id, lessonId: refunds.id, version: 1, rank: 1, score: 0.9, arm: $0)]
                }
                try await store.createInteraction(interaction, turnKey: nil, injections: injections ?? [])
                if let rating { try await feedback(interaction.id, rating: rating, store: store) }
            }
            // 09:00: two treated (one bad), one withheld (bad), one without lessons (good).
            try await interaction(at: nine + 300, topic: "billing", arm: .treatment, rating: .down)
            try await interaction(at: nine + 600, topic: "billing", arm: .treatment, rating: nil)
            try await interaction(at: nine + 900, topic: "billing", arm: .control, rating: .down)
            try await interaction(at: nine + 1200, topic: "account", arm: nil, rating: .up)
            // 10:00: nothing. 11:00: one treated (good), another agent's interaction; the lesson is retired.
            try await interaction(at: nine + 2 * hour + 60, topic: "billing", arm: .treatment, rating: .up)
            try await interaction(at: nine + 2 * hour + 120, agent: "b", topic: "account", arm: nil, rating: .down)
            var retired = refunds
            retired.status = .retired
            retired.version = 2
            retired.updatedAt = nine + 2 * hour + 300
            try await store.updateLesson(retired, changedBy: "t", embedding: nil)
            // An edit of a retired lesson is not a second retirement.
            retired.version = 3
            retired.why = "still wrong"
            retired.updatedAt = nine + 2 * hour + 400
            try await store.updateLesson(retired, changedBy: "t", embedding: nil)

            let all = TrendQuery(bucket: .hour, since: nine, until: nine + 3 * hour)
            let counts = try await store.trendCounts(all, rules: OutcomeRules())
            #expect(Set(counts.keys) == [nine, nine + 2 * hour])
            let first = try #require(counts[nine])
            #expect(first.interactions == 4 && first.negative == 2 && first.positive == 1)
            #expect(first.treatment == LiftArm(exposures: 2, negative: 1, positive: 0))
            #expect(first.control == LiftArm(exposures: 1, negative: 1, positive: 0))
            #expect(first.lessonsCreated == 2 && first.lessonsRetired == 0)
            let third = try #require(counts[nine + 2 * hour])
            #expect(third.interactions == 2 && third.negative == 1 && third.positive == 1)
            #expect(third.treatment == LiftArm(exposures: 1, negative: 0, positive: 1) && third.control.exposures == 0)
            #expect(third.lessonsCreated == 0 && third.lessonsRetired == 1)

            // Filters: agent, topic (the interaction's, and the lesson version's), lesson; day buckets.
            var agentB = all
            agentB.agent = "b"
            let b = try await store.trendCounts(agentB, rules: OutcomeRules())
            #expect(b[nine]?.interactions == 0 && b[nine]?.lessonsCreated == 1 && b[nine + 2 * hour]?.interactions == 1)
            var billing = all
            billing.topic = "billing"
            let billed = try await store.trendCounts(billing, rules: OutcomeRules())
            #expect(billed[nine]?.interactions == 3 && billed[nine]?.lessonsCreated == 1 && billed[nine + 2 * hour]?.lessonsRetired == 1)
            let byLesson = try await store.trendCounts(
                TrendQuery(lessonId: refunds.id, bucket: .day, since: nine, until: nine + 3 * hour), rules: OutcomeRules())
            let day = Date(timeIntervalSince1970: 1_764_547_200)
            #expect(Set(byLesson.keys) == [day])
            #expect(byLesson[day]?.interactions == 4 && byLesson[day]?.treatment.exposures == 3 && byLesson[day]?.control.exposures == 1)
            #expect(byLesson[day]?.lessonsCreated == 1 && byLesson[day]?.lessonsRetired == 1)
            // Outside the span, nothing.
            #expect(
                try await store.trendCounts(TrendQuery(bucket: .hour, since: nine + 3 * hour, until: nine + 5 * hour), rules: OutcomeRules()).isEmpty)

            // The busiest agents and topics, most interactions first.
            #expect(try await store.busiest(byTopic: false, in: all, limit: 5).map(\.name) == ["a", "b"])
            #expect(try await store.busiest(byTopic: true, in: all, limit: 1).map(\.name) == ["billing"])
            #expect(try await store.busiest(byTopic: true, in: agentB, limit: 5).map(\.interactions) == [1])

            // The query as the API answers it: every bucket, empty ones included.
            let trends = Trends(query: all, counts: counts)
            #expect(trends.buckets.map(\.interactions) == [4, 0, 2])
            #expect(trends.buckets[1].negativeRate == nil && trends.buckets[0].negativeRate == 0.5)
            #expect(trends.total.treatment == LiftArm(exposures: 3, negative: 1, positive: 1))
        }
    }
}

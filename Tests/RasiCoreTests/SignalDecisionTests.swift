import Foundation
import RasiCore
import Testing

@Suite struct SignalDecisionTests {
    let now = Date()

    func feedback(_ rating: Rating? = nil, signal: Signal? = nil, at offset: TimeInterval = 0) -> Feedback {
        Feedback(
            id: Identifier.make("fb"), interactionId: "int_1", rating: rating, comment: nil, source: signal == nil ? .user : .implicit,
            signal: signal, createdAt: now.addingTimeInterval(offset))
    }

    /// The state after `added` was stored on an interaction that already had `earlier`.
    func state(
        earlier: [Feedback] = [], added: [Feedback], flags: [FlagRule: RuleFlagState] = [:], injected: [InjectedLesson] = [],
        error: String? = nil
    ) -> SignalState {
        var interaction = Interaction(id: "int_1", agent: "a", request: "where is my parcel", response: "Done.")
        interaction.feedback = earlier + added
        interaction.error = error
        return SignalState(interaction: interaction, added: added, ruleFlags: flags, injected: injected)
    }

    func decide(_ state: SignalState, efficacy: EfficacyPolicy = EfficacyPolicy(), enqueueJudge: Bool = false) -> [SignalAction] {
        SignalDecision.decide(state, rules: FlagRules(), efficacy: efficacy, enqueueJudge: enqueueJudge, now: now)
    }

    func lesson(helpful: Int, harmful: Int, status: LessonStatus = .active) -> Lesson {
        var lesson = Lesson.create(
            fields: LessonFields(
                agent: "a", situation: "parcel questions", did: "d", shouldHaveDone: "s", why: "w",
                correctBehavior: "c", status: status), author: "t")
        lesson.helpful = helpful
        lesson.harmful = harmful
        return lesson
    }

    func counts(_ actions: [SignalAction]) -> [LessonOutcome] {
        actions.compactMap { if case .count(let outcome) = $0 { outcome } else { nil } }
    }

    func retired(_ actions: [SignalAction]) -> [Lesson] {
        actions.compactMap { if case .retire(let lesson, _) = $0 { lesson } else { nil } }
    }

    // MARK: Flags

    @Test func aRuleThatHoldsRaisesItsFlag() {
        // Given an interaction with no flags, when a thumbs-down arrives,
        let actions = decide(state(added: [feedback(.down)]))
        // then the thumbs-down rule raises a flag, now.
        #expect(actions == [.raise(Flag(rule: .thumbsDown, reason: "thumbs down", createdAt: now))])
    }

    @Test func aFlagTheRulesClearedOpensAgainWhenTheRuleHoldsAgain() {
        // Given a rephrase flag the rules cleared after a thumbs-up, when the user rephrases again,
        let earlier = [feedback(signal: .rephrase, at: -20), feedback(.up, at: -10)]
        let actions = decide(state(earlier: earlier, added: [feedback(signal: .rephrase)], flags: [.rephrase: .clearedByRules]))
        // then the flag is opened again, with the new reason and time.
        #expect(actions == [.reopen(Flag(rule: .rephrase, reason: "the user asked again in other words", createdAt: now))])
    }

    @Test func aFlagAReviewerDismissedStaysDismissed() {
        // Given a thumbs-down flag a reviewer dismissed, when another thumbs-down arrives,
        let actions = decide(state(earlier: [feedback(.down, at: -10)], added: [feedback(.down)], flags: [.thumbsDown: .dismissed]))
        // then nothing is raised or opened again.
        #expect(actions.isEmpty)
    }

    @Test func anOpenFlagStaysAsItIsWhileItsRuleHolds() {
        let actions = decide(state(earlier: [feedback(.down, at: -10)], added: [feedback(.down)], flags: [.thumbsDown: .open]))
        #expect(actions.isEmpty)
    }

    @Test func anOpenFlagWhoseRuleNoLongerHoldsIsClearedByTheRules() {
        // Given an open rephrase flag, when a thumbs-up follows the rephrase,
        let actions = decide(state(earlier: [feedback(signal: .rephrase, at: -10)], added: [feedback(.up)], flags: [.rephrase: .open]))
        // then the rules clear it (and the thumbs-up counts for no lesson: none was injected).
        #expect(actions == [.clear(.rephrase, at: now)])
    }

    @Test func anOpenFlagOfADisabledRuleIsLeftAlone() {
        // Abandonment flags nothing by default, so an abandon flag raised under other settings stays open.
        let actions = decide(state(added: [feedback(.up)], flags: [.abandon: .open]))
        #expect(actions.isEmpty)
    }

    @Test func theRulesResolveAFlagOnlyWhenTheyClearedIt() {
        #expect(RuleFlagState(resolvedAt: nil, resolvedBy: nil) == .open)
        #expect(RuleFlagState(resolvedAt: now, resolvedBy: SignalDecision.rulesActor) == .clearedByRules)
        #expect(RuleFlagState(resolvedAt: now, resolvedBy: "reviewer") == .dismissed)
    }

    // MARK: The judge queue

    @Test func aFlagOfAJudgedRuleQueuesAJudgeJob() throws {
        // Given automatic judging, when an escalation raises a flag,
        let actions = decide(state(added: [feedback(signal: .escalate)]), enqueueJudge: true)
        // then a judge job for the interaction is queued, due now.
        guard case .enqueue(let job) = try #require(actions.last) else {
            Issue.record("no judge job in \(actions)")
            return
        }
        #expect(job.kind == .judge && job.interactionId == "int_1" && job.runAfter == now && job.status == .queued)
    }

    @Test func aFlagOfAnUnjudgedRuleQueuesNoJob() {
        // An upstream failure is an operations problem: flagged for a human, not judged.
        let actions = decide(state(added: [], error: "upstream returned 500"), enqueueJudge: true)
        #expect(actions.count == 1)
        #expect(actions.first.map { if case .raise(let flag) = $0 { flag.rule == .upstreamError } else { false } } == true)
    }

    @Test func noJobIsQueuedWithoutAutomaticJudgingOrANewFlag() {
        #expect(decide(state(added: [feedback(signal: .escalate)]), enqueueJudge: false).count == 1)
        let open = state(earlier: [feedback(signal: .escalate, at: -10)], added: [feedback(signal: .escalate)], flags: [.escalate: .open])
        #expect(decide(open, enqueueJudge: true).isEmpty)
    }

    // MARK: Lesson outcomes

    @Test func aNewVerdictCountsOnceForEachInjectedLesson() {
        // Given two lessons injected and nothing counted yet, when a thumbs-up arrives,
        let injected = [
            InjectedLesson(lessonId: "les_a", counted: nil, lesson: lesson(helpful: 0, harmful: 0)),
            InjectedLesson(lessonId: "les_b", counted: nil, lesson: nil)
        ]
        let actions = decide(state(added: [feedback(.up)], injected: injected))
        // then each counts one helpful use, a deleted lesson's outcome included.
        #expect(
            counts(actions) == [
                LessonOutcome(lessonId: "les_a", helpful: true, helpfulDelta: 1, harmfulDelta: 0, at: now),
                LessonOutcome(lessonId: "les_b", helpful: true, helpfulDelta: 1, harmfulDelta: 0, at: now)
            ])
    }

    @Test func theSameVerdictAgainCountsNothing() {
        let injected = [InjectedLesson(lessonId: "les_a", counted: true, lesson: lesson(helpful: 1, harmful: 0))]
        #expect(decide(state(earlier: [feedback(.up, at: -10)], added: [feedback(.up)], injected: injected)).isEmpty)
    }

    @Test func aChangedVerdictMovesTheCount() {
        // Given a helpful outcome counted, when the user turns it into a thumbs-down,
        let injected = [InjectedLesson(lessonId: "les_a", counted: true, lesson: lesson(helpful: 3, harmful: 0))]
        let actions = decide(state(earlier: [feedback(.up, at: -10)], added: [feedback(.down)], injected: injected))
        // then the use moves from helpful to harmful.
        #expect(counts(actions) == [LessonOutcome(lessonId: "les_a", helpful: false, helpfulDelta: -1, harmfulDelta: 1, at: now)])
    }

    @Test func onlyNewFeedbackCountsAndOnlyWhenItSaysSomething() {
        // Nothing stored now (a repeated implicit signal): no outcome to count.
        #expect(state(earlier: [feedback(.down, at: -10)], added: []).lessonOutcome == nil)
        // Leaving says nothing sure about the lessons.
        #expect(state(added: [feedback(signal: .abandon)]).lessonOutcome == nil)
        #expect(state(added: [feedback(signal: .rephrase)]).lessonOutcome == false)
    }

    @Test func anActiveLessonIsRetiredAtTheHarmfulThreshold() throws {
        // Given a lesson harmful in 2 of 4 rated uses (retired from 5 uses, at half harmful),
        let before = lesson(helpful: 2, harmful: 2)
        let injected = [InjectedLesson(lessonId: before.id, counted: nil, lesson: before)]
        // when a thumbs-down makes it 3 of 5,
        let actions = decide(state(added: [feedback(.down)], injected: injected))
        // then it is counted and retired: its next version, with the reason, and audited.
        #expect(counts(actions).map(\.harmfulDelta) == [1])
        guard case .retire(let lesson, let audit) = try #require(actions.last) else {
            Issue.record("not retired: \(actions)")
            return
        }
        #expect(lesson.status == .retired && lesson.version == before.version + 1 && lesson.updatedAt == now)
        #expect(lesson.helpful == 2 && lesson.harmful == 3)
        #expect(lesson.reviewReason == "retired automatically: harmful in 3 of 5 rated uses")
        #expect(
            audit
                == AuditEntry(
                    at: now, actor: SignalDecision.efficacyActor, action: "lesson.update", target: before.id,
                    detail: "version \(lesson.version), retired: retired automatically: harmful in 3 of 5 rated uses"))
    }

    @Test func aLessonUnderTheThresholdOrNotActiveIsNotRetired() {
        let helpful = lesson(helpful: 3, harmful: 1)
        let proposed = lesson(helpful: 0, harmful: 9, status: .proposed)
        let injected = [helpful, proposed].map { InjectedLesson(lessonId: $0.id, counted: nil, lesson: $0) }
        let actions = decide(state(added: [feedback(.down)], injected: injected))
        #expect(counts(actions).count == 2)
        #expect(retired(actions).isEmpty)
    }

    // MARK: The outcome a store reports

    @Test func theOutcomeListsWhatTheAppliedActionsChanged() {
        let job = Job(kind: .judge, interactionId: "int_1", runAfter: now, createdAt: now)
        let flag = Flag(rule: .thumbsDown, reason: "thumbs down", createdAt: now)
        let retiring = lesson(helpful: 0, harmful: 5)
        var outcome = SignalOutcome()
        outcome.record(.raise(flag))
        outcome.record(.clear(.rephrase, at: now))
        outcome.record(.enqueue(job), applied: false)
        outcome.record(.count(LessonOutcome(lessonId: retiring.id, helpful: false, helpfulDelta: 0, harmfulDelta: 1, at: now)))
        outcome.record(.retire(retiring, audit: AuditEntry(actor: "t", action: "lesson.update", target: retiring.id)))
        #expect(outcome.raised == [flag] && outcome.cleared == [.rephrase] && outcome.retired == [retiring.id])
        // A job the interaction already had is not reported as queued now.
        #expect(outcome.judgeJob == nil)
        outcome.record(.enqueue(job))
        #expect(outcome.judgeJob == job)
    }
}

import Foundation
import RasiCore
import RasiSQLite
import Testing

@Suite struct SignalStoreTests {
    func logged(_ store: any RasiStore, conversation: String? = "c1", response: String? = "Done.") async throws -> Interaction {
        let interaction = Interaction(agent: "a", conversationId: conversation, request: "where is my parcel", response: response, model: "m")
        try await store.createInteraction(interaction, turnKey: nil)
        return interaction
    }

    func signal(_ signal: Signal, on id: String) -> Feedback {
        Feedback(id: Identifier.make("fb"), interactionId: id, rating: nil, comment: nil, source: .implicit, signal: signal, createdAt: Date())
    }

    @Test(arguments: StoreKind.allCases) func anImplicitSignalCountsOnceAndFlagsOnce(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let interaction = try await logged(store)
            let first = try await store.applySignals(
                interactionId: interaction.id, adding: [signal(.escalate, on: interaction.id)],
                rules: FlagRules(), efficacy: EfficacyPolicy(), lift: nil, enqueueJudge: true, now: Date())
            let again = try await store.applySignals(
                interactionId: interaction.id, adding: [signal(.escalate, on: interaction.id)],
                rules: FlagRules(), efficacy: EfficacyPolicy(), lift: nil, enqueueJudge: true, now: Date())
            #expect(first.added.count == 1 && first.raised.map(\.rule) == [.escalate] && first.judgeJob != nil)
            #expect(again.added.isEmpty && again.raised.isEmpty && again.judgeJob == nil)
            let loaded = try #require(try await store.interaction(id: interaction.id))
            #expect(loaded.feedback.count == 1)
            #expect(loaded.flags.map(\.rule) == [.escalate])
            #expect(try await store.listJobs(status: .queued, limit: 10).map(\.interactionId) == [interaction.id])
        }
    }

    @Test(arguments: StoreKind.allCases) func aDismissedFlagIsNotRaisedAgainButAClearedRephraseCanBe(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let interaction = try await logged(store)
            let down = Feedback(
                id: "fb_down", interactionId: interaction.id, rating: .down, comment: nil, source: .user, signal: nil, createdAt: Date())
            try await store.applySignals(
                interactionId: interaction.id, adding: [down], rules: FlagRules(), efficacy: EfficacyPolicy(), lift: nil, enqueueJudge: false,
                now: Date())
            #expect(try await store.dismissFlags(interactionId: interaction.id, by: "reviewer", at: Date()) == 1)
            let second = Feedback(
                id: "fb_down2", interactionId: interaction.id, rating: .down, comment: nil, source: .user, signal: nil, createdAt: Date())
            let outcome = try await store.applySignals(
                interactionId: interaction.id, adding: [second], rules: FlagRules(), efficacy: EfficacyPolicy(), lift: nil, enqueueJudge: false,
                now: Date())
            #expect(outcome.raised.isEmpty)
            #expect(try await store.listInteractions(InteractionFilter(flagged: true)).isEmpty)

            // A rephrase flag the rules cleared (thumbs-up after it) comes back with a later rephrase.
            let other = try await logged(store, conversation: "c2")
            try await store.applySignals(
                interactionId: other.id, adding: [signal(.rephrase, on: other.id)], rules: FlagRules(), efficacy: EfficacyPolicy(),
                lift: nil, enqueueJudge: false, now: Date())
            let up = Feedback(
                id: "fb_up", interactionId: other.id, rating: .up, comment: nil, source: .user, signal: nil, createdAt: Date().addingTimeInterval(1))
            let cleared = try await store.applySignals(
                interactionId: other.id, adding: [up], rules: FlagRules(), efficacy: EfficacyPolicy(), lift: nil, enqueueJudge: false, now: Date())
            #expect(cleared.cleared == [.rephrase])
            #expect(try await store.listInteractions(InteractionFilter(flagged: true)).isEmpty)
        }
    }

    @Test(arguments: StoreKind.allCases) func aRephraseFlagTheRulesClearedOpensAgainAndIsJudgedOnce(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            // Given a rephrase flag that a thumbs-up cleared,
            let interaction = try await logged(store)
            let start = Date()
            func apply(_ feedback: Feedback) async throws -> SignalOutcome {
                try await store.applySignals(
                    interactionId: interaction.id, adding: [feedback], rules: FlagRules(), efficacy: EfficacyPolicy(),
                    lift: nil, enqueueJudge: true, now: feedback.createdAt)
            }
            // (An implicit signal is stored once per interaction: the later rephrase is one a reviewer reports.)
            func rephrase(at offset: TimeInterval, source: FeedbackSource) -> Feedback {
                Feedback(
                    id: Identifier.make("fb"), interactionId: interaction.id, rating: nil, comment: nil, source: source, signal: .rephrase,
                    createdAt: start.addingTimeInterval(offset))
            }
            let raised = try await apply(rephrase(at: 0, source: .implicit))
            let up = Feedback(
                id: "fb_up", interactionId: interaction.id, rating: .up, comment: nil, source: .user, signal: nil,
                createdAt: start.addingTimeInterval(1))
            #expect(try await apply(up).cleared == [.rephrase])
            // when the user rephrases again later,
            let again = try await apply(rephrase(at: 2, source: .reviewer))
            // then the same flag is open again, and the judge job queued the first time is not queued twice.
            #expect(raised.judgeJob != nil)
            #expect(again.raised.map(\.rule) == [.rephrase] && again.judgeJob == nil)
            let flagged = try await store.listInteractions(InteractionFilter(flagged: true))
            #expect(flagged.map(\.id) == [interaction.id] && flagged.first?.flags.map(\.rule) == [.rephrase])
            #expect(try await store.listJobs(status: nil, limit: 10).count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases) func theReviewQueueIsOldestFirstWithItsReasons(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            var ids: [String] = []
            for _ in 0..<3 {
                let interaction = try await logged(store)
                ids.append(interaction.id)
                let down = Feedback(
                    id: Identifier.make("fb"), interactionId: interaction.id, rating: .down, comment: "wrong", source: .user, signal: nil,
                    createdAt: Date())
                try await store.applySignals(
                    interactionId: interaction.id, adding: [down], rules: FlagRules(), efficacy: EfficacyPolicy(), lift: nil, enqueueJudge: false,
                    now: Date())
            }
            let page = try await store.listInteractions(InteractionFilter(flagged: true, limit: 2, oldestFirst: true))
            #expect(page.map(\.id) == Array(ids.prefix(2)))
            #expect(page.first?.flags.first?.reason == "thumbs down: wrong")
            let next = try await store.listInteractions(InteractionFilter(flagged: true, limit: 2, before: page.last?.id, oldestFirst: true))
            #expect(next.map(\.id) == [ids[2]])
        }
    }

    @Test(arguments: StoreKind.allCases) func aJobIsClaimedOnceAndOnlyItsHolderFinishesIt(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let interaction = try await logged(store)
            try await store.applySignals(
                interactionId: interaction.id, adding: [signal(.escalate, on: interaction.id)], rules: FlagRules(), efficacy: EfficacyPolicy(),
                lift: nil, enqueueJudge: true, now: Date())
            let job = try #require(try await store.claimJob(owner: "p1", now: Date()))
            #expect(job.attempts == 1 && job.status == .running)
            #expect(try await store.claimJob(owner: "p2", now: Date()) == nil)
            let run = JudgeRun(interactionId: interaction.id, jobId: job.id, status: .ok, model: "j", prompt: [], outputs: ["{}"])
            #expect(try await store.finishJob(job, owner: "p2", outcome: .done, run: run, lesson: nil, now: Date()) == false)
            #expect(try await store.finishJob(job, owner: "p1", outcome: .done, run: run, lesson: nil, now: Date()))
            #expect(try await store.finishJob(job, owner: "p1", outcome: .done, run: run, lesson: nil, now: Date()) == false)
            #expect(try await store.judgeRuns(interactionId: interaction.id).count == 1)
            #expect(try await store.listJobs(status: .done, limit: 10).count == 1)
        }
    }

    @Test(arguments: StoreKind.allCases) func aRetriedJobWaitsForItsBackoff(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let interaction = try await logged(store)
            try await store.applySignals(
                interactionId: interaction.id, adding: [signal(.escalate, on: interaction.id)], rules: FlagRules(), efficacy: EfficacyPolicy(),
                lift: nil, enqueueJudge: true, now: Date())
            let now = Date()
            let job = try #require(try await store.claimJob(owner: "p1", now: now))
            #expect(
                try await store.finishJob(
                    job, owner: "p1", outcome: .retry(at: now.addingTimeInterval(60), error: "unreachable"), run: nil, lesson: nil, now: now))
            #expect(try await store.claimJob(owner: "p1", now: now.addingTimeInterval(30)) == nil)
            let again = try #require(try await store.claimJob(owner: "p1", now: now.addingTimeInterval(61)))
            #expect(again.attempts == 2 && again.lastError == "unreachable")
        }
    }

    @Test func jobsLeftRunningByAStoppedProcessAreQueuedAgainAtStart() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("rasi.sqlite").path
        var interactionId = ""
        do {
            let store = try SQLiteStore(path: path)
            interactionId = try await logged(store).id
            try await store.applySignals(
                interactionId: interactionId, adding: [signal(.escalate, on: interactionId)], rules: FlagRules(), efficacy: EfficacyPolicy(),
                lift: nil, enqueueJudge: true, now: Date())
            _ = try #require(try await store.claimJob(owner: "crashed", now: Date()))
        }
        let reopened = try SQLiteStore(path: path)
        #expect(try await reopened.claimJob(owner: "next", now: Date()) == nil)
        #expect(try await reopened.releaseJobs(owner: nil) == 1)
        let job = try #require(try await reopened.claimJob(owner: "next", now: Date()))
        #expect(job.interactionId == interactionId && job.attempts == 2)
    }

    @Test(arguments: StoreKind.allCases) func aJudgeRunAndItsLessonAreStoredTogether(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let interaction = try await logged(store)
            let lesson = Lesson.create(
                fields: LessonFields(
                    agent: "a", situation: "parcel questions", did: "d", shouldHaveDone: "s", why: "w",
                    correctBehavior: "c", status: .proposed, sourceInteractionId: interaction.id), author: "judge (j)")
            var run = JudgeRun(
                interactionId: interaction.id, status: .ok, model: "j", prompt: [["role": "user", "content": "trace"]], outputs: ["{}"])
            run.lessonId = lesson.id
            try await store.recordJudgeRun(run, lesson: (lesson, nil))
            #expect(try await store.lesson(id: lesson.id)?.status == .proposed)
            let runs = try await store.judgeRuns(interactionId: interaction.id)
            #expect(runs.map(\.lessonId) == [lesson.id])
            #expect(runs.first?.prompt == run.prompt)
        }
    }
}

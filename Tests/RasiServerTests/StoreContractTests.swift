import Foundation
import RasiCore
import RasiPostgres
import RasiSQLite
import Testing

/// What every store must do the same way, run against SQLite and PostgreSQL alike (as are the
/// store suites beside this one).
@Suite struct StoreContractTests {
    /// Unit vectors along a few axes of an 8-dimensional space, for a test model.
    static let model = "contract-test-model"
    func axis(_ i: Int, lean: Int? = nil) -> [Float] {
        var v = [Float](repeating: 0, count: 8)
        v[i] = 1
        if let lean { v[lean] = 0.3 }
        let norm = sqrt(v.reduce(0) { $0 + $1 * $1 })
        return v.map { $0 / norm }
    }

    func lesson(_ situation: String, agent: String = "default", status: LessonStatus = .active) -> Lesson {
        Lesson.create(
            fields: LessonFields(agent: agent, situation: situation, did: "d", shouldHaveDone: "s", why: "w", correctBehavior: "c", status: status),
            author: "t")
    }

    @Test(arguments: StoreKind.allCases) func denseCandidatesAreTheNearestActiveLessonsOfTheAgent(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind, embeddingModel: Self.model, dimensions: 8) { store in
            let near = lesson("near")
            let nearer = lesson("nearer")
            let far = lesson("far")
            let otherAgent = lesson("other agent", agent: "other")
            let proposed = lesson("proposed", status: .proposed)
            try await store.importLessons([
                (near, LessonEmbedding(model: Self.model, vector: axis(0, lean: 1))),
                (nearer, LessonEmbedding(model: Self.model, vector: axis(0, lean: 2).map { $0 }.enumerated().map { $0 == 0 ? $1 * 1.1 : $1 * 0.5 })),
                (far, LessonEmbedding(model: Self.model, vector: axis(5))),
                (otherAgent, LessonEmbedding(model: Self.model, vector: axis(0))),
                (proposed, LessonEmbedding(model: Self.model, vector: axis(0)))
            ])
            let found = try await store.denseCandidates(agent: "default", vector: axis(0), limit: 2)
            #expect(found.map(\.lesson.id) == [nearer.id, near.id])
            #expect(abs(found[1].score - Double(0.958)) < 0.001)

            let scores = try await store.denseScores(ids: [near.id, far.id, proposed.id], vector: axis(0))
            #expect(Set(scores.keys) == [near.id, far.id])
            #expect(abs(scores[far.id]?.score ?? 1) < 1e-6)
            let vectors = try await store.lessonVectors(ids: [near.id, proposed.id])
            #expect(Set(vectors.keys) == [near.id])
            #expect(zip(vectors[near.id] ?? [], axis(0, lean: 1)).allSatisfy { abs($0 - $1) < 1e-6 })

            // Retired, it is no longer a candidate; active again, it is.
            var retired = near
            retired.status = .retired
            retired.version += 1
            try await store.updateLesson(retired, changedBy: "t", embedding: nil)
            #expect(try await store.denseCandidates(agent: "default", vector: axis(0), limit: 5).map(\.lesson.id) == [nearer.id, far.id])
            // Retrieval reads the lessons it keeps by id: only the agent's active ones come back.
            let read = try await store.activeLessons(ids: [near.id, nearer.id, otherAgent.id, proposed.id, "no-such-lesson"], agent: "default")
            #expect(Set(read.keys) == [nearer.id] && read[nearer.id]?.situation == "nearer")
            #expect(try await store.activeLessons(ids: [otherAgent.id], agent: "other").keys.first == otherAgent.id)
            #expect(try await store.lessonsWithoutEmbedding(model: Self.model).isEmpty)
            #expect(try await store.lessonsWithoutEmbedding(model: "another").count == 5)
        }
    }

    @Test(arguments: StoreKind.allCases) func aLeaseHasOneHolderUntilItRunsOut(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let now = Date()
            func take(_ name: String, _ holder: String, until: Double, at: Double) async throws -> Bool {
                try await store.acquireLease(name, holder: holder, until: now.addingTimeInterval(until), now: now.addingTimeInterval(at))
            }
            let taken = [
                try await take("sweep", "a", until: 10, at: 0),
                try await take("sweep", "b", until: 10, at: 5), // a holds it
                try await take("sweep", "a", until: 20, at: 5), // a renews
                try await take("purge", "b", until: 10, at: 0), // another lease, another holder
                try await take("sweep", "b", until: 40, at: 21), // unrenewed, it passes to b
                try await take("sweep", "a", until: 40, at: 22)
            ]
            #expect(taken == [true, false, true, true, true, false])
        }
    }

    @Test(arguments: StoreKind.allCases) func concurrentClaimsTakeEachJobOnce(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let now = Date()
            for _ in 0..<12 {
                let interaction = Interaction(agent: "a", request: "where is my parcel", response: "?", model: "m")
                try await store.createInteraction(interaction, turnKey: nil)
                try await store.applySignals(
                    interactionId: interaction.id,
                    adding: [
                        Feedback(
                            id: Identifier.make("fb"), interactionId: interaction.id, rating: .down, comment: nil, source: .user, signal: nil,
                            createdAt: now)
                    ],
                    rules: FlagRules(), efficacy: EfficacyPolicy(), lift: nil, enqueueJudge: true, now: now)
            }
            let claimed = try await withThrowingTaskGroup(of: [String].self) { group in
                for worker in 0..<6 {
                    group.addTask {
                        var mine: [String] = []
                        while let job = try await store.claimJob(owner: "w\(worker)", now: now) { mine.append(job.id) }
                        return mine
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(claimed.count == 12 && Set(claimed).count == 12)
        }
    }

    @Test(arguments: StoreKind.allCases) func concurrentFeedbackOnOneLessonCountsEveryUseAndRetiresItOnce(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            // Given one lesson injected into twelve interactions,
            let shared = lesson("parcel questions")
            try await store.createLesson(shared, embedding: nil)
            var ids: [String] = []
            for _ in 0..<12 {
                let interaction = Interaction(agent: "default", request: "where is my parcel", lessonsInjected: [shared.id])
                try await store.createInteraction(
                    interaction, turnKey: nil,
                    injections: [
                        Injection(interactionId: interaction.id, lessonId: shared.id, version: shared.version, rank: 1, score: 0.9)
                    ])
                ids.append(interaction.id)
            }
            // when each gets a thumbs-down at the same time,
            let outcomes = try await withThrowingTaskGroup(of: SignalOutcome.self) { group in
                for id in ids {
                    group.addTask {
                        try await store.applySignals(
                            interactionId: id,
                            adding: [
                                Feedback(
                                    id: Identifier.make("fb"), interactionId: id, rating: .down, comment: nil, source: .user, signal: nil,
                                    createdAt: Date())
                            ],
                            rules: FlagRules(), efficacy: EfficacyPolicy(), lift: nil, enqueueJudge: false, now: Date())
                    }
                }
                return try await group.reduce(into: [SignalOutcome]()) { $0.append($1) }
            }
            // then every use is counted, and the lesson is retired once, when it first proved harmful.
            #expect(outcomes.flatMap(\.retired) == [shared.id])
            let counted = try #require(try await store.lesson(id: shared.id))
            #expect(counted.harmful == 12 && counted.helpful == 0)
            #expect(counted.status == .retired && counted.version == 2)
            #expect(counted.reviewReason == "retired automatically: harmful in 5 of 5 rated uses")
        }
    }

    @Test func aPostgresJobHeldPastTheStaleLimitIsTakenAgain() async throws {
        let database = try await TestPostgres.createDatabase()
        defer { Task { try? await TestPostgres.dropDatabase(database.name) } }
        try await PostgresStore.withStore(url: database.url, staleJobAfter: 60) { store in
            let now = Date()
            let interaction = Interaction(agent: "a", request: "where is my parcel", response: "?", model: "m")
            try await store.createInteraction(interaction, turnKey: nil)
            try await store.applySignals(
                interactionId: interaction.id,
                adding: [
                    Feedback(id: "fb_1", interactionId: interaction.id, rating: .down, comment: nil, source: .user, signal: nil, createdAt: now)
                ],
                rules: FlagRules(), efficacy: EfficacyPolicy(), lift: nil, enqueueJudge: true, now: now)
            let held = try #require(try await store.claimJob(owner: "crashed", now: now))
            // Another replica starting now leaves a fresh claim alone: its holder may be running it.
            #expect(try await store.releaseJobs(owner: nil) == 0)
            #expect(try await store.claimJob(owner: "other", now: now.addingTimeInterval(30)) == nil)
            // Past the stale limit, the job is taken again; the old holder can no longer finish it.
            let again = try #require(try await store.claimJob(owner: "other", now: now.addingTimeInterval(61)))
            #expect(again.id == held.id && again.attempts == 2)
            let finishedByOldHolder = try await store.finishJob(held, owner: "crashed", outcome: .done, run: nil, lesson: nil, now: now)
            let finishedByNewHolder = try await store.finishJob(again, owner: "other", outcome: .done, run: nil, lesson: nil, now: now)
            #expect(!finishedByOldHolder && finishedByNewHolder)
        }
    }

    /// Two imports naming the same two agents in opposite orders each lock one agent's lexical
    /// totals and wait for the other's: PostgreSQL aborts one to break the deadlock. The aborted
    /// one kept nothing and is run again, so both land, each lesson once.
    @Test func postgresImportsThatDeadlockBothLand() async throws {
        let database = try await TestPostgres.createDatabase()
        defer { Task { try? await TestPostgres.dropDatabase(database.name) } }
        try await PostgresStore.withStore(url: database.url) { store in
            try await store.importLessons([lesson("seed", agent: "a"), lesson("seed", agent: "b")].map { ($0, nil) })
            // Each import's second lesson waits half a second first, so both hold their first lock
            // before either asks for its second.
            try await PostgresStore.execute(
                "CREATE FUNCTION pause() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN NEW; END $$", at: database.url)
            try await PostgresStore.execute(
                "CREATE TRIGGER pause_slow BEFORE INSERT ON lessons FOR EACH ROW WHEN (NEW.situation LIKE 'slow%') EXECUTE FUNCTION pause()",
                at: database.url)
            let one = [lesson("quick one", agent: "a"), lesson("slow one", agent: "b")]
            let two = [lesson("quick two", agent: "b"), lesson("slow two", agent: "a")]
            async let first: Void = store.importLessons(one.map { ($0, nil) })
            async let second: Void = store.importLessons(two.map { ($0, nil) })
            try await first
            try await second
            for written in one + two { #expect(try await store.lesson(id: written.id) != nil) }
            for agent in ["a", "b"] {
                let found = try await store.lexicalCandidates(agent: agent, words: ["slow"], limit: 10)
                #expect(found.count == 1)
            }
        }
    }

    @Test(arguments: StoreKind.allCases) func evaluationsAreKeptWholeAndListedNewestFirst(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            func report(_ suite: String, at seconds: TimeInterval) -> EvaluationReport {
                EvaluationReport(
                    suite: suite, model: "m", endpoint: "http://model/v1", createdAt: Date(timeIntervalSince1970: seconds),
                    lessonIds: ["les_1"], lessonsLive: [0, 1],
                    results: [
                        .init(
                            id: "t1", split: .test, request: "book a flight", expectedTools: ["book_flight"],
                            attempts: [
                                EvaluationAttempt(passed: false, reason: "called no tool; expected book_flight"),
                                EvaluationAttempt(
                                    passed: true, tools: ["book_flight"], interactionId: "int_1", lessons: ["les_1"], injectedTokens: 80)
                            ])
                    ])
            }
            let older = report("first", at: 1_764_000_000.123)
            let newer = report("second", at: 1_764_000_100.456)
            try await store.saveEvaluation(older)
            try await store.saveEvaluation(newer)

            // Whole: the same JSON back (dates at the millisecond, as every store keeps them).
            let read = try #require(try await store.evaluation(id: older.id))
            #expect(RasiJSON.string(read) == RasiJSON.string(older))
            #expect(read.results == older.results)
            #expect(try await store.evaluation(id: "eval_missing") == nil)
            #expect(try await store.listEvaluations(limit: 10).map(\.id) == [newer.id, older.id])
            #expect(try await store.listEvaluations(limit: 1).map(\.id) == [newer.id])
        }
    }

    @Test(arguments: StoreKind.allCases) func aPostingBudgetRanksOnlyTheRarestWordsOfARequest(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            // 1,200 lessons say "account"; two also say "routing"; one says "zelle". (Imported in
            // bulk, so PostgreSQL's statistics are fresh, as they are in a large store.)
            var lessons = (0..<1200).map { lesson("question \($0) about the account balance") }
            lessons += [lesson("routing number of the account"), lesson("routing transit details"), lesson("send money with zelle")]
            try await store.importLessons(lessons.map { ($0, nil) })
            let words = ["account", "routing", "zelle"]

            let everything = try await store.lexicalCandidates(agent: "default", words: words, limit: 2000)
            #expect(everything.count == 1203)

            // "account" is over a budget of 100 postings; the two rare words fit and are ranked.
            let bounded = try await store.lexicalCandidates(agent: "default", words: words, limit: 2000, postingBudget: 100)
            #expect(Set(bounded.map(\.lesson.situation)) == ["routing number of the account", "routing transit details", "send money with zelle"])
            // A request of common words only leaves retrieval to the dense side.
            #expect(try await store.lexicalCandidates(agent: "default", words: ["account", "balance"], limit: 10, postingBudget: 100).isEmpty)
            // Under the budget, nothing changes.
            let roomy = try await store.lexicalCandidates(agent: "default", words: ["routing", "zelle"], limit: 10, postingBudget: 100)
            #expect(
                roomy.map(\.lesson.id)
                    == (try await store.lexicalCandidates(agent: "default", words: ["routing", "zelle"], limit: 10)).map(\.lesson.id))
        }
    }

    /// BM25 as FTS5 defines it (k1 1.2, b 0.75, an IDF at or below zero raised to 1e-6), over
    /// `documents` (each a list of terms), for the terms of a query.
    static func bm25(_ query: [String], _ document: [String], in documents: [[String]]) -> Double {
        let average = Double(documents.map(\.count).reduce(0, +)) / Double(documents.count)
        return Set(query).reduce(0) { total, term in
            let hits = Double(documents.filter { $0.contains(term) }.count)
            let frequency = Double(document.filter { $0 == term }.count)
            guard frequency > 0 else { return total }
            var idf = log((Double(documents.count) - hits + 0.5) / (hits + 0.5))
            if idf <= 0 { idf = 1e-6 }
            return total + idf * frequency * 2.2 / (frequency + 1.2 * (0.25 + 0.75 * Double(document.count) / average))
        }
    }

    @Test(arguments: StoreKind.allCases) func lexicalScoresAreBM25OverTheAgentsActiveLessonsAsTheyChange(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            // No stop words, and words both stemmers leave whole: every store sees the same terms,
            // so the scores must be equal, and follow each change to the agent's active lessons.
            var a = lesson("printer paper jam")
            var b = lesson("printer toner")
            var c = lesson("router modem")
            let d = lesson("paper paper toner")
            try await store.importLessons(
                [a, b, c, d, lesson("printer jam", agent: "other"), lesson("printer jam", status: .proposed)].map { ($0, nil) })
            let query = ["printer", "jam"]
            func expect(_ corpus: [Lesson], sourceLocation: SourceLocation = #_sourceLocation) async throws {
                let terms = corpus.map { $0.situation.split(separator: " ").map(String.init) }
                let found = try await store.lexicalCandidates(agent: "default", words: query, limit: 10)
                let expected = zip(corpus, terms).map { ($0.id, Self.bm25(query, $1, in: terms)) }.filter { $0.1 > 0 }
                #expect(Set(found.map(\.lesson.id)) == Set(expected.map(\.0)), sourceLocation: sourceLocation)
                for (id, score) in expected {
                    let got = found.first { $0.lesson.id == id }?.score ?? -1
                    #expect(abs(got - score) < 1e-9, "\(id): \(got) vs \(score)", sourceLocation: sourceLocation)
                }
                #expect(found.map(\.score) == found.map(\.score).sorted(by: >), sourceLocation: sourceLocation)
            }
            try await expect([a, b, c, d])

            // Retired: out of the counts as well as the matches.
            c.status = .retired
            c.version += 1
            try await store.updateLesson(c, changedBy: "t", embedding: nil)
            try await expect([a, b, d])
            // A new situation is ranked by its new words; a lesson moved to another agent leaves this one.
            a.situation = "jam jam printer"
            a.version += 1
            try await store.updateLesson(a, changedBy: "t", embedding: nil)
            b.agent = "other"
            b.version += 1
            try await store.updateLesson(b, changedBy: "t", embedding: nil)
            try await expect([a, d])
            // Active again, it counts again; deleted, it is gone.
            c.status = .active
            c.version += 1
            try await store.updateLesson(c, changedBy: "t", embedding: nil)
            #expect(try await store.deleteLesson(id: d.id, by: "t"))
            try await expect([a, c])
        }
    }

    @Test(arguments: StoreKind.allCases) func concurrentInteractionWritesAllLandAndAFailedOneFailsAlone(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            // Many writers at once, as the gateway's calls are (SQLite commits them in groups).
            let ids = try await withThrowingTaskGroup(of: (String, Bool).self) { group in
                for n in 0..<120 {
                    group.addTask {
                        if n % 40 == 7 {
                            // An update of an interaction that does not exist fails, in the middle of the others.
                            let missing = Interaction(id: "int_missing_\(n)", agent: "default", request: "none")
                            let failed = (try? await store.updateInteraction(missing, appendingSteps: [Step(kind: .message, content: "x")])) == nil
                            return (missing.id, failed)
                        }
                        let interaction = Interaction(
                            agent: "default", request: "request \(n)", steps: [Step(kind: .message, name: "user", content: "request \(n)")])
                        try await store.createInteraction(interaction, turnKey: nil)
                        return (interaction.id, true)
                    }
                }
                var all: [(String, Bool)] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(ids.allSatisfy { $0.1 })
            for (id, _) in ids where !id.hasPrefix("int_missing") {
                let stored = try #require(try await store.interaction(id: id))
                #expect(stored.steps.count == 1)
            }
            #expect(try await store.interaction(id: "int_missing_7") == nil)
            #expect(try await store.listInteractions(InteractionFilter(limit: 200)).count == 117)
        }
    }

    @Test(arguments: StoreKind.allCases) func theAPIAnInteractionCameThroughIsKeptAndFiltersTheList(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            // Given a turn from each API, and one logged through the REST API, which does not say,
            var byAPI: [(AgentAPI?, String)] = []
            for api in [AgentAPI.chat, .responses, .messages, nil] {
                let interaction = Interaction(agent: "default", request: "via \(api?.rawValue ?? "rest")", api: api)
                try await store.createInteraction(interaction, turnKey: nil)
                byAPI.append((api, interaction.id))
            }
            // when each is read, listed, or listed by API,
            for (api, id) in byAPI { #expect(try await store.interaction(id: id)?.api == api) }
            let listed = try await store.listInteractions(InteractionFilter())
            #expect(Dictionary(uniqueKeysWithValues: listed.map { ($0.id, $0.api) }) == Dictionary(uniqueKeysWithValues: byAPI.map { ($1, $0) }))
            // then each API's list has its turn alone.
            for api in AgentAPI.allCases {
                let found = try await store.listInteractions(InteractionFilter(api: api)).map(\.id)
                #expect(found == byAPI.filter { $0.0 == api }.map(\.1))
            }
        }
    }

    @Test(arguments: StoreKind.allCases) func anUpdateKeepsTheAPIItDoesNotSay(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            var interaction = Interaction(agent: "default", request: "hello", api: .messages)
            try await store.createInteraction(interaction, turnKey: nil)
            interaction.api = nil
            interaction.response = "hi"
            try await store.updateInteraction(interaction, appendingSteps: [])
            let stored = try #require(try await store.interaction(id: interaction.id))
            #expect(stored.api == .messages && stored.response == "hi")
        }
    }

    @Test(arguments: StoreKind.allCases) func aResponseIdFindsTheInteractionThatRecordedIt(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            // Given an interaction whose answer the upstream named resp_1,
            var interaction = Interaction(agent: "default", request: "where is my parcel", api: .responses)
            try await store.createInteraction(interaction, turnKey: nil)
            interaction.response = "On its way."
            try await store.updateInteraction(
                interaction, appendingSteps: [Step(kind: .message, name: "assistant", content: "On its way.")], responseId: "resp_1")
            // and another that names the same id again (it is ignored: the first keeps it),
            let other = Interaction(agent: "default", request: "something else", api: .responses)
            try await store.createInteraction(other, turnKey: nil)
            try await store.updateInteraction(other, appendingSteps: [], responseId: "resp_1")

            // the id finds the first, with its steps; an id never recorded finds nothing.
            let found = try #require(try await store.interaction(responseId: "resp_1"))
            #expect(found.id == interaction.id && found.api == .responses && found.response == "On its way.")
            #expect(found.steps.map(\.content) == ["On its way."])
            #expect(try await store.interaction(responseId: "resp_unknown") == nil)
        }
    }

    /// Counts a table's rows as `rasi migrate` does, in either store.
    func count(_ table: String, in store: any RasiStore) async throws -> Int {
        switch store {
        case let store as SQLiteStore: return try await store.count(table: table)
        case let store as PostgresStore: return try await store.count(table: table)
        default: throw RasiError.invalidField("store", "unknown store")
        }
    }

    @Test(arguments: StoreKind.allCases) func deletingInteractionsLeavesNoResponseIdBehind(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            // Given response ids of a user who asks to be forgotten, of an expired turn, and of another user,
            let now = Date()
            let forgotten = Interaction(agent: "default", userId: "u_forget", request: "a", createdAt: now)
            let expired = Interaction(agent: "default", userId: "u_keep", request: "b", createdAt: now.addingTimeInterval(-40 * 86_400))
            let kept = Interaction(agent: "default", userId: "u_keep", request: "c", createdAt: now)
            for (n, interaction) in [forgotten, expired, kept].enumerated() {
                try await store.createInteraction(interaction, turnKey: nil)
                try await store.updateInteraction(interaction, appendingSteps: [], responseId: "resp_\(n)")
            }
            #expect(try await count("response_ids", in: store) == 3)

            // when the user's data is deleted, then the expired interactions,
            #expect(try await store.purgeUser("u_forget").interactions == 1)
            #expect(try await store.interaction(responseId: "resp_0") == nil)
            #expect(try await count("response_ids", in: store) == 2)
            #expect(try await store.purgeInteractions(olderThan: now.addingTimeInterval(-30 * 86_400)).interactions == 1)

            // then only the other user's live interaction keeps its id.
            #expect(try await count("response_ids", in: store) == 1)
            #expect(try await store.interaction(responseId: "resp_1") == nil)
            #expect(try await store.interaction(responseId: "resp_2")?.id == kept.id)
        }
    }

    @Test func rasiMigrateCopiesTheAPIAndResponseIds() async throws {
        try await withTemporaryStore { sqlite in
            // Given a SQLite store with an interaction of the Responses API and its response id,
            let interaction = Interaction(agent: "default", request: "where is my parcel", api: .responses)
            try await sqlite.createInteraction(interaction, turnKey: nil)
            try await sqlite.updateInteraction(interaction, appendingSteps: [], responseId: "resp_copied")
            try await withTemporaryStore(.postgres) { store in
                let postgres = try #require(store as? PostgresStore)
                // when it is copied to PostgreSQL,
                let copies = try await postgres.copy(from: sqlite, batch: 100)
                #expect(copies.allSatisfy { $0.isComplete })
                #expect(copies.first { $0.table == "response_ids" }?.copied == 1)
                // then the copy keeps both.
                #expect(try await postgres.interaction(responseId: "resp_copied")?.api == .responses)
            }
        }
    }

    /// Answers every text with the same vector.
    struct OneVector: Embedder {
        let vector: [Float]
        var dimensions: Int { vector.count }
        func embed(_ texts: [String]) async throws -> [[Float]] { texts.map { _ in vector } }
    }

    @Test(arguments: StoreKind.allCases) func hybridFusionStillFindsALexicalOnlyLessonThatCanWin(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind, embeddingModel: Self.model, dimensions: 8) { store in
            // Three lessons close to the request by meaning fill the dense pool; a fourth is far
            // by meaning but shares the request's rare word.
            let close = [lesson("refund a purchase"), lesson("money back for an order"), lesson("return an item")]
            let rare = lesson("xq7 error code on the terminal")
            // Cosines with axis 0 of 0.995, 0.958 and 0.857: a clear order.
            func toward(_ lean: Float) -> [Float] {
                let norm = (1 + lean * lean).squareRoot()
                return [1 / norm, lean / norm, 0, 0, 0, 0, 0, 0]
            }
            try await store.importLessons([
                (close[0], LessonEmbedding(model: Self.model, vector: toward(0.1))),
                (close[1], LessonEmbedding(model: Self.model, vector: toward(0.3))),
                (close[2], LessonEmbedding(model: Self.model, vector: toward(0.6))),
                (rare, LessonEmbedding(model: Self.model, vector: axis(6)))
            ])
            let query = "what does xq7 mean"
            // With a heavy lexical weight the far lesson can win: it is looked up and ranked first.
            let heavy = HybridRetriever(store: store, embedder: OneVector(vector: axis(0)), pool: 3, lexicalWeight: 10)
            #expect(try await heavy.candidates(agent: "default", query: query, limit: 2).first?.lesson.id == rare.id)
            // With a light one it cannot reach the top two, which are the dense side's.
            let light = HybridRetriever(store: store, embedder: OneVector(vector: axis(0)), pool: 3, lexicalWeight: 0.0001)
            let top = try await light.candidates(agent: "default", query: query, limit: 2)
            #expect(top.map(\.lesson.id) == [close[0].id, close[1].id])
        }
    }
}

import Foundation
import GRDB
import RasiCore
import Testing

@testable import RasiSQLite

@Suite struct SQLiteStoreTests {
    func lessonFields(_ situation: String, agent: String = "default", status: LessonStatus = .active) -> LessonFields {
        LessonFields(agent: agent, situation: situation, did: "d", shouldHaveDone: "s", why: "w", correctBehavior: "c", status: status)
    }

    @Test(arguments: StoreKind.allCases) func anInteractionRoundTripsWithItsStepsFeedbackAndFlags(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            var interaction = Interaction(
                agent: "a", conversationId: "c", userId: "u", request: "Where is my order?",
                messages: [["role": "user", "content": "Where is my order?"]],
                steps: [Step(kind: .message, name: "user", content: "Where is my order?")], model: "m")
            try await store.createInteraction(interaction, turnKey: "turn-1")
            interaction.response = "Shipped."
            interaction.tokens = TokenUsage(prompt: 5, completion: 2)
            try await store.updateInteraction(interaction, appendingSteps: [Step(kind: .toolCall, name: "lookup", arguments: "{}", callId: "c1")])
            try await store.applySignals(
                interactionId: interaction.id,
                adding: [
                    Feedback(
                        id: "fb_1", interactionId: interaction.id, rating: .down, comment: "wrong", source: .user, signal: nil, createdAt: Date())
                ],
                rules: FlagRules(), efficacy: EfficacyPolicy(), lift: nil, enqueueJudge: false, now: Date())

            let loaded = try #require(try await store.interaction(id: interaction.id))
            #expect(loaded.response == "Shipped.")
            #expect(loaded.tokens.total == 7)
            #expect(loaded.steps.map(\.kind) == [.message, .toolCall])
            #expect(loaded.messages == interaction.messages)
            #expect(loaded.feedback.map(\.rating) == [.down])
            #expect(loaded.flags.map(\.reason) == ["thumbs down: wrong"])
            #expect(try await store.interaction(turnKey: "turn-1", since: Date().addingTimeInterval(-60))?.id == interaction.id)
            #expect(try await store.interaction(turnKey: "turn-1", since: Date().addingTimeInterval(60)) == nil)
        }
    }

    @Test(arguments: StoreKind.allCases) func feedbackOnAnUnknownInteractionIsNotFound(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            await #expect(throws: RasiError.notFound("interaction int_x")) {
                try await store.applySignals(
                    interactionId: "int_x",
                    adding: [Feedback(id: "f", interactionId: "int_x", rating: .up, comment: nil, source: .user, signal: nil, createdAt: Date())],
                    rules: FlagRules(), efficacy: EfficacyPolicy(), lift: nil, enqueueJudge: false, now: Date())
            }
        }
    }

    @Test(arguments: StoreKind.allCases) func lexicalCandidatesAreActiveLessonsOfTheAgentOnly(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let active = Lesson.create(fields: lessonFields("refund for a damaged parcel"), author: "t")
            let otherAgent = Lesson.create(fields: lessonFields("refund for a damaged parcel", agent: "other"), author: "t")
            let proposed = Lesson.create(fields: lessonFields("refund for a damaged parcel", status: .proposed), author: "t")
            let unrelated = Lesson.create(fields: lessonFields("weather forecast"), author: "t")
            for lesson in [active, otherAgent, proposed, unrelated] { try await store.createLesson(lesson, embedding: nil) }

            let found = try await store.lexicalCandidates(agent: "default", words: ["parcels", "arrived", "damaged"], limit: 10)
            #expect(found.map(\.lesson.id) == [active.id])
        }
    }

    @Test(arguments: StoreKind.allCases) func anEditIsLiveAtOnceAndKeepsHistoryAndDeletionRemovesFromSearch(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let lesson = Lesson.create(fields: lessonFields("cancel a subscription"), author: "t")
            try await store.createLesson(lesson, embedding: nil)
            let edited = lesson.applying(LessonFields(situation: "pause a membership"))
            try await store.updateLesson(edited, changedBy: "reviewer", embedding: nil)

            #expect(try await store.lexicalCandidates(agent: "default", words: ["cancel"], limit: 5).isEmpty)
            #expect(try await store.lexicalCandidates(agent: "default", words: ["pause"], limit: 5).map(\.lesson.id) == [lesson.id])
            #expect(try await store.lessonHistory(id: lesson.id).map(\.lesson.situation) == ["cancel a subscription", "pause a membership"])

            #expect(try await store.deleteLesson(id: lesson.id, by: "reviewer"))
            #expect(try await store.lexicalCandidates(agent: "default", words: ["pause"], limit: 5).isEmpty)
            #expect(try await store.lesson(id: lesson.id) == nil)
            #expect(try await store.lessonHistory(id: lesson.id).count == 2, "history survives deletion")
            #expect(try await !store.deleteLesson(id: lesson.id, by: "reviewer"))
        }
    }

    @Test func aDatabaseOfTheSchemaBeforeAgentAPIsOpensWithItsInteractions() async throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let path = folder.appendingPathComponent("rasi.sqlite").path
        // Given a database migrated up to v8 with an interaction in it,
        let old = Interaction(agent: "default", request: "logged before agent APIs")
        do {
            let database = try DatabaseQueue(path: path)
            try SQLiteStore.migrator.migrate(database, upTo: "v8: evaluations")
            try await database.write { db in
                try db.execute(
                    sql: "INSERT INTO interactions (id, agent, request, messages, created_at, updated_at) VALUES (?, ?, ?, '[]', ?, ?)",
                    arguments: [old.id, old.agent, old.request, old.createdAt, old.updatedAt])
            }
        }
        // when the store opens it (and so migrates it),
        let store = try SQLiteStore(path: path)
        // then the interaction is there, of no API, and can record a response id.
        #expect(try await store.interaction(id: old.id)?.api == nil)
        try await store.updateInteraction(old, appendingSteps: [], responseId: "resp_old")
        #expect(try await store.interaction(responseId: "resp_old")?.id == old.id)
    }

    @Test(arguments: StoreKind.allCases) func revokedKeysAreNotFound(_ kind: StoreKind) async throws {
        try await withTemporaryStore(kind) { store in
            let key = APIKey(id: "key_1", name: "k", role: .admin, prefix: "rasi_1234", createdAt: Date(timeIntervalSince1970: 1_800_000_000))
            try await store.createKey(key, secretHash: "hash")
            #expect(try await store.activeKey(secretHash: "hash") == key)
            #expect(try await store.hasActiveAdminKey())
            #expect(try await store.revokeKey(id: "key_1", at: Date()))
            #expect(try await store.activeKey(secretHash: "hash") == nil)
            #expect(try await !store.hasActiveAdminKey())
        }
    }
}

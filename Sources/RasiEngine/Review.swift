import Foundation
import RasiCore

/// A reviewer's work in the admin panel: signing in, browsing the interaction log, the review
/// queue, an interaction or a lesson read whole, and the correction box's preview.
extension RasiServices {
    // MARK: Signing in

    /// How long a panel session lasts from signing in, in seconds.
    public var sessionSeconds: Int { configuration.sessionSeconds }

    /// Signs in to the panel with a reviewer's or admin's key: a new session, whose secret goes
    /// in the browser's cookie. Agent keys, and keys that are unknown or revoked, do not sign in.
    public func openSession(keySecret: String, now: Date = Date()) async throws -> SessionOpening {
        guard let key = try await store.activeKey(secretHash: KeySecret.hash(keySecret)) else { return .unknownKey }
        guard key.role.allows(.reviewer) else { return .agentKey }
        let secret = KeySecret.generate()
        try await store.createSession(
            secretHash: KeySecret.hash(secret), keyId: key.id, csrfToken: KeySecret.generate(),
            now: now, expiresAt: now.addingTimeInterval(TimeInterval(sessionSeconds)))
        return .opened(secret: secret, seconds: sessionSeconds)
    }

    /// Signs out: the session with this secret ends at once.
    public func closeSession(secret: String) async throws {
        try await store.deleteSession(secretHash: KeySecret.hash(secret))
    }

    // MARK: Reading

    /// One page of the interaction log as a reviewer browses it, newest first whatever the
    /// filter (the queue's order is `reviewQueue`'s), with the tools each interaction called.
    public func browseInteractions(_ filter: InteractionFilter) async throws -> (interactions: [Interaction], tools: [String: [String]]) {
        let found = try await store.listInteractions(filter)
        return (found, try await store.toolNames(interactionIds: found.map(\.id)))
    }

    /// An interaction read whole for review: its trace, the lessons it was given as they are
    /// now (nil for one deleted since), and the judge's runs on it, oldest first.
    public func interactionDetail(_ id: String) async throws -> InteractionDetail {
        let interaction = try await interaction(id)
        var injected: [(id: String, lesson: Lesson?)] = []
        for lessonId in interaction.lessonsInjected {
            injected.append((lessonId, try await store.lesson(id: lessonId)))
        }
        return InteractionDetail(interaction: interaction, injected: injected, judgeRuns: try await store.judgeRuns(interactionId: id))
    }

    /// A lesson read whole: its current version, every version oldest first, and its most
    /// recent injections (`limit` of them).
    public func lessonDetail(_ id: String, injections limit: Int) async throws -> LessonDetail {
        let lesson = try await lesson(id)
        return LessonDetail(
            lesson: lesson, history: try await store.lessonHistory(id: id),
            injections: try await store.injections(lessonId: id, limit: limit))
    }

    /// What waits for a reviewer: flagged interactions oldest first (`limit` of them, after
    /// `cursor`), the judge's proposed lessons, open conflicts with both lessons, and the lessons
    /// retired automatically (by the efficacy rule) with the reason.
    public func reviewQueue(after cursor: String?, limit: Int) async throws -> ReviewQueue {
        let flagged = try await interactions(InteractionFilter(flagged: true, limit: limit, before: cursor, oldestFirst: true))
        let proposed = try await lessons(LessonFilter(status: .proposed, limit: 100))
        // A conflict whose lesson was deleted since has nothing left to choose between.
        let conflicts = try await conflicts(open: true, limit: 50).compactMap { conflict, lessons in
            lessons.count == 2 ? (conflict, lessons[0], lessons[1]) : nil
        }
        let retired = try await lessons(LessonFilter(status: .retired, limit: 200)).filter { $0.reviewReason != nil }
        return ReviewQueue(flagged: flagged, proposed: proposed, conflicts: conflicts, autoRetired: retired)
    }

    /// The correction box's preview: the lesson exactly as `createLesson` would store it
    /// (checked, and redacted the same way), not stored.
    public func previewLesson(_ fields: LessonFields, author: String) throws -> Lesson {
        try fields.requireForCreation()
        try fields.validate()
        return Lesson.create(fields: fields.redacted(by: redactor), author: author)
    }
}

/// How signing in to the panel went.
public enum SessionOpening: Sendable, Equatable {
    /// A session began; its secret is the cookie's value, valid for `seconds`.
    case opened(secret: String, seconds: Int)
    /// The key is not known, or was revoked.
    case unknownKey
    /// Agent keys call the gateway; they cannot sign in.
    case agentKey
}

/// An interaction with what a reviewer reads next to it.
public struct InteractionDetail: Sendable {
    public var interaction: Interaction
    /// The lessons injected into it, in order, as they are now; nil for one deleted since.
    public var injected: [(id: String, lesson: Lesson?)]
    public var judgeRuns: [JudgeRun]
}

/// A lesson with its versions and its injections.
public struct LessonDetail: Sendable {
    public var lesson: Lesson
    public var history: [LessonVersion]
    public var injections: [Injection]
}

/// What waits for a reviewer.
public struct ReviewQueue: Sendable {
    public var flagged: [Interaction]
    public var proposed: [Lesson]
    public var conflicts: [(conflict: LessonConflict, first: Lesson, second: Lesson)]
    public var autoRetired: [Lesson]
}

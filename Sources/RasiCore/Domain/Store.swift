import Foundation

/// Keys, stored hashed.
public protocol KeyStore: Sendable {
    func createKey(_ key: APIKey, secretHash: String) async throws
    /// The active (not revoked) key with this secret hash.
    func activeKey(secretHash: String) async throws -> APIKey?
    func listKeys() async throws -> [APIKey]
    /// Revokes a key; returns false when no such key exists.
    func revokeKey(id: String, at: Date) async throws -> Bool
    func hasActiveAdminKey() async throws -> Bool
}

/// A signed-in panel user: the key they signed in with, and the session's CSRF token.
public struct PanelSession: Sendable, Equatable {
    public var key: APIKey
    public var csrfToken: String
    public var expiresAt: Date

    public init(key: APIKey, csrfToken: String, expiresAt: Date) {
        self.key = key
        self.csrfToken = csrfToken
        self.expiresAt = expiresAt
    }
}

/// Admin panel sessions, stored hashed; a session ends when its key is revoked.
public protocol SessionStore: Sendable {
    func createSession(secretHash: String, keyId: String, csrfToken: String, now: Date, expiresAt: Date) async throws
    /// The unexpired session with this secret hash, whose key is still active.
    func session(secretHash: String, now: Date) async throws -> PanelSession?
    func deleteSession(secretHash: String) async throws
}

/// Interactions, their steps, feedback and flags.
public protocol InteractionStore: Sendable {
    /// Writes a new interaction with its steps, and the lessons injected into its first call,
    /// in one transaction; durable when it returns.
    func createInteraction(_ interaction: Interaction, turnKey: String?, injections: [Injection]) async throws
    /// Writes many interactions, with their steps, feedback and flags, in one transaction
    /// (moving stores, benchmarks). Flag rules are not run.
    func importInteractions(_ interactions: [Interaction]) async throws
    /// Replaces an interaction's mutable fields and appends new steps (and injections), in one transaction;
    /// its `api` is kept when `interaction.api` is nil. A `responseId` (an id the upstream gave its
    /// answer) is recorded as this interaction's in the same transaction; one already recorded is kept.
    func updateInteraction(_ interaction: Interaction, appendingSteps steps: [Step], injections: [Injection], responseId: String?) async throws
    func interaction(id: String) async throws -> Interaction?
    /// The interaction whose update recorded this response id, with its messages and steps: where a
    /// Responses API call's `previous_response_id` continues.
    func interaction(responseId: String) async throws -> Interaction?
    /// The most recent interaction of a turn, if it was logged within `since`.
    func interaction(turnKey: String, since: Date) async throws -> Interaction?
    func listInteractions(_ filter: InteractionFilter) async throws -> [Interaction]
    /// Where a lesson was injected, newest first.
    func injections(lessonId: String, limit: Int) async throws -> [Injection]
    /// The names of the tools each interaction called, in order (for lists, which leave steps out).
    func toolNames(interactionIds: [String]) async throws -> [String: [String]]
    /// In one transaction, ends the calls left open by processes that stopped: each interaction
    /// whose `callOpenBy` names a process holding no lease named `leasePrefix` + that name
    /// running to `now` or later gets `error` (an error it has is kept), no open call, and
    /// `updatedAt` = `now`; the leases under `leasePrefix` that ran out are dropped. Returns
    /// the ids of the interactions marked.
    func markInterruptedCalls(error: String, leasePrefix: String, now: Date) async throws -> [String]
}

extension InteractionStore {
    public func createInteraction(_ interaction: Interaction, turnKey: String?) async throws {
        try await createInteraction(interaction, turnKey: turnKey, injections: [])
    }

    public func updateInteraction(_ interaction: Interaction, appendingSteps steps: [Step]) async throws {
        try await updateInteraction(interaction, appendingSteps: steps, injections: [], responseId: nil)
    }

    public func updateInteraction(_ interaction: Interaction, appendingSteps steps: [Step], injections: [Injection]) async throws {
        try await updateInteraction(interaction, appendingSteps: steps, injections: injections, responseId: nil)
    }

    public func updateInteraction(_ interaction: Interaction, appendingSteps steps: [Step], responseId: String?) async throws {
        try await updateInteraction(interaction, appendingSteps: steps, injections: [], responseId: responseId)
    }
}

/// A lesson's vector, and the model that made it.
public struct LessonEmbedding: Sendable, Equatable {
    public var model: String
    /// The situation's vector.
    public var vector: [Float]
    /// One vector per example and per counter-example, in the lesson's order.
    public var examples: [[Float]]
    public var counterExamples: [[Float]]

    public init(model: String, vector: [Float], examples: [[Float]] = [], counterExamples: [[Float]] = []) {
        self.model = model
        self.vector = vector
        self.examples = examples
        self.counterExamples = counterExamples
    }

    /// A lesson's vectors from those of `Lesson.embeddedTexts`, in its order.
    public init(model: String, vectors: [[Float]], examples: Int) {
        self.init(
            model: model, vector: vectors[0], examples: Array(vectors[1..<(1 + examples)]), counterExamples: Array(vectors[(1 + examples)...]))
    }
}

/// How a lesson with examples fits a request: its best cosine over the situation and the
/// examples, unless a counter-example is closer still (then it does not fit at all).
public enum ExampleMatch {
    /// The relevance and which example gave it (nil: the situation), or nil when blocked.
    public static func score(situation: Double, examples: [Double], counterExamples: [Double]) -> (score: Double, example: Int?)? {
        var best = (score: situation, example: Int?.none)
        for (i, score) in examples.enumerated() where score > best.score { best = (score, i) }
        if let closest = counterExamples.max(), closest > best.score { return nil }
        return best
    }
}

/// A lesson found by a search, by id, with its score on that search's scale.
public struct LessonHit: Sendable, Equatable {
    public var id: String
    public var score: Double
    /// Which of the lesson's examples matched best (nil: its situation, or not a dense search).
    public var example: Int?

    public init(id: String, score: Double, example: Int? = nil) {
        self.id = id
        self.score = score
        self.example = example
    }
}

/// Lessons, their versions, their vectors, and lexical and dense search.
extension LessonStore {
    /// No in-process index to build (PostgreSQL's are the server's).
    public var indexesBuilding: Bool { false }

    /// `lexicalHits` with the lessons read, in its order.
    public func lexicalCandidates(agent: String, words: [String], limit: Int, postingBudget: Int? = nil) async throws -> [ScoredLesson] {
        try await withLessons(lexicalHits(agent: agent, words: words, limit: limit, postingBudget: postingBudget), agent: agent)
    }

    /// `denseHits` with the lessons read, in its order.
    public func denseCandidates(agent: String, vector: [Float], limit: Int) async throws -> [ScoredLesson] {
        try await withLessons(denseHits(agent: agent, vector: vector, limit: limit), agent: agent)
    }

    /// The hits' lessons, in the hits' order; a lesson retired or moved since the search is left out.
    public func withLessons(_ hits: [LessonHit], agent: String) async throws -> [ScoredLesson] {
        guard !hits.isEmpty else { return [] }
        let lessons = try await activeLessons(ids: hits.map(\.id), agent: agent)
        return hits.compactMap { hit in
            lessons[hit.id].map { lesson in
                ScoredLesson(
                    lesson: lesson, score: hit.score,
                    matched: hit.example.flatMap { lesson.examples.indices.contains($0) ? lesson.examples[$0] : nil })
            }
        }
    }
}

public protocol LessonStore: Sendable {
    /// Whether an in-process search index is still being built (SQLite's vector graphs, after a
    /// large store opens): retrieval works meanwhile, exactly and more slowly. Shown by `/healthz`.
    var indexesBuilding: Bool { get }
    /// Stores a new lesson (and its vector, when dense retrieval is on); searchable when this returns.
    func createLesson(_ lesson: Lesson, embedding: LessonEmbedding?) async throws
    func lesson(id: String) async throws -> Lesson?
    /// Saves the next version of a lesson, keeping the previous one in its history.
    func updateLesson(_ lesson: Lesson, changedBy: String, embedding: LessonEmbedding?) async throws
    /// Removes a lesson from use at once; its history is kept. Returns false when unknown.
    func deleteLesson(id: String, by: String) async throws -> Bool
    func listLessons(_ filter: LessonFilter) async throws -> [Lesson]
    /// Every version of a lesson, oldest first, with who saved it and when (kept after deletion).
    func lessonHistory(id: String) async throws -> [LessonVersion]
    /// The active lessons of an agent whose situation shares any of these words (stemmed by the
    /// index), best BM25 first, ties by id, each scored with its BM25 (positive, higher is
    /// better). With a posting budget, only the rarest words are ranked (see `LexicalBudget`).
    /// Ids only: retrieval reads the lessons it keeps once, after fusing both sides.
    func lexicalHits(agent: String, words: [String], limit: Int, postingBudget: Int?) async throws -> [LessonHit]
    /// The active lessons of an agent nearest to `vector`, best first, each scored with its cosine.
    func denseHits(agent: String, vector: [Float], limit: Int) async throws -> [LessonHit]
    /// Those of these lessons that are active and `agent`'s, by id.
    func activeLessons(ids: [String], agent: String) async throws -> [String: Lesson]
    /// Each given active lesson's best cosine with `vector` over its situation and examples (as
    /// `denseHits` scores); a lesson a closer counter-example blocks is left out.
    func denseScores(ids: [String], vector: [Float]) async throws -> [String: LessonHit]
    /// Stores many lessons in one transaction (imports, benchmarks); searchable when this returns.
    func importLessons(_ lessons: [(Lesson, LessonEmbedding?)]) async throws
    /// Lessons with no vector from `model` yet (after a model change, or made without one).
    func lessonsWithoutEmbedding(model: String) async throws -> [Lesson]
    /// Stores vectors of existing lessons (not a new version); active ones become searchable.
    func saveEmbeddings(_ embeddings: [(Lesson, LessonEmbedding)]) async throws
    /// Every version of every lesson that exists, by lesson id, then version.
    func exportLessonVersions() async throws -> [LessonVersion]
    /// Adds the versions the store lacks (by id and version) in one transaction; a lesson whose
    /// newest version is imported takes it as its current state, and loses its stale vector.
    func importLessonVersions(_ versions: [LessonVersion]) async throws -> LessonImport
    /// Whether the agent has any active lesson: when not, a request needs no retrieval at all.
    func hasActiveLessons(agent: String) async throws -> Bool
    /// The vectors of these active lessons, where the store has them.
    func lessonVectors(ids: [String]) async throws -> [String: [Float]]

    /// Records a detected conflict; one already known for the pair is left as it is.
    func recordConflict(_ conflict: LessonConflict) async throws
    func listConflicts(open: Bool?, limit: Int) async throws -> [LessonConflict]
    func conflict(id: Int) async throws -> LessonConflict?
    /// The open conflicts among these lessons.
    func conflictingPairs(among ids: [String]) async throws -> Set<LessonPair>
    func resolveConflict(id: Int, by: String, resolution: String, at: Date) async throws -> LessonConflict?
}

/// What recording signals changed on an interaction.
public struct SignalOutcome: Sendable, Equatable {
    /// The feedback stored; an implicit signal an interaction already has is not stored again.
    public var added: [Feedback] = []
    /// Flags raised now, and rules whose flag no longer holds and was cleared.
    public var raised: [Flag] = []
    public var cleared: [FlagRule] = []
    /// The judge job queued for a newly raised flag.
    public var judgeJob: Job?
    /// Lessons retired now because feedback showed them harmful.
    public var retired: [String] = []

    public init() {}
}

/// Feedback and implicit signals, the flags rules raise over them, and the review queue.
public protocol SignalStore: Sendable {
    /// In one transaction: stores the feedback (an implicit signal at most once per interaction),
    /// re-evaluates `rules` over the interaction, raises the flags that now hold (a rule flags
    /// an interaction once: a dismissed flag stays dismissed), clears rule flags that no longer
    /// hold, and, when `enqueueJudge` and a judged rule raised a flag, queues a judge job
    /// (once per interaction). Throws `notFound` for an unknown interaction.
    @discardableResult
    /// The feedback also counts, once per interaction (latest wins), as helpful or harmful for
    /// each lesson injected into it; an active lesson that `efficacy` finds harmful is retired
    /// and marked for review, in the same transaction. With `lift` (the agent has a holdout),
    /// lift decides instead: every lesson exposed in the interaction, either arm, whose verdict
    /// the feedback makes `hurts` is retired in the same transaction.
    func applySignals(
        interactionId: String, adding feedback: [Feedback], rules: FlagRules, efficacy: EfficacyPolicy, lift: LiftPolicy?, enqueueJudge: Bool,
        now: Date
    ) async throws -> SignalOutcome
    /// The latest turn of a conversation before this interaction.
    func previousTurn(conversationId: String, before interactionId: String) async throws -> Interaction?
    /// Interactions the abandonment sweeper has not looked at, last updated before `cutoff`,
    /// oldest first, each with whether a later turn of its conversation exists.
    func unsweptInteractions(updatedBefore cutoff: Date, limit: Int) async throws -> [(interaction: Interaction, followed: Bool)]
    func markSwept(_ ids: [String]) async throws
    /// Dismisses an interaction's open flags (it leaves the review queue); returns how many.
    func dismissFlags(interactionId: String, by: String, at: Date) async throws -> Int
}

/// Judge runs and the persistent job queue that runs the judge in the background.
public protocol JudgeStore: Sendable {
    /// Logs a run, with the lesson it proposed (stored in the same transaction). With `lift` (the
    /// interaction's agent has a holdout), a `problem` verdict that makes an exposed lesson's lift
    /// `hurts` retires the lesson in the same transaction (`SignalDecision.liftRetirements`).
    func recordJudgeRun(_ run: JudgeRun, lesson: (Lesson, LessonEmbedding?)?, lift: LiftPolicy?) async throws
    func judgeRuns(interactionId: String) async throws -> [JudgeRun]
    /// Takes the oldest due queued job for `owner`, marking it running; nil when none is due.
    func claimJob(owner: String, now: Date) async throws -> Job?
    /// Ends a job this owner holds, logging its run and lesson in the same transaction. Returns
    /// false, changing nothing, when the owner no longer holds the job.
    /// Retires by `lift` as `recordJudgeRun` does.
    func finishJob(
        _ job: Job, owner: String, outcome: JobOutcome, run: JudgeRun?, lesson: (Lesson, LessonEmbedding?)?, lift: LiftPolicy?, now: Date
    ) async throws -> Bool
    /// Puts running jobs back in the queue without counting the try: those of `owner` at a
    /// graceful stop, or every one (`nil`) at start, when no other process can hold them.
    func releaseJobs(owner: String?) async throws -> Int
    func listJobs(status: Job.Status?, limit: Int) async throws -> [Job]
}

extension JudgeStore {
    /// A run logged without lift deciding (no holdout).
    public func recordJudgeRun(_ run: JudgeRun, lesson: (Lesson, LessonEmbedding?)?) async throws {
        try await recordJudgeRun(run, lesson: lesson, lift: nil)
    }

    public func finishJob(_ job: Job, owner: String, outcome: JobOutcome, run: JudgeRun?, lesson: (Lesson, LessonEmbedding?)?, now: Date)
        async throws -> Bool
    {
        try await finishJob(job, owner: owner, outcome: outcome, run: run, lesson: lesson, lift: nil, now: now)
    }
}

/// Merged guidance for conflicting lessons, cached by lesson versions.
public protocol SynthesisStore: Sendable {
    func synthesis(key: String) async throws -> Synthesis?
    func saveSynthesis(_ synthesis: Synthesis) async throws
    func listSyntheses(limit: Int) async throws -> [Synthesis]
}

/// Retention, deletion of one user's data, and the audit log.
public protocol PrivacyStore: Sendable {
    /// Deletes interactions created before `date`, with their steps, feedback, flags, injections,
    /// judge runs, jobs and response ids, and their search index entries. Lessons are kept (they are redacted).
    func purgeInteractions(olderThan date: Date) async throws -> PurgeCount
    /// The same for every interaction of one end user.
    func purgeUser(_ userId: String) async throws -> PurgeCount
    func recordAudit(_ entry: AuditEntry) async throws
    func listAudit(limit: Int, before: Int?) async throws -> [AuditEntry]
}

extension PrivacyStore {
    /// Deletes interactions older than `days`, and audits the purge when it removed anything.
    public func purgeExpired(olderThanDays days: Double, by actor: String, now: Date = Date()) async throws -> PurgeCount {
        let count = try await purgeInteractions(olderThan: now.addingTimeInterval(-days * 86_400))
        if count.interactions > 0 {
            try await recordAudit(
                AuditEntry(
                    actor: actor, action: "purge", target: "interactions older than \(days) days",
                    detail: "\(count.interactions) interactions, \(count.feedback) feedback, \(count.judgeRuns) judge runs"))
        }
        return count
    }
}

/// The topics admins define.
public protocol TopicStore: Sendable {
    func listTopics() async throws -> [Topic]
    func saveTopic(_ topic: Topic, at: Date) async throws
    /// Returns false when no such topic exists.
    func deleteTopic(name: String) async throws -> Bool
}

/// Background work that must run on one replica at a time (the periodic sweeps): the one
/// holding a named lease runs it; another takes over once the lease runs out unrenewed.
public protocol LeaseStore: Sendable {
    /// Takes the lease `name` for `holder` until `until`, or renews it when `holder` has it;
    /// false, changing nothing, while another holder's lease runs past `now`.
    func acquireLease(_ name: String, holder: String, until: Date, now: Date) async throws -> Bool
}

/// The reports of `rasi eval`, kept so the panel can show each learning curve.
public protocol EvaluationStore: Sendable {
    func saveEvaluation(_ report: EvaluationReport) async throws
    func evaluation(id: String) async throws -> EvaluationReport?
    /// Newest first.
    func listEvaluations(limit: Int) async throws -> [EvaluationReport]
}

/// Whether the store can be used right now.
public protocol StoreHealth: Sendable {
    /// Why the store cannot be used now (its database is away), or nil.
    func outage() async -> String?
}

public typealias RasiStore = KeyStore & SessionStore & InteractionStore & LessonStore & SignalStore & JudgeStore & TopicStore & SynthesisStore
    & PrivacyStore & LeaseStore & EvaluationStore & StoreHealth & LiftStore & TrendStore

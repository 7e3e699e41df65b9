import Foundation
import Logging
import RasiCore
import ServiceLifecycle

extension RasiServices {
    /// Runs the judge over an interaction and prepares the lesson it proposes (validated,
    /// redacted, embedded), for the caller to store with the run. Never throws: every outcome is a run.
    public func runJudge(on interaction: Interaction, jobId: String? = nil) async -> (JudgeRun, (Lesson, LessonEmbedding?)?) {
        guard let modelName = configuration.judge.model ?? interaction.model else {
            return (
                JudgeRun(
                    interactionId: interaction.id, jobId: jobId, status: .error, model: "none", prompt: [], outputs: [],
                    error: "no judge model: set RASI_JUDGE_MODEL (the interaction names no model either)"), nil
            )
        }
        var run = await judge.run(interaction, modelName: modelName, jobId: jobId)
        defer { RasiMetrics(metrics).judged(run) }
        guard run.status == .ok, let proposal = run.verdict?.lesson else { return (run, nil) }
        do {
            let prepared = try await prepareLesson(
                proposal.fields(for: interaction, autoApproveAt: configuration.judge.autoApproveAt), author: "judge (\(run.model))")
            run.lessonId = prepared.0.id
            return (run, prepared)
        } catch let error as RasiError {
            if case .invalidField = error {
                run.status = .invalid
                run.error = "the proposed lesson was refused: \(error)"
            } else {
                run.status = .error
                run.error = "the proposed lesson could not be stored: \(error)"
            }
            return (run, nil)
        } catch {
            run.status = .error
            run.error = "the proposed lesson could not be embedded: \(error)"
            return (run, nil)
        }
    }
}

extension RasiServices {
    /// Runs the judge on demand and logs the run with the lesson it proposed (audited, checked
    /// for conflicts): the API's and the panel's "run judge".
    public func judgeNow(_ interactionId: String) async throws -> (JudgeRun, Lesson?) {
        guard let interaction = try await store.interaction(id: interactionId) else { throw RasiError.notFound("interaction \(interactionId)") }
        let (run, lesson) = await runJudge(on: interaction)
        try await store.recordJudgeRun(run, lesson: lesson, lift: configuration.liftPolicy(for: interaction.agent))
        if let (stored, embedding) = lesson { await lessonStored(stored, embedding: embedding, actor: stored.author) }
        return (run, lesson?.0)
    }
}

/// The background judge: takes queued judge jobs from the store, a few at a time, and runs
/// them. A job is held by this process while it runs; a judge model that cannot be reached
/// is retried with exponential backoff; a graceful stop cancels the runs in flight and puts
/// their jobs back, and a crash leaves them to be put back at the next start.
public struct JudgeQueue: Service {
    let services: RasiServices
    let owner: String
    let logger: Logger
    let pollInterval: Duration

    public init(services: RasiServices, logger: Logger, owner: String? = nil, pollInterval: Duration = .milliseconds(500)) {
        self.services = services
        self.logger = logger
        self.owner = owner ?? services.instance
        self.pollInterval = pollInterval
    }

    public func run() async throws {
        // Jobs left running by a stopped process: every one for a SQLite file (one process uses it),
        // and for PostgreSQL those held past the stale limit (other replicas hold the rest).
        let released = try await services.store.releaseJobs(owner: nil)
        if released > 0 { logger.notice("judge jobs left running by an earlier process are queued again", metadata: ["count": "\(released)"]) }
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<services.configuration.judge.concurrency {
                group.addTask { await worker() }
            }
        }
        let putBack = try await services.store.releaseJobs(owner: owner)
        if putBack > 0 { logger.notice("judge jobs in flight at shutdown are queued again", metadata: ["count": "\(putBack)"]) }
    }

    func worker() async {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if let job = try await services.store.claimJob(owner: owner, now: Date()) {
                    try await cancelWhenGracefulShutdown { try await process(job) }
                    continue
                }
            } catch is CancellationError {
                return
            } catch {
                logger.error("judge queue failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: pollInterval) }
        }
    }

    /// Runs one claimed job to its end, unless cancelled, when the job stays held and is put back.
    func process(_ job: Job) async throws {
        let settings = services.configuration.judge
        guard let interaction = try await services.store.interaction(id: job.interactionId) else {
            try await finish(job, .failed(error: "the interaction no longer exists"), run: nil, lesson: nil)
            return
        }
        let (run, lesson) = await services.runJudge(on: interaction, jobId: job.id)
        try Task.checkCancellation()
        let outcome: JobOutcome
        switch run.status {
        case .ok, .invalid:
            outcome = .done
        case .error where job.attempts >= settings.maxTries:
            outcome = .failed(error: run.error ?? "judge failed")
        case .error:
            let delay = settings.backoffSeconds * pow(2, Double(job.attempts - 1))
            outcome = .retry(at: Date().addingTimeInterval(delay), error: run.error ?? "judge failed")
        }
        try await finish(job, outcome, run: run, lesson: lesson, lift: services.configuration.liftPolicy(for: interaction.agent))
        logger.notice(
            "judge job finished",
            metadata: [
                "job": "\(job.id)", "interaction": "\(job.interactionId)", "run": "\(run.status.rawValue)",
                "verdict": "\(run.verdict?.verdict.rawValue ?? "-")", "lesson": "\(run.lessonId ?? "-")", "outcome": "\(outcome)"
            ])
    }

    func finish(_ job: Job, _ outcome: JobOutcome, run: JudgeRun?, lesson: (Lesson, LessonEmbedding?)?, lift: LiftPolicy? = nil) async throws {
        let held = try await services.store.finishJob(job, owner: owner, outcome: outcome, run: run, lesson: lesson, lift: lift, now: Date())
        if held, let (stored, embedding) = lesson { await services.lessonStored(stored, embedding: embedding, actor: stored.author) }
        if !held { logger.warning("judge job was no longer held by this process; its result is dropped", metadata: ["job": "\(job.id)"]) }
    }
}

/// Background work repeated every interval until the server stops; a failed round is logged
/// and the next one goes on. Replicas sharing a store take turns through a lease named after
/// the work: the holder runs every round and renews it; another replica takes over only once
/// the holder has missed three rounds.
public struct PeriodicService: Service {
    let name: String
    let interval: Duration
    let lease: (store: any LeaseStore, holder: String)?
    let logger: Logger
    let work: @Sendable () async throws -> Void

    public init(
        name: String, interval: Duration, lease: (store: any LeaseStore, holder: String)?, logger: Logger,
        work: @escaping @Sendable () async throws -> Void
    ) {
        self.name = name
        self.interval = interval
        self.lease = lease
        self.logger = logger
        self.work = work
    }

    /// Whether this process may run the next round.
    func holdsLease() async throws -> Bool {
        guard let lease else { return true }
        let now = Date()
        return try await lease.store.acquireLease(name, holder: lease.holder, until: now.addingTimeInterval(max(3 * interval.seconds, 10)), now: now)
    }

    public func run() async throws {
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            do {
                if try await holdsLease() { try await work() }
            } catch {
                logger.error("\(name) failed", metadata: ["error": "\(error)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
        }
    }

    /// The abandonment sweeper: marks conversations that went quiet after a question or an
    /// error. Safe to stop at any point and to run again: each interaction is looked at once,
    /// and an abandon signal is stored at most once.
    public static func abandonmentSweeper(services: RasiServices, logger: Logger) -> PeriodicService {
        PeriodicService(
            name: "abandonment sweep", interval: .seconds(max(1, services.configuration.sweepIntervalSeconds)),
            lease: (services.store, services.instance), logger: logger
        ) {
            let count = try await services.sweepAbandoned()
            if count > 0 { logger.notice("abandoned conversations found", metadata: ["count": "\(count)"]) }
        }
    }
}

extension PeriodicService {
    /// The liveness check, run by every process: renews the lease that says this process is
    /// alive (so its open calls stay open), then marks the calls that processes no longer alive
    /// left open as interrupted, so a replica that died is cleaned up by those that survive it.
    public static func liveness(services: RasiServices, logger: Logger) -> PeriodicService {
        PeriodicService(name: "liveness check", interval: RasiServices.processLeaseRenewal, lease: nil, logger: logger) {
            try await services.renewProcessLease()
            try await services.markInterruptedCalls(logger: logger)
        }
    }

    /// The retention purge: every interval, deletes the interactions past the retention period.
    public static func retention(days: Double, services: RasiServices, logger: Logger) -> PeriodicService {
        PeriodicService(
            name: "retention purge", interval: .seconds(max(1, services.configuration.purgeIntervalSeconds)),
            lease: (services.store, services.instance), logger: logger
        ) {
            let count = try await services.store.purgeExpired(olderThanDays: days, by: "rasi (retention)")
            if count.interactions > 0 { logger.notice("retention purge", metadata: ["interactions": "\(count.interactions)"]) }
        }
    }
}

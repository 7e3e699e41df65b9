import Foundation

/// A flag a rule raised on an interaction earlier, as the store holds it.
public enum RuleFlagState: Sendable, Equatable {
    /// In the review queue.
    case open
    /// Resolved by the rules when the rule stopped holding: raised again if it holds again.
    case clearedByRules
    /// Resolved by a reviewer: a rule flags an interaction once, so it stays dismissed.
    case dismissed

    /// The state of a stored flag from its resolution columns.
    public init(resolvedAt: Date?, resolvedBy: String?) {
        self = resolvedAt == nil ? .open : resolvedBy == SignalDecision.rulesActor ? .clearedByRules : .dismissed
    }
}

/// A lesson injected into an interaction, with the outcome the interaction counted for it so far.
public struct InjectedLesson: Sendable, Equatable {
    public var lessonId: String
    /// Helpful (true) or harmful (false) as counted before; nil when nothing was counted yet.
    public var counted: Bool?
    /// The lesson as stored now; nil when it was deleted (its outcome is still recorded).
    public var lesson: Lesson?

    public init(lessonId: String, counted: Bool?, lesson: Lesson?) {
        self.lessonId = lessonId
        self.counted = counted
        self.lesson = lesson
    }
}

/// What a store reads, in the transaction that records signals, for `SignalDecision`.
public struct SignalState: Sendable, Equatable {
    /// The interaction with all its feedback, the feedback just stored included.
    public var interaction: Interaction
    /// The feedback stored now (an implicit signal the interaction already had is not stored again).
    public var added: [Feedback]
    /// The flags rules raised on the interaction before, by rule.
    public var ruleFlags: [FlagRule: RuleFlagState]
    /// The lessons injected into the interaction, by lesson id. Needed only when `lessonOutcome`
    /// is not nil: a store reads them (locking the lessons) only then.
    public var injected: [InjectedLesson]
    /// With lift deciding (a holdout on), every lesson exposed in the interaction, either arm,
    /// with its figures counted after this feedback.
    public var exposed: [ExposedLesson]

    public init(
        interaction: Interaction, added: [Feedback], ruleFlags: [FlagRule: RuleFlagState], injected: [InjectedLesson] = [],
        exposed: [ExposedLesson] = []
    ) {
        self.interaction = interaction
        self.added = added
        self.ruleFlags = ruleFlags
        self.injected = injected
        self.exposed = exposed
    }

    /// The outcome to count for the injected lessons now: only new feedback counts, and then the
    /// interaction's whole feedback decides (`EfficacyPolicy.verdict`); nil when nothing is to count.
    public var lessonOutcome: Bool? {
        added.isEmpty ? nil : EfficacyPolicy.verdict(interaction.feedback)
    }
}

/// A lesson exposed in an interaction (injected or withheld), with its lift figures.
public struct ExposedLesson: Sendable, Equatable {
    public var lesson: Lesson
    public var treatment: LiftArm
    public var control: LiftArm

    public init(lesson: Lesson, treatment: LiftArm, control: LiftArm) {
        self.lesson = lesson
        self.treatment = treatment
        self.control = control
    }
}

/// One interaction's outcome for one lesson, and how it moves the lesson's counts.
public struct LessonOutcome: Sendable, Equatable {
    public var lessonId: String
    public var helpful: Bool
    /// Added to the lesson's `helpful` and `harmful`: +1 for a first outcome, and a move from
    /// one count to the other when the verdict changed.
    public var helpfulDelta: Int
    public var harmfulDelta: Int
    public var at: Date

    public init(lessonId: String, helpful: Bool, helpfulDelta: Int, harmfulDelta: Int, at: Date) {
        self.lessonId = lessonId
        self.helpful = helpful
        self.helpfulDelta = helpfulDelta
        self.harmfulDelta = harmfulDelta
        self.at = at
    }
}

/// A change to the store that recording signals calls for; a store applies each one, in order,
/// in the transaction it read the `SignalState` in.
public enum SignalAction: Sendable, Equatable {
    /// Stores a new flag of a rule.
    case raise(Flag)
    /// Opens again the rule's flag that the rules cleared, with this flag's reason and time.
    case reopen(Flag)
    /// Resolves the rule's open flag as `SignalDecision.rulesActor`, at this time.
    case clear(FlagRule, at: Date)
    /// Queues this judge job, unless the interaction has one already (the store says which).
    case enqueue(Job)
    /// Records the interaction's outcome for a lesson, replacing an earlier one, and moves the
    /// lesson's counts by the deltas (relative, so concurrent counts of other interactions add up).
    case count(LessonOutcome)
    /// Saves this next version of a lesson that proved harmful (retired, with the reason), its
    /// version history entry as the audit's actor, and the audit entry.
    case retire(Lesson, audit: AuditEntry)
}

/// What a feedback or a signal does to an interaction's flags, the judge queue and the lessons
/// injected into it: decided once, here, as plain values; each store reads the `SignalState`,
/// calls `decide` and applies the actions in one transaction.
public enum SignalDecision {
    /// Who clears a rule's flag when the rule no longer holds, as opposed to a reviewer dismissing it.
    public static let rulesActor = "rules"
    /// Who retires a lesson that feedback showed harmful.
    public static let efficacyActor = "rasi (efficacy)"

    /// The actions, in the order to apply them: flags raised or opened again (in `rules.evaluate`'s
    /// order), flags cleared, the judge job, then each injected lesson's outcome and retirement.
    ///
    /// - A rule that holds raises a flag once: a flag it has open stays as it is, one a reviewer
    ///   dismissed stays dismissed, and one the rules cleared opens again.
    /// - An open flag of an enabled rule that no longer holds is cleared by the rules.
    /// - With `enqueueJudge`, a flag raised now by a judged rule queues a judge job.
    /// - New feedback counts the interaction's outcome once per lesson (the latest verdict wins,
    ///   moving the count); an active lesson that `efficacy` then finds harmful is retired.
    /// - With `lift` (a holdout on), lift decides instead of `efficacy`: an active lesson exposed
    ///   in the interaction whose verdict is now `hurts`, with enough exposures in each arm, is retired.
    public static func decide(
        _ state: SignalState, rules: FlagRules, efficacy: EfficacyPolicy, lift: LiftPolicy? = nil, enqueueJudge: Bool, now: Date
    ) -> [SignalAction] {
        var actions = flagActions(state, rules: rules, now: now)
        let raisedJudged = actions.contains { action in
            switch action {
            case .raise(let flag), .reopen(let flag): flag.rule?.isJudged == true
            default: false
            }
        }
        if enqueueJudge, raisedJudged {
            actions.append(.enqueue(Job(kind: .judge, interactionId: state.interaction.id, runAfter: now, createdAt: now)))
        }
        if let helpful = state.lessonOutcome {
            for injected in state.injected {
                actions += outcomeActions(injected, helpful: helpful, efficacy: lift == nil ? efficacy : nil, now: now)
            }
        }
        if let lift, !state.added.isEmpty {
            actions += liftRetirements(state.exposed, lift: lift, counted: actions, now: now)
        }
        return actions
    }

    /// The active lessons among `exposed` (with their figures as they stand after the outcome
    /// just recorded: feedback, or a judge's verdict) that lift now shows harmful, retired.
    /// `counted` are the outcome counts moved in the same transaction, which the retired version carries.
    public static func liftRetirements(_ exposed: [ExposedLesson], lift: LiftPolicy, counted: [SignalAction] = [], now: Date) -> [SignalAction] {
        exposed.compactMap { exposed in
            guard exposed.lesson.status == .active else { return nil }
            let figures = Lift.lift(treatment: exposed.treatment, control: exposed.control)
            guard figures.decidesRetirement(minExposures: lift.minExposures) else { return nil }
            var lesson = exposed.lesson
            for case .count(let outcome) in counted where outcome.lessonId == lesson.id {
                lesson.helpful += outcome.helpfulDelta
                lesson.harmful += outcome.harmfulDelta
            }
            return liftRetirement(lesson, figures: figures, now: now)
        }
    }

    /// The lesson retired by `rasi (lift)`, with the figures as the reviewer's reason.
    static func liftRetirement(_ current: Lesson, figures: Lift, now: Date) -> SignalAction {
        var lesson = current
        lesson.status = .retired
        lesson.version += 1
        lesson.updatedAt = now
        let interval = figures.interval.map { String(format: "[%+.3f, %+.3f]", $0[0], $0[1]) } ?? "none"
        let (t, c) = (figures.treatment, figures.control)
        let reason =
            "retired automatically: negative outcomes \(t.negative) of \(t.exposures) with the lesson, \(c.negative) of \(c.exposures) without it"
            + " (difference \(String(format: "%+.3f", figures.difference ?? 0)), 95% interval \(interval))"
        lesson.reviewReason = reason
        let audit = AuditEntry(
            at: now, actor: LiftPolicy.actor, action: "lesson.update", target: lesson.id, detail: "version \(lesson.version), retired: \(reason)")
        return .retire(lesson, audit: audit)
    }

    static func flagActions(_ state: SignalState, rules: FlagRules, now: Date) -> [SignalAction] {
        let holding = rules.evaluate(state.interaction)
        var actions: [SignalAction] = holding.compactMap { raised in
            let flag = Flag(rule: raised.rule, reason: raised.reason, createdAt: now)
            switch state.ruleFlags[raised.rule] {
            case nil: return .raise(flag)
            // Cleared by the rules earlier and holding again (a new rephrase after a thumbs-up).
            case .clearedByRules: return .reopen(flag)
            case .open, .dismissed: return nil
            }
        }
        for rule in FlagRule.allCases
        where state.ruleFlags[rule] == .open && rules.enabled.contains(rule)
            && !holding.contains(where: { $0.rule == rule })
        {
            actions.append(.clear(rule, at: now))
        }
        return actions
    }

    /// Without `efficacy` the outcome is counted and nothing retired (lift decides).
    static func outcomeActions(_ injected: InjectedLesson, helpful: Bool, efficacy: EfficacyPolicy?, now: Date) -> [SignalAction] {
        guard injected.counted != helpful else { return [] }
        let (helpfulDelta, harmfulDelta) =
            switch (injected.counted, helpful) {
            case (nil, true): (1, 0)
            case (nil, false): (0, 1)
            case (_, true): (1, -1)
            case (_, false): (-1, 1)
            }
        let outcome = LessonOutcome(lessonId: injected.lessonId, helpful: helpful, helpfulDelta: helpfulDelta, harmfulDelta: harmfulDelta, at: now)
        guard var lesson = injected.lesson else { return [.count(outcome)] }
        lesson.helpful += helpfulDelta
        lesson.harmful += harmfulDelta
        guard let efficacy, lesson.status == .active, efficacy.shouldRetire(helpful: lesson.helpful, harmful: lesson.harmful) else {
            return [.count(outcome)]
        }
        lesson.status = .retired
        lesson.version += 1
        lesson.updatedAt = now
        let reason = "retired automatically: harmful in \(lesson.harmful) of \(lesson.helpful + lesson.harmful) rated uses"
        lesson.reviewReason = reason
        let audit = AuditEntry(
            at: now, actor: efficacyActor, action: "lesson.update", target: lesson.id,
            detail: "version \(lesson.version), retired: \(reason)")
        return [.count(outcome), .retire(lesson, audit: audit)]
    }
}

extension SignalOutcome {
    /// Notes what an applied action changed. `applied` is false for a judge job the store did
    /// not queue because the interaction had one already.
    public mutating func record(_ action: SignalAction, applied: Bool = true) {
        switch action {
        case .raise(let flag), .reopen(let flag): raised.append(flag)
        case .clear(let rule, _): cleared.append(rule)
        case .enqueue(let job): if applied { judgeJob = job }
        case .count: break
        case .retire(let lesson, _): retired.append(lesson.id)
        }
    }
}

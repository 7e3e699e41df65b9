import Foundation

/// What makes an interaction's outcome negative or positive, for measuring lift: negative on
/// any of `negative` (by default a thumbs-down, a rephrase, an escalation or a judge's `problem`
/// verdict), else positive on a thumbs-up, else unknown. Outcomes that arrive later (signals,
/// the judge) change the figures: they are counted when read, never stored.
public struct OutcomeRules: Sendable, Equatable {
    public enum Negative: String, Sendable, CaseIterable {
        case thumbsDown = "thumbs_down"
        case rephrase, escalate, abandon
        case judgeProblem = "judge_problem"
    }

    public var negative: Set<Negative>

    public static let defaults: Set<Negative> = [.thumbsDown, .rephrase, .escalate, .judgeProblem]

    public init(negative: Set<Negative> = OutcomeRules.defaults) {
        self.negative = negative
    }

    /// From `RASI_LIFT_NEGATIVE`'s names; throws naming the first unknown one.
    public static func parse(_ names: [String]) throws -> OutcomeRules {
        var negative: Set<Negative> = []
        for name in names {
            guard let item = Negative(rawValue: name) else {
                throw RasiError.invalidField(
                    "RASI_LIFT_NEGATIVE", "unknown outcome \"\(name)\"; expected \(Negative.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            negative.insert(item)
        }
        guard !negative.isEmpty else { throw RasiError.invalidField("RASI_LIFT_NEGATIVE", "names no outcome") }
        return OutcomeRules(negative: negative)
    }

    /// The rules as stored beside the counts kept under them: the negative outcomes' names, sorted.
    public var signature: String { negative.map(\.rawValue).sorted().joined(separator: ",") }

    public init?(signature: String) {
        guard let rules = try? Self.parse(signature.split(separator: ",").map(String.init)) else { return nil }
        self = rules
    }

    /// The implicit signals that count as negative.
    public var negativeSignals: [Signal] {
        [(Negative.rephrase, Signal.rephrase), (.escalate, .escalate), (.abandon, .abandon)].filter { negative.contains($0.0) }.map(\.1)
    }
}

extension OutcomeRules {
    /// The SQL conditions, on the interaction `interaction` names, that its outcome is negative and
    /// that it is positive: the same in both stores but for `problemVerdict` (the dialect's test that
    /// judge run `r`'s stored verdict is `problem`) and `never` (its false literal).
    public func sqlConditions(interaction: String, problemVerdict: String, never: String) -> (negative: String, positive: String) {
        var feedback: [String] = []
        if negative.contains(.thumbsDown) { feedback.append("f.rating = 'down'") }
        let signals = negativeSignals.map { "'\($0.rawValue)'" }
        if !signals.isEmpty { feedback.append("f.signal IN (\(signals.joined(separator: ", ")))") }
        var conditions: [String] = []
        if !feedback.isEmpty {
            conditions.append(
                "EXISTS (SELECT 1 FROM feedback f WHERE f.interaction_id = \(interaction) AND (\(feedback.joined(separator: " OR "))))")
        }
        if negative.contains(.judgeProblem) {
            conditions.append("EXISTS (SELECT 1 FROM judge_runs r WHERE r.interaction_id = \(interaction) AND \(problemVerdict))")
        }
        let positive = "EXISTS (SELECT 1 FROM feedback f WHERE f.interaction_id = \(interaction) AND f.rating = 'up')"
        return (conditions.isEmpty ? never : "(" + conditions.joined(separator: " OR ") + ")", positive)
    }
}

/// When lift decides about a lesson: with a holdout on, a lesson whose verdict is `hurts` with
/// at least `minExposures` exposures in each arm is retired, in the transaction of the outcome
/// that decided it (replacing the harmful-share rule, which cannot tell hard requests from bad lessons).
public struct LiftPolicy: Sendable, Equatable {
    public var minExposures = 20
    public var outcomes = OutcomeRules()
    /// Who retires a lesson that lift showed harmful.
    public static let actor = "rasi (lift)"

    public init(minExposures: Int = 20, outcomes: OutcomeRules = OutcomeRules()) {
        self.minExposures = minExposures
        self.outcomes = outcomes
    }
}

/// Lift's exposures and outcomes, as a store counts them. Each store keeps a count per lesson and
/// arm (exposures, negative and positive outcomes) up to date in the transactions that change it:
/// an exposure logged, feedback or a judge's verdict that changes an interaction's outcome. Reading
/// a lesson's lift, and deciding retirement on each outcome, then costs the same at a million
/// exposures as at ten. The counts are kept under one set of rules, stored with them.
public protocol LiftStore: Sendable {
    /// Keeps the counts under `rules` from now on; rebuilds them from the exposures and outcomes
    /// stored when they were kept under other rules, or not at all (a new store, an import). Returns
    /// whether it rebuilt. Every replica sharing a store must be given the same rules.
    @discardableResult
    func prepareLiftCounts(rules: OutcomeRules) async throws -> Bool
    /// One lesson's exposures by arm, with their outcomes under `rules`.
    func liftArms(lessonId: String, rules: OutcomeRules) async throws -> (treatment: LiftArm, control: LiftArm)
    /// An agent's exposures pooled over its lessons, by arm.
    func liftArms(agent: String, rules: OutcomeRules) async throws -> (treatment: LiftArm, control: LiftArm)
}

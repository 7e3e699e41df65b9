import Foundation

/// One arm's exposures and their outcomes. Exposures whose outcome is unknown count in the
/// denominator: a rate is negative outcomes per exposure, as a user sees it, not per rated one.
public struct LiftArm: Codable, Sendable, Equatable {
    public var exposures: Int
    public var negative: Int
    public var positive: Int

    public init(exposures: Int, negative: Int, positive: Int) {
        self.exposures = exposures
        self.negative = negative
        self.positive = positive
    }

    /// Negative outcomes per exposure; 0 without exposures.
    public var negativeRate: Double { exposures == 0 ? 0 : Double(negative) / Double(exposures) }
}

/// A lesson's (or an agent's) lift: the negative-outcome rate with the lesson minus without it,
/// with the 95% interval of that difference by Newcombe's hybrid score method (method 10 of
/// Newcombe 1998, from each arm's Wilson score interval), which keeps its coverage at small
/// counts and at rates near 0 or 1, where the normal approximation does not.
public struct Lift: Codable, Sendable, Equatable {
    public enum Verdict: String, Codable, Sendable {
        /// The whole interval is below 0: fewer negative outcomes with the lesson.
        case helps
        /// The whole interval is above 0.
        case hurts
        case unclear
    }

    public var treatment: LiftArm
    public var control: LiftArm
    /// Nil (JSON null) while an arm has no exposures.
    public var difference: Double?
    /// `[low, high]`; nil while an arm has no exposures.
    public var interval: [Double]?
    public var verdict: Verdict

    public static let z = 1.959964

    public init(treatment: LiftArm, control: LiftArm, difference: Double?, interval: [Double]?, verdict: Verdict) {
        self.treatment = treatment
        self.control = control
        self.difference = difference
        self.interval = interval
        self.verdict = verdict
    }

    public static func lift(treatment: LiftArm, control: LiftArm) -> Lift {
        guard treatment.exposures > 0, control.exposures > 0 else {
            return Lift(treatment: treatment, control: control, difference: nil, interval: nil, verdict: .unclear)
        }
        let (p1, p2) = (treatment.negativeRate, control.negativeRate)
        let (l1, u1) = wilson(successes: treatment.negative, trials: treatment.exposures)
        let (l2, u2) = wilson(successes: control.negative, trials: control.exposures)
        let difference = p1 - p2
        let low = difference - ((p1 - l1) * (p1 - l1) + (u2 - p2) * (u2 - p2)).squareRoot()
        let high = difference + ((u1 - p1) * (u1 - p1) + (p2 - l2) * (p2 - l2)).squareRoot()
        let verdict: Verdict = high < 0 ? .helps : low > 0 ? .hurts : .unclear
        return Lift(treatment: treatment, control: control, difference: difference, interval: [low, high], verdict: verdict)
    }

    /// The Wilson score interval of a proportion; (0, 1) without trials. Counts outside
    /// 0...trials are clamped, so a miscounted arm cannot put NaN into the JSON.
    public static func wilson(successes: Int, trials: Int, z: Double = Lift.z) -> (low: Double, high: Double) {
        guard trials > 0 else { return (0, 1) }
        let n = Double(trials)
        let x = Double(min(max(successes, 0), trials))
        let p = x / n
        let z2 = z * z
        let center = (p + z2 / (2 * n)) / (1 + z2 / n)
        let half = z * (p * (1 - p) / n + z2 / (4 * n * n)).squareRoot() / (1 + z2 / n)
        // At p = 0 or 1 the bound is exactly 0 or 1; the formula misses it by an ulp (10/10 gave 0.9999999999999999).
        return (x == 0 ? 0 : max(0, center - half), x == n ? 1 : min(1, center + half))
    }

    enum CodingKeys: String, CodingKey {
        case treatment, control, difference, interval, verdict
    }

    /// Writes `difference` and `interval` as null while unknown; the synthesized encoder would omit them.
    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(treatment, forKey: .treatment)
        try container.encode(control, forKey: .control)
        try container.encode(difference, forKey: .difference)
        try container.encode(interval, forKey: .interval)
        try container.encode(verdict, forKey: .verdict)
    }

    /// Whether lift retires the lesson: it hurts, with at least `minExposures` in each arm.
    public func decidesRetirement(minExposures: Int) -> Bool {
        verdict == .hurts && treatment.exposures >= minExposures && control.exposures >= minExposures
    }
}

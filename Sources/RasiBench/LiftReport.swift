import Foundation
import RasiCore

/// What `bench lift` found: rasi's figures and retirements beside the simulation's truth.
struct LiftReport {
    struct Settings: Encodable {
        var requests: Int
        var clients: Int
        var domains: [String]
        var intents: Int
        var learnPerIntent: Int
        var planted: Int
        var noise: Double
        var thumbsUp: Double
        var holdout: Double
        var minExposures: Int
        var lessonsMax: Int
        var seed: UInt64

        enum CodingKeys: String, CodingKey {
            case requests, clients, domains, intents, planted, noise, holdout, seed
            case learnPerIntent = "learn_per_intent"
            case thumbsUp = "thumbs_up"
            case minExposures = "min_exposures"
            case lessonsMax = "lessons_max"
        }
    }

    /// The state after a block of requests: rasi's agent lift and retirements so far, and the truth.
    struct Row: Encodable {
        var requests: Int
        var treatment: LiftArm
        var control: LiftArm
        var measuredDifference: Double?
        var interval: [Double]?
        var verdict: Lift.Verdict
        var trueDifference: Double?
        var plantedRetired: Int
        var goodRetired: Int
        /// Whether rasi's arms are the simulation's own count of exposures, thumbs-downs and thumbs-ups.
        var agrees: Bool

        init(requests: Int, measured: Lift, trueDifference: Double?, plantedRetired: Int, goodRetired: Int, agrees: Bool) {
            self.requests = requests
            (treatment, control) = (measured.treatment, measured.control)
            (measuredDifference, interval, verdict) = (measured.difference, measured.interval, measured.verdict)
            self.trueDifference = trueDifference
            self.plantedRetired = plantedRetired
            self.goodRetired = goodRetired
            self.agrees = agrees
        }

        enum CodingKeys: String, CodingKey {
            case requests, treatment, control, interval, verdict, agrees
            case measuredDifference = "measured_difference"
            case trueDifference = "true_difference"
            case plantedRetired = "planted_retired"
            case goodRetired = "good_retired"
        }

        var line: String {
            let measured = measuredDifference.map { String(format: "%+.3f", $0) } ?? "     -"
            let range = interval.map { String(format: "[%+.3f, %+.3f]", $0[0], $0[1]) } ?? "                "
            return String(
                format: "%8d  %6d / %-6d  %15d  %12d   %@ %@ %@  %15@  %@", requests, treatment.exposures, control.exposures, plantedRetired,
                goodRetired, measured, range, verdict.rawValue.padding(toLength: 7, withPad: " ", startingAt: 0),
                trueDifference.map { String(format: "%+.3f", $0) } ?? "-", agrees ? "yes" : "NO")
        }
    }

    /// One arm's figures as a retirement's review reason gives them (it does not give thumbs-ups).
    struct ArmAtRetirement: Encodable {
        var exposures: Int
        var negative: Int
    }

    /// A lesson rasi retired, with the figures it retired on (from its review reason).
    struct Retirement: Encodable {
        var lesson: String
        var kind: LiftLesson.Kind?
        var intent: String?
        var tool: String?
        var treatment: ArmAtRetirement?
        var control: ArmAtRetirement?
        /// The first checkpoint at which it was seen retired: it was retired within the block that ended there.
        var seenByRequest: Int
        var reason: String?
        /// Its true lift over all the traffic it got (set when the report is made).
        var trueLift: Double?

        init(_ retired: Lesson, known: LiftLesson?, seenBy: Int) {
            lesson = retired.id
            (kind, intent, tool) = (known?.kind, known?.intent, known?.tool)
            seenByRequest = seenBy
            reason = retired.reviewReason
            // "retired automatically: negative outcomes A of B with the lesson, C of D without it (difference ...)"
            let figures = (retired.reviewReason ?? "").components(separatedBy: "without it").first ?? ""
            let numbers = figures.split { !$0.isNumber }.compactMap { Int($0) }
            if numbers.count == 4, reason?.contains("without it") == true {
                treatment = ArmAtRetirement(exposures: numbers[1], negative: numbers[0])
                control = ArmAtRetirement(exposures: numbers[3], negative: numbers[2])
            }
        }

        enum CodingKeys: String, CodingKey {
            case lesson, kind, intent, tool, reason
            case treatment = "treatment_at_retirement"
            case control = "control_at_retirement"
            case seenByRequest = "seen_by_request"
            case trueLift = "true_lift"
        }
    }

    /// A planted lesson as the simulation counted it, retired or not.
    struct Planted: Encodable {
        var lesson: String
        var intent: String
        var tool: String
        var treatment: LiftArm
        var control: LiftArm
        var trueLift: Double?
        var retired: Bool

        enum CodingKeys: String, CodingKey {
            case lesson, intent, tool, treatment, control, retired
            case trueLift = "true_lift"
        }
    }

    /// One kind of lesson's fate.
    struct Fate: Encodable {
        var total: Int
        var retired: Int
        /// Lessons exposed enough in each arm for lift to decide on them.
        var decidable: Int
        /// The mean true lift of the lessons of this kind that were exposed.
        var meanTrueLift: Double?
        var retirements: [Retirement]

        enum CodingKeys: String, CodingKey {
            case total, retired, decidable, retirements
            case meanTrueLift = "mean_true_lift"
        }
    }

    var settings: Settings
    var setup: [String: Int]
    var planted: Fate
    var good: Fate
    var plantedLessons: [Planted]
    var ledger: LiftLedger
    var rows: [LiftReport.Row]
    var lessonsDisagreeing: [String]
    var seconds: Double

    init(
        settings: Settings, lessons: [LiftLesson], setup: [String: Int], ledger: LiftLedger, retirements: [String: Retirement], rows: [Row],
        lessonsDisagreeing: [String], seconds: Double
    ) {
        func fate(_ kind: LiftLesson.Kind) -> Fate {
            let ofKind = lessons.filter { $0.kind == kind }
            let tallies = ofKind.compactMap { ledger.lessons[$0.id] }
            let lifts = tallies.compactMap(\.trueLift)
            let retired = retirements.values.filter { $0.kind == kind }.sorted { ($0.seenByRequest, $0.lesson) < ($1.seenByRequest, $1.lesson) }
                .map { retirement in
                    var retirement = retirement
                    retirement.trueLift = ledger.lessons[retirement.lesson]?.trueLift
                    return retirement
                }
            return Fate(
                total: ofKind.count, retired: retired.count,
                decidable: tallies.filter { min($0.treatment.exposures, $0.control.exposures) >= settings.minExposures }.count,
                meanTrueLift: lifts.isEmpty ? nil : lifts.reduce(0, +) / Double(lifts.count), retirements: retired)
        }
        self.settings = settings
        self.setup = setup
        planted = fate(.planted)
        good = fate(.good)
        plantedLessons = lessons.filter { $0.kind == .planted }.map { lesson in
            let tally = ledger.lessons[lesson.id] ?? LiftLedger.LessonTally()
            return Planted(
                lesson: lesson.id, intent: lesson.intent, tool: lesson.tool, treatment: tally.treatment, control: tally.control,
                trueLift: tally.trueLift, retired: retirements[lesson.id] != nil)
        }
        self.ledger = ledger
        self.rows = rows
        self.lessonsDisagreeing = lessonsDisagreeing
        self.seconds = seconds
    }

    /// Good lessons retired although they did not truly hurt the traffic they got.
    var goodWronglyRetired: Int { good.retirements.filter { ($0.trueLift ?? 0) <= 0 }.count }

    var last: Row? { rows.last }

    /// Whether the true difference lies within rasi's last interval.
    var truthWithinInterval: Bool? {
        guard let interval = last?.interval, let truth = ledger.trueDifference else { return nil }
        return interval[0] <= truth && truth <= interval[1]
    }

    func median(_ values: [Int]) -> Double? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? Double(sorted[sorted.count / 2]) : Double(sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }

    var json: [String: AnyEncodable] {
        let requests = Double(max(ledger.requests, 1))
        let atRetirement = planted.retirements.compactMap { r in r.treatment.flatMap { t in r.control.map { (t.exposures, $0.exposures) } } }
        return [
            "settings": AnyEncodable(settings), "setup": AnyEncodable(setup), "seconds": AnyEncodable(seconds),
            "planted": AnyEncodable(planted), "planted_lessons": AnyEncodable(plantedLessons), "good": AnyEncodable(good),
            "good_wrongly_retired": AnyEncodable(goodWronglyRetired),
            "planted_exposures_at_retirement": AnyEncodable([
                "treatment_median": median(atRetirement.map(\.0)), "control_median": median(atRetirement.map(\.1)),
                "total_median": median(atRetirement.map { $0.0 + $0.1 }), "total_max": atRetirement.map { Double($0.0 + $0.1) }.max()
            ]),
            "agent": AnyEncodable([
                "measured": AnyEncodable(
                    last.map {
                        Lift(
                            treatment: $0.treatment, control: $0.control, difference: $0.measuredDifference,
                            interval: $0.interval, verdict: $0.verdict)
                    }),
                "true_difference": AnyEncodable(ledger.trueDifference), "truth_within_interval": AnyEncodable(truthWithinInterval),
                "agrees_with_simulation": AnyEncodable(rows.allSatisfy(\.agrees))
            ]),
            "traffic": AnyEncodable([
                "requests": AnyEncodable(ledger.requests), "exposures_treatment": AnyEncodable(ledger.treatment.exposures),
                "exposures_control": AnyEncodable(ledger.control.exposures),
                "thumbs_down_rate": AnyEncodable(Double(ledger.thumbsDown) / requests),
                "thumbs_up_rate": AnyEncodable(Double(ledger.thumbsUp) / requests),
                "expected_negative_rate_served": AnyEncodable(ledger.served / requests),
                "expected_negative_rate_without_lessons": AnyEncodable(ledger.unaided / requests),
                "route_mismatches": AnyEncodable(ledger.mismatches)
            ]),
            "lessons_disagreeing_with_simulation": AnyEncodable(lessonsDisagreeing), "convergence": AnyEncodable(rows)
        ]
    }

    func printSummary() {
        let figure = { (value: Double?) in value.map { String(format: "%+.3f", $0) } ?? "-" }
        let atRetirement = planted.retirements.compactMap { r in r.treatment.flatMap { t in r.control.map { (t.exposures, $0.exposures) } } }
        LiftBench.show(
            "planted harmful lessons retired: \(planted.retired) of \(planted.total) (true lift \(figure(planted.meanTrueLift)) on average); "
                + "exposures at retirement, median: \(median(atRetirement.map(\.0)).map { String(format: "%.0f", $0) } ?? "-") with, "
                + "\(median(atRetirement.map(\.1)).map { String(format: "%.0f", $0) } ?? "-") without; last seen retired by request "
                + "\(planted.retirements.map(\.seenByRequest).max().map(String.init) ?? "-")")
        LiftBench.show(
            "good lessons retired: \(good.retired) of \(good.total), \(goodWronglyRetired) wrongly (that did not truly hurt); "
                + "\(good.decidable) exposed enough in each arm to be decided; true lift \(figure(good.meanTrueLift)) on average")
        if let last {
            LiftBench.show(
                "agent lift: measured \(figure(last.measuredDifference)) "
                    + (last.interval.map { String(format: "[%+.3f, %+.3f]", $0[0], $0[1]) } ?? "") + ", true \(figure(ledger.trueDifference))"
                    + (truthWithinInterval == true ? " (within the interval)" : " (outside the interval)")
                    + "; rasi's counts \(rows.allSatisfy(\.agrees) ? "match" : "DO NOT match") the simulation's")
        }
        let requests = Double(max(ledger.requests, 1))
        LiftBench.show(
            String(
                format: "traffic: %d requests in %.0f s; expected negative rate %.3f as served, %.3f without lessons; %d calls not as expected; "
                    + "%d lessons whose lift differs from the simulation's count", ledger.requests, seconds, ledger.served / requests,
                ledger.unaided / requests, ledger.mismatches, lessonsDisagreeing.count))
    }
}

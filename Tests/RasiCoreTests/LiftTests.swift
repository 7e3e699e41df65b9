import Foundation
import RasiCore
import Testing

/// Lift's statistics: Wilson and Newcombe intervals against Newcombe (1998), Table II, method 10.
@Suite struct LiftTests {
    func arm(_ negative: Int, of exposures: Int, positive: Int = 0) -> LiftArm {
        LiftArm(exposures: exposures, negative: negative, positive: positive)
    }

    func rounded(_ value: Double) -> Double { (value * 10_000).rounded() / 10_000 }

    @Test(arguments: [
        (56, 70, 48, 80, 0.2, 0.0524, 0.3339), (9, 10, 3, 10, 0.6, 0.1705, 0.8090), (6, 7, 2, 7, 0.5714, 0.0582, 0.8062),
        (5, 56, 0, 29, 0.0893, -0.0381, 0.1926), (0, 10, 0, 20, 0, -0.1611, 0.2775), (0, 10, 0, 10, 0, -0.2775, 0.2775),
        (10, 10, 0, 20, 1, 0.6791, 1), (10, 10, 0, 10, 1, 0.6075, 1)
    ])
    func theIntervalIsNewcombesHybridScoreInterval(_ example: (Int, Int, Int, Int, Double, Double, Double)) throws {
        let (x1, n1, x2, n2, difference, low, high) = example
        let lift = Lift.lift(treatment: arm(x1, of: n1), control: arm(x2, of: n2))
        #expect(rounded(try #require(lift.difference)) == difference)
        let interval = try #require(lift.interval)
        #expect(interval.map(rounded) == [low, high])
    }

    /// Newcombe, "Two-sided confidence intervals for the single proportion" (1998), Table I, method 3.
    @Test(arguments: [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0, 0.1611), (1, 29, 0.0061, 0.1718)])
    func theWilsonIntervalMatchesThePublishedExamples(_ example: (Int, Int, Double, Double)) {
        let (successes, trials, low, high) = example
        let interval = Lift.wilson(successes: successes, trials: trials)
        #expect(rounded(interval.low) == low && rounded(interval.high) == high)
    }

    @Test func ratesNearZeroAndOneKeepTheIntervalInsideMinusOneAndOne() throws {
        // Given arms with almost no or almost only negative outcomes over many exposures,
        let hurts = Lift.lift(treatment: arm(999, of: 1000), control: arm(1, of: 1000))
        let helps = Lift.lift(treatment: arm(0, of: 1000), control: arm(1000, of: 1000))
        let tied = Lift.lift(treatment: arm(0, of: 1000), control: arm(0, of: 1000))
        // then the intervals stay within [-1, 1], are narrow, and the verdicts follow.
        let hurtsInterval = try #require(hurts.interval)
        #expect(hurts.verdict == .hurts && hurtsInterval[0] > 0.99 && hurtsInterval[1] <= 1)
        let helpsInterval = try #require(helps.interval)
        #expect(helps.verdict == .helps && helpsInterval[0] == -1 && helpsInterval[1] < -0.99)
        #expect(tied.verdict == .unclear && tied.difference == 0)
        let tiedInterval = try #require(tied.interval)
        #expect(tiedInterval[0] < 0 && tiedInterval[1] > 0 && tiedInterval[1] < 0.004)
    }

    @Test func theWilsonIntervalStaysInsideZeroAndOne() {
        let none = Lift.wilson(successes: 0, trials: 10)
        #expect(none.low == 0 && rounded(none.high) == 0.2775)
        let all = Lift.wilson(successes: 10, trials: 10)
        #expect(rounded(all.low) == 0.7225 && all.high == 1)
        #expect(Lift.wilson(successes: 0, trials: 0) == (0, 1))
    }

    @Test func theVerdictSaysWhereTheIntervalLies() {
        // More negative outcomes with the lesson: it hurts.
        #expect(Lift.lift(treatment: arm(9, of: 10), control: arm(3, of: 10)).verdict == .hurts)
        // Fewer: it helps.
        #expect(Lift.lift(treatment: arm(3, of: 10), control: arm(9, of: 10)).verdict == .helps)
        // An interval that spans 0: unclear.
        #expect(Lift.lift(treatment: arm(5, of: 56), control: arm(0, of: 29)).verdict == .unclear)
        #expect(Lift.lift(treatment: arm(1, of: 2), control: arm(0, of: 2)).verdict == .unclear)
    }

    @Test func anArmWithoutExposuresLeavesTheDifferenceOpen() throws {
        let lift = Lift.lift(treatment: arm(4, of: 10), control: arm(0, of: 0))
        #expect(lift.difference == nil && lift.interval == nil && lift.verdict == .unclear)
        let json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(lift)) as? [String: Any]
        #expect(json?["difference"] is NSNull && json?["interval"] is NSNull)
        #expect(json?["verdict"] as? String == "unclear")
        #expect((json?["treatment"] as? [String: Any])?["exposures"] as? Int == 10)
        #expect(Set((json?["control"] as? [String: Any])?.keys.map { $0 } ?? []) == ["exposures", "negative", "positive"])
        #expect(Set(json?.keys.map { $0 } ?? []) == ["treatment", "control", "difference", "interval", "verdict"])
    }

    @Test func theJSONRoundTrips() throws {
        let lift = Lift.lift(treatment: arm(9, of: 10, positive: 1), control: arm(3, of: 10, positive: 5))
        #expect(try JSONDecoder().decode(Lift.self, from: JSONEncoder().encode(lift)) == lift)
        let open = Lift.lift(treatment: arm(0, of: 0), control: arm(3, of: 10))
        #expect(try JSONDecoder().decode(Lift.self, from: JSONEncoder().encode(open)) == open)
    }

    @Test func retirementNeedsAHurtingVerdictAndEnoughExposuresInEachArm() {
        let hurts = Lift.lift(treatment: arm(9, of: 10), control: arm(3, of: 10))
        #expect(hurts.decidesRetirement(minExposures: 10))
        #expect(!hurts.decidesRetirement(minExposures: 11))
        #expect(!Lift.lift(treatment: arm(3, of: 10), control: arm(9, of: 10)).decidesRetirement(minExposures: 1))
    }

    @Test func theHoldoutIsStableAndNearItsShare() {
        let withheld = (0..<2000).filter { Holdout.withholds(lessonId: "les_a", conversation: "conv-\($0)", share: 0.2) }.count
        #expect((320...480).contains(withheld)) // 400 expected; 4 standard deviations either way
        #expect(
            Holdout.withholds(lessonId: "les_a", conversation: "c", share: 0.3) == Holdout.withholds(lessonId: "les_a", conversation: "c", share: 0.3)
        )
        #expect(!(0..<200).contains { Holdout.withholds(lessonId: "les_a", conversation: "conv-\($0)", share: 0) })
    }
}

/// Trend queries' spans and the charts drawn from them.
@Suite struct TrendTests {
    let now = Date(timeIntervalSince1970: 1_764_581_400) // 2025-12-01 09:30 UTC

    @Test func aQuerySpansWholeBucketsUpToTheCurrentOne() throws {
        let hours = try TrendQuery.recent(bucket: .hour, since: nil, now: now)
        #expect(hours.since == Date(timeIntervalSince1970: 1_764_579_600 - 48 * 3600))
        #expect(hours.until == Date(timeIntervalSince1970: 1_764_579_600 + 3600))
        #expect(hours.bucketStarts.count == 49 && hours.bucketStarts.last == Date(timeIntervalSince1970: 1_764_579_600))
        let days = try TrendQuery.recent(bucket: .day, since: nil, now: now)
        #expect(days.bucketStarts.count == 31 && days.since == Date(timeIntervalSince1970: 1_764_547_200 - 30 * 86_400))
    }

    @Test func aSpanInTheFutureOrTooLongIsRefusedNamingSince() {
        #expect(throws: RasiError.invalidField("since", "is in the future")) { try TrendQuery.recent(bucket: .hour, since: now + 7200, now: now) }
        #expect(throws: RasiError.self) { try TrendQuery.recent(bucket: .hour, since: now - 200 * 86_400, now: now) }
        #expect(throws: Never.self) { try TrendQuery.recent(bucket: .day, since: now - 200 * 86_400, now: now) }
    }

    @Test func theRateChartBreaksItsLinesWhereABucketHasNothingAndEscapesText() throws {
        let query = TrendQuery(agent: "<a&b>", bucket: .hour, since: now - 3 * 3600, until: now)
        var busy = TrendCounts()
        busy.interactions = 4
        busy.negative = 1
        busy.treatment = LiftArm(exposures: 2, negative: 0, positive: 1)
        busy.lessonsRetired = 1
        let starts = query.bucketStarts
        let trends = Trends(query: query, counts: [starts[0]: busy, starts[2]: busy])
        let svg = TrendChart.rates(trends, title: "Agent <a&b>", id: "c")
        #expect(svg.contains("Agent &lt;a&amp;b&gt;") && !svg.contains("<a&b>"))
        // Two separate runs of the all-interactions line: the empty bucket between them is not drawn as 0.
        let path = try #require(svg.split(separator: "\n").first { $0.contains("class=\"series-all\"") })
        #expect(path.components(separatedBy: "M").count - 1 == 2 && !path.contains("L"))
        #expect(svg.contains("25.0%") && svg.contains("class=\"retired\"") && !svg.contains("class=\"series-control\""))
        #expect(svg.contains("all interactions 25.0% of 8") && svg.contains("2 retired"))
    }
}

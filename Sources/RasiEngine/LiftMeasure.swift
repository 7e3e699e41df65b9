import Foundation
import RasiCore

/// Each lesson's measured effect on live traffic: its exposures with it injected (treatment)
/// against those where the holdout withheld it (control), and their outcomes.
extension RasiServices {
    /// A lesson's lift (it need not exist any more: its exposures are kept).
    public func lift(lessonId: String) async throws -> Lift {
        _ = try await lesson(lessonId)
        let arms = try await store.liftArms(lessonId: lessonId, rules: configuration.lift.outcomes)
        return Lift.lift(treatment: arms.treatment, control: arms.control)
    }

    /// An agent's lift: the exposures of all its lessons pooled, treatment against control.
    public func lift(agent: String) async throws -> Lift {
        let arms = try await store.liftArms(agent: agent, rules: configuration.lift.outcomes)
        return Lift.lift(treatment: arms.treatment, control: arms.control)
    }
}

/// Outcomes over time, for spotting drift and seeing the loop work.
extension RasiServices {
    /// Every bucket of `query`, empty ones included, with outcomes counted under the configured rules.
    public func trends(_ query: TrendQuery) async throws -> Trends {
        Trends(query: query, counts: try await store.trendCounts(query, rules: configuration.lift.outcomes))
    }

    /// The busiest agents or topics of `query`'s span, for the trends page's small charts.
    public func busiest(byTopic: Bool, in query: TrendQuery, limit: Int) async throws -> [String] {
        try await store.busiest(byTopic: byTopic, in: query, limit: limit).map(\.name)
    }
}

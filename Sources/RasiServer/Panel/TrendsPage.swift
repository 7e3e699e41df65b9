import Foundation
import Hummingbird
import RasiCore
import RasiEngine

/// The Trends page: the negative-outcome rate over time, overall and with lessons against
/// without (the holdout), per agent and per topic, with lesson creations and retirements
/// marked. Drawn on the server as SVG, so it reads without JavaScript like the rest of the panel.
struct TrendsPage: PanelPage {
    struct Chart {
        let svg: String
        /// The page filtered to this chart's agent or topic.
        let href: String
        let name: String
    }

    /// A bucket with anything in it, for the table under the chart.
    struct Row {
        let start: String
        let interactions: Int
        let negative: String
        let treatment: String
        let control: String
        let created: Int
        let retired: Int
    }

    struct Filter {
        let agent: String
        let topic: String
        let lesson: String?
        let since: String
    }

    static let template = "trends"
    static let section = "trends"
    var title: String { "Trends" }
    let filter: Filter
    let bucketOptions: [SelectOption]
    let chart: String
    let summary: String
    let rows: [Row]
    let agents: [Chart]
    let topics: [Chart]
    let hasAgents: Bool
    let hasTopics: Bool
    let treatmentColor = TrendChart.treatmentColor
    let controlColor = TrendChart.controlColor
    let allColor = TrendChart.allColor
    var csrf = ""

    /// How many agents and topics get a chart of their own.
    static let smallCharts = 6

    init(query: TrendQuery, trends: Trends, agents: [(String, Trends)], topics: [(String, Trends)]) {
        filter = Filter(
            agent: query.agent ?? "", topic: query.topic ?? "", lesson: query.lessonId, since: String(Timestamp.format(query.since).prefix(10)))
        bucketOptions = SelectOption.list([("hour", "hour"), ("day", "day")], selected: query.bucket.rawValue)
        let scope = [
            query.agent.map { "agent \($0)" }, query.topic.map { "topic \($0)" }, query.lessonId.map { "traffic lesson \($0) was selected for" }
        ].compactMap { $0 }.joined(separator: ", ")
        chart = TrendChart.rates(
            trends, title: "Negative-outcome rate" + (scope.isEmpty ? "" : " · " + scope), id: "trend-chart", width: 1220, height: 280)
        let total = trends.total
        let lift = Lift.lift(treatment: total.treatment, control: total.control)
        summary =
            "\(total.interactions) interactions, \(total.negative) with a negative outcome, \(total.positive) positive; "
            + "negative outcomes \(total.treatment.negative) of \(total.treatment.exposures) exposures with lessons injected, "
            + "\(total.control.negative) of \(total.control.exposures) withheld"
            + (lift.difference.map { String(format: " (difference %+.3f)", $0) } ?? "") + ", verdict \(lift.verdict.rawValue); "
            + "\(total.lessonsCreated) lessons created, \(total.lessonsRetired) retired."
        rows = trends.buckets.filter { $0.interactions + $0.lessonsCreated + $0.lessonsRetired > 0 }.reversed().map { bucket in
            func share(_ part: Int, _ whole: Int) -> String {
                whole == 0 ? "–" : "\(part) of \(whole) (" + PanelPages.percent(Double(part) / Double(whole)) + ")"
            }
            return Row(
                start: TrendChart.label(bucket.start, query.bucket), interactions: bucket.interactions,
                negative: share(bucket.negative, bucket.interactions), treatment: share(bucket.treatment.negative, bucket.treatment.exposures),
                control: share(bucket.control.negative, bucket.control.exposures), created: bucket.lessonsCreated, retired: bucket.lessonsRetired)
        }
        func link(agent: String?, topic: String?) -> String {
            "/admin/trends"
                + PanelPages.query([
                    ("agent", agent), ("topic", topic), ("lesson", query.lessonId), ("bucket", query.bucket.rawValue),
                    ("since", String(Timestamp.format(query.since).prefix(10)))
                ])
        }
        self.agents = agents.enumerated().map { index, item in
            Chart(
                svg: TrendChart.rates(item.1, title: "Agent \(item.0)", id: "agent-chart-\(index)", width: 380, height: 170),
                href: link(agent: item.0, topic: query.topic), name: item.0)
        }
        self.topics = topics.enumerated().map { index, item in
            Chart(
                svg: TrendChart.rates(item.1, title: "Topic \(item.0)", id: "topic-chart-\(index)", width: 380, height: 170),
                href: link(agent: query.agent, topic: item.0), name: item.0)
        }
        hasAgents = !self.agents.isEmpty
        hasTopics = !self.topics.isEmpty
    }
}

extension PanelController {
    @Sendable func trends(_ request: Request, context: RasiRequestContext) async throws -> Response {
        let query = try Query(request).trendQuery()
        let trends = try await services.trends(query)
        // Small charts for the busiest agents (unless one is chosen) and topics (unless one is chosen).
        var agents: [(String, Trends)] = []
        if query.agent == nil {
            for agent in try await services.busiest(byTopic: false, in: query, limit: TrendsPage.smallCharts) {
                var narrowed = query
                narrowed.agent = agent
                agents.append((agent, try await services.trends(narrowed)))
            }
        }
        var topics: [(String, Trends)] = []
        if query.topic == nil {
            for topic in try await services.busiest(byTopic: true, in: query, limit: TrendsPage.smallCharts) {
                var narrowed = query
                narrowed.topic = topic
                topics.append((topic, try await services.trends(narrowed)))
            }
        }
        return PanelPages.page(TrendsPage(query: query, trends: trends, agents: agents, topics: topics), context: context)
    }
}

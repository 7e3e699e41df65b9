import Foundation
import Logging
import Metrics
import RasiCore
import RasiModelClient

/// The application layer: what HTTP, the command line and `LocalRasi` call. Its methods are
/// grouped by domain: lessons, retrieval, the interaction log, signals, the judge, administration.
public struct RasiServices: Sendable {
    public var configuration: RasiConfiguration
    public var store: any RasiStore
    public var retriever: any LessonRetriever
    public var redactor: any Redactor
    public var upstream: Upstream
    /// Where Anthropic Messages API calls go.
    public var anthropic: Upstream
    /// The model lessons are embedded with, and its name; nil for lexical retrieval.
    public var embedder: (any Embedder)?
    public var embeddingModel: String?
    /// Where rasi's own counters go (the server exports them at `GET /metrics`).
    public var metrics: any MetricsFactory
    /// The judge agent, over the judge's model.
    public var judge: Judge
    /// The judge's model, also used to check and merge conflicting lessons.
    public let judgeModel: any ChatModel
    /// The admin-defined topics interactions and lessons are filed under.
    public let topics: TopicCatalog
    /// The bound on gateway calls in flight.
    public let inFlight: InFlight
    /// This process among the replicas sharing a store: it holds jobs and leases under this name.
    public let instance = Identifier.make("proc")

    public init(
        configuration: RasiConfiguration, store: any RasiStore, retriever: any LessonRetriever, redactor: any Redactor,
        upstream: Upstream, judgeModel: any ChatModel, embedder: (any Embedder)? = nil, embeddingModel: String? = nil,
        metrics: any MetricsFactory = MetricsSystem.factory, anthropic: Upstream? = nil
    ) {
        self.metrics = metrics
        self.anthropic =
            anthropic
            ?? Upstream(
                client: upstream.client, baseURL: configuration.anthropicBaseURL, apiKey: configuration.anthropicAPIKey, keyHeader: .apiKey,
                timeoutSeconds: configuration.upstreamTimeoutSeconds)
        self.judgeModel = judgeModel
        self.inFlight = InFlight(limit: configuration.maxInFlight)
        self.topics = TopicCatalog(store: store, embedder: embedder, floor: configuration.topicFloor)
        self.judge = Judge(model: judgeModel, rubric: JudgeRubric(extra: configuration.judge.extraRubric), attempts: configuration.judge.attempts)
        self.configuration = configuration
        self.store = store
        self.retriever = retriever
        self.redactor = redactor
        self.upstream = upstream
        self.embedder = embedder
        self.embeddingModel = embeddingModel
    }
}

/// rasi's own counters: gateway calls, injections, signals, flags, judge runs.
public struct RasiMetrics: Sendable {
    let factory: any MetricsFactory

    public init(_ factory: any MetricsFactory) {
        self.factory = factory
    }

    /// A gateway call through `api` answered with `status`.
    public func call(api: AgentAPI, status: Int) {
        Counter(label: "rasi_gateway_calls_total", dimensions: [("api", api.rawValue), ("status", String(status))], factory: factory).increment()
    }

    /// A call passed through to an upstream unchanged (not an interaction), by its first path
    /// segment under `/v1` (`embeddings`, `models`, `audio`, ...).
    public func passedThrough(route: String, status: Int) {
        Counter(label: "rasi_passthrough_calls_total", dimensions: [("route", route), ("status", String(status))], factory: factory)
            .increment()
    }

    /// Lessons injected into one model call of `agent`.
    public func injected(_ count: Int, agent: String) {
        Counter(label: "rasi_lessons_injected_total", dimensions: [("agent", agent)], factory: factory).increment(by: count)
    }

    func recorded(_ outcome: SignalOutcome) {
        for feedback in outcome.added where feedback.source == .implicit {
            Counter(label: "rasi_signals_total", dimensions: [("signal", feedback.signal?.rawValue ?? "none")], factory: factory).increment()
        }
        for flag in outcome.raised {
            Counter(label: "rasi_flags_raised_total", dimensions: [("rule", flag.rule?.rawValue ?? "manual")], factory: factory).increment()
        }
    }

    func judged(_ run: JudgeRun) {
        Counter(label: "rasi_judge_runs_total", dimensions: [("status", run.status.rawValue)], factory: factory).increment()
    }
}

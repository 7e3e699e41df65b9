import Foundation
import RasiCore

/// Everything `rasi serve` can be told, read once at the edge and handed down.
public struct RasiConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 8080
    public var databaseURL = "sqlite:./rasi-data/rasi.sqlite"
    /// Base URL of the OpenAI-compatible model the gateway forwards to, including `/v1`.
    public var upstreamBaseURL = "https://api.openai.com/v1"
    public var upstreamAPIKey: String?
    /// Where `/v1/messages` (Anthropic's Messages API) is forwarded: rasi calls `{base}/v1/messages`.
    public var anthropicBaseURL = "https://api.anthropic.com"
    public var anthropicAPIKey: String?
    /// Longest wait for the upstream's first byte, and between two bytes of a stream.
    public var upstreamTimeoutSeconds = 120
    /// Longest wait to connect to the upstream (the HTTP client retries refused connections until then).
    public var upstreamConnectTimeoutSeconds = 10
    public var bootstrapAdminKey: String?
    /// `minilm` (built-in), `openai:MODEL` (an OpenAI-compatible /v1/embeddings), or `none` for lexical retrieval only.
    public var embedder = "minilm"
    /// For `openai:MODEL`; both default to the upstream's.
    public var embeddingsBaseURL: String?
    public var embeddingsAPIKey: String?
    public var modelDirectory = "models/all-MiniLM-L6-v2"
    /// With an embedder: `hybrid` (dense + BM25, fused) or `dense`.
    public var retrievalMode = HybridRetriever.Mode.hybrid
    /// The longest a request waits for the built-in model to begin embedding it (milliseconds);
    /// past it, its lessons are chosen by words alone. Nil waits as long as it takes.
    public var embedWaitMilliseconds: Double? = RasiConfiguration.defaultEmbedWaitMilliseconds
    public static let defaultEmbedWaitMilliseconds = 10.0
    /// Largest request body accepted, in bytes; larger ones get 413.
    public var maxBodyBytes = 4 * 1024 * 1024
    /// Seconds a connection may send nothing (no request, or a request's head not yet whole) before it is closed.
    public var idleTimeoutSeconds = 30
    /// Seconds a request may take to arrive whole, from its head to its body's end: a body trickled a
    /// byte at a time never leaves the connection idle. Past them it is answered 408 and closed.
    public var bodyReadTimeoutSeconds = 30
    /// Largest upstream response body read whole (non-streaming).
    public var maxUpstreamBodyBytes = 32 * 1024 * 1024
    /// A call that continues a turn joins the turn's interaction if that was updated within this window.
    public var turnWindowSeconds = 3600
    public var selection = LessonSelectionPolicy()
    /// The similarity floor when set; otherwise the default of the retrieval in use
    /// (`LessonSelectionPolicy.defaultDenseFloor` for embeddings, 0.2 for lexical term cosine).
    public var minScore: Double?
    /// Per-agent selection policies (from `RASI_POLICY_FILE`), over `resolvedSelection`.
    public var agentPolicies: [String: LessonSelectionPolicy] = [:]
    public var conflicts = ConflictPolicy()
    /// Extra redaction patterns, `(TYPE, regular expression)`.
    public var redactPatterns: [(String, String)] = []
    /// Interactions older than this many days are deleted; nil keeps them.
    public var retentionDays: Double?
    /// Seconds between two runs of the retention purge.
    public var purgeIntervalSeconds = 3600
    /// Gateway calls in flight at once; more are answered 503. 0 for no bound.
    public var maxInFlight = 512
    /// Requests a key may make per second, sustained, and in a burst; 0 for no limit.
    /// The default suits a busy agent on one key; a runaway client is stopped well before the
    /// machine is (the gateway's in-flight bound guards the rest).
    public var rateLimit = 200.0
    public var rateBurst = 400.0
    /// Redact interaction logs as they are written, not only lessons.
    public var redactInteractions = false
    /// Least similarity to a topic's description or examples to be filed under it (MiniLM
    /// cosine). Picked by `rasi bench topics`: the lowest floor that leaves 80% of CLINC150's
    /// out-of-scope requests unclassified; 80% of in-scope requests are then filed right.
    public var topicFloor = 0.33
    public var efficacy = EfficacyPolicy()
    /// How lift is measured and when it retires a lesson (`RASI_LIFT_MIN_EXPOSURES`, `RASI_LIFT_NEGATIVE`).
    public var lift = LiftPolicy()
    /// How rephrases, escalations and abandonments are detected.
    public var signals = SignalPolicy()
    /// Seconds between two runs of the abandonment sweeper.
    public var sweepIntervalSeconds = 60
    public var flagRules = FlagRules()
    public var judge = JudgeConfiguration()
    /// How long an admin panel session lasts, in seconds.
    public var sessionSeconds = 8 * 3600

    /// The selection policy with the floor resolved for the retrieval in use.
    public var resolvedSelection: LessonSelectionPolicy {
        var policy = selection
        policy.minScore = minScore ?? (embedder == "none" ? LessonSelectionPolicy.defaultLexicalFloor : LessonSelectionPolicy.defaultDenseFloor)
        return policy
    }

    /// The policy lessons are selected under for an agent.
    public func policy(for agent: String) -> LessonSelectionPolicy {
        agentPolicies[agent] ?? resolvedSelection
    }

    /// Whether any agent has a holdout (lift then decides about its lessons).
    public var anyHoldout: Bool {
        selection.holdout > 0 || agentPolicies.values.contains { $0.holdout > 0 }
    }

    /// Lift's policy for an agent with a holdout; nil without one (the harmful-share rule decides).
    public func liftPolicy(for agent: String) -> LiftPolicy? {
        policy(for: agent).holdout > 0 ? lift : nil
    }

    public init() {}

    /// A comma-separated list, trimmed, empty items dropped.
    public static func list(_ text: String) -> [String] {
        text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}

/// The judge's model and how the judge runs.
public struct JudgeConfiguration: Sendable {
    /// The judge's OpenAI-compatible endpoint; the upstream's when nil.
    public var baseURL: String?
    public var apiKey: String?
    /// The judge's model; when nil, the model of the interaction judged.
    public var model: String?
    /// Judge newly flagged interactions in the background.
    public var automatic = true
    /// Judge runs at once, at most.
    public var concurrency = 2
    /// Tries per run: the first, then retries that show the model what was wrong with its output.
    public var attempts = 2
    /// Tries per queued job when the judge's model cannot be reached, with exponential backoff.
    public var maxTries = 5
    public var backoffSeconds = 30.0
    /// Other ways of asking the judge's model proposes for each new lesson, with a few near
    /// misses as counter-examples, in the background (`RASI_LESSON_EXAMPLES`); 0: none.
    public var lessonExamples = 6
    /// Judge-proposed lessons with at least this confidence go live without review; nil: never.
    public var autoApproveAt: Double?
    /// Rubric items added to rasi's own.
    public var extraRubric: [RubricItem] = []

    public init() {}
}

import Foundation
import RasiCore
import RasiEmbeddings
import RasiEngine

extension RasiConfiguration {
    /// Reads `RASI_*` variables over the defaults; a bad number is an error naming the variable.
    init(environment: [String: String]) throws {
        self.init()
        func string(_ name: String) -> String? {
            environment[name].flatMap { $0.isEmpty ? nil : $0 }
        }
        func flag(_ name: String, _ current: Bool) throws -> Bool {
            guard let text = string(name) else { return current }
            guard let value = ["true": true, "1": true, "yes": true, "false": false, "0": false, "no": false][text.lowercased()] else {
                throw RasiError.invalidField(name, "must be true or false, got \"\(text)\"")
            }
            return value
        }
        func number<T: LosslessStringConvertible>(_ name: String, _ current: T) throws -> T {
            guard let text = string(name) else { return current }
            guard let value = T(text) else { throw RasiError.invalidField(name, "must be a number, got \"\(text)\"") }
            return value
        }
        host = string("RASI_HOST") ?? host
        port = try number("RASI_PORT", port)
        databaseURL = string("RASI_DATABASE_URL") ?? databaseURL
        upstreamBaseURL = string("RASI_UPSTREAM_BASE_URL") ?? upstreamBaseURL
        upstreamAPIKey = string("RASI_UPSTREAM_API_KEY")
        upstreamTimeoutSeconds = try number("RASI_UPSTREAM_TIMEOUT", upstreamTimeoutSeconds)
        upstreamConnectTimeoutSeconds = try number("RASI_UPSTREAM_CONNECT_TIMEOUT", upstreamConnectTimeoutSeconds)
        bootstrapAdminKey = string("RASI_BOOTSTRAP_ADMIN_KEY")
        embedder = string("RASI_EMBEDDER") ?? embedder
        modelDirectory = ModelLocation.directory(environment)
        embeddingsBaseURL = string("RASI_EMBEDDINGS_BASE_URL")
        embeddingsAPIKey = string("RASI_EMBEDDINGS_API_KEY")
        if let mode = string("RASI_RETRIEVAL") {
            guard let parsed = HybridRetriever.Mode(rawValue: mode) else {
                throw RasiError.invalidField("RASI_RETRIEVAL", "must be hybrid or dense, got \"\(mode)\"")
            }
            retrievalMode = parsed
        }
        maxBodyBytes = try number("RASI_MAX_BODY_BYTES", maxBodyBytes)
        turnWindowSeconds = try number("RASI_TURN_WINDOW", turnWindowSeconds)
        minScore = try string("RASI_LESSONS_MIN_SCORE").map { _ in try number("RASI_LESSONS_MIN_SCORE", 0.0) }
        selection.maxLessons = try number("RASI_LESSONS_MAX", selection.maxLessons)
        selection.tokenBudget = try number("RASI_LESSONS_TOKEN_BUDGET", selection.tokenBudget)

        if let path = string("RASI_POLICY_FILE") { try loadPolicies(path) }
        conflicts.situationSimilarity = try number("RASI_CONFLICT_SIMILARITY", conflicts.situationSimilarity)
        conflicts.behaviorDivergence = try number("RASI_CONFLICT_DIVERGENCE", conflicts.behaviorDivergence)
        conflicts.synthesize = try flag("RASI_CONFLICT_SYNTHESIS", conflicts.synthesize)
        if let check = string("RASI_CONFLICT_CHECK") {
            guard ["rules", "judge"].contains(check) else { throw RasiError.invalidField("RASI_CONFLICT_CHECK", "must be rules or judge") }
            conflicts.judgeCheck = check == "judge"
        }
        efficacy.minRated = try number("RASI_EFFICACY_MIN_RATED", efficacy.minRated)
        topicFloor = try number("RASI_TOPIC_FLOOR", topicFloor)
        if let patterns = string("RASI_REDACT_PATTERNS") { redactPatterns = try PIIRedactor.parseCustom(patterns) }
        redactInteractions = try flag("RASI_REDACT_INTERACTIONS", redactInteractions)
        retentionDays = try string("RASI_RETENTION_DAYS").map { _ in try number("RASI_RETENTION_DAYS", 0.0) }
        if let days = retentionDays, days <= 0 { throw RasiError.invalidField("RASI_RETENTION_DAYS", "must be a positive number of days") }
        purgeIntervalSeconds = try number("RASI_PURGE_INTERVAL", purgeIntervalSeconds)
        rateLimit = try number("RASI_RATE_LIMIT", rateLimit)
        maxInFlight = try number("RASI_MAX_IN_FLIGHT", maxInFlight)
        rateBurst = try number("RASI_RATE_BURST", max(rateBurst, rateLimit))
        efficacy.harmfulRate = try number("RASI_EFFICACY_HARMFUL_RATE", efficacy.harmfulRate)

        signals.rephraseWindow = try number("RASI_REPHRASE_WINDOW", signals.rephraseWindow)
        signals.rephraseThreshold = try number("RASI_REPHRASE_THRESHOLD", signals.rephraseThreshold)
        signals.lexicalRephraseThreshold = try number("RASI_REPHRASE_LEXICAL_THRESHOLD", signals.lexicalRephraseThreshold)
        signals.abandonAfter = try number("RASI_ABANDON_AFTER", signals.abandonAfter)
        if let tools = string("RASI_HANDOFF_TOOLS") { signals.handoffTools = Set(Self.list(tools)) }
        if let phrases = string("RASI_ESCALATION_PHRASES") { signals.escalationPhrases = Self.list(phrases) }
        sweepIntervalSeconds = try number("RASI_SWEEP_INTERVAL", sweepIntervalSeconds)
        sessionSeconds = try number("RASI_SESSION_TTL", sessionSeconds)
        if let rules = string("RASI_FLAG_RULES") { flagRules = try FlagRules.parse(Self.list(rules)) }

        judge.baseURL = string("RASI_JUDGE_BASE_URL")
        judge.apiKey = string("RASI_JUDGE_API_KEY")
        judge.model = string("RASI_JUDGE_MODEL")
        judge.automatic = try flag("RASI_JUDGE_AUTO", judge.automatic)
        judge.concurrency = try number("RASI_JUDGE_CONCURRENCY", judge.concurrency)
        judge.attempts = try number("RASI_JUDGE_ATTEMPTS", judge.attempts)
        judge.maxTries = try number("RASI_JUDGE_MAX_TRIES", judge.maxTries)
        judge.backoffSeconds = try number("RASI_JUDGE_BACKOFF", judge.backoffSeconds)
        judge.autoApproveAt = try string("RASI_JUDGE_AUTO_APPROVE").map { _ in try number("RASI_JUDGE_AUTO_APPROVE", 1.0) }
        if let path = string("RASI_JUDGE_RUBRIC") {
            guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw RasiError.invalidField("RASI_JUDGE_RUBRIC", "cannot read the file \(path)")
            }
            judge.extraRubric = try JudgeRubric.parseItems(text)
        }
        if let value = judge.autoApproveAt, !(0...1).contains(value) {
            throw RasiError.invalidField("RASI_JUDGE_AUTO_APPROVE", "must be a confidence from 0 to 1")
        }
        for (name, value) in [("RASI_JUDGE_CONCURRENCY", judge.concurrency), ("RASI_JUDGE_ATTEMPTS", judge.attempts), ("RASI_JUDGE_MAX_TRIES", judge.maxTries)] where value < 1 {
            throw RasiError.invalidField(name, "must be at least 1")
        }
    }

    /// `{"default": {policy}, "agents": {"NAME": {policy}}}`: every field optional, over the
    /// environment's settings (and, for an agent, over the file's default).
    mutating func loadPolicies(_ path: String) throws {
        guard let data = FileManager.default.contents(atPath: path),
              let json = try? JSONDecoder().decode(JSONValue.self, from: data), json.objectValue != nil
        else { throw RasiError.invalidField("RASI_POLICY_FILE", "cannot read a JSON object from \(path)") }
        for key in json.objectValue!.keys where !["default", "agents"].contains(key) {
            throw RasiError.invalidField("RASI_POLICY_FILE", "unknown key \"\(key)\"; expected default and agents")
        }
        if let base = json["default"] {
            let policy = try LessonSelectionPolicy.decode(base, over: resolvedSelection)
            selection = policy
            minScore = policy.minScore
        }
        for (agent, overrides) in json["agents"]?.objectValue ?? [:] {
            agentPolicies[agent] = try LessonSelectionPolicy.decode(overrides, over: resolvedSelection)
        }
    }

}

import ArgumentParser
import Configuration
import Foundation
import RasiCore
import RasiEngine

/// rasi's configuration sources, first match wins: the command line's flags (keyed by the flag
/// without its dashes), then the `RASI_*` environment variables. What neither sets keeps the
/// default of `RasiConfiguration`. An empty variable counts as unset, as it always has.
func configurationReader(flags: [String: String], environment: [String: String]) -> ConfigReader {
    let secrets = Setting.all.filter(\.secret)
    let secretKeys = Set(secrets.map(\.key))
    let flagValues = flags.map { key, value in (AbsoluteConfigKey([key]), ConfigValue(.string(value), isSecret: secretKeys.contains(key))) }
    return ConfigReader(providers: [
        InMemoryProvider(name: "flags", values: Dictionary(flagValues) { _, last in last }),
        // `upstream-base-url` is looked up as RASI_UPSTREAM_BASE_URL.
        EnvironmentVariablesProvider(
            environmentVariables: environment.filter { !$0.value.isEmpty },
            secretsSpecifier: .specific(Set(secrets.map(\.variable)))
        ).prefixKeys(with: "rasi")
    ])
}

extension RasiConfiguration {
    /// The configuration a command's flags and the environment give, read once at the edge.
    /// `flags` maps a setting's key (`"model-dir"`) to the value of the flag the command declares, if given.
    /// A malformed value is an error naming its variable, or its flag when a flag gave it.
    static func read(
        flags: [String: String?] = [:], environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> RasiConfiguration {
        let given = flags.compactMapValues { $0 }
        do {
            return try RasiConfiguration(reading: configurationReader(flags: given, environment: environment))
        } catch RasiError.invalidField(let name, let message) {
            let flag = Setting.all.first { $0.variable == name && given[$0.key] != nil }
            throw RasiError.invalidField(flag.map { "--\($0.key)" } ?? name, message)
        }
    }

    /// Every setting the reader has, applied over the defaults in `Setting.all`'s order (the
    /// policy file's policies build on the settings before it). A malformed value throws
    /// `invalidField` naming its `RASI_*` variable.
    init(reading reader: ConfigReader) throws {
        self.init()
        var given: Set<String> = []
        for setting in Setting.all {
            guard let text = setting.text(in: reader) else { continue }
            try setting.apply(&self, SettingValue(text: text, name: setting.variable))
            given.insert(setting.key)
        }
        // Unless set, the burst allows at least the sustained rate.
        if !given.contains("rate-burst") { rateBurst = max(rateBurst, rateLimit) }
    }

    /// `{"default": {policy}, "agents": {"NAME": {policy}}}`: every field optional, over the
    /// environment's settings (and, for an agent, over the file's default).
    mutating func loadPolicies(_ path: String) throws {
        guard let data = FileManager.default.contents(atPath: path),
            let json = try? JSONValue(parsing: data), json.objectValue != nil
        else { throw RasiError.invalidField("RASI_POLICY_FILE", "cannot read a JSON object from \(path)") }
        for key in json.objectValue!.keys where !["default", "agents"].contains(key) {
            throw RasiError.invalidField("RASI_POLICY_FILE", "unknown key \"\(key)\"; expected default and agents")
        }
        func checked(_ policy: LessonSelectionPolicy) throws -> LessonSelectionPolicy {
            guard (0...Holdout.maxShare).contains(policy.holdout) else {
                throw RasiError.invalidField("RASI_POLICY_FILE", "holdout must be between 0 and \(Holdout.maxShare), got \(policy.holdout)")
            }
            return policy
        }
        if let base = json["default"] {
            let policy = try checked(LessonSelectionPolicy.decode(base, over: resolvedSelection))
            selection = policy
            minScore = policy.minScore
        }
        for (agent, overrides) in json["agents"]?.objectValue ?? [:] {
            agentPolicies[agent] = try checked(LessonSelectionPolicy.decode(overrides, over: resolvedSelection))
        }
    }
}

/// A setting's text as a flag or variable gave it, parsed with errors that name the variable.
struct SettingValue {
    let text: String
    let name: String

    func number<T: LosslessStringConvertible>() throws -> T {
        guard let value = T(text) else { throw RasiError.invalidField(name, "must be a number, got \"\(text)\"") }
        return value
    }

    func bool() throws -> Bool {
        guard let value = ["true": true, "1": true, "yes": true, "false": false, "0": false, "no": false][text.lowercased()] else {
            throw RasiError.invalidField(name, "must be true or false, got \"\(text)\"")
        }
        return value
    }

    /// A comma-separated list, trimmed, empty items dropped.
    var list: [String] { RasiConfiguration.list(text) }

    func invalid(_ message: String) -> RasiError {
        .invalidField(name, message)
    }
}

/// One thing `rasi serve` can be told: the flag `--KEY` and the variable `RASI_KEY` (upper snake case).
struct Setting {
    let key: String
    let help: String
    /// The default as help shows it; nil when there is nothing useful to show.
    let shownDefault: String?
    /// Kept out of the configuration's access log.
    var secret = false
    let apply: (inout RasiConfiguration, SettingValue) throws -> Void

    var variable: String { "RASI_" + key.uppercased().replacingOccurrences(of: "-", with: "_") }

    /// The setting's text from the first source that has it; an empty one counts as unset.
    func text(in reader: ConfigReader) -> String? {
        reader.string(forKey: ConfigKey([key]), isSecret: secret).flatMap { $0.isEmpty ? nil : $0 }
    }

    /// Every setting, in the order they are applied.
    static var all: [Setting] {
        [
            .text("host", \.host, "Listen address."),
            .number("port", \.port, "Listen port."),
            .text("database-url", \.databaseURL, "sqlite:PATH or postgres://user:password@host:port/database.", secret: true),
            .text("upstream-base-url", \.upstreamBaseURL, "The model the gateway forwards to, with /v1."),
            .text("upstream-api-key", \.upstreamAPIKey, "Its API key.", secret: true),
            .text("anthropic-base-url", \.anthropicBaseURL, "Where /v1/messages is forwarded, without /v1."),
            .text("anthropic-api-key", \.anthropicAPIKey, "Its API key (sent as x-api-key).", secret: true),
            .number("upstream-timeout", \.upstreamTimeoutSeconds, "Seconds to wait for the upstream's first byte, and between two bytes."),
            .number("upstream-connect-timeout", \.upstreamConnectTimeoutSeconds, "Seconds to wait to connect to the upstream."),
            .text("bootstrap-admin-key", \.bootstrapAdminKey, "Admin key to create at start if no admin key exists.", secret: true),
            .text("embedder", \.embedder, "minilm (built-in), openai:MODEL, or none for lexical retrieval only."),
            .text("model-dir", \.modelDirectory, "Folder of the built-in model."),
            .text("embeddings-base-url", \.embeddingsBaseURL, "For openai:MODEL; the upstream's by default."),
            .text("embeddings-api-key", \.embeddingsAPIKey, "For openai:MODEL; the upstream's by default.", secret: true),
            Setting(key: "retrieval", help: "With an embedder: hybrid (dense and BM25, fused) or dense.", shownDefault: "hybrid") {
                guard let mode = HybridRetriever.Mode(rawValue: $1.text) else { throw $1.invalid("must be hybrid or dense, got \"\($1.text)\"") }
                $0.retrievalMode = mode
            },
            Setting(
                key: "embed-wait-ms",
                help: "Milliseconds a request may wait for the embedding model to begin on it; then lessons by words alone (off: always wait).",
                shownDefault: "\(Int(RasiConfiguration.defaultEmbedWaitMilliseconds))"
            ) {
                guard $1.text != "off" else {
                    $0.embedWaitMilliseconds = nil
                    return
                }
                let milliseconds: Double = try $1.number()
                guard milliseconds >= 0 else { throw $1.invalid("must be 0 or more milliseconds, or off, got \($1.text)") }
                $0.embedWaitMilliseconds = milliseconds
            },
            .number("max-body-bytes", \.maxBodyBytes, "Largest request body in bytes; larger ones get 413."),
            .number("idle-timeout", \.idleTimeoutSeconds, "Seconds a connection may send nothing before it is closed.", atLeast: 1),
            .number("body-read-timeout", \.bodyReadTimeoutSeconds, "Seconds a request may take to arrive whole; then 408, closed.", atLeast: 1),
            .number("turn-window", \.turnWindowSeconds, "Seconds within which a call that continues a turn joins its interaction."),
            .number("lessons-min-score", \.minScore, "Similarity floor of lesson selection; the retrieval's own by default."),
            .number("lessons-max", \.selection.maxLessons, "Lessons injected per request, at most."),
            .number("lessons-token-budget", \.selection.tokenBudget, "Tokens of the injected context, at most."),
            Setting(key: "holdout", help: "Share of selected lessons withheld per conversation as a control group (0 to 0.5).", shownDefault: "0") {
                let share: Double = try $1.number()
                guard (0...Holdout.maxShare).contains(share) else { throw $1.invalid("must be between 0 and \(Holdout.maxShare), got \(share)") }
                $0.selection.holdout = share
            },
            Setting(key: "policy-file", help: "JSON selection policies: {\"default\": {...}, \"agents\": {\"NAME\": {...}}}.", shownDefault: nil) {
                try $0.loadPolicies($1.text)
            },
            .number("conflict-similarity", \.conflicts.situationSimilarity, "Situations at least this similar are about the same case."),
            .number("conflict-divergence", \.conflicts.behaviorDivergence, "Correct behaviours less similar than this diverge."),
            .bool("conflict-synthesis", \.conflicts.synthesize, "With a judge model: merge lessons that conflict into one guidance block."),
            Setting(key: "conflict-check", help: "Who decides that similar lessons contradict: rules or judge.", shownDefault: "rules") {
                guard ["rules", "judge"].contains($1.text) else { throw $1.invalid("must be rules or judge") }
                $0.conflicts.judgeCheck = $1.text == "judge"
            },
            .number("efficacy-min-rated", \.efficacy.minRated, "Rated uses before a lesson can be retired automatically."),
            .number("lift-min-exposures", \.lift.minExposures, "Exposures in each arm before lift can retire a lesson that hurts.", atLeast: 1),
            Setting(
                key: "lift-negative", help: "What makes an outcome negative for lift, comma-separated.",
                shownDefault: OutcomeRules.defaults.map(\.rawValue).sorted().joined(separator: ",")
            ) {
                $0.lift.outcomes = try OutcomeRules.parse($1.list)
            },
            .number("topic-floor", \.topicFloor, "Least similarity to a topic to be filed under it."),
            Setting(key: "redact-patterns", help: "Extra redaction patterns, NAME=REGEX, separated by ;; or newlines.", shownDefault: nil) {
                $0.redactPatterns = try PIIRedactor.parseCustom($1.text)
            },
            .bool("redact-interactions", \.redactInteractions, "Redact interaction logs as they are written, not only lessons."),
            Setting(key: "retention-days", help: "Delete interactions older than this many days; kept by default.", shownDefault: nil) {
                let days: Double = try $1.number()
                guard days > 0 else { throw $1.invalid("must be a positive number of days") }
                $0.retentionDays = days
            },
            .number("purge-interval", \.purgeIntervalSeconds, "Seconds between two runs of the retention purge."),
            .number("rate-limit", \.rateLimit, "Requests a key may make per second, sustained; 0 for no limit."),
            .number("max-in-flight", \.maxInFlight, "Gateway calls in flight at once; more get 503. 0 for no bound."),
            .number("rate-burst", \.rateBurst, "Requests a key may make in a burst; at least the rate limit unless set."),
            .number("efficacy-harmful-rate", \.efficacy.harmfulRate, "Share of harmful rated uses at which a lesson is retired for review."),
            .number("rephrase-window", \.signals.rephraseWindow, "Seconds after an answer within which a new message can be a rephrase."),
            .number("rephrase-threshold", \.signals.rephraseThreshold, "Least embedding cosine of a rephrase (built-in model)."),
            .number("rephrase-lexical-threshold", \.signals.lexicalRephraseThreshold, "Least term cosine of a rephrase, lexical retrieval only."),
            .number("abandon-after", \.signals.abandonAfter, "Seconds of silence after a question or error that mean abandonment."),
            Setting(key: "handoff-tools", help: "Tools whose call is a hand-off to a human, comma-separated.", shownDefault: nil) {
                $0.signals.handoffTools = Set($1.list)
            },
            Setting(key: "escalation-phrases", help: "Phrases of a user message that ask for a human, comma-separated.", shownDefault: nil) {
                $0.signals.escalationPhrases = $1.list
            },
            .number("sweep-interval", \.sweepIntervalSeconds, "Seconds between two runs of the abandonment sweeper."),
            .number("session-ttl", \.sessionSeconds, "Seconds an admin panel session lasts."),
            Setting(
                key: "flag-rules", help: "Rules that flag an interaction for review, comma-separated, or none.",
                shownDefault: FlagRules.defaults.map(\.rawValue).sorted().joined(separator: ",")
            ) {
                $0.flagRules = try FlagRules.parse($1.list)
            },
            .text("judge-base-url", \.judge.baseURL, "The judge's endpoint, with /v1; the upstream's by default."),
            .text("judge-api-key", \.judge.apiKey, "The judge's API key.", secret: true),
            .text("judge-model", \.judge.model, "The judge's model; the judged interaction's by default."),
            .bool("judge-auto", \.judge.automatic, "Judge newly flagged interactions in the background."),
            .number(
                "lesson-examples", \.judge.lessonExamples,
                "Example requests the judge's model proposes for each new lesson, in the background (0: none)."),
            .number("judge-concurrency", \.judge.concurrency, "Judge runs at once, at most.", atLeast: 1),
            .number("judge-attempts", \.judge.attempts, "Tries per judge run, later ones showing the model its mistake.", atLeast: 1),
            .number("judge-max-tries", \.judge.maxTries, "Tries per queued job when the judge's model cannot be reached.", atLeast: 1),
            .number("judge-backoff", \.judge.backoffSeconds, "Seconds before a queued job's first retry; doubled each time."),
            Setting(
                key: "judge-auto-approve", help: "Judge-proposed lessons this confident (0 to 1) go live unreviewed.",
                shownDefault: "never"
            ) {
                let confidence: Double = try $1.number()
                guard (0...1).contains(confidence) else { throw $1.invalid("must be a confidence from 0 to 1") }
                $0.judge.autoApproveAt = confidence
            },
            Setting(key: "judge-rubric", help: "A file of rubric items, one `name: question` a line, added to rasi's own.", shownDefault: nil) {
                guard let text = try? String(contentsOfFile: $1.text, encoding: .utf8) else { throw $1.invalid("cannot read the file \($1.text)") }
                $0.judge.extraRubric = try JudgeRubric.parseItems(text)
            }
        ]
    }

    static func text(
        _ key: String, _ path: WritableKeyPath<RasiConfiguration, String>, _ help: String, secret: Bool = false
    ) -> Setting {
        Setting(key: key, help: help, shownDefault: RasiConfiguration()[keyPath: path], secret: secret) { $0[keyPath: path] = $1.text }
    }

    static func text(
        _ key: String, _ path: WritableKeyPath<RasiConfiguration, String?>, _ help: String, secret: Bool = false
    ) -> Setting {
        Setting(key: key, help: help, shownDefault: nil, secret: secret) { $0[keyPath: path] = $1.text }
    }

    static func number<T: LosslessStringConvertible & Comparable>(
        _ key: String, _ path: WritableKeyPath<RasiConfiguration, T>, _ help: String, atLeast minimum: T? = nil
    ) -> Setting {
        Setting(key: key, help: help, shownDefault: "\(RasiConfiguration()[keyPath: path])") {
            let value: T = try $1.number()
            if let minimum, value < minimum { throw $1.invalid("must be at least \(minimum)") }
            $0[keyPath: path] = value
        }
    }

    static func number<T: LosslessStringConvertible>(
        _ key: String, _ path: WritableKeyPath<RasiConfiguration, T?>, _ help: String
    ) -> Setting {
        Setting(key: key, help: help, shownDefault: nil) { $0[keyPath: path] = try $1.number() as T }
    }

    static func bool(_ key: String, _ path: WritableKeyPath<RasiConfiguration, Bool>, _ help: String) -> Setting {
        Setting(key: key, help: help, shownDefault: "\(RasiConfiguration()[keyPath: path])") { $0[keyPath: path] = try $1.bool() }
    }

    /// The settings given as `--key value` or `--key=value` (what `rasi serve` did not parse
    /// itself), by key; anything else is refused, naming it.
    static func flags(_ arguments: [String]) throws -> [String: String] {
        let keys = Set(all.map(\.key))
        var flags: [String: String] = [:]
        var remaining = arguments[...]
        while let argument = remaining.popFirst() {
            guard argument.hasPrefix("--") else { throw ValidationError("unexpected argument \"\(argument)\"") }
            let flag = argument.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = String(flag[0].dropFirst(2))
            guard keys.contains(key) else { throw ValidationError("unknown option \(flag[0]); `rasi serve --help` lists the settings") }
            if flag.count == 2 {
                flags[key] = String(flag[1])
            } else if let value = remaining.first, !value.hasPrefix("--") {
                flags[key] = remaining.removeFirst()
            } else {
                throw ValidationError("\(argument) needs a value")
            }
        }
        return flags
    }

    /// Every setting, its flag, variable, meaning and default, for `rasi serve --help` (whose
    /// text is wrapped at 80 columns, so a default goes on a line of its own where it would not fit).
    static var helpText: String {
        let entries = all.map { setting in
            var text = "  --\(setting.key), \(setting.variable)\n      \(setting.help)"
            if let shown = setting.shownDefault {
                text += (setting.help.count + shown.count > 62 ? "\n      " : " ") + "Default: \(shown)."
            }
            return text
        }
        return "Every setting is a flag and a RASI_ variable: a flag wins over the variable,\n"
            + "which wins over the default.\n\n" + entries.joined(separator: "\n")
    }
}

import Foundation
import RasiCore
import RasiEngine
import Testing

@testable import rasi

/// Configuration is read once, at the edge: flags over `RASI_*` variables over the defaults.
@Suite struct ConfigurationTests {
    @Test func aFlagWinsOverItsVariableWhichWinsOverTheDefault() throws {
        let configuration = try RasiConfiguration.read(
            flags: ["port": "9000", "judge-model": nil],
            environment: ["RASI_PORT": "9100", "RASI_HOST": "0.0.0.0", "RASI_JUDGE_MODEL": "judge"])

        #expect(configuration.port == 9000)
        #expect(configuration.host == "0.0.0.0")
        #expect(configuration.judge.model == "judge")
        #expect(configuration.databaseURL == RasiConfiguration().databaseURL)
    }

    @Test func anEmptyVariableCountsAsUnset() throws {
        let configuration = try RasiConfiguration.read(environment: ["RASI_PORT": "", "RASI_UPSTREAM_API_KEY": ""])

        #expect(configuration.port == 8080)
        #expect(configuration.upstreamAPIKey == nil)
    }

    @Test func aMalformedNumberStopsTheStartNamingItsVariable() {
        #expect(throws: RasiError.invalidField("RASI_PORT", "must be a number, got \"abc\"")) {
            try RasiConfiguration.read(environment: ["RASI_PORT": "abc"])
        }
        #expect(throws: RasiError.invalidField("RASI_JUDGE_CONCURRENCY", "must be at least 1")) {
            try RasiConfiguration.read(environment: ["RASI_JUDGE_CONCURRENCY": "0"])
        }
        #expect(throws: RasiError.invalidField("RASI_RETENTION_DAYS", "must be a positive number of days")) {
            try RasiConfiguration.read(environment: ["RASI_RETENTION_DAYS": "0"])
        }
    }

    @Test(arguments: [("yes", true), ("1", true), ("TRUE", true), ("no", false), ("0", false), ("False", false)])
    func aTrueOrFalseSettingTakesTheUsualSpellings(text: String, value: Bool) throws {
        let configuration = try RasiConfiguration.read(environment: ["RASI_JUDGE_AUTO": text, "RASI_REDACT_INTERACTIONS": text])

        #expect(configuration.judge.automatic == value)
        #expect(configuration.redactInteractions == value)
    }

    @Test func anotherSpellingOfTrueOrFalseIsRefused() {
        #expect(throws: RasiError.invalidField("RASI_JUDGE_AUTO", "must be true or false, got \"maybe\"")) {
            try RasiConfiguration.read(environment: ["RASI_JUDGE_AUTO": "maybe"])
        }
    }

    @Test func aMalformedFlagIsNamedAsTheFlag() {
        #expect(throws: RasiError.invalidField("--port", "must be a number, got \"abc\"")) {
            try RasiConfiguration.read(flags: ["port": "abc"], environment: ["RASI_PORT": "9000"])
        }
        #expect(throws: RasiError.invalidField("--judge-concurrency", "must be at least 1")) {
            try RasiConfiguration.read(flags: ["judge-concurrency": "0"], environment: [:])
        }
    }

    @Test func theEmbeddingWaitIsMillisecondsOrOff() throws {
        #expect(try RasiConfiguration.read(environment: [:]).embedWaitMilliseconds == RasiConfiguration.defaultEmbedWaitMilliseconds)
        #expect(try RasiConfiguration.read(environment: ["RASI_EMBED_WAIT_MS": "2.5"]).embedWaitMilliseconds == 2.5)
        #expect(try RasiConfiguration.read(environment: ["RASI_EMBED_WAIT_MS": "0"]).embedWaitMilliseconds == 0)
        #expect(try RasiConfiguration.read(environment: ["RASI_EMBED_WAIT_MS": "off"]).embedWaitMilliseconds == nil)
        for bad in ["-1", "soon"] {
            #expect(throws: RasiError.self) { try RasiConfiguration.read(environment: ["RASI_EMBED_WAIT_MS": bad]) }
        }
    }

    @Test func theBurstIsAtLeastTheRateUnlessSet() throws {
        #expect(try RasiConfiguration.read(environment: ["RASI_RATE_LIMIT": "1000"]).rateBurst == 1000)
        #expect(try RasiConfiguration.read(environment: ["RASI_RATE_LIMIT": "1000", "RASI_RATE_BURST": "5"]).rateBurst == 5)
    }

    @Test func listsAreCommaSeparatedOnTheCommandLineToo() throws {
        let flags = try Serve.parse(["--flag-rules", "thumbs_down,abandon", "--escalation-phrases=a human, a person"]).settings
        let configuration = try RasiConfiguration.read(flags: try Setting.flags(flags), environment: [:])

        #expect(configuration.flagRules == FlagRules(enabled: [.thumbsDown, .abandon]))
        #expect(configuration.signals.escalationPhrases == ["a human", "a person"])
    }

    @Test func serveTakesEverySettingAsAFlag() throws {
        let serve = try Serve.parse(["--port", "9000", "--log-level", "debug", "--upstream-base-url=http://model/v1", "--model-dir", "m"])

        #expect(serve.logLevel == "debug")
        #expect(try Setting.flags(serve.settings) == ["port": "9000", "upstream-base-url": "http://model/v1", "model-dir": "m"])
    }

    @Test func serveRefusesAnUnknownFlagNamingIt() {
        #expect { try Serve.parse(["--prot", "9000"]) } throws: { error in
            Serve.message(for: error).contains("unknown option --prot")
        }
        #expect { try Serve.parse(["--port"]) } throws: { error in
            Serve.message(for: error).contains("--port needs a value")
        }
    }

    @Test func thePolicyFileStillLoads() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-policies-\(UUID().uuidString).json")
        defer { try? FileManager.default.removeItem(at: file) }
        try Data(#"{"default": {"max_lessons": 5}, "agents": {"support": {"min_score": 0.7}}}"#.utf8).write(to: file)

        let configuration = try RasiConfiguration.read(environment: ["RASI_POLICY_FILE": file.path, "RASI_LESSONS_TOKEN_BUDGET": "500"])

        #expect(configuration.policy(for: "anyone").maxLessons == 5)
        #expect(configuration.policy(for: "support").minScore == 0.7)
        #expect(configuration.policy(for: "support").maxLessons == 5)
        #expect(configuration.policy(for: "support").tokenBudget == 500)
    }

    @Test func aPolicyFileThatCannotBeReadStopsTheStart() {
        #expect(throws: RasiError.invalidField("RASI_POLICY_FILE", "cannot read a JSON object from /no/such/file")) {
            try RasiConfiguration.read(environment: ["RASI_POLICY_FILE": "/no/such/file"])
        }
    }

    /// The variables are public contract: none may be renamed or dropped.
    @Test func everySettingKeepsItsVariable() {
        #expect(
            Setting.all.map(\.variable) == [
                "RASI_HOST", "RASI_PORT", "RASI_DATABASE_URL", "RASI_UPSTREAM_BASE_URL", "RASI_UPSTREAM_API_KEY", "RASI_ANTHROPIC_BASE_URL",
                "RASI_ANTHROPIC_API_KEY", "RASI_UPSTREAM_TIMEOUT",
                "RASI_UPSTREAM_CONNECT_TIMEOUT", "RASI_BOOTSTRAP_ADMIN_KEY", "RASI_EMBEDDER", "RASI_MODEL_DIR", "RASI_EMBEDDINGS_BASE_URL",
                "RASI_EMBEDDINGS_API_KEY", "RASI_RETRIEVAL", "RASI_EMBED_WAIT_MS", "RASI_MAX_BODY_BYTES", "RASI_IDLE_TIMEOUT",
                "RASI_BODY_READ_TIMEOUT", "RASI_TURN_WINDOW", "RASI_LESSONS_MIN_SCORE",
                "RASI_LESSONS_MAX", "RASI_LESSONS_TOKEN_BUDGET", "RASI_HOLDOUT", "RASI_POLICY_FILE", "RASI_CONFLICT_SIMILARITY",
                "RASI_CONFLICT_DIVERGENCE",
                "RASI_CONFLICT_SYNTHESIS", "RASI_CONFLICT_CHECK", "RASI_EFFICACY_MIN_RATED", "RASI_LIFT_MIN_EXPOSURES", "RASI_LIFT_NEGATIVE",
                "RASI_TOPIC_FLOOR", "RASI_REDACT_PATTERNS",
                "RASI_REDACT_INTERACTIONS", "RASI_RETENTION_DAYS", "RASI_PURGE_INTERVAL", "RASI_RATE_LIMIT", "RASI_MAX_IN_FLIGHT",
                "RASI_RATE_BURST", "RASI_EFFICACY_HARMFUL_RATE", "RASI_REPHRASE_WINDOW", "RASI_REPHRASE_THRESHOLD",
                "RASI_REPHRASE_LEXICAL_THRESHOLD", "RASI_ABANDON_AFTER", "RASI_HANDOFF_TOOLS", "RASI_ESCALATION_PHRASES",
                "RASI_SWEEP_INTERVAL", "RASI_SESSION_TTL", "RASI_FLAG_RULES", "RASI_JUDGE_BASE_URL", "RASI_JUDGE_API_KEY",
                "RASI_JUDGE_MODEL", "RASI_JUDGE_AUTO", "RASI_LESSON_EXAMPLES", "RASI_JUDGE_CONCURRENCY", "RASI_JUDGE_ATTEMPTS",
                "RASI_JUDGE_MAX_TRIES",
                "RASI_JUDGE_BACKOFF", "RASI_JUDGE_AUTO_APPROVE", "RASI_JUDGE_RUBRIC"
            ])
    }

    /// The environment provider finds each setting under the variable the table and help show.
    @Test func everySettingIsReadFromItsVariable() {
        for setting in Setting.all {
            #expect(
                setting.text(in: configurationReader(flags: [:], environment: [setting.variable: "value"])) == "value",
                "\(setting.variable)")
        }
    }
}

import ArgumentParser
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import RasiCore
import RasiEmbeddings
import RasiEngine
import RasiModelClient
import RasiServer
import ScriptedModel

@main
struct Rasi: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Retrieval-augmented self-improvement for LLM agents.",
        subcommands: [
            Serve.self, Demo.self, Eval.self, Keys.self, LessonsCommand.self, Purge.self, Migrate.self, Embed.self, Bench.self,
            ScriptedModelCommand.self
        ]
    )
}

/// Options shared by every command that opens the store.
struct StoreOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "sqlite:PATH (env RASI_DATABASE_URL; default sqlite:./rasi-data/rasi.sqlite)")
    var databaseURL: String?

    func configuration() throws -> RasiConfiguration {
        try RasiConfiguration.read(flags: ["database-url": databaseURL])
    }
}

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the gateway and REST API.", discussion: Setting.helpText)

    @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel: String = "info"
    @Argument(parsing: .allUnrecognized, help: ArgumentHelp("The settings, as --KEY VALUE or --KEY=VALUE: listed above.", valueName: "setting"))
    var settings: [String] = []

    func validate() throws {
        _ = try Setting.flags(settings)
    }

    func run() async throws {
        let configuration = try RasiConfiguration.read(flags: try Setting.flags(settings))
        // A file-size limit reached (RLIMIT_FSIZE, a quota) would otherwise kill the process;
        // ignored, the write fails and the store answers 503 until there is room again.
        signal(SIGXFSZ, SIG_IGN)
        var logger = Logger(label: "rasi")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        logger.notice(
            "rasi starting",
            metadata: [
                "database": "\(configuration.databaseURL)", "upstream": "\(configuration.upstreamBaseURL)",
                "retrieval": "\(configuration.embedder == "none" ? "lexical" : "\(configuration.retrievalMode.rawValue), \(configuration.embedder)")",
                "floor": "\(configuration.resolvedSelection.minScore)"
            ])
        let httpClient = makeHTTPClient(configuration)
        // One registry for Hummingbird's request metrics and rasi's own, served at /metrics.
        let metrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: metrics))
        do {
            let app = try await buildApplication(configuration, httpClient: httpClient, metrics: metrics, logger: logger)
            try await app.runService()
        } catch {
            try? await httpClient.shutdown()
            throw error
        }
        try await httpClient.shutdown()
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage API keys in the store directly.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print its secret (shown once).")
        @OptionGroup var store: StoreOptions
        @Option(help: "agent, reviewer or admin") var role: String
        @Option(help: "A name to recognise the key by.") var name: String?

        func run() async throws {
            guard let role = Role(rawValue: role) else {
                throw ValidationError("--role must be agent, reviewer or admin")
            }
            let (key, secret) = try await withStore(try self.store.configuration()) { store in
                try await KeyIssuer.create(role: role, name: name ?? "\(role.rawValue) key", by: "rasi keys (command line)", in: store)
            }
            FileHandle.standardError.write(Data("created \(key.role.rawValue) key \(key.id); the secret is shown only now:\n".utf8))
            print(secret)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            for key in try await withStore(try self.store.configuration(), { try await $0.listKeys() }) {
                print([key.id, key.role.rawValue, key.prefix + "…", key.name, key.revokedAt == nil ? "active" : "revoked"].joined(separator: "\t"))
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key at once.")
        @OptionGroup var store: StoreOptions
        @Argument var id: String

        func run() async throws {
            let revoked = try await withStore(try self.store.configuration()) { store in
                try await KeyIssuer.revoke(id: id, by: "rasi keys (command line)", in: store)
            }
            guard revoked else { throw ValidationError("no key \(id)") }
            print("revoked \(id)")
        }
    }
}

struct ScriptedModelCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scripted-model",
        abstract: "Run the deterministic, scriptable OpenAI-compatible model used by tests and the demo. It is not an LLM.")

    @Option var host = "127.0.0.1"
    @Option var port = 8090
    @Option(help: "A JSON script file ({\"rules\": [{\"when\": {...}, \"reply\": {...}}], \"default\": {...}}), or nutrition for the demo's.")
    var script: String?

    func run() async throws {
        var loaded = Script()
        if script == "nutrition" {
            loaded = .nutrition
        } else if let script {
            loaded = try JSONDecoder().decode(Script.self, from: Data(contentsOf: URL(fileURLWithPath: script)))
        }
        let state = ScriptedModelState(script: loaded)
        let app = Application(
            router: ScriptedModelServer.buildRouter(state: state),
            configuration: .init(address: .hostname(host, port: port), serverName: "rasi-scripted-model"),
            logger: Logger(label: "scripted-model"))
        try await app.runService()
    }
}

struct Embed: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Embed text with the built-in model: one text a line on standard input, one JSON array of floats a line out.")

    @OptionGroup var model: ModelOptions
    @Option(help: "Texts embedded together.") var batchSize = 64

    func run() async throws {
        let model = try self.model.load()
        var batch: [String] = []
        func flush() {
            for vector in model.embedBatch(batch) {
                print("[" + vector.map { "\($0)" }.joined(separator: ",") + "]")
            }
            batch.removeAll()
        }
        while let line = readLine(strippingNewline: true) {
            batch.append(line)
            if batch.count == batchSize { flush() }
        }
        flush()
    }
}

struct Purge: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Delete interactions older than the retention period, with their feedback, flags and judge runs (lessons stay).")
    @OptionGroup var store: StoreOptions
    @Option(help: "Delete interactions older than this many days (default: RASI_RETENTION_DAYS).") var olderThanDays: Double?

    func run() async throws {
        let configuration = try store.configuration()
        guard let days = olderThanDays ?? configuration.retentionDays, days > 0 else {
            throw ValidationError("give --older-than-days or set RASI_RETENTION_DAYS")
        }
        let count = try await withStore(configuration) { store in
            try await store.purgeExpired(olderThanDays: days, by: "rasi purge (command line)")
        }
        print("deleted \(count.interactions) interactions older than \(days) days, with \(count.feedback) feedback and \(count.judgeRuns) judge runs")
    }
}

import ArgumentParser
import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import RasiCore
import RasiEngine
import RasiModelClient

/// `rasi bench soak`: rasi under a steady load for a long while, to show what only time shows:
/// memory that keeps growing, files left open, a write-ahead log never checkpointed, latency that
/// creeps up. A real `rasi serve` over a store of `--lessons` active lessons takes chat calls from
/// `--clients` clients without pause, streamed and not in turn, to the loopback upstream of
/// `bench gateway`; beside them, feedback on interactions just logged, lesson edits and deletions
/// at steady rates. Reported each minute: calls, errors, added latency, and the server process's
/// resident memory, open files and WAL size.
struct SoakBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "soak",
        abstract: "Drive the gateway for minutes on end; report latency, errors, memory, open files and WAL size each minute.",
        discussion: """
            Added latency is a call's latency through rasi (a streamed call's time to its first chunk) minus the \
            upstream's own p50 for the same kind of call, measured directly before the load (--direct-calls each way). \
            Memory, open files and WAL size are the rasi serve process's (/proc/PID/status VmRSS, /proc/PID/fd, the \
            database's -wal file), so Linux only.
            """)

    @Option(help: "Minutes to run.") var minutes = 60
    @Option(help: "Concurrent gateway clients, each sending its next call as soon as its last one ends.") var clients = 32
    @Option(help: "Active lessons in the store at the start.") var lessons = 100_000
    @Option(help: "The upstream's delay in milliseconds.") var delayMs = 300
    @Option(help: "Feedback posted per second, each on an interaction just logged.") var feedbackPerSecond = 5.0
    @Option(help: "Lessons edited (PATCH) per second, picked at random.") var editsPerSecond = 1.0
    @Option(help: "Lessons deleted per second, picked at random.") var deletesPerSecond = 0.5
    @Option(help: "Sequential direct calls each way (streamed and not) before the load: their p50 is what is subtracted.")
    var directCalls = 50
    @Option(help: "Unmeasured calls through rasi before the load (first connections, first reads of the new store).")
    var warmup = 20
    @Option(help: "Requests the lessons and queries are drawn from.") var data = "../shared/data/clinc150/clinc150_dev.json"
    @Option(help: "Where to write the JSON results.") var out = "rasi-bench/soak.json"
    @Option(help: "The rasi binary measured, run as `rasi serve`; by default the one next to rasi-bench.") var rasi: String?
    @OptionGroup var model: ModelOptions

    /// Writes a line to standard output at once: `print` holds its lines back when the output is a
    /// file or a pipe, and a soak's lines are worth reading while it runs.
    static func show(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    func validate() throws {
        guard minutes >= 1, clients >= 1, directCalls >= 1 else {
            throw ValidationError("--minutes, --clients and --direct-calls must be at least 1")
        }
        guard lessons >= 0, warmup >= 0 else { throw ValidationError("--lessons and --warmup must not be negative") }
        guard [feedbackPerSecond, editsPerSecond, deletesPerSecond].allSatisfy({ $0 >= 0 }) else {
            throw ValidationError("--feedback-per-second, --edits-per-second and --deletes-per-second must not be negative")
        }
    }

    func run() async throws {
        let corpus = try RetrievalBench.load(data)
        guard let train = corpus["train"], let validation = corpus["val"] else { throw ValidationError("\(data) needs train and val") }
        // As `bench gateway`: both shuffled (the corpus is sorted by intent), so the calls spread over
        // the intents the lessons cover.
        var shuffler = SplitMix64(seed: 11)
        let queries = validation.shuffled(using: &shuffler).map(\.text)
        let embedder = try model.load()
        var logger = Logger(label: "rasi-bench")
        logger.logLevel = .error
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-bench-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)

        let seeds = Array(train.shuffled(using: &shuffler).prefix(min(3000, max(lessons, 1))))
        Self.show("storing \(lessons) lessons (\(seeds.count) requests embedded)")
        let path = folder.appendingPathComponent("store.sqlite").path
        let ids = try await GatewayBench.fillStore(
            at: path, lessons: lessons, seeds: seeds, vectors: embedder.embedBatch(seeds.map(\.text)), dimensions: embedder.dimensions)

        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = 256
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let (upstreamURL, upstream) = try await GatewayBench.startUpstream(delayMs: delayMs, logger: logger)
        let key = KeySecret.generate()
        let report: Report
        do {
            report = try await ServeProcess.serving(
                rasi ?? ServeProcess.siblingBinary,
                settings: GatewayBench.serveSettings(database: path, upstream: upstreamURL, key: key, model: model), http: http
            ) { server in
                try await soak(http, server: server, upstream: upstreamURL, key: key, queries: queries, lessons: ids, wal: path + "-wal")
            }
        } catch {
            try? await http.shutdown()
            upstream.cancel()
            throw error
        }
        try await http.shutdown()
        upstream.cancel()
        report.printSummary()
        try BenchOutput.write(report.json, to: out)
        if let stopped = report.stoppedEarly {
            Self.show("soak stopped early: \(stopped)")
            throw ExitCode.failure
        }
    }

    /// Warms up, measures the upstream directly, then runs the load until the last minute ends or
    /// the server exits.
    func soak(
        _ http: HTTPClient, server: ServeProcess, upstream: String, key: String, queries: [String], lessons ids: [String], wal: String
    ) async throws -> Report {
        if warmup > 0 {
            let texts = (0..<warmup).map { queries[(queries.count - 1 - $0) % queries.count] }
            _ = try await GatewayBench.load(http, .init(api: .chat, url: server.url, key: key, texts: texts), clients: 1, stream: false)
        }
        let directTexts = (0..<directCalls).map { queries[$0 % queries.count] }
        let direct = GatewayBench.Target(api: .chat, url: upstream, key: nil, texts: directTexts)
        let directP50 = (
            notStreamed: percentile(try await GatewayBench.load(http, direct, clients: 1, stream: false).latencies, 0.5),
            streamed: percentile(try await GatewayBench.load(http, direct, clients: 1, stream: true).latencies, 0.5)
        )
        Self.show(
            String(format: "upstream direct p50: %.1f ms not streamed, %.1f ms streamed (first chunk)", directP50.notStreamed, directP50.streamed))

        let resources = Resources(pid: server.process.processIdentifier, wal: wal)
        let start = resources.sample()
        Self.show("minute   calls  errors  added p50/p99 ms    rss MB  files  wal MB  feedback  edits  deletes  phases (Server-Timing)")
        Self.show("     0       -       -" + String(repeating: " ", count: 17) + "-  " + start.columns)
        let started = ContinuousClock.now
        let load = SoakLoad(
            http: http, rasi: .init(api: .chat, url: server.url, key: key, texts: queries), upstream: upstream,
            directP50: directP50, recorder: SoakRecorder(lessons: ids), resources: resources, started: started,
            deadline: started + .seconds(60 * minutes))
        var stoppedEarly: String?
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                let (clients, minutes, process) = (clients, minutes, server.process)
                for client in 0..<clients {
                    group.addTask { try await load.drive(client: client, of: clients) }
                }
                let rates = [(SoakRecorder.Kind.feedback, feedbackPerSecond), (.edit, editsPerSecond), (.delete, deletesPerSecond)]
                group.addTask { try await load.mix(rates: rates.filter { $0.1 > 0 }) }
                group.addTask { try await load.watch(process, minutes: minutes) }
                // Not `waitForAll()`, which waits for every task before it throws: the first error
                // (the server gone) ends the group at once, and the group cancels the rest.
                while try await group.next() != nil {}
            }
        } catch let exited as ServeExited {
            stoppedEarly = exited.description
        }
        // The last minute is closed once the calls in flight at its end have come back.
        let last = await load.recorder.close(resources.sample())
        Self.show(last.line)
        return Report(
            settings: .init(
                clients: clients, lessons: lessons, delayMs: delayMs, feedbackPerSecond: feedbackPerSecond,
                editsPerSecond: editsPerSecond, deletesPerSecond: deletesPerSecond),
            durationMinutes: minutes, directP50Ms: ["not_streamed": directP50.notStreamed, "streamed": directP50.streamed],
            start: start, minutes: await load.recorder.minutes, stoppedEarly: stoppedEarly)
    }
}

/// The server exited while the soak ran.
struct ServeExited: Error, CustomStringConvertible {
    var status: Int32
    var minute: Int
    var description: String { "rasi serve exited with status \(status) during minute \(minute)" }
}

/// What the tasks of one soak share: where the calls go, what to subtract, the tally, the clock.
struct SoakLoad: Sendable {
    var http: HTTPClient
    var rasi: GatewayBench.Target
    var upstream: String
    var directP50: (notStreamed: Double, streamed: Double)
    var recorder: SoakRecorder
    var resources: Resources
    var started: ContinuousClock.Instant
    var deadline: ContinuousClock.Instant

    /// One client: a call, then the next, streamed every other one (half the clients stream at any
    /// moment), until the deadline.
    func drive(client: Int, of clients: Int) async throws {
        var index = client
        while ContinuousClock.now < deadline, !Task.isCancelled {
            let stream = (index / clients) % 2 == client % 2
            do {
                let call = try await GatewayBench.call(http, rasi, index % rasi.texts.count, stream: stream)
                await recorder.called(
                    added: call.latency - (stream ? directP50.streamed : directP50.notStreamed), phases: call.phases, interaction: call.interaction)
            } catch {
                if Task.isCancelled { return }
                await recorder.failed(.call, error)
                // A server that refuses at once is not asked again at once.
                try await Task.sleep(for: .milliseconds(100))
            }
            index += clients
        }
    }

    /// Feedback, edits and deletions, each at its own steady rate, one at a time, until the deadline.
    /// Each is due at a fixed time from the start, so one that ran late does not delay the rest.
    func mix(rates: [(SoakRecorder.Kind, Double)]) async throws {
        var done = rates.map { _ in 0 }
        func due(_ i: Int) -> ContinuousClock.Instant { started + .seconds(Double(done[i] + 1) / rates[i].1) }
        while let next = rates.indices.min(by: { due($0) < due($1) }), due(next) < deadline {
            try await Task.sleep(until: due(next))
            done[next] += 1
            let kind = rates[next].0
            do {
                try await act(kind, number: done[next])
            } catch {
                if Task.isCancelled { return }
                await recorder.failed(kind, error)
            }
        }
    }

    /// One feedback, edit or deletion; throws on any answer but 2xx. Nothing to act on is not an error.
    func act(_ kind: SoakRecorder.Kind, number: Int) async throws {
        switch kind {
        case .feedback:
            guard let id = await recorder.takeInteraction() else { return }
            try await send(
                .POST, "/api/v1/interactions/\(id)/feedback",
                ["rating": .string(number % 2 == 0 ? "up" : "down"), "comment": .string("soak feedback \(number)")])
        case .edit:
            guard let id = await recorder.pickLesson(removing: false) else { return }
            try await send(.PATCH, "/api/v1/lessons/\(id)", ["correct_behavior": .string("Follow the runbook (soak edit \(number)).")])
        case .delete:
            guard let id = await recorder.pickLesson(removing: true) else { return }
            try await send(.DELETE, "/api/v1/lessons/\(id)", nil)
        case .call:
            return
        }
        await recorder.succeeded(kind)
    }

    func send(_ method: HTTPMethod, _ path: String, _ body: JSONValue?) async throws {
        var request = HTTPClientRequest(url: rasi.url + path)
        request.method = method
        if let key = rasi.key { request.headers.add(name: "Authorization", value: "Bearer \(key)") }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(data: RasiJSON.canonical(body)))
        }
        let response = try await http.execute(request, timeout: .seconds(60))
        let answer = try await response.body.collect(upTo: 1 << 20)
        guard (200..<300).contains(response.status.code) else {
            throw ValidationError("\(method) \(path) answered \(response.status.code): \(String(buffer: answer).prefix(200))")
        }
    }

    /// Closes each minute as it ends, but the last (closed once its calls are back); throws
    /// `ServeExited` as soon as the server is gone.
    func watch(_ process: Process, minutes: Int) async throws {
        for minute in 1...minutes {
            let end = started + .seconds(60 * minute)
            while ContinuousClock.now < end {
                guard process.isRunning else { throw ServeExited(status: process.terminationStatus, minute: minute) }
                try await Task.sleep(until: min(end, ContinuousClock.now + .seconds(1)))
            }
            if minute < minutes { SoakBench.show(await recorder.close(resources.sample()).line) }
            // The scripted upstream keeps every request it answers: cleared, so that the bench's own
            // memory does not grow over an hour.
            var clear = HTTPClientRequest(url: upstream + "/_scripted/requests")
            clear.method = .DELETE
            _ = try? await http.execute(clear, timeout: .seconds(10)).body.collect(upTo: 1 << 16)
        }
    }
}

/// The `rasi serve` process's resources, read from `/proc` (Linux); nil where it cannot be read.
struct Resources: Sendable {
    var pid: Int32
    /// The database's write-ahead log, `PATH-wal` beside `PATH`.
    var wal: String

    struct Sample: Codable, Sendable {
        var rssMb: Double?
        var openFiles: Int?
        var walMb: Double?

        enum CodingKeys: String, CodingKey {
            case rssMb = "rss_mb"
            case openFiles = "open_files"
            case walMb = "wal_mb"
        }

        /// Printed in the per-minute table; "-" where it could not be read.
        var columns: String {
            [
                rssMb.map { String(format: "%8.1f", $0) } ?? "       -", openFiles.map { String(format: "%6d", $0) } ?? "     -",
                walMb.map { String(format: "%7.1f", $0) } ?? "      -"
            ].joined(separator: " ")
        }
    }

    func sample() -> Sample {
        let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8)
        // "VmRSS:     123456 kB"
        let rss = status?.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
            .flatMap { $0.split(whereSeparator: \.isWhitespace).dropFirst().first }.flatMap { Double($0) }
        let files = try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        // No log file yet (or just truncated) is an empty log.
        let walBytes = (try? FileManager.default.attributesOfItem(atPath: wal)[.size] as? NSNumber)?.doubleValue ?? 0
        return Sample(rssMb: rss.map { $0 / 1024 }, openFiles: files, walMb: walBytes / 1_048_576)
    }
}

/// The tally of the minute under way, the minutes closed, and what the feedback, edits and
/// deletions act on: the interactions just logged and the lessons still there.
actor SoakRecorder {
    enum Kind: Sendable { case call, feedback, edit, delete }

    private var added: [Double] = []
    private var phases: [[String: Double]] = []
    private var failures: [Kind: Int] = [:]
    private var successes: [Kind: Int] = [:]
    private var firstError: String?
    private(set) var minutes: [SoakBench.Minute] = []
    /// Interactions logged, newest last; feedback takes the newest, each once.
    private var recent: [String] = []
    private var lessons: [String]
    private var rng = SplitMix64(seed: 23)

    init(lessons: [String]) {
        self.lessons = lessons
    }

    func called(added latency: Double, phases timings: [String: Double], interaction: String?) {
        added.append(latency)
        phases.append(timings)
        if let interaction {
            recent.append(interaction)
            if recent.count > 1000 { recent.removeFirst(500) }
        }
    }

    func succeeded(_ kind: Kind) { successes[kind, default: 0] += 1 }

    func failed(_ kind: Kind, _ error: any Error) {
        failures[kind, default: 0] += 1
        if firstError == nil { firstError = "\(kind): \(error)" }
    }

    func takeInteraction() -> String? { recent.popLast() }

    /// A lesson still there, at random; a deleted one is never picked again.
    func pickLesson(removing: Bool) -> String? {
        guard !lessons.isEmpty else { return nil }
        let index = Int.random(in: lessons.indices, using: &rng)
        guard removing else { return lessons[index] }
        lessons.swapAt(index, lessons.count - 1)
        return lessons.removeLast()
    }

    /// Ends the minute under way with the server's resources now; the next one starts empty.
    func close(_ resources: Resources.Sample) -> SoakBench.Minute {
        let minute = SoakBench.Minute(
            minute: minutes.count + 1, calls: added.count, errors: failures.values.reduce(0, +), callErrors: failures[.call] ?? 0,
            addedP50Ms: percentile(added, 0.5), addedP99Ms: percentile(added, 0.99), rssMb: resources.rssMb,
            openFiles: resources.openFiles, walMb: resources.walMb, feedback: successes[.feedback] ?? 0,
            feedbackErrors: failures[.feedback] ?? 0, edits: successes[.edit] ?? 0, editErrors: failures[.edit] ?? 0,
            deletes: successes[.delete] ?? 0, deleteErrors: failures[.delete] ?? 0, firstError: firstError,
            phasesP99Ms: GatewayBench.phasePercentiles(phases, 0.99))
        minutes.append(minute)
        (added, phases, failures, successes, firstError) = ([], [], [:], [:], nil)
        return minute
    }
}

extension SoakBench {
    /// One minute of the soak. `calls` are gateway calls answered; `errors` counts every failure of
    /// the minute (calls, feedback, edits and deletions: any answer but 2xx, or none).
    struct Minute: Codable {
        var minute: Int
        var calls: Int
        var errors: Int
        var callErrors: Int
        var addedP50Ms: Double
        var addedP99Ms: Double
        var rssMb: Double?
        var openFiles: Int?
        var walMb: Double?
        var feedback: Int
        var feedbackErrors: Int
        var edits: Int
        var editErrors: Int
        var deletes: Int
        var deleteErrors: Int
        var firstError: String?
        /// rasi's own account of where the minute's time went (its `Server-Timing` phases), p99 of each.
        var phasesP99Ms: [String: Double]

        enum CodingKeys: String, CodingKey {
            case minute, calls, errors, feedback, edits, deletes
            case phasesP99Ms = "phases_p99_ms"
            case callErrors = "call_errors"
            case addedP50Ms = "added_p50_ms"
            case addedP99Ms = "added_p99_ms"
            case rssMb = "rss_mb"
            case openFiles = "open_files"
            case walMb = "wal_mb"
            case feedbackErrors = "feedback_errors"
            case editErrors = "edit_errors"
            case deleteErrors = "delete_errors"
            case firstError = "first_error"
        }

        var line: String {
            String(
                format: "%6d %7d %7d   %6.1f / %6.1f  ", minute, calls, errors, addedP50Ms, addedP99Ms)
                + Resources.Sample(rssMb: rssMb, openFiles: openFiles, walMb: walMb).columns
                + String(format: "  %8d %6d %8d", feedback, edits, deletes)
                + "  p99 " + phasesP99Ms.keys.sorted().map { String(format: "%@ %.1f", $0, phasesP99Ms[$0]!) }.joined(separator: ", ")
                + (firstError.map { "  first error: \($0)" } ?? "")
        }
    }

    struct Settings: Encodable {
        var clients: Int
        var lessons: Int
        var delayMs: Int
        var feedbackPerSecond: Double
        var editsPerSecond: Double
        var deletesPerSecond: Double

        enum CodingKeys: String, CodingKey {
            case clients, lessons
            case delayMs = "delay_ms"
            case feedbackPerSecond = "feedback_per_second"
            case editsPerSecond = "edits_per_second"
            case deletesPerSecond = "deletes_per_second"
        }
    }

    /// The whole soak: its minutes and what they add up to.
    struct Report {
        var settings: Settings
        var durationMinutes: Int
        var directP50Ms: [String: Double]
        /// The server's resources once ready and warmed up, before the load (minute 0).
        var start: Resources.Sample
        var minutes: [Minute]
        var stoppedEarly: String?

        /// The span RSS growth is measured over: the last 20 minutes (the first 10 or more being the
        /// warm-up), or the second half of a run shorter than 30; minute 0 is the start, before the load.
        var growthSpan: (basis: String, from: Int, to: Int) {
            let to = minutes.count
            return to >= 30 ? ("last_20_minutes", to - 20, to) : ("second_half", to / 2, to)
        }

        func rss(atEndOf minute: Int) -> Double? { minute == 0 ? start.rssMb : minutes[minute - 1].rssMb }

        var rssGrowthPct: Double? {
            guard let from = rss(atEndOf: growthSpan.from), let to = rss(atEndOf: growthSpan.to), from > 0 else { return nil }
            return (to - from) / from * 100
        }

        var json: [String: AnyEncodable] {
            let span = growthSpan
            return [
                "settings": AnyEncodable(settings), "duration_minutes": AnyEncodable(durationMinutes),
                "direct_p50_ms": AnyEncodable(directP50Ms),
                "added_latency": AnyEncodable(
                    "each call's latency through rasi (streamed: to its first chunk) minus direct_p50_ms of its kind, measured before the load"),
                "start": AnyEncodable(start), "minutes": AnyEncodable(minutes), "stopped_early": AnyEncodable(stoppedEarly),
                "calls_total": AnyEncodable(minutes.map(\.calls).reduce(0, +)), "errors_total": AnyEncodable(minutes.map(\.errors).reduce(0, +)),
                "feedback_total": AnyEncodable(minutes.map(\.feedback).reduce(0, +)), "edits_total": AnyEncodable(minutes.map(\.edits).reduce(0, +)),
                "deletes_total": AnyEncodable(minutes.map(\.deletes).reduce(0, +)),
                "p50_first": AnyEncodable(minutes.first?.addedP50Ms), "p99_first": AnyEncodable(minutes.first?.addedP99Ms),
                "p50_last": AnyEncodable(minutes.last?.addedP50Ms), "p99_last": AnyEncodable(minutes.last?.addedP99Ms),
                "p99_max": AnyEncodable(minutes.map(\.addedP99Ms).max()),
                "rss_start_mb": AnyEncodable(start.rssMb), "rss_end_mb": AnyEncodable(minutes.last?.rssMb),
                "rss_max_mb": AnyEncodable(minutes.compactMap(\.rssMb).max()),
                "rss_growth_last20_pct": AnyEncodable(rssGrowthPct), "rss_growth_window": AnyEncodable(span.basis),
                "rss_growth_from_minute": AnyEncodable(span.from), "rss_growth_to_minute": AnyEncodable(span.to),
                "open_files_start": AnyEncodable(start.openFiles), "open_files_end": AnyEncodable(minutes.last?.openFiles),
                "open_files_max": AnyEncodable(minutes.compactMap(\.openFiles).max()),
                "wal_mb_max": AnyEncodable(minutes.compactMap(\.walMb).max())
            ]
        }

        func printSummary() {
            let figure = { (value: Double?) in value.map { String(format: "%.1f", $0) } ?? "-" }
            let span = growthSpan
            SoakBench.show(
                "\(minutes.map(\.calls).reduce(0, +)) calls, \(minutes.map(\.errors).reduce(0, +)) errors in \(minutes.count) minutes; "
                    + "added p99 \(figure(minutes.first?.addedP99Ms)) ms the first minute, \(figure(minutes.last?.addedP99Ms)) ms the last")
            SoakBench.show(
                "rss \(figure(start.rssMb)) → \(figure(minutes.last?.rssMb)) MB; \(figure(rssGrowthPct))% over the "
                    + (span.basis == "last_20_minutes" ? "last 20 minutes" : "second half")
                    + " (end of minute \(span.from) to end of minute \(span.to); minute 0 is the start); open files "
                    + "\(start.openFiles.map(String.init) ?? "-") → \(minutes.last?.openFiles.map(String.init) ?? "-"); "
                    + "WAL at most \(figure(minutes.compactMap(\.walMb).max())) MB")
        }
    }
}

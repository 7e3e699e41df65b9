import ArgumentParser
import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

/// A real `rasi serve` in a process of its own, as users run it: configured by `RASI_*`
/// variables only, on a free port, and stopped with SIGTERM as a service manager stops it.
struct ServeProcess {
    let process: Process
    /// The server's base URL, `http://127.0.0.1:PORT`.
    let url: String

    /// The `rasi` binary next to this one (`swift build` puts both in the same folder).
    static var siblingBinary: String {
        (Bundle.main.executableURL?.deletingLastPathComponent() ?? URL(fileURLWithPath: ".")).appendingPathComponent("rasi").path
    }

    /// Starts `binary serve` with `settings` over the defaults: the caller's own `RASI_*` variables are
    /// not passed on, so every run measures the same configuration.
    static func start(_ binary: String, settings: [String: String]) async throws -> ServeProcess {
        guard FileManager.default.isExecutableFile(atPath: binary) else {
            throw ValidationError("no rasi binary at \(binary): build it with `swift build --product rasi`, or give --rasi PATH")
        }
        let port = try await freePort()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--log-level", "error"]
        process.environment = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("RASI_") }
            .merging(settings) { $1 }
            .merging(["RASI_HOST": "127.0.0.1", "RASI_PORT": "\(port)"]) { $1 }
        try process.run()
        return ServeProcess(process: process, url: "http://127.0.0.1:\(port)")
    }

    /// Starts `binary serve` as `start` does, waits until it is `ready`, runs `body` with it, and
    /// stops it however `body` ends.
    static func serving<T>(
        _ binary: String, settings: [String: String], http: HTTPClient, _ body: (ServeProcess) async throws -> T
    ) async throws -> T {
        let server = try await start(binary, settings: settings)
        do {
            try await server.ready(http)
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }

    /// Waits until the server answers and its vector graphs are built: a large store opens at
    /// once and searches exactly, more slowly, until then (`/healthz` says "indexes": "building").
    func ready(_ http: HTTPClient) async throws {
        while true {
            guard process.isRunning else { throw ValidationError("rasi serve stopped before it was ready (status \(process.terminationStatus))") }
            if let building = try? await indexesBuilding(http), !building { return }
            try await Task.sleep(for: .milliseconds(250))
        }
    }

    /// Whether the server's `/healthz` says its search indexes are still being built.
    func indexesBuilding(_ http: HTTPClient) async throws -> Bool {
        let response = try await http.execute(HTTPClientRequest(url: url + "/healthz"), timeout: .seconds(10))
        let body = try await response.body.collect(upTo: 4096)
        return try JSONDecoder().decode([String: String].self, from: Data(buffer: body))["indexes"] == "building"
    }

    /// SIGTERM, then waits for the graceful shutdown; SIGKILL if it takes more than 30 seconds.
    func stop() async {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning, ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// A port nothing listens on now: the system picks one for a socket that is closed at once.
    static func freePort() async throws -> Int {
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton).bind(host: "127.0.0.1", port: 0).get()
        let port = channel.localAddress?.port
        try await channel.close()
        guard let port else { throw ValidationError("no free port") }
        return port
    }
}

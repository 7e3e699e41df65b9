import AsyncHTTPClient
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Prometheus
import RasiCore
import RasiEngine
import RasiModelClient
import RasiPostgres
import RasiSQLite
import RasiServer
import ScriptedModel
import Testing

@testable import rasi

/// A fresh SQLite file in a temporary folder, removed afterwards.
@discardableResult
func withTemporaryStore<T>(_ body: (SQLiteStore) async throws -> T) async throws -> T {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-test-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: folder) }
    let store = try SQLiteStore(path: folder.appendingPathComponent("rasi.sqlite").path)
    return try await body(store)
}

/// The stores the contract tests run against: each test of the store protocols runs on both,
/// so the embedded default and PostgreSQL cannot drift apart.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
    case sqlite
    case postgres

    var testDescription: String { rawValue }
}

struct MissingPostgres: Error, CustomStringConvertible {
    var description: String { "RASI_TEST_POSTGRES_URL is not set: scripts/test starts PostgreSQL for the store contract tests" }
}

/// A fresh, empty store of this kind, removed afterwards: a SQLite file, or a new database on
/// the PostgreSQL server that `RASI_TEST_POSTGRES_URL` names.
@discardableResult
func withTemporaryStore<T>(
    _ kind: StoreKind, embeddingModel: String? = nil, dimensions: Int = 384,
    _ body: (any RasiStore) async throws -> T
) async throws -> T {
    switch kind {
    case .sqlite:
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("rasi-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        return try await body(
            try SQLiteStore(path: folder.appendingPathComponent("rasi.sqlite").path, embeddingModel: embeddingModel, dimensions: dimensions))
    case .postgres:
        let database = try await TestPostgres.createDatabase()
        do {
            let result = try await PostgresStore.withStore(url: database.url, embeddingModel: embeddingModel, dimensions: dimensions, body)
            try await TestPostgres.dropDatabase(database.name)
            return result
        } catch {
            try? await TestPostgres.dropDatabase(database.name)
            throw error
        }
    }
}

/// Databases made and dropped on the test server.
enum TestPostgres {
    static var serverURL: String {
        get throws {
            guard let url = ProcessInfo.processInfo.environment["RASI_TEST_POSTGRES_URL"], !url.isEmpty else { throw MissingPostgres() }
            return url
        }
    }

    static func createDatabase() async throws -> (name: String, url: String) {
        let name = "rasi_test_" + UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "")
        try await admin("CREATE DATABASE \(name)")
        var components = try #require(URLComponents(string: try serverURL))
        components.path = "/" + name
        return (name, try #require(components.string))
    }

    static func dropDatabase(_ name: String) async throws {
        try await admin("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    /// Runs one statement on the server's own database, over a connection of its own.
    static func admin(_ sql: String) async throws {
        try await PostgresStore.execute(sql, at: try serverURL)
    }
}

/// rasi's router over a fresh SQLite store, with keys of each role, tested in process.
struct TestRasi: Sendable {
    let store: SQLiteStore
    let services: RasiServices
    let routes: [RouteEntry]
    var keys: [Role: String] = [:]

    static func run(upstreamPort: Int = 9, _ test: @Sendable (TestRasi, any TestClientProtocol) async throws -> Void) async throws {
        try await withTemporaryStore { store in
            var configuration = RasiConfiguration()
            configuration.upstreamBaseURL = "http://127.0.0.1:\(upstreamPort)/v1"
            // The scripted model speaks Anthropic's Messages API too, at its root.
            configuration.anthropicBaseURL = "http://127.0.0.1:\(upstreamPort)"
            configuration.maxBodyBytes = 64 * 1024
            configuration.upstreamConnectTimeoutSeconds = 1
            let client = makeHTTPClient(configuration)
            let upstream = Upstream(client: client, baseURL: configuration.upstreamBaseURL, apiKey: nil, timeoutSeconds: 5)
            let services = RasiServices(
                configuration: configuration, store: store, retriever: LexicalRetriever(store: store), redactor: try PIIRedactor(),
                upstream: upstream, judgeModel: OpenAIChatModel(upstream: upstream))
            let (router, routes) = buildRouter(services, metrics: PrometheusCollectorRegistry())
            var keys: [Role: String] = [:]
            for role in Role.allCases {
                keys[role] = try await KeyIssuer.create(role: role, name: "test \(role)", by: "test", in: store).1
            }
            let rasi = TestRasi(store: store, services: services, routes: routes, keys: keys)
            let app = Application(router: router)
            do {
                try await app.test(.router) { client in try await test(rasi, client) }
            } catch {
                try await client.shutdown()
                throw error
            }
            try await client.shutdown()
        }
    }
}

extension TestClientProtocol {
    /// Sends JSON with a role's key; returns the status and the decoded body.
    @discardableResult
    func call(_ method: HTTPRequest.Method, _ uri: String, key: String?, json: String? = nil, headers: HTTPFields = [:]) async throws -> (
        HTTPResponse.Status, JSONValue, HTTPFields
    ) {
        var headers = headers
        if let key { headers[.authorization] = "Bearer \(key)" }
        headers[.contentType] = "application/json"
        return try await execute(uri: uri, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) }) { response in
            let body =
                response.body.readableBytes == 0
                ? JSONValue.null
                : ((try? JSONDecoder().decode(JSONValue.self, from: Data(buffer: response.body))) ?? .string(String(buffer: response.body)))
            return (response.status, body, response.headers)
        }
    }
}

/// The scripted model, live on a free port, for the duration of `body`.
func withScriptedModel(_ script: Script, _ body: @Sendable @escaping (Int, ScriptedModelState) async throws -> Void) async throws {
    let state = ScriptedModelState(script: script)
    let model = Application(router: ScriptedModelServer.buildRouter(state: state), configuration: .init(address: .hostname("127.0.0.1", port: 0)))
    try await model.test(.live) { client in
        try await body(try #require(client.port), state)
    }
}

// swift-tools-version:6.1
import PackageDescription

/// The embedding model's and the vector index's numeric loops run 10–50× slower unoptimised,
/// which would make a debug build's server and test suite crawl: optimise them in every build.
let optimizedAlways: [SwiftSetting] = [.unsafeFlags(["-O"])]

let package = Package(
    name: "rasi",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "rasi", targets: ["rasi"]),
        .executable(name: "rasi-bench", targets: ["RasiBench"]),
        .executable(name: "rasi-agent-example", targets: ["AgentExample"]),
        .library(name: "RasiCore", targets: ["RasiCore"]),
        .library(name: "RasiAgent", targets: ["RasiAgent"]),
        .library(name: "RasiEngine", targets: ["RasiEngine"])
    ],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-configuration.git", from: "1.4.0", traits: [.defaults, "CommandLineArguments"])
    ],
    targets: [
        // Domain types, store protocols, retrieval seam, prompt rendering. No I/O frameworks.
        .target(
            name: "RasiCore",
            dependencies: [
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log")
            ]
        ),
        // OpenBLAS (Debian's libopenblas-dev) for the embedding model's matrix products.
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS", providers: [.apt(["libopenblas-dev"])]),
        // Small-batch matrix products for the embedding model (AVX2/FMA, chosen at run time).
        .target(name: "CRasiKernels", cSettings: [.unsafeFlags(["-O2"])]),
        // The built-in all-MiniLM-L6-v2 embedding model.
        .target(
            name: "RasiEmbeddings",
            dependencies: ["RasiCore", "COpenBLAS", "CRasiKernels", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            swiftSettings: optimizedAlways
        ),
        // The embedded default store: SQLite through GRDB, WAL, FTS5.
        .target(
            name: "RasiSQLite",
            dependencies: [
                "RasiCore",
                "CRasiKernels",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift")
            ],
            swiftSettings: optimizedAlways
        ),
        // The scale-out store: PostgreSQL through PostgresNIO, pgvector HNSW, full-text search.
        .target(
            name: "RasiPostgres",
            dependencies: [
                "RasiCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                // Its pool's error, to tell a database that went away from a query that failed.
                .product(name: "_ConnectionPoolModule", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log")
            ]
        ),
        // The deterministic, scriptable OpenAI-compatible model used by tests and the demo.
        .target(
            name: "ScriptedModel",
            dependencies: [
                "RasiCore",
                .product(name: "Hummingbird", package: "hummingbird")
            ]
        ),
        // The OpenAI-compatible chat client shared by the agent library, the judge and the gateway's upstream.
        .target(
            name: "RasiModelClient",
            dependencies: [
                "RasiCore",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio")
            ]
        ),
        // The application layer: lessons, the interaction log, signals, the judge and its queue.
        // Called by HTTP, the command line and `LocalRasi`; knows the stores only by their protocols.
        .target(
            name: "RasiEngine",
            dependencies: [
                "RasiCore",
                "RasiModelClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
            ]
        ),
        // HTTP only: the gateway, the REST API, the admin panel, auth, the metrics export.
        .target(
            name: "RasiServer",
            dependencies: [
                "RasiCore",
                "RasiEngine",
                "RasiModelClient",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Mustache", package: "swift-mustache")
            ],
            // The admin panel's templates, compiled into the binary (`PackageResources.NAME_mustache`).
            resources: [.embedInCode("Panel/Templates")]
        ),
        // The Swift agent library (tools, the tool-calling loop, tracing; lessons from a rasi
        // server or in process) and the learning-curve evaluation built on it. No server, no store.
        .target(
            name: "RasiAgent",
            dependencies: [
                "RasiCore",
                "RasiModelClient",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log")
            ]
        ),
        // The command line and the composition root: opens the stores, the embedder and the engine.
        .executableTarget(
            name: "rasi",
            dependencies: [
                "RasiAgent",
                "RasiCore",
                "RasiEngine",
                "RasiModelClient",
                "RasiSQLite",
                "RasiPostgres",
                "RasiServer",
                "RasiEmbeddings",
                "ScriptedModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Configuration", package: "swift-configuration"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus")
            ]
        ),
        // The benchmarks, kept out of the `rasi` binary (`rasi bench ...` runs this one); the gateway
        // benchmark measures the `rasi` binary beside it, run as `rasi serve`.
        .executableTarget(
            name: "RasiBench",
            dependencies: [
                "RasiCore",
                "RasiEngine",
                "RasiModelClient",
                "RasiEmbeddings",
                "RasiSQLite",
                "RasiPostgres",
                "RasiServer",
                "ScriptedModel",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus")
            ]
        ),
        // The agent library's runnable example (README: "Building an agent in Swift").
        .executableTarget(
            name: "AgentExample",
            dependencies: ["RasiAgent", "RasiCore", "RasiModelClient", .product(name: "AsyncHTTPClient", package: "async-http-client")],
            path: "Examples/AgentExample"
        ),
        .testTarget(
            name: "RasiCoreTests",
            dependencies: ["RasiCore"]
        ),
        .testTarget(
            name: "RasiServerTests",
            dependencies: [
                "RasiAgent",
                "RasiCore",
                "RasiSQLite",
                "RasiPostgres",
                "RasiServer",
                "RasiEngine",
                "RasiModelClient",
                "RasiEmbeddings",
                "ScriptedModel",
                "rasi",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "GRDB", package: "GRDB.swift")
            ]
        )
    ]
)

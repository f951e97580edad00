// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
        // For the benchmark package (Benchmarks/Package.swift), which depends on this one by path.
        .library(name: "SluiceCore", targets: ["SluiceCore"]),
        .library(name: "SluiceScheduling", targets: ["SluiceScheduling"]),
        .library(name: "SluiceMapping", targets: ["SluiceMapping"]),
        .library(name: "SluiceKafka", targets: ["SluiceKafka"]),
        .library(name: "SluiceWarehouse", targets: ["SluiceWarehouse"]),
        .library(name: "SluiceMaxComputeWire", targets: ["SluiceMaxComputeWire"]),
        .library(name: "SluiceLedger", targets: ["SluiceLedger"]),
        .library(name: "SluicePostgres", targets: ["SluicePostgres"]),
        .library(name: "SluiceJob", targets: ["SluiceJob"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.25.0"),
        // The operations console (sluice serve): HTTP server and Prometheus text exposition.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
    ],
    targets: [
        // librdkafka headers and link flags (Debian: librdkafka-dev). Only SluiceKafka imports it.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // librdkafka's mock cluster (rdkafka_mock.h), kept out of CRdKafka: only SluiceKafka's
        // @_spi(Testing) MockKafkaCluster imports it.
        .systemLibrary(
            name: "CRdKafkaMock",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // SQLite headers and link flags (Debian: libsqlite3-dev). Only SluiceSQLite imports it.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // The one compression target: zlib, zstd, LZ4 and snappy (Debian: zlib1g-dev libzstd-dev
        // liblz4-dev libsnappy-dev), for the compressed record batches dev-kafka stores and indexes and
        // for MaxCompute deflate blocks.
        .systemLibrary(
            name: "CSluiceCompression",
            providers: [.apt(["zlib1g-dev", "libzstd-dev", "liblz4-dev", "libsnappy-dev"])]
        ),
        // The shared types: rows, record batches, errors, secrets, plans, and the WindowSource, Sink
        // and Destination protocols. No I/O.
        .target(name: "SluiceCore"),
        // Scheduling: expressions, calendars, zones, cycles.
        .target(name: "SluiceScheduling", dependencies: ["SluiceCore"]),
        // The job file: spec, loading (YAML, DataWorks JSON), validation, import, emitter.
        .target(
            name: "SluiceJob",
            dependencies: ["SluiceCore", "SluiceScheduling", .product(name: "Yams", package: "Yams")]
        ),
        // Mapping: field programs, the JSON scanner, conversion, Kafka byte decoding.
        .target(name: "SluiceMapping", dependencies: ["SluiceCore", "SluiceJob"]),
        .target(
            name: "SluiceKafka",
            dependencies: ["SluiceCore", "SluiceJob", "CRdKafka", "CRdKafkaMock"]
        ),
        .target(
            name: "SluiceDevKafka",
            dependencies: [
                "SluiceCore", "CSluiceCompression",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                // TLS listeners (SSL, SASL_SSL); SCRAM's HMAC and PBKDF2.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "SluiceWarehouse",
            dependencies: ["SluiceCore", "SluiceJob", "SluiceSQLite"]
        ),
        // The SQLite connection owner the warehouse and the ledger share.
        .target(name: "SluiceSQLite", dependencies: ["CSQLite"]),
        // Child processes started with posix_spawn(3) and reaped on a thread of their own.
        .target(name: "SluiceProcess"),
        // PostgreSQL connections: URLs (passwords redacted), pools and single connections, errors;
        // the PostgreSQL destination (binary COPY, write records, DDL, sql, partitions).
        .target(
            name: "SluicePostgres",
            dependencies: [
                "SluiceCore",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The ledger: instances, plans, attempts, commits, logs, run locks; on SQLite or PostgreSQL.
        .target(
            name: "SluiceLedger",
            dependencies: [
                "SluiceCore", "SluiceSQLite", "SluicePostgres",
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // MaxCompute tunnel record stream: encoder, CRC-32C, blocks, deflate. No network.
        .target(
            name: "SluiceMaxComputeWire",
            dependencies: ["SluiceCore", "CSluiceCompression"],
            path: "Sources/SluiceMaxCompute/Wire"
        ),
        .target(
            name: "SluiceMaxCompute",
            dependencies: [
                "SluiceCore", "SluiceJob", "SluiceMaxComputeWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            exclude: ["Wire"]
        ),
        // Schema Registries: the client Avro values are decoded with (AsyncHTTPClient), and the
        // development registry `sluice dev-registry` serves (Hummingbird).
        .target(
            name: "SluiceSchemaRegistry",
            dependencies: [
                "SluiceCore", "SluiceJob", "SluiceMapping",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "SluiceRuntime",
            dependencies: ["SluiceCore", "SluiceProcess", "SluiceScheduling", "SluiceJob", "SluiceMapping", "SluiceKafka",
                           "SluiceLedger", "SluiceWarehouse", "SluiceMaxCompute", "SluicePostgres",
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                           .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                           "SluiceSchemaRegistry"]
        ),
        // The operations console: pages, actions, the JSON API, /metrics computed from the ledger.
        .target(
            name: "SluiceConsole",
            dependencies: [
                "SluiceCore", "SluiceScheduling", "SluiceJob", "SluiceLedger", "SluiceRuntime", "SluiceKafka", "SluiceProcess",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceCore", "SluiceScheduling", "SluiceJob", "SluiceMapping", "SluiceLedger", "SluiceRuntime",
                "SluiceConsole",
                "SluiceDevKafka", "SluiceKafka", "SluiceWarehouse", "SluiceMaxCompute", "SluiceSchemaRegistry",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Fixtures the test targets share: the `sluice` binary as a process.
        .target(
            name: "SluiceTestSupport",
            dependencies: ["SluiceCore", "SluiceProcess"],
            path: "Tests/SluiceTestSupport"
        ),
        .testTarget(name: "SluiceCoreTests", dependencies: ["SluiceCore", "SluiceJob"]),
        .testTarget(
            name: "SluiceSchedulingTests",
            dependencies: ["SluiceCore", "SluiceScheduling", "SluiceJob",
                           .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        .testTarget(
            name: "SluiceJobTests",
            dependencies: ["SluiceCore", "SluiceScheduling", "SluiceJob"],
            resources: [.copy("Fixtures")]
        ),
        .testTarget(
            name: "SluiceMappingTests",
            dependencies: ["SluiceCore", "SluiceJob", "SluiceMapping",
                           .product(name: "PropertyBased", package: "swift-property-based")]
        ),
        // Runs the built `sluice` binary (SLUICE_BIN, else .build/debug/sluice) as a user would.
        .testTarget(
            name: "CLITests",
            dependencies: ["SluiceTestSupport"],
            resources: [.copy("Fixtures")]
        ),
        // End to end: dev broker + runner + warehouse, in-process and through the binary.
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["SluiceCore", "SluiceJob", "SluiceLedger", "SluicePostgres", "SluiceRuntime", "SluiceDevKafka", "SluiceKafka", "SluiceWarehouse", "SluiceTestSupport",
                           .product(name: "PostgresNIO", package: "postgres-nio")],
            // Python client scripts the tests run as subprocesses (found via #filePath).
            exclude: ["Scripts"]
        ),
        .testTarget(
            name: "SluiceKafkaTests",
            dependencies: ["SluiceKafka", "SluiceCore", "SluiceJob", "SluiceMapping", "SluiceDevKafka", "SluiceTestSupport"]
        ),
        .testTarget(
            name: "SluiceDevKafkaTests",
            dependencies: [
                "SluiceDevKafka", "SluiceCore", "SluiceTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            // Python client scripts the tests run as subprocesses (found via #filePath).
            exclude: ["Scripts"]
        ),
        .testTarget(
            name: "SluiceWarehouseTests",
            dependencies: ["SluiceWarehouse", "SluiceSQLite", "SluiceCore", "SluiceJob", "SluiceTestSupport"]
        ),
        .testTarget(name: "SluiceSQLiteTests", dependencies: ["SluiceSQLite", "SluiceTestSupport"]),
        // The ledger's contract, run against SQLite and against a private PostgreSQL server.
        .testTarget(
            name: "SluiceLedgerTests",
            dependencies: ["SluiceLedger", "SluiceCore", "SluiceSQLite", "SluicePostgres", "SluiceTestSupport"]
        ),
        // The PostgreSQL destination against a private PostgreSQL server started by the tests.
        .testTarget(
            name: "SluicePostgresTests",
            dependencies: ["SluicePostgres", "SluiceCore", "SluiceJob", "SluiceMapping", "SluiceTestSupport",
                           .product(name: "PostgresNIO", package: "postgres-nio"),
                           .product(name: "NIOCore", package: "swift-nio")]
        ),
        .testTarget(
            name: "SluiceMaxComputeTests",
            dependencies: [
                "SluiceMaxCompute", "SluiceMaxComputeWire", "SluiceCore", "SluiceJob",
                "SluiceRuntime", "SluiceDevKafka", "SluiceKafka", "SluiceTestSupport", "SluiceWarehouse",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            resources: [.copy("Resources")]
        ),
        // The console as a real HTTP server on a free port, driven with async-http-client; the browser
        // tests (Playwright for Python, Debian's Chromium) and the Prometheus parser as subprocesses.
        .testTarget(
            name: "SluiceConsoleTests",
            dependencies: [
                "SluiceConsole", "SluiceRuntime", "SluiceLedger", "SluiceCore", "SluiceJob", "SluiceDevKafka", "SluiceKafka",
                "SluicePostgres", "SluiceTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            exclude: ["Scripts"]
        ),
        // The Schema Registry client against the development registry served on a free port, and the
        // registry's REST subset and Avro compatibility rules.
        .testTarget(
            name: "SluiceSchemaRegistryTests",
            dependencies: ["SluiceSchemaRegistry", "SluiceMapping", "SluiceJob", "SluiceCore",
                           .product(name: "Hummingbird", package: "hummingbird")]
        ),
        .testTarget(
            name: "SluiceRuntimeTests",
            dependencies: ["SluiceRuntime", "SluiceCore", "SluiceScheduling", "SluiceJob", "SluiceSQLite", "SluiceLedger", "SluiceTestSupport",
                           .product(name: "Logging", package: "swift-log"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Sluice",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "sluice", targets: ["sluice"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.80.0"),
        .package(url: "https://github.com/x-sheep/swift-property-based", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.29.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    ],
    targets: [
        // librdkafka headers and link flags (Debian: librdkafka-dev). Only SluiceKafka imports it.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // SQLite headers and link flags (Debian: libsqlite3-dev). Only SluiceWarehouse imports it.
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        // zlib, zstd, LZ4 and snappy (Debian: zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev), for
        // the compressed record batches dev-kafka stores and indexes.
        .systemLibrary(
            name: "CSluiceCompression",
            providers: [.apt(["zlib1g-dev", "libzstd-dev", "liblz4-dev", "libsnappy-dev"])]
        ),
        // zlib headers and link flags (Debian: zlib1g-dev), for MaxCompute deflate blocks.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // The core: job files, validation, scheduling expressions, cycles, plans, field programs,
        // typed rows, the Sink protocol. No I/O.
        .target(
            name: "SluiceCore",
            dependencies: [.product(name: "Yams", package: "Yams")]
        ),
        .target(
            name: "SluiceKafka",
            dependencies: ["SluiceCore", "CRdKafka"]
        ),
        .target(
            name: "SluiceDevKafka",
            dependencies: [
                "SluiceCore", "CSluiceCompression",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
                // TLS listeners (SSL, SASL_SSL); SCRAM's HMAC and PBKDF2.
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "SluiceWarehouse",
            dependencies: ["SluiceCore", "CSQLite"]
        ),
        // MaxCompute tunnel record stream: encoder, CRC-32C, blocks, deflate. No network.
        .target(
            name: "SluiceMaxComputeWire",
            dependencies: ["SluiceCore", "CZlib"],
            path: "Sources/SluiceMaxCompute/Wire"
        ),
        .target(
            name: "SluiceMaxCompute",
            dependencies: [
                "SluiceCore", "SluiceMaxComputeWire",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            exclude: ["Wire"]
        ),
        // Encoding throughput benchmark (Benchmarks/maxcompute/run).
        .executableTarget(
            name: "maxcompute-encode-bench",
            dependencies: ["SluiceCore", "SluiceMaxComputeWire"],
            path: "Benchmarks/maxcompute/Sources"
        ),
        .target(
            name: "SluiceRuntime",
            dependencies: ["SluiceCore", "SluiceKafka", "SluiceWarehouse", "SluiceMaxCompute",
                           .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceCore", "SluiceRuntime", "SluiceDevKafka", "SluiceKafka", "SluiceWarehouse", "SluiceMaxCompute",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Benchmarks/scheduling/run.sh: expression evaluation rate and instance listing.
        .executableTarget(
            name: "scheduling-benchmark",
            dependencies: ["SluiceCore"],
            path: "Benchmarks/scheduling",
            exclude: ["run.sh"]
        ),
        // Field-program throughput benchmark (not part of the tests):
        // swift build -c release --product sluice-bench-mapping && .build/release/sluice-bench-mapping
        .executableTarget(
            name: "sluice-bench-mapping",
            dependencies: ["SluiceCore"],
            path: "Benchmarks/mapping/Sources"
        ),
        // Benchmarks/reader: the window reader into a counter, timed against kcat by run.sh.
        .executableTarget(
            name: "sluice-reader-bench",
            dependencies: ["SluiceKafka", "SluiceCore"],
            path: "Benchmarks/reader/ReaderBench"
        ),
        // Fixtures the test targets share: the `sluice` binary as a process.
        .target(
            name: "SluiceTestSupport",
            path: "Tests/SluiceTestSupport"
        ),
        .testTarget(
            name: "SluiceCoreTests",
            dependencies: [
                "SluiceCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Fixtures")]
        ),
        // Runs the built `sluice` binary (SLUICE_BIN, else .build/debug/sluice) as a user would.
        .testTarget(
            name: "CLITests",
            resources: [.copy("Fixtures")]
        ),
        // End to end: dev broker + runner + warehouse, in-process and through the binary.
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["SluiceCore", "SluiceRuntime", "SluiceDevKafka", "SluiceKafka", "SluiceWarehouse", "SluiceTestSupport"]
        ),
        .testTarget(
            name: "SluiceKafkaTests",
            dependencies: ["SluiceKafka", "SluiceCore", "CRdKafka", "SluiceDevKafka"]
        ),
        .testTarget(
            name: "SluiceDevKafkaTests",
            dependencies: [
                "SluiceDevKafka", "SluiceCore",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
            ],
            // Python client scripts the tests run as subprocesses (found via #filePath).
            exclude: ["Scripts"]
        ),
        .testTarget(
            name: "SluiceWarehouseTests",
            dependencies: ["SluiceWarehouse", "SluiceCore"]
        ),
        .testTarget(
            name: "SluiceMaxComputeTests",
            dependencies: [
                "SluiceMaxCompute", "SluiceMaxComputeWire", "SluiceCore", "CZlib",
                "SluiceRuntime", "SluiceDevKafka", "SluiceKafka", "SluiceTestSupport", "SluiceWarehouse",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ],
            resources: [.copy("Resources")]
        ),
        .testTarget(
            name: "SluiceRuntimeTests",
            dependencies: ["SluiceRuntime", "SluiceCore", .product(name: "Logging", package: "swift-log")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

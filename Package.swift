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
    ],
    targets: [
        // librdkafka headers and link flags (Debian: librdkafka-dev). Only SluiceKafka imports it.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // zlib, zstd, LZ4 and snappy (Debian: zlib1g-dev libzstd-dev liblz4-dev libsnappy-dev), for
        // the compressed record batches dev-kafka stores and indexes.
        .systemLibrary(
            name: "CSluiceCompression",
            providers: [.apt(["zlib1g-dev", "libzstd-dev", "liblz4-dev", "libsnappy-dev"])]
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
            ]
        ),
        .target(
            name: "SluiceWarehouse",
            dependencies: ["SluiceCore"]
        ),
        .target(
            name: "SluiceMaxCompute",
            dependencies: ["SluiceCore"]
        ),
        .target(
            name: "SluiceRuntime",
            dependencies: ["SluiceCore", "SluiceKafka", "SluiceWarehouse", "SluiceMaxCompute"]
        ),
        .executableTarget(
            name: "sluice",
            dependencies: [
                "SluiceCore", "SluiceRuntime", "SluiceDevKafka",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Benchmarks/reader: the window reader into a counter, timed against kcat by run.sh.
        .executableTarget(
            name: "sluice-reader-bench",
            dependencies: ["SluiceKafka", "SluiceCore"],
            path: "Benchmarks/reader/ReaderBench"
        ),
        .testTarget(
            name: "SluiceCoreTests",
            dependencies: [
                "SluiceCore",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            resources: [.copy("Fixtures")]
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
            dependencies: ["SluiceMaxCompute", "SluiceCore"]
        ),
        .testTarget(
            name: "SluiceRuntimeTests",
            dependencies: ["SluiceRuntime", "SluiceCore"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

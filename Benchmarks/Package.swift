// swift-tools-version: 6.1
// The Swift benchmark executables, apart from the product: they build only when a benchmark runs
// (`scripts/bench`, see README.md here), never in CI or `swift build` of the root package. They use the
// root package's library products through a path dependency.
import PackageDescription

let package = Package(
    name: "SluiceBenchmarks",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(name: "Sluice", path: ".."),
    ],
    targets: [
        // The field program against Foundation's JSONSerialization; `--window N` for the harness.
        .executableTarget(
            name: "sluice-bench-mapping",
            dependencies: [.product(name: "SluiceCore", package: "Sluice"),
                           .product(name: "SluiceJob", package: "Sluice"),
                           .product(name: "SluiceMapping", package: "Sluice")]
        ),
        // MaxCompute tunnel record-stream encoding; `--once` for the harness.
        .executableTarget(
            name: "maxcompute-encode-bench",
            dependencies: [.product(name: "SluiceCore", package: "Sluice"),
                           .product(name: "SluiceMaxComputeWire", package: "Sluice")]
        ),
        // Scheduling expressions against Foundation's DateFormatter; listing instances.
        .executableTarget(
            name: "scheduling-benchmark",
            dependencies: [.product(name: "SluiceCore", package: "Sluice"),
                           .product(name: "SluiceScheduling", package: "Sluice")]
        ),
        // The window reader into a counter; timed against kcat by `scripts/bench reader`.
        .executableTarget(
            name: "sluice-reader-bench",
            dependencies: [.product(name: "SluiceCore", package: "Sluice"),
                           .product(name: "SluiceKafka", package: "Sluice")]
        ),
        // The ledger's cost per instance on SQLite and PostgreSQL, with one and three clients.
        .executableTarget(
            name: "ledger-bench",
            dependencies: [.product(name: "SluiceCore", package: "Sluice"),
                           .product(name: "SluiceLedger", package: "Sluice"),
                           .product(name: "SluicePostgres", package: "Sluice")]
        ),
        // SQLite warehouse insert throughput.
        .executableTarget(
            name: "warehouse-insert-bench",
            dependencies: [.product(name: "SluiceCore", package: "Sluice"),
                           .product(name: "SluiceWarehouse", package: "Sluice")]
        ),
        // PostgreSQL destination load throughput (binary COPY); timed against `psql \copy` by
        // `scripts/bench postgresql`.
        .executableTarget(
            name: "postgres-copy-bench",
            dependencies: [.product(name: "SluiceCore", package: "Sluice"),
                           .product(name: "SluicePostgres", package: "Sluice")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

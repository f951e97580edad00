import SluiceCore
import SluiceScheduling
/// A job: read a Kafka time window, map its records, write one destination partition.
///
/// Loaded from Sluice YAML (or JSON of the same shape) or from a DataWorks script-mode job JSON; both
/// load into this one value, so equal jobs compare equal whatever their format.
/// String values may hold `${name}` parameter references and `$[...]`/`${...}` expressions, resolved
/// per instance (see `Scheduling/`). Secrets are `SecretValue`s and never printed.
public struct JobSpec: Sendable, Equatable {
    public var name: String
    public var source: KafkaSourceSpec
    /// Source field → destination column, in order. `to` is nil only while the destination's column
    /// list is not known yet (DataWorks `"column": ["*"]` resolved against the table at run time).
    public var mapping: [FieldMapping]
    public var destination: DestinationSpec
    public var settings: JobSettings
    public var schedule: ScheduleSpec?
    /// What an instance does: a sync (the default), or an SQL node's statements.
    public var task: JobTask
    /// Into how many shards an instance's plan is split (`shards:`), read by `sluice worker`
    /// processes; nil or 1 reads the whole instance in one process.
    public var shards: Int?

    public init(name: String, source: KafkaSourceSpec, mapping: [FieldMapping],
                destination: DestinationSpec, settings: JobSettings = JobSettings(),
                schedule: ScheduleSpec? = nil, task: JobTask = .sync) {
        self.name = name
        self.source = source
        self.mapping = mapping
        self.destination = destination
        self.settings = settings
        self.schedule = schedule
        self.task = task
    }

    /// An SQL node (`type: sql`): `statements` run on `target` (kept as the destination's kind, with
    /// no table); it reads no source and maps no fields.
    public static func sqlNode(name: String, target: DestinationKind, statements: [String],
                               schedule: ScheduleSpec?) -> JobSpec {
        JobSpec(name: name, source: .none, mapping: [], destination: DestinationSpec(kind: target, table: ""),
                schedule: schedule, task: .sql(statements: statements))
    }

    /// The statements of an SQL node; nil for a sync.
    public var sqlStatements: [String]? {
        if case .sql(let statements) = task { statements } else { nil }
    }
}

/// What a job's instance does.
public enum JobTask: Sendable, Equatable {
    /// Reads the window of the Kafka source, maps the records and writes one destination partition.
    case sync
    /// Runs SQL statements (parameters written `${name}`) on the job's target database, in one
    /// transaction where it has them: DataWorks' ODPS SQL node, the job users chain after a sync.
    case sql(statements: [String])
}

extension KafkaSourceSpec {
    /// The source of a job that reads none (an SQL node): no servers, no topic, no window.
    public static let none = KafkaSourceSpec(bootstrapServers: [], topic: "", begin: .earliest, end: .latest)
}

/// One mapped field: `from` is a source field definition (`__value__`, `a.a1`, `'const'`, …),
/// `to` a destination column name.
public struct FieldMapping: Sendable, Hashable {
    public var from: String
    public var to: String?
    /// What numbers mean when this field fills a DATETIME/DATE/TIMESTAMP column (`unit: ms | s`);
    /// nil = milliseconds.
    public var unit: EpochUnit?
    /// A `DateTimePattern` (`format: 'yyyy-MM-dd HH:mm:ss'`) for date-time text filling a
    /// DATETIME/DATE/TIMESTAMP column; nil = ISO-8601 and `yyyy-MM-dd HH:mm:ss[.f…]`.
    public var format: String?
    public init(from: String, to: String?, unit: EpochUnit? = nil, format: String? = nil) {
        self.from = from
        self.to = to
        self.unit = unit
        self.format = format
    }
}

/// How a Kafka key or value is decoded.
public enum KafkaDataType: String, Sendable, Hashable, CaseIterable {
    case string, bytearray, long, integer, short, double, float
}

/// Where a window starts.
public enum BeginBound: Sendable, Hashable {
    /// A `yyyymmddhhmmss` time (usually `${startTime}`), read in the source's time zone.
    case time(String)
    case timestampMillis(String)
    case offset(Int64)
    case earliest
    /// The log end at planning time (DataWorks `beginOffset: seekToEnd`).
    case latest
    /// The consumer group's committed offset (DataWorks `beginType: current`, `seekToLast`).
    case groupOffset
}

/// Where a window ends (exclusive).
public enum EndBound: Sendable, Hashable {
    case time(String)
    case timestampMillis(String)
    case offset(Int64)
    case latest
}

/// The Kafka source of a job.
public struct KafkaSourceSpec: Sendable, Equatable {
    public var bootstrapServers: [String]
    /// A named data source (DataWorks `datasource`) not yet resolved against a `--datasources` file;
    /// nil once resolved (then `bootstrapServers` is filled) or when servers were given directly.
    public var datasource: String?
    public var topic: String
    public var groupId: String?
    public var begin: BeginBound
    public var end: EndBound
    /// IANA zone in which `yyyymmddhhmmss` bounds are read; nil = the machine's zone.
    public var timeZone: String?
    public var keyType: KafkaDataType
    public var valueType: KafkaDataType
    public var encoding: String
    public var completion: CompletionPolicy
    public var windowMode: WindowMode
    /// A subset of partitions to read; nil = all.
    public var partitions: [Int32]?
    /// librdkafka properties passed through (after translation of Java-style keys). Values may be
    /// secret references.
    public var kafkaConfig: [KafkaConfigEntry]
    public var autoOffsetReset: AutoOffsetReset
    /// DataWorks `skipExceedRecord`: records at or after the end bound are skipped (and counted).
    public var skipExceedRecord: Bool
    /// The native `security:` block (protocol, SASL, TLS); nil = none (kafkaConfig may still set them).
    public var security: KafkaSecuritySpec? = nil
    /// Charset of header values (`__headers__`; DataWorks `headerEncoding`).
    public var headerEncoding = "UTF-8"
    /// JSON, or delimited text addressed by index (DataWorks `dataFormat: text` + `fieldDelimiter`).
    public var valueFormat = ValueFormat.json
    /// The Schema Registry of `avro` and `protobuf` values and keys (Confluent-framed); nil without one.
    public var schemaRegistry: SchemaRegistrySpec? = nil
    /// What a record key holds, for `__key__.path` fields: JSON (default), Avro (`keyFormat: avro`) or Protobuf.
    public var keyFormat = ValueFormat.json

    public init(bootstrapServers: [String], topic: String, groupId: String? = nil,
                begin: BeginBound = .time("${startTime}"), end: EndBound = .time("${endTime}"),
                timeZone: String? = nil, keyType: KafkaDataType = .string,
                valueType: KafkaDataType = .string, encoding: String = "UTF-8",
                completion: CompletionPolicy = .endOffset, windowMode: WindowMode = .offsets,
                partitions: [Int32]? = nil, kafkaConfig: [KafkaConfigEntry] = [],
                autoOffsetReset: AutoOffsetReset = .none, skipExceedRecord: Bool = false) {
        self.bootstrapServers = bootstrapServers
        self.datasource = nil
        self.topic = topic
        self.groupId = groupId
        self.begin = begin
        self.end = end
        self.timeZone = timeZone
        self.keyType = keyType
        self.valueType = valueType
        self.encoding = encoding
        self.completion = completion
        self.windowMode = windowMode
        self.partitions = partitions
        self.kafkaConfig = kafkaConfig
        self.autoOffsetReset = autoOffsetReset
        self.skipExceedRecord = skipExceedRecord
    }
}

/// One `kafkaConfig` property, in file order.
public struct KafkaConfigEntry: Sendable, Hashable {
    public var key: String
    public var value: SecretValue
    public init(key: String, value: SecretValue) {
        self.key = key
        self.value = value
    }
}

/// What the destination is.
public enum DestinationKind: Sendable, Equatable {
    /// The embedded SQLite warehouse; `path` as written in the job (relative to the job file).
    case sqlite(path: String)
    case maxcompute(MaxComputeConnection)
    /// A PostgreSQL database: `url` as written (`postgresql://user@host:5432/db`, its password from
    /// `PGPASSWORD` or `?passwordFile=PATH`), or a `${env:…}`/`${file:…}` reference to it.
    case postgresql(url: SecretValue)
    /// Rows are counted and dropped: for dry measurements.
    case discard
    /// A named data source (DataWorks `datasource`) that no `--datasources` file resolved yet.
    /// `type` is the writer's kind as written (`odps`).
    case unresolved(datasource: String, type: String)

    public var typeName: String {
        switch self {
        case .sqlite: "sqlite"
        case .maxcompute: "maxcompute"
        case .postgresql: "postgresql"
        case .discard: "discard"
        case .unresolved(_, let type): type
        }
    }
}

/// How to reach a MaxCompute project.
public struct MaxComputeConnection: Sendable, Equatable {
    public var endpoint: String
    public var tunnelEndpoint: String?
    public var project: String
    public var schema: String?
    public var accessKeyId: SecretValue
    public var accessKeySecret: SecretValue
    public var securityToken: SecretValue?
    /// For v4 signing; nil = v2 signing.
    public var region: String?

    public init(endpoint: String, tunnelEndpoint: String? = nil, project: String, schema: String? = nil,
                accessKeyId: SecretValue, accessKeySecret: SecretValue, securityToken: SecretValue? = nil,
                region: String? = nil) {
        self.endpoint = endpoint
        self.tunnelEndpoint = tunnelEndpoint
        self.project = project
        self.schema = schema
        self.accessKeyId = accessKeyId
        self.accessKeySecret = accessKeySecret
        self.securityToken = securityToken
        self.region = region
    }
}

/// Block compression for MaxCompute uploads.
public enum UploadCompression: String, Sendable, Hashable, CaseIterable {
    case none, deflate
}

/// The destination of a job.
public struct DestinationSpec: Sendable, Equatable {
    public var kind: DestinationKind
    public var table: String
    /// Partition template such as `ds=${partition}`; empty for an unpartitioned table.
    public var partition: String
    /// Destination columns; `["*"]` (DataWorks) means all table columns in order, resolved at run time.
    public var columns: [String]
    public var writeMode: WriteMode
    public var emptyAsNull: Bool
    public var overLengthRule: OverLengthRule?
    public var maxFieldLength: Int?
    public var compress: UploadCompression
    /// Declared column types (`name: TYPE`) used by `sluice ddl` and `--create-table` when the table
    /// does not exist yet; columns without a declared type are STRING.
    public var columnTypes: [String: ColumnType]
    /// MaxCompute tunnel block size in bytes.
    public var blockSizeBytes: Int

    public init(kind: DestinationKind, table: String, partition: String = "", columns: [String] = [],
                writeMode: WriteMode = .overwrite, emptyAsNull: Bool = false,
                overLengthRule: OverLengthRule? = nil, maxFieldLength: Int? = nil,
                compress: UploadCompression = .none, columnTypes: [String: ColumnType] = [:],
                blockSizeBytes: Int = 64 << 20) {
        self.kind = kind
        self.table = table
        self.partition = partition
        self.columns = columns
        self.writeMode = writeMode
        self.emptyAsNull = emptyAsNull
        self.overLengthRule = overLengthRule
        self.maxFieldLength = maxFieldLength
        self.compress = compress
        self.columnTypes = columnTypes
        self.blockSizeBytes = blockSizeBytes
    }
}

/// The dirty-record limit (`settings.errorLimit`). Both nil = ignore dirty records.
public struct ErrorLimit: Sendable, Equatable {
    /// Fail as soon as more than this many records are dirty (0 = none allowed).
    public var records: Int?
    /// Fail at the end when dirty / read exceeds this fraction (0…1).
    public var percentage: Double?
    public init(records: Int? = nil, percentage: Double? = nil) {
        self.records = records
        self.percentage = percentage
    }
    public var isUnlimited: Bool { records == nil && percentage == nil }
}

/// What a JSON path that is missing from a record yields.
public enum MissingFieldPolicy: String, Sendable, Hashable, CaseIterable {
    case null, dirty
}

/// `settings` of a job.
public struct JobSettings: Sendable, Equatable {
    public var errorLimit: ErrorLimit
    /// Parallel block uploads / threads (DataWorks `speed.concurrent`).
    public var concurrency: Int
    /// Throttle in MB/s; nil = unthrottled.
    public var mbps: Double?
    public var missingField: MissingFieldPolicy

    public init(errorLimit: ErrorLimit = ErrorLimit(), concurrency: Int = 1, mbps: Double? = nil,
                missingField: MissingFieldPolicy = .null) {
        self.errorLimit = errorLimit
        self.concurrency = concurrency
        self.mbps = mbps
        self.missingField = missingField
    }
}


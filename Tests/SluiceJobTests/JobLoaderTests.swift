import Foundation
import Testing
@testable import SluiceCore
@testable import SluiceJob
@testable import SluiceScheduling

/// Job files: both formats, equality between them, the invalid-file corpus, secrets.
@Suite struct JobLoaderTests {
    static let fixtures = Bundle.module.resourceURL!.appendingPathComponent("Fixtures")

    static func fixture(_ name: String) throws -> Data {
        try Data(contentsOf: fixtures.appendingPathComponent(name))
    }

    static func load(_ name: String, options: JobLoadOptions = JobLoadOptions()) throws -> LoadedJob {
        try JobLoader.parse(data: fixture(name), fileName: name, options: options)
    }

    static func load(yaml: String, name: String = "job.yaml", options: JobLoadOptions = JobLoadOptions()) throws -> LoadedJob {
        try JobLoader.parse(data: Data(yaml.utf8), fileName: name, options: options)
    }

    static func errors(yaml: String, name: String = "job.yaml") -> [Diagnostic] {
        do {
            _ = try load(yaml: yaml, name: name)
            return []
        } catch let e as JobFileError {
            return e.diagnostics.filter { $0.severity == .error }
        } catch {
            return [Diagnostic(file: name, path: "", message: "unexpected \(error)")]
        }
    }

    /// "Billion laughs": 10 levels of 9 aliases each, as a document and inside `columns`. The loader
    /// stops at its expansion limit with one error naming the file, at once and in little memory.
    @Test func yamlAliasBombsAreRefused() throws {
        var levels = [#"a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]"#]
        for i in 1..<10 { levels.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 9).joined(separator: ",") + "]") }
        let document = levels.joined(separator: "\n") + "\nname: x\n"
        let inColumns = "x:\n  " + levels.joined(separator: "\n  ")
            + "\nname: j\nsource: {bootstrapServers: \"a:1\", topic: t}\ncolumns: *a9\ndestination: {path: w.db, table: t}\n"
        for yaml in [document, inColumns] {
            let errors = Self.errors(yaml: yaml, name: "bomb.yaml")
            #expect(errors.count == 1)
            #expect(errors.first?.file == "bomb.yaml")
            #expect(errors.first?.message.contains("expands to more than 100000 values") == true, "\(errors)")
        }
        let big = Self.errors(yaml: "name: j\n# " + String(repeating: "x", count: 5 << 20), name: "big.yaml")
        #expect(big.first?.message.contains("more than a job file may") == true, "\(big)")
    }

    @Test func issueYAMLLoads() throws {
        let job = try Self.load("valid/events_hourly.yaml")
        let s = job.spec
        #expect(job.format == .sluice)
        #expect(s.name == "events_hourly")
        #expect(s.source.bootstrapServers == ["127.0.0.1:9092"])
        #expect(s.source.topic == "events")
        #expect(s.source.groupId == "sluice_events_hourly")
        #expect(s.source.begin == .time("${startTime}"))
        #expect(s.source.end == .time("${endTime}"))
        #expect(s.source.timeZone == "Asia/Shanghai")
        #expect(s.source.partitions == [0, 2])
        #expect(s.source.kafkaConfig.first { $0.key == "sasl.password" }?.value == .env("KAFKA_PASSWORD"))
        #expect(s.mapping.count == 10)
        #expect(s.mapping[6] == FieldMapping(from: "a.a1", to: "a1"))
        #expect(s.mapping[9] == FieldMapping(from: "'const'", to: "tag"))
        #expect(s.destination.kind == .sqlite(path: "warehouse.db"))
        #expect(s.destination.partition == "ds=${partition}")
        #expect(s.settings.errorLimit.records == 0)
        #expect(s.schedule?.cycle == .hour)
        #expect(s.schedule?.start == "00:15")
        #expect(s.schedule?.parameters.map(\.name) == ["startTime", "endTime", "partition"])
        #expect(job.warnings.isEmpty)
    }

    @Test func dataWorksExampleLoads() throws {
        let job = try Self.load("valid/dataworks_example.json")
        let s = job.spec
        #expect(job.format == .dataworks)
        #expect(s.source.bootstrapServers == ["host:9092"])
        #expect(s.source.groupId == "console-consumer-83505")
        #expect(s.source.keyType == .bytearray)
        #expect(s.source.valueType == .bytearray)
        #expect(s.source.begin == .offset(0))
        #expect(s.source.end == .offset(3))
        #expect(s.source.completion == .endOffset)
        #expect(s.mapping.map(\.from) == ["__key__", "__value__", "__partition__", "__timestamp__", "__offset__", "'123'", "event_id", "tag.desc"])
        #expect(s.mapping.map(\.to) == ["key", "value", "partition1", "timestamp1", "offset", "t123", "event_id", "tag"])
        #expect(s.destination.kind == .unresolved(datasource: "odps_first", type: "maxcompute"))
        #expect(s.destination.writeMode == .overwrite)
        #expect(s.destination.partition == "")
        #expect(s.settings.errorLimit.isUnlimited)
        #expect(job.warnings.contains { $0.path == "steps[1].parameter.datasource" })
    }

    static let datasources = """
    odps_first:
      type: maxcompute
      endpoint: https://service.cn-hangzhou.maxcompute.aliyun.com/api
      project: my_project
      accessKeyId: "${env:ALIBABA_CLOUD_ACCESS_KEY_ID}"
      accessKeySecret: "${env:ALIBABA_CLOUD_ACCESS_KEY_SECRET}"
    kafka_prod:
      type: kafka
      bootstrapServers: "k1:9092,k2:9092"
      kafkaConfig: { group.id: from_datasource, security.protocol: PLAINTEXT }
    """

    /// The same job in both formats loads into equal specs.
    @Test func bothFormatsLoadIntoEqualSpecs() throws {
        let catalog = try DataSourceCatalog.parse(data: Data(Self.datasources.utf8), fileName: "ds.yaml")
        let dataworks = """
        {"type":"job","version":"2.0","steps":[
         {"stepType":"kafka","name":"Reader","category":"reader","parameter":{"datasource":"kafka_prod",
          "groupId":"sluice_events","kafkaConfig":{"group.id":"ignored","fetch.max.bytes":"1048576"},
          "topic":"events","beginDateTime":"${startTime}","endDateTime":"${endTime}","timeZone":"Asia/Shanghai",
          "keyType":"STRING","valueType":"string","encoding":"UTF-8","stopWhenPollEmpty":true,"waitTime":"30",
          "skipExceedRecord":true,"autoOffsetReset":"earliest","fetchMinBytes":"10",
          "column":["__key__","__value__","__partition__","__offset__","__timestamp__","__headers__","a.a1","c[1]","'tag'"]}},
         {"stepType":"odps","name":"Writer","category":"writer","parameter":{"datasource":"odps_first",
          "table":"ods_events","partition":"ds=${partition}","truncate":false,"emptyAsNull":true,
          "overLengthRule":"truncate","maxFieldLength":"1024","compress":true,
          "column":["k","v","p","o","ts","h","a1","c1","tag"]}}],
         "order":{"hops":[{"from":"Reader","to":"Writer"}]},
         "setting":{"errorLimit":{"record":"10","percentage":0.5},"speed":{"throttle":true,"mbps":"8","concurrent":2}}}
        """
        let yaml = """
        name: events
        source:
          bootstrapServers: k1:9092,k2:9092
          topic: events
          groupId: sluice_events
          begin: { time: "${startTime}" }
          end: { time: "${endTime}" }
          timeZone: Asia/Shanghai
          completion: { idle: 30s }
          skipExceedRecord: true
          autoOffsetReset: earliest
          kafkaConfig: { fetch.max.bytes: 1048576, fetch.min.bytes: 10, security.protocol: PLAINTEXT }
        columns: [__key__, __value__, __partition__, __offset__, __timestamp__, __headers__, a.a1, "c[1]", "'tag'"]
        destination:
          type: maxcompute
          endpoint: https://service.cn-hangzhou.maxcompute.aliyun.com/api
          project: my_project
          accessKeyId: "${env:ALIBABA_CLOUD_ACCESS_KEY_ID}"
          accessKeySecret: "${env:ALIBABA_CLOUD_ACCESS_KEY_SECRET}"
          table: ods_events
          partition: ds=${partition}
          columns: [k, v, p, o, ts, h, a1, c1, tag]
          writeMode: append
          emptyAsNull: true
          overLengthRule: truncate
          maxFieldLength: 1024
          compress: deflate
        settings:
          errorLimit: { record: 10, percentage: 0.5 }
          concurrency: 2
          mbps: 8
        """
        let params = [ParameterDefinition(name: "startTime", expression: "$[yyyymmddhh24-1/24]0000"),
                      ParameterDefinition(name: "endTime", expression: "$[yyyymmddhh24]0000"),
                      ParameterDefinition(name: "partition", expression: "$[yyyymmddhh24]")]
        let options = JobLoadOptions(datasources: catalog, parameters: params)
        let a = try Self.load(yaml: dataworks, name: "events.json", options: options).spec
        let b = try Self.load(yaml: yaml, name: "events.yaml", options: options).spec
        #expect(a == b)
        #expect(a.source.completion == .idle(seconds: 30, alsoStopAtLatest: false))
        #expect(a.source.groupId == "sluice_events")  // groupId wins over kafkaConfig group.id
        #expect(a.destination.compress == .deflate)
        #expect(a.settings.mbps == 8)
    }

    @Test func importRoundTripsThroughYAML() throws {
        let catalog = try DataSourceCatalog.parse(data: Data(Self.datasources.utf8), fileName: "ds.yaml")
        for name in ["valid/dataworks_example.json", "valid/events_hourly.yaml"] {
            let original = try Self.load(name, options: JobLoadOptions(datasources: catalog)).spec
            let text = JobEmitter.yaml(original, secrets: .moveToEnvironment).text
            let again = try Self.load(yaml: text, name: "again.yaml", options: JobLoadOptions(datasources: catalog)).spec
            #expect(again == original, "\(name) did not round-trip:\n\(text)")
        }
    }

    @Test func dataWorksOffsetsAndTypes() throws {
        func source(_ params: String) throws -> KafkaSourceSpec {
            let json = """
            {"type":"job","steps":[{"stepType":"kafka","category":"reader","parameter":{"server":"h:9092","topic":"t",
             "column":["__value__"], \(params)}},
             {"stepType":"odps","category":"writer","parameter":{"datasource":"o","table":"t","column":["v"],"truncate":true}}]}
            """
            return try Self.load(yaml: json, name: "j.json").spec.source
        }
        #expect(try source(#""beginOffset":"seekToBeginning","endOffset":"seekToEnd""#).begin == .earliest)
        #expect(try source(#""beginOffset":"seekToLast","endOffset":"seekToEnd""#).begin == .groupOffset)
        #expect(try source(#""beginOffset":"seekToEnd","endOffset":"seekToEnd""#).begin == .latest)
        #expect(try source(#""beginOffset":"5","endOffset":"seekToEnd""#).end == .latest)
        #expect(try source(#""beginType":"earliest","endType":"latest""#).begin == .earliest)
        #expect(try source(#""beginType":"current","endType":"latest""#).begin == .groupOffset)
        #expect(try source(#""beginTimestampMillis":"1669078800000","endTimestampMillis":"1669082400000""#).end == .timestampMillis("1669082400000"))
        #expect(try source(#""beginDateTime":"20221122090000","endDateTime":"20221122100000""#).begin == .time("20221122090000"))
        let s = try source(#""beginType":"earliest","endType":"latest","keyType":"Long","valueType":"DOUBLE","partition":"2","stopWhenPollEmpty":"true","waitTIme":"5","stopWhenReachEndOffset":true"#)
        #expect(s.keyType == .long)
        #expect(s.valueType == .double)
        #expect(s.partitions == [2])
        #expect(s.completion == .idle(seconds: 5, alsoStopAtLatest: true))
        #expect(try source(#""beginType":"earliest","endType":"latest","kafkaConfig":{"group.id":"g1"}"#).groupId == "g1")
    }

    /// Every file of the invalid corpus fails with a message naming the file and the expected path.
    @Test(arguments: try corpus())
    func invalidCorpus(_ entry: CorpusEntry) throws {
        let data = try Self.fixture("invalid/" + entry.file)
        do {
            _ = try JobLoader.parse(data: data, fileName: entry.file)
            Issue.record("\(entry.file) loaded without error")
        } catch let e as JobFileError {
            let errors = e.diagnostics.filter { $0.severity == .error }
            #expect(!errors.isEmpty)
            let match = errors.first { $0.path == entry.path && $0.message.contains(entry.message) }
            #expect(match != nil, "\(entry.file): expected \(entry.path): …\(entry.message)…, got:\n\(e.description)")
            for d in errors { #expect(d.description.hasPrefix(entry.file)) }
        }
    }

    struct CorpusEntry: Sendable, CustomTestStringConvertible {
        var file: String, path: String, message: String
        var testDescription: String { file }
    }

    static func corpus() throws -> [CorpusEntry] {
        let text = String(decoding: try fixture("invalid/EXPECTED.tsv"), as: UTF8.self)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.map {
            let f = $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            return CorpusEntry(file: f[0], path: f[1], message: f[2])
        }
    }

    @Test func corpusIsLargeAndCoversEveryFile() throws {
        let entries = try Self.corpus()
        #expect(entries.count >= 30)
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.fixtures.appendingPathComponent("invalid").path)
        #expect(Set(files.filter { $0 != "EXPECTED.tsv" }) == Set(entries.map(\.file)))
    }

    @Test func everyProblemIsReportedAtOnce() {
        let errors = Self.errors(yaml: """
        source: { bootstrapServers: "h:1", topic: t, keyType: nope, timeZone: Mars/Olympus }
        columns: [__value__, __value__]
        destination: { table: t, columns: [a, b], writeMode: sometimes }
        """)
        let paths = Set(errors.map(\.path))
        #expect(paths.isSuperset(of: ["source.keyType", "source.timeZone", "destination.writeMode"]))
    }

    @Test func literalSecretsWarnAndAreRedacted() throws {
        let job = try Self.load(yaml: """
        source: { bootstrapServers: "h:1", topic: t, begin: {earliest: true}, end: {latest: true},
                  kafkaConfig: { sasl.password: hunter2, sasl.username: bob } }
        columns: [__value__]
        destination:
          type: maxcompute
          endpoint: http://x/api
          project: p
          accessKeyId: AKID
          accessKeySecret: s3cret-value
          table: t
          columns: [v]
        """)
        #expect(job.warnings.contains { $0.path == "source.kafkaConfig.sasl.password" })
        #expect(job.warnings.contains { $0.path == "destination.accessKeySecret" })
        let shown = JobEmitter.yaml(job.spec, secrets: .redact).text
        #expect(!shown.contains("hunter2"))
        #expect(!shown.contains("s3cret-value"))
        let imported = JobEmitter.yaml(job.spec, secrets: .moveToEnvironment)
        #expect(!imported.text.contains("s3cret-value"))
        #expect(imported.environment.contains("ALIBABA_CLOUD_ACCESS_KEY_SECRET"))
        #expect(imported.environment.contains("KAFKA_SASL_PASSWORD"))
    }

    /// `type: postgresql` with its URL: a password in the file is a warning and never shown; the
    /// emitted YAML loads back into the same spec; a URL that is not PostgreSQL's is an error.
    @Test func postgresqlDestinations() throws {
        func job(_ url: String, extra: String = "") -> String {
            """
            source: { bootstrapServers: "h:1", topic: t, begin: {earliest: true}, end: {latest: true} }
            columns: [__value__, __offset__]
            destination:
              type: postgresql
              url: \(url)
              table: analytics.ods_events
              partition: "ds=${partition}"
              columns: [payload, o]
              columnTypes: { payload: JSON, o: BIGINT }
              writeMode: append\(extra)
            schedule: { cycle: day, parameters: { partition: "$[yyyymmdd-1]" } }
            """
        }
        let plain = try Self.load(yaml: job("postgresql://etl@db.internal:5432/warehouse"))
        #expect(plain.spec.destination.kind == .postgresql(url: .literal("postgresql://etl@db.internal:5432/warehouse")))
        #expect(plain.spec.destination.columnTypes["payload"] == .json)
        #expect(plain.warnings.isEmpty)
        let emitted = JobEmitter.yaml(plain.spec, secrets: .redact).text
        #expect(try Self.load(yaml: emitted).spec == plain.spec)

        let secret = try Self.load(yaml: job("postgresql://etl:hunter2@db.internal/warehouse"))
        #expect(secret.warnings.contains { $0.path == "destination.url" && $0.message.contains("PGPASSWORD") })
        let shown = JobEmitter.yaml(secret.spec, secrets: .redact).text
        #expect(!shown.contains("hunter2") && shown.contains("postgresql://etl:******@db.internal/warehouse"))
        let imported = JobEmitter.yaml(secret.spec, secrets: .moveToEnvironment)
        #expect(!imported.text.contains("hunter2") && imported.environment == ["SLUICE_POSTGRES_URL"])

        let referenced = try Self.load(yaml: job("\"${env:WAREHOUSE_URL}\""))
        #expect(referenced.spec.destination.kind == .postgresql(url: .env("WAREHOUSE_URL")))

        let bad = Self.errors(yaml: job("mysql://etl:hunter2@db/warehouse"))
        #expect(bad.map(\.path) == ["destination.url"] && bad[0].message.contains("is not a PostgreSQL URL"))
        #expect(!bad[0].message.contains("hunter2"))
        #expect(Self.errors(yaml: job("postgresql://etl@db/w").replacingOccurrences(of: "  url: postgresql://etl@db/w\n", with: ""))
                .contains { $0.path == "destination" && $0.message.contains("missing `url`") })
    }

    @Test func unresolvedDataSourceIsAnErrorWhenACatalogIsGiven() throws {
        let catalog = DataSourceCatalog(entries: [:])
        #expect(throws: JobFileError.self) {
            _ = try Self.load("valid/dataworks_example.json", options: JobLoadOptions(datasources: catalog))
        }
    }

    @Test func parameterOverridesDefineParameters() throws {
        let yaml = """
        source: { bootstrapServers: "h:1", topic: t }
        columns: [__value__]
        destination: { table: t, columns: [v], partition: "ds=${day}" }
        """
        #expect(!Self.errors(yaml: yaml).isEmpty)
        let job = try Self.load(yaml: yaml, options: JobLoadOptions(parameters: [
            ParameterDefinition(name: "startTime", expression: "$[yyyymmddhh24-1/24]0000"),
            ParameterDefinition(name: "endTime", expression: "$[yyyymmddhh24]0000"),
            ParameterDefinition(name: "day", expression: "${yyyymmdd}")]))
        #expect(job.spec.schedule?.parameters.count == 3)
    }

    @Test func misspeltBuiltinIsAWarning() throws {
        let job = try Self.load(yaml: """
        source: { bootstrapServers: "h:1", topic: t, begin: {earliest: true}, end: {latest: true} }
        columns: [__keys__]
        destination: { table: t, columns: [k] }
        """)
        #expect(job.warnings.contains { $0.path == "columns[0]" && $0.message.contains("not a built-in field") })
    }

    @Test func didYouMean() {
        #expect(SluiceJob.didYouMean("topik", ["topic", "groupId"]) == "; did you mean `topic`?")
        #expect(SluiceJob.didYouMean("zzzzzz", ["topic"]) == "")
    }

    @Test func randomBytesNeverCrash() {
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            let n = Int.random(in: 0..<200, using: &rng)
            let bytes = (0..<n).map { _ in UInt8.random(in: 0...255, using: &rng) }
            _ = try? JobLoader.parse(data: Data(bytes), fileName: "r.yaml")
            // Printable junk too: YAML-ish characters.
            let chars = Array("{}[]:,-#&*!|>'\"%@` \n\tabc$")
            let text = String((0..<n).map { _ in chars.randomElement(using: &rng)! })
            _ = try? JobLoader.parse(data: Data(text.utf8), fileName: "r.yaml")
        }
    }
}

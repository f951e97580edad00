import Foundation
import Testing
@testable import SluiceCore
@testable import SluiceJob
@testable import SluiceScheduling

/// The `security:` block, and DataWorks keys that used to be dropped or refused without a word.
@Suite struct SecurityAndDataWorksKeysTests {
    static func yaml(source: String) -> String {
        """
        source:
          bootstrapServers: "h:9093"
          topic: t
          begin: { earliest: true }
          end: { latest: true }
        \(source)
        columns: [__value__]
        destination: { path: w.db, table: t, columns: [v] }
        """
    }

    @Test func theSecurityBlockStandsForLibrdkafkaProperties() throws {
        let job = try JobLoaderTests.load(yaml: Self.yaml(source: """
          security:
            protocol: sasl_ssl
            mechanism: scram-sha-512
            username: alice
            password: "${env:KAFKA_PASSWORD}"
            caFile: ca.pem
            certificateFile: client.pem
            keyFile: client.key
            verifyHostName: false
        """))
        let security = try #require(job.spec.source.security)
        #expect(security.securityProtocol == .saslSSL && security.mechanism == .scramSHA512)
        let properties = Dictionary(uniqueKeysWithValues: security.properties.map { ($0.entry.key, $0.entry.value) })
        #expect(properties["security.protocol"] == .literal("SASL_SSL"))
        #expect(properties["sasl.mechanisms"] == .literal("SCRAM-SHA-512"))
        #expect(properties["sasl.password"] == .env("KAFKA_PASSWORD"))
        #expect(properties["ssl.ca.location"] == .literal("ca.pem"))
        #expect(properties["ssl.endpoint.identification.algorithm"] == .literal("none"))
        #expect(job.warnings.isEmpty, "\(job.warnings)")
        // Shown and read back equal; the password stays a reference.
        let text = JobEmitter.yaml(job.spec, secrets: .redact).text
        #expect(text.contains("${env:KAFKA_PASSWORD}") && text.contains("verifyHostName: false"))
        #expect(try JobLoaderTests.load(yaml: text).spec == job.spec)
    }

    @Test("the security block refuses what does not fit its protocol", arguments: [
        ("protocol: SSL\n    username: u", "security.username", "applies to SASL_PLAINTEXT and SASL_SSL"),
        ("protocol: SASL_PLAINTEXT\n    mechanism: PLAIN\n    username: u\n    password: p\n    caFile: ca.pem",
         "security.caFile", "not SASL_PLAINTEXT"),
        ("protocol: SASL_SSL\n    mechanism: PLAIN\n    username: u", "security", "missing `password`"),
        ("protocol: SSL\n    certificateFile: c.pem", "security", "missing `keyFile`"),
        ("protocol: SASL_SSL\n    mechanism: SCRAM-SHA-1\n    username: u\n    password: p", "security.mechanism", "not a SASL mechanism"),
        ("protocol: SASL_SSL\n    mechanism: GSSAPI\n    username: u\n    password: p", "security.mechanism", "Kerberos"),
        ("mechanism: PLAIN", "security", "missing `protocol`"),
        ("protocol: TLS", "security.protocol", "not one of"),
    ])
    func refused(block: String, path: String, message: String) throws {
        let errors = JobLoaderTests.errors(yaml: Self.yaml(source: "  security:\n    " + block))
        #expect(errors.contains { $0.path == "source.\(path)" && $0.message.contains(message) }, "\(errors)")
    }

    @Test func oneConnectionSettingInOnePlace() throws {
        let errors = JobLoaderTests.errors(yaml: Self.yaml(source: """
          security: { protocol: SSL }
          kafkaConfig: { ssl.ca.location: ca.pem, fetch.min.bytes: "1" }
        """))
        #expect(errors.count == 1 && errors[0].path == "source.kafkaConfig.ssl.ca.location", "\(errors)")
        let literal = try JobLoaderTests.load(yaml: Self.yaml(source: """
          security: { protocol: SASL_SSL, mechanism: PLAIN, username: u, password: hunter2 }
        """))
        #expect(literal.warnings.map(\.path) == ["source.security.password"])
        #expect(!JobEmitter.yaml(literal.spec, secrets: .redact).text.contains("hunter2"))
    }

    static func dataWorks(reader: String = "", writer: String = #""truncate":true"#, setting: String = "") -> String {
        """
        {"type":"job","steps":[{"stepType":"kafka","category":"reader","parameter":{"server":"h:9092","topic":"t",
         "column":["__value__","__headers__"],"beginOffset":"0","endOffset":"seekToEnd"\(reader.isEmpty ? "" : "," + reader)}},
         {"stepType":"odps","category":"writer","parameter":{"datasource":"o","table":"t","column":["v","h"]\(writer.isEmpty ? "" : "," + writer)}}]
         \(setting.isEmpty ? "" : ",\"setting\":" + setting)}
        """
    }

    /// The warnings but the one about the writer's unresolved data source.
    static func warnings(_ json: String) throws -> [Diagnostic] {
        try JobLoaderTests.load(yaml: json, name: "dw.json").warnings.filter { !$0.path.hasSuffix("datasource") }
    }

    @Test func aWriterWithoutTruncateOverwritesAndSaysSo() throws {
        let job = try JobLoaderTests.load(yaml: Self.dataWorks(writer: ""), name: "dw.json")
        let warnings = job.warnings.filter { $0.path == "steps[1].parameter" }
        #expect(warnings.count == 1 && warnings[0].message.contains("missing `truncate`")
                && warnings[0].message.contains("overwritten"), "\(job.warnings)")
        #expect(job.spec.destination.writeMode == .overwrite)
        let given = try JobLoaderTests.load(yaml: Self.dataWorks(writer: #""truncate":false"#), name: "dw.json")
        #expect(given.warnings.allSatisfy { $0.path != "steps[1].parameter" } && given.spec.destination.writeMode == .append)
    }

    @Test func keysThatWouldChangeNothingAreSaid() throws {
        let wait = try Self.warnings(Self.dataWorks(reader: #""waitTime":"10","stopWhenReachEndOffset":true"#))
        #expect(wait.map(\.path) == ["steps[0].parameter.waitTime", "steps[0].parameter.stopWhenReachEndOffset"])
        #expect(wait.allSatisfy { $0.message.contains("stopWhenPollEmpty") })
        let commit = try Self.warnings(Self.dataWorks(writer: #""truncate":false,"consistencyCommit":true"#))
        #expect(commit.first?.path == "steps[1].parameter.consistencyCommit" && commit.first?.message.contains("commits once") == true)
        let throttle = try JobLoaderTests.load(yaml: Self.dataWorks(setting: #"{"speed":{"throttle":true,"concurrent":1}}"#), name: "dw.json")
        #expect(throttle.spec.settings.mbps == nil)
        #expect(throttle.warnings.contains { $0.path == "setting.speed.throttle" }, "\(throttle.warnings)")
        let bounds = try Self.warnings(Self.dataWorks(reader: #""beginDateTime":"20221122090000","beginTimestampMillis":"1","endDateTime":"20221122100000""#))
        #expect(Set(bounds.map(\.path)) == ["steps[0].parameter.beginDateTime", "steps[0].parameter.beginTimestampMillis",
                                            "steps[0].parameter.endDateTime"], "\(bounds)")
        #expect(bounds.first?.message.contains("beginOffset is also given") == true)
    }

    @Test func headerEncodingIsKept() throws {
        let job = try JobLoaderTests.load(yaml: Self.dataWorks(reader: #""headerEncoding":"GBK""#), name: "dw.json")
        #expect(job.spec.source.headerEncoding == "GBK")
        #expect(try Self.warnings(Self.dataWorks(reader: #""headerEncoding":"GBK""#)).isEmpty)
        let errors = JobLoaderTests.errors(yaml: Self.dataWorks(reader: #""headerEncoding":"NO-SUCH-CHARSET""#), name: "dw.json")
        #expect(errors.first?.path == "steps[0].parameter.headerEncoding")
        let yaml = JobEmitter.yaml(job.spec, secrets: .redact).text
        #expect(yaml.contains("headerEncoding: GBK"))
    }

    @Test func dataFormatTextWithFieldDelimiter() throws {
        let job = try JobLoaderTests.load(yaml: Self.dataWorks(reader: #""dataFormat":"text","fieldDelimiter":"\\u0001""#)
            .replacingOccurrences(of: #""__value__","__headers__""#, with: #""[0]","[1]""#), name: "dw.json")
        #expect(job.spec.source.valueFormat == .text(delimiter: "\u{1}"))
        let yaml = JobEmitter.yaml(job.spec, secrets: .redact).text
        #expect(yaml.contains("valueFormat: text") && yaml.contains(#"fieldDelimiter: \u0001"#), "\(yaml)")
        #expect(try JobLoaderTests.load(yaml: yaml).spec == job.spec)
        // JSON paths do not address a text value.
        let errors = JobLoaderTests.errors(yaml: Self.dataWorks(reader: #""dataFormat":"text","fieldDelimiter":",""#)
            .replacingOccurrences(of: #""__value__","__headers__""#, with: #""[0]","a.b""#), name: "dw.json")
        #expect(errors.map(\.path) == ["steps[0].parameter.column[1]"] && errors[0].message.contains("by index"), "\(errors)")
        #expect(JobLoaderTests.errors(yaml: Self.dataWorks(reader: #""dataFormat":"csv""#), name: "dw.json").first?.path
                == "steps[0].parameter.dataFormat")
        #expect(ValueFormat.delimiter(parsing: #"\t"#) == "\t" && ValueFormat.delimiter(parsing: "") == nil
                && ValueFormat.delimiter(parsing: #"a\x2Cb"#) == "a,b")
    }

    @Test func theCycleOfParameterExpressions() {
        func infer(_ expressions: [String]) -> ScheduleInference.Inferred {
            ScheduleInference.infer(expressions.enumerated().map { ParameterDefinition(name: "p\($0)", expression: $1) })
        }
        #expect(infer(["$[yyyymmddhh24-1/24]0000", "$[yyyymmddhh24]0000"]) == .init(cycle: .hour, interval: 1, because: "p0"))
        #expect(infer(["$[yyyymmddhh24-2/24]0000"]).interval == 2)
        #expect(infer(["$[yyyymmddhh24mi-5/24/60]00"]) == .init(cycle: .minute, interval: 5, because: "p0"))
        #expect(infer(["${yyyymmdd}", "$[yyyymmdd-1]"]).cycle == .day)
        #expect(infer([]) == .init(cycle: .day, interval: 1, because: nil))
        let s = ScheduleInference.schedule(infer(["$[yyyymmddhh24-1/24]0000"]), parameters: [])
        #expect(s.cycle == .hour && s.interval == 1 && s.start == "00:00" && s.end == "23:59")
    }
}

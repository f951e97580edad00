import Foundation
import Testing
import SluiceCore
import SluiceJob
@testable import SluiceMapping

@Suite("Protobuf job keys")
struct ProtobufJobTests {
    static func job(_ source: String) -> String {
        AvroJobValidationTests.job(source).replacingOccurrences(of: "valueFormat: avro", with: "valueFormat: protobuf")
    }

    @Test func protobufNeedsTheRegistryAndRoundTripsThroughShow() throws {
        let yaml = Self.job("  keyFormat: protobuf\n  schemaRegistry: { url: \"http://127.0.0.1:8081\", username: sluice, password: \"${env:REGISTRY_PASSWORD}\" }")
        let job = try JobLoader.parse(data: Data(yaml.utf8), fileName: "orders.yaml")
        #expect(job.spec.source.valueFormat == .protobuf && job.spec.source.keyFormat == .protobuf)
        #expect(job.spec.source.schemaRegistry?.url == "http://127.0.0.1:8081")
        let shown = JobEmitter.yaml(job.spec, secrets: .redact).text
        #expect(shown.contains("valueFormat: protobuf") && shown.contains("keyFormat: protobuf") && shown.contains("${env:REGISTRY_PASSWORD}"), "\(shown)")
        let again = try JobLoader.parse(data: Data(shown.utf8), fileName: "orders.yaml")
        #expect(again.spec.source == job.spec.source)

        let none = AvroJobValidationTests.diagnostics(Self.job(""))
        #expect(none.contains { $0.severity == .error && $0.message.contains("missing `schemaRegistry`: valueFormat protobuf") }, "\(none)")
        let typo = AvroJobValidationTests.diagnostics(Self.job("  schemaRegistry: { url: \"http://r:8081\" }").replacingOccurrences(of: "valueFormat: protobuf", with: "valueFormat: protobf"))
        #expect(typo.contains { $0.path == "source.valueFormat" && $0.message.contains("json, text with fieldDelimiter, avro or protobuf") }, "\(typo)")
        // The registry serves Protobuf keys of JSON values: no warning that it is ignored.
        let keys = AvroJobValidationTests.diagnostics(Self.job("  keyFormat: protobuf\n  schemaRegistry: { url: \"http://r:8081\" }")
            .replacingOccurrences(of: "valueFormat: protobuf", with: "valueFormat: json"))
        #expect(keys.isEmpty, "\(keys)")
    }
}

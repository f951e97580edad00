import Foundation
import Testing
import SluiceCore
import SluiceKafka
import SluiceRuntime
import SluiceWarehouse

/// Job-file mapping options through a real run: per-column date-time units and formats,
/// `overLengthRule` applied by the field program for the warehouse destination, delimited text
/// values and header values in another charset.
@Suite struct MappingOptionsRunTests {
    @Test func unitFormatAndOverLengthRuleReachTheWarehouse() async throws {
        let h = try await Harness.start(partitions: 1)
        defer { Task { await h.stop() } }
        let job = h.path("options.yaml")
        try """
        name: options
        source:
          bootstrapServers: \(h.servers)
          topic: events
          timeZone: UTC
          begin: { earliest: true }
          end: { latest: true }
        mapping:
          - { from: __key__, to: k }
          - { from: name, to: name }
          - { from: sec, to: at_sec, unit: s }
          - { from: text, to: at_text, format: "dd/MM/yyyy HH:mm" }
        destination:
          path: warehouse.db
          table: opts
          columns: [k, name, at_sec, at_text]
          columnTypes: { at_sec: DATETIME, at_text: DATETIME }
          overLengthRule: truncate
          maxFieldLength: 4

        """.write(toFile: job, atomically: true, encoding: .utf8)
        try await h.produce([
            Harness.Produced(partition: 0, key: "a", value: #"{"name":"abcdefgh","sec":1700000000,"text":"02/01/2024 03:04"}"#,
                             timestamp: 1_700_000_000_000),
            Harness.Produced(partition: 0, key: "b", value: #"{"name":"xyz","sec":0,"text":"31/12/1999 23:59"}"#,
                             timestamp: 1_700_000_000_000),
        ])
        let report = try await h.run(job: job, at: 1_700_003_600)
        #expect(report.status == "succeeded", "\(report.error ?? "")")
        #expect(report.records.written == 2 && report.records.dirty == 0 && report.records.overLength == 1)
        let out = TextCollector()
        try await Warehouse(path: h.path("warehouse.db"))
            .query("SELECT k, name, at_sec, at_text FROM opts ORDER BY k", format: .csv) { out.append($0) }
        let lines = out.text.split(whereSeparator: \.isNewline).dropFirst().map(String.init)
        #expect(lines == ["a,abcd,2023-11-14 22:13:20.000,2024-01-02 03:04:00.000",
                          "b,xyz,1970-01-01 00:00:00.000,1999-12-31 23:59:00.000"])
    }

    @Test("valueFormat text splits GBK values at fieldDelimiter; headerEncoding GBK decodes the headers")
    func delimitedTextAndHeaderEncodingReachTheWarehouse() async throws {
        let h = try await Harness.start(partitions: 1)
        defer { Task { await h.stop() } }
        let job = h.path("text.yaml")
        try """
        name: text
        source:
          bootstrapServers: \(h.servers)
          topic: events
          timeZone: UTC
          begin: { earliest: true }
          end: { latest: true }
          encoding: GBK
          headerEncoding: GBK
          valueFormat: text
          fieldDelimiter: "\\u0001"
        columns: ["[1]", "[0]", "[2]", __headers__]
        destination:
          path: warehouse.db
          table: texts
          columns: [name, id, n, h]
          columnTypes: { n: BIGINT }

        """.write(toFile: job, atomically: true, encoding: .utf8)
        // "7␁中文␁42" and "8␁x" in GBK; a header "tag: 中" in GBK.
        let values: [[UInt8]] = [[0x37, 0x01, 0xD6, 0xD0, 0xCE, 0xC4, 0x01, 0x34, 0x32], [0x38, 0x01, 0x78]]
        let producer = try KafkaProducer(bootstrapServers: h.servers)
        try await producer.perform { p in
            for value in values {
                try p.send(topic: "events", partition: 0, key: nil, value: value,
                           headers: [KafkaHeader(name: "tag", value: [0xD6, 0xD0])], timestamp: 1_700_000_000_000)
            }
            try p.flush(timeoutSeconds: 30)
        }
        let report = try await h.run(job: job, at: 1_700_003_600)
        #expect(report.status == "succeeded", "\(report.error ?? "")")
        #expect(report.records.written == 2 && report.records.dirty == 0)
        let out = TextCollector()
        try await Warehouse(path: h.path("warehouse.db"))
            .query("SELECT id, name, n, h FROM texts ORDER BY id", format: .csv) { out.append($0) }
        let lines = out.text.split(whereSeparator: \.isNewline).dropFirst().map(String.init)
        #expect(lines == [#"7,中文,42,"{""tag"":""中""}""#, #"8,x,,"{""tag"":""中""}""#], "\(out.text)")
    }
}

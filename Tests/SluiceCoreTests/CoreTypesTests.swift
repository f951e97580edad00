import Testing
@testable import SluiceCore

@Suite struct CoreTypesTests {
    @Test func columnTypesRoundTrip() {
        for text in ["BIGINT", "INT", "SMALLINT", "TINYINT", "DOUBLE", "FLOAT", "DECIMAL(18,2)", "STRING",
                     "VARCHAR(64)", "CHAR(8)", "BOOLEAN", "DATETIME", "DATE", "TIMESTAMP", "BINARY"] {
            #expect(ColumnType(parsing: text)?.description == text)
            #expect(ColumnType(parsing: text.lowercased())?.description == text)
        }
        #expect(ColumnType(parsing: "decimal") == .decimal(precision: 38, scale: 18))
        #expect(ColumnType(parsing: "DECIMAL(2,3)") == nil)
        #expect(ColumnType(parsing: "VARCHAR(0)") == nil)
        #expect(ColumnType(parsing: "map<string,string>") == nil)
    }

    @Test func partitionSpecParsing() throws {
        #expect(try PartitionSpec(parsing: "ds=2022112210").description == "ds=2022112210")
        #expect(try PartitionSpec(parsing: "ds='20221122', hh=10").keys == ["ds", "hh"])
        #expect(try PartitionSpec(parsing: "").isEmpty)
        #expect(throws: SluiceError.self) { try PartitionSpec(parsing: "ds") }
        #expect(throws: SluiceError.self) { try PartitionSpec(parsing: "ds=1,ds=2") }
        #expect(throws: SluiceError.self) { try PartitionSpec(parsing: "ds=") }
        // A control character would make a partition whose name prints as another (`ds=a`).
        for bad in ["ds=a\nb", "ds=a\tb", "d\u{7}s=1", "ds=1\r"] {
            #expect(throws: SluiceError.self, "\(bad.debugDescription)") { try PartitionSpec(parsing: bad) }
        }
        do {
            _ = try PartitionSpec(parsing: "ds=a\nb")
        } catch let e as SluiceError {
            #expect(e.message.contains("U+000A") && !e.message.contains("\n"))
        }
    }

    @Test func errorsSayWhetherRunningAgainMayHelp() {
        #expect(SluiceError(.kafka, "broker down").isRetriable)
        #expect(SluiceError(.destination, "locked").code == "destination")
        #expect(!SluiceError.invalid("bad flag").isRetriable && !SluiceError(.dirtyLimit, "x").isRetriable)
        let lost = SluiceError(.kafka, "gone", code: "kafka.retention", context: ["topic": "t", "partition": "0"], retriable: false)
        #expect(!lost.isRetriable && lost.code == "kafka.retention" && lost.context["partition"] == "0" && lost.exitCode == 1)
    }

    @Test func secretsAreRedacted() throws {
        #expect(SecretValue(parsing: "${env:PW}") == .env("PW"))
        #expect(SecretValue(parsing: "hunter2").description == "******")
        #expect(SecretValue(parsing: "${file:pw.txt}") == .file("pw.txt") && SecretValue.file("pw.txt").description == "${file:pw.txt}")
        #expect("\(Secret("hunter2"))" == "******" && Secret("hunter2").reveal() == "hunter2")
    }

    @Test func rowBatchIsRowMajor() {
        var b = RowBatch(columns: [ColumnSpec(name: "a", type: .bigint), ColumnSpec(name: "b", type: .string)])
        b.append(row: [.int(1), .string("x")])
        b.append(row: [.null, .string("y")])
        #expect(b.rowCount == 2)
        #expect(b[1, 1] == .string("y"))
        #expect(Array(b.row(0)) == [.int(1), .string("x")])
    }

    @Test func appendingABatchKeepsEveryCell() {
        let columns = [ColumnSpec(name: "s", type: .string), ColumnSpec(name: "b", type: .binary),
                       ColumnSpec(name: "d", type: .decimal(precision: 10, scale: 2)), ColumnSpec(name: "n", type: .bigint)]
        var first = RowBatch(columns: columns)
        first.append(row: [.string("one"), .binary([1, 2]), .decimal("1.50"), .int(1)])
        var second = RowBatch(columns: columns)
        second.append(row: [.string("two"), .null, .decimal("22.00"), .int(2)])
        second.append(row: [.string(""), .binary([3]), .null, .null])
        first.append(contentsOf: second)
        #expect(first.rowCount == 3)
        #expect(first.values == [.string("one"), .binary([1, 2]), .decimal("1.50"), .int(1),
                                 .string("two"), .null, .decimal("22.00"), .int(2),
                                 .string(""), .binary([3]), .null, .null])
    }
}

import Foundation
import Logging
import PostgresNIO
import SluiceCore
import SluiceTestSupport
import Testing
@testable import SluiceMapping
@testable import SluicePostgres

/// JSON columns: what the field program lets through is what PostgreSQL's `jsonb` takes, so a value
/// that is not JSON is a dirty record instead of a failed load.
@Suite struct PostgresJSONTests {
    static let valid = [
        "{}", "[]", "1", "-0", "1.5e10", "1E+2", "-1.25e-3", "\"a\"", "true", "false", "null", " {\"a\" : [1, {\"b\": null}] } ",
        "\"\\u00e9\"", "\"\\ud83d\\ude80\"", "\"\\/\\b\\f\\n\\r\\t\\\"\\\\\"", "[1,2,3]", "1e-300", "123456789012345678901234567890",
        "\"héllo 世界\"", String(repeating: "[", count: 500) + String(repeating: "]", count: 500),
    ]
    static let invalid = [
        " ", "{", "[1,]", "{\"a\":1,}", "01", "1.", ".5", "+1", "-", "\"\\u0000\"", "\"\\ud83d\"", "\"\\ude00\"", "\"\\ud83dx\"",
        "'a'", "{a:1}", "[1 2]", "\"tab\there\"", "NaN", "Infinity", "tru", "nul", "\"a\"x", "{\"a\":1}}", "[1]]",
        "1e400000", "\"\\x\"", "\"\\u12\"", "{\"a\"}", "{\"a\" 1}", "[", "\"open",
    ]

    static func problem(_ text: String) -> String? {
        Array(text.utf8).withUnsafeBytes { JSONText.problem(in: $0, rules: JSONText.Rules(postgres: true)) }
    }

    @Test func theCheckerAgreesWithPostgresJsonb() async throws {
        let pg = try await PostgresFixture.fresh()
        let connection = try await PostgresConnector.connect(pg.url)
        defer { Task { try? await connection.close() } }
        for (text, expectValid) in Self.valid.map({ ($0, true) }) + Self.invalid.map({ ($0, false) }) {
            var binds = PostgresBindings()
            binds.append(text)
            let accepted: Bool
            do {
                _ = try await connection.query(PostgresQuery(unsafeSQL: "SELECT $1::text::jsonb", binds: binds), logger: Logger(label: "test")).collect()
                accepted = true
            } catch {
                accepted = false
            }
            let ours = Self.problem(text)
            #expect(accepted == expectValid, "PostgreSQL on \(text.prefix(40).debugDescription)")
            #expect((ours == nil) == accepted, "\(text.prefix(40).debugDescription): ours \(ours ?? "valid"), PostgreSQL \(accepted ? "valid" : "invalid")")
        }
    }

    @Test func theCheckerSaysWhereAndLimitsNesting() {
        #expect(Self.problem("[1,]") == "unexpected character ']' at byte 4")
        #expect(Self.problem("{\"a\":1} x") == "text after the JSON value at byte 9")
        #expect(Self.problem("\"\\u0000\"")?.contains("\\u0000, which PostgreSQL's jsonb cannot hold") == true)
        let deep = String(repeating: "[", count: 1001) + String(repeating: "]", count: 1001)
        #expect(Self.problem(deep) == "nesting deeper than 1000 levels at byte 1001")
        #expect(Array("\"\\u0000\"".utf8).withUnsafeBytes { JSONText.problem(in: $0) } == nil, "valid JSON elsewhere")
    }
}

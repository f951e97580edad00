import Foundation
import SluiceCore
@testable import SluiceMaxCompute
import Testing

@Suite struct SignerTests {
    static let date = "Tue, 02 Jan 2024 03:04:05 GMT"
    static let dateValue = Date(timeIntervalSince1970: 1_704_164_645)
    static let credentials = MaxComputeCredentials(accessKeyId: "ak-test", accessKeySecret: Secret("test-secret"))

    struct Case: Sendable, CustomTestStringConvertible {
        var method: String
        var target: String
        var contentType: String
        var tunnel: Bool
        var expected: String
        var testDescription: String { "\(method) \(target)" }
    }

    static let cases: [Case] = [
        Case(method: "GET", target: "/projects/proj/tunnel?service&curr_project=proj", contentType: "", tunnel: false,
             expected: "ODPS ak-test:N5/Wbjnb6Z8DLRA90gDGb0AdtPg="),
        Case(method: "POST", target: "/projects/proj/tables/t?uploads&partition=dt%3D20240101&curr_project=proj",
             contentType: "", tunnel: true, expected: "ODPS ak-test:KKIJbG0JdYOCcz6pSFyhOeRYgFk="),
        Case(method: "PUT", target: "/projects/proj/tables/t?uploadid=UP1&blockid=0&partition=dt%3D20240101&curr_project=proj",
             contentType: "application/octet-stream", tunnel: true, expected: "ODPS ak-test:kM4B3AvUpe65dhoMssosLDOBPc0="),
        Case(method: "POST", target: "/projects/proj/tables/t?uploadid=UP1&partition=dt%3D20240101&curr_project=proj",
             contentType: "", tunnel: true, expected: "ODPS ak-test:FDQVdeQSj9FgS+dMIrcW5uhgJzg="),
        Case(method: "POST", target: "/projects/proj/instances?curr_project=proj", contentType: "application/xml",
             tunnel: false, expected: "ODPS ak-test:aQGcTwczSMTKuzDGbNYqm5TTdws="),
    ]

    static func sign(_ c: Case, region: String? = nil) -> String {
        let parts = c.target.split(separator: "?", maxSplits: 1)
        let resource = RequestSigner.canonicalResource(path: String(parts[0]),
                                                       query: RequestSigner.parseQuery(parts.count > 1 ? String(parts[1]) : ""))
        let headers: [(String, String)] = c.tunnel ? [("x-odps-tunnel-version", "6")] : []
        let s = RequestSigner.stringToSign(method: c.method, contentType: c.contentType, date: date, headers: headers,
                                           canonicalResource: resource)
        return RequestSigner(credentials: credentials, region: region).authorization(stringToSign: s, date: dateValue)
    }

    @Test(arguments: cases) func v2KnownAnswers(_ c: Case) {
        #expect(Self.sign(c) == c.expected)
    }

    @Test func v4KnownAnswer() {
        #expect(Self.sign(Self.cases[4], region: "cn-hangzhou")
            == "ODPS ak-test/20240102/cn-hangzhou/odps/aliyun_v4_request:BzinBclYsqzX9KCfWUxs9CfZvW8=")
    }

    @Test func canonicalResourceRules() {
        // Sorted by key, bare keys without "=", values percent-decoded, the path decoded.
        #expect(RequestSigner.canonicalResource(path: "/projects/p/tables/t",
                                                query: [("uploads", nil), ("partition", "ds%3D20221122%2Chh%3D10"), ("curr_project", "p")])
            == "/projects/p/tables/t?curr_project=p&partition=ds=20221122,hh=10&uploads")
        #expect(RequestSigner.canonicalResource(path: "/projects/p/tables/my%20t", query: [("b", ""), ("a", "x%27y")])
            == "/projects/p/tables/my t?a=x'y&b")
        #expect(RequestSigner.canonicalResource(path: "/projects/p", query: []) == "/projects/p")
    }

    @Test func stringToSignLayout() {
        let s = RequestSigner.stringToSign(method: "PUT", contentType: "application/octet-stream", date: Self.date,
                                           headers: [("X-ODPS-B", "2"), ("x-odps-a", "1"), ("Content-Encoding", "deflate")],
                                           canonicalResource: "/r")
        #expect(s == "PUT\n\napplication/octet-stream\n\(Self.date)\nx-odps-a:1\nx-odps-b:2\n/r")
    }

    @Test func rfc1123Dates() {
        #expect(HTTPDate.rfc1123(Self.dateValue) == Self.date)
        #expect(HTTPDate.rfc1123(Date(timeIntervalSince1970: 0)) == "Thu, 01 Jan 1970 00:00:00 GMT")
        #expect(HTTPDate.rfc1123(Date(timeIntervalSince1970: 951_782_400)) == "Tue, 29 Feb 2000 00:00:00 GMT")
    }

    @Test func credentialsNeverShowTheSecret() {
        let c = MaxComputeCredentials(accessKeyId: "id", accessKeySecret: Secret("s3cr3t"), securityToken: Secret("tok3n"))
        #expect(!"\(c)".contains("s3cr3t"))
        #expect(!"\(c)".contains("tok3n"))
    }
}

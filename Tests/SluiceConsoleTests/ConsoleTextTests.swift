import Foundation
@testable import SluiceConsole
import Testing

/// The console's text helpers: escaping, URL decoding, durations, the listen address, cookies.
@Suite struct ConsoleTextTests {
    @Test func htmlInterpolationEscapesTextAndKeepsMarkup() {
        let text = "<a href='x'>\"&\"</a>"
        let html: HTML = "<p title=\"\(text)\">\(text)\(HTML("<br>"))</p>"
        #expect(html.text == "<p title=\"&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;\">&lt;a href=&#39;x&#39;&gt;&quot;&amp;&quot;&lt;/a&gt;<br></p>")
        #expect(HTML.escape("plain text") == "plain text")
    }

    @Test func urlDecodingIsStrict() {
        #expect(URLText.decode("a+b%20c%2Fd") == "a b c/d")
        #expect(URLText.decode("a+b", plusIsSpace: false) == "a+b")
        #expect(URLText.decode("%ZZ") == nil && URLText.decode("%4") == nil && URLText.decode("%FF") == nil)
        #expect(URLText.decodeForm("job=a%26b&status=&x") == ["job": "a&b", "status": "", "x": ""])
        #expect(URLText.query([("job", "a b&c"), ("status", nil), ("page", "")]) == "?job=a%20b%26c")
    }

    @Test func durations() {
        #expect(Layout.seconds(0) == "0.00s" && Layout.seconds(0.05) == "0.05s" && Layout.seconds(2.25) == "2.25s")
        #expect(Layout.seconds(12.34) == "12.3s" && Layout.seconds(845) == "14m05s" && Layout.seconds(-1) == "-")
    }

    @Test func listenAddresses() throws {
        var c = ConsoleConfiguration(ledger: .stateDirectory("/tmp/x"), stateDirectory: "/tmp/x", sluiceBinary: "/bin/true")
        try c.listen("0.0.0.0:9000")
        #expect(c.host == "0.0.0.0" && c.port == 9000)
        try c.listen(":0")
        #expect(c.host == "127.0.0.1" && c.port == 0)
        try c.listen("[::1]:8080")
        #expect(c.host == "::1" && c.port == 8080)
        #expect(throws: (any Error).self) { try c.listen("host:99999") }
        #expect(throws: (any Error).self) { try c.listen("nohost") }
    }

    @Test func safeRedirectsAfterLogin() {
        #expect(Console.safeNext("/instances?job=a") == "/instances?job=a")
        for bad in ["//evil.example", "https://evil.example", "/\\evil", "evil", nil] { #expect(Console.safeNext(bad) == "/instances") }
    }
}

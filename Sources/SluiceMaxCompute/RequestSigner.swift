import Crypto
import Foundation
import SluiceCore

/// Already-resolved MaxCompute credentials. `description` never shows the secret or the token.
public struct MaxComputeCredentials: Sendable, CustomStringConvertible {
    public var accessKeyId: String
    public var accessKeySecret: Secret
    /// STS token, sent as `authorization-sts-token`.
    public var securityToken: Secret?

    public init(accessKeyId: String, accessKeySecret: Secret, securityToken: Secret? = nil) {
        self.accessKeyId = accessKeyId
        self.accessKeySecret = accessKeySecret
        self.securityToken = securityToken
    }

    public var description: String { "AccessKey \(accessKeyId) (secret hidden)" }
}

/// The ODPS request signature: v2 (HMAC-SHA1 with the secret) or v4 (HMAC-SHA1 with a key derived by
/// an HMAC-SHA256 chain over date, region, "odps", "aliyun_v4_request").
public struct RequestSigner: Sendable {
    public var credentials: MaxComputeCredentials
    /// Region for v4 signatures; nil = v2.
    public var region: String?

    public init(credentials: MaxComputeCredentials, region: String? = nil) {
        self.credentials = credentials
        self.region = region
    }

    /// `path?k=v&bare` with the path and the values percent-decoded and parameters sorted by key;
    /// `path` is relative to the endpoint (no `/api`), as sent (percent-encoded).
    public static func canonicalResource(path: String, query: [(String, String?)]) -> String {
        let decodedPath = path.removingPercentEncoding ?? path
        guard !query.isEmpty else { return decodedPath }
        // Later duplicates win, as in the SDKs' dict-based canonicalisation.
        var params: [String: String] = [:]
        for (k, v) in query { params[k.removingPercentEncoding ?? k] = v.map { $0.removingPercentEncoding ?? $0 } ?? "" }
        let joined = params.keys.sorted().map { k -> String in
            let v = params[k]!
            return v.isEmpty ? k : "\(k)=\(v)"
        }.joined(separator: "&")
        return decodedPath + "?" + joined
    }

    /// Parses a raw (percent-encoded) query string into ordered pairs; `nil` value for a bare key.
    public static func parseQuery(_ query: String) -> [(String, String?)] {
        query.split(separator: "&", omittingEmptySubsequences: true).map { part in
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (String(kv[0]), kv.count > 1 ? String(kv[1]) : nil)
        }
    }

    /// The string that is signed.
    public static func stringToSign(method: String, contentMD5: String = "", contentType: String = "",
                                    date: String, headers: [(String, String)], canonicalResource: String) -> String {
        var lines = [method, contentMD5, contentType, date]
        var odps: [(String, String)] = []
        for (name, value) in headers {
            let lower = name.lowercased()
            if lower.hasPrefix("x-odps-") { odps.append((lower, value)) }
        }
        for (k, v) in odps.sorted(by: { $0.0 < $1.0 }) { lines.append("\(k):\(v)") }
        lines.append(canonicalResource)
        return lines.joined(separator: "\n")
    }

    /// The `Authorization` header value for `stringToSign`; `date` picks the v4 scope day.
    public func authorization(stringToSign: String, date: Date) -> String {
        if let region {
            let day = Self.yyyymmdd(date)
            let key = Self.v4Key(secret: credentials.accessKeySecret.reveal(), day: day, region: region)
            let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(stringToSign.utf8), using: key)
            return "ODPS \(credentials.accessKeyId)/\(day)/\(region)/odps/aliyun_v4_request:\(Data(mac).base64EncodedString())"
        }
        let key = SymmetricKey(data: Data(credentials.accessKeySecret.reveal().utf8))
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Data(stringToSign.utf8), using: key)
        return "ODPS \(credentials.accessKeyId):\(Data(mac).base64EncodedString())"
    }

    static func v4Key(secret: String, day: String, region: String) -> SymmetricKey {
        func step(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: key)))
        }
        var key = SymmetricKey(data: Data(("aliyun_v4" + secret).utf8))
        key = step(key, day)
        key = step(key, region)
        key = step(key, "odps")
        return step(key, "aliyun_v4_request")
    }

    static func yyyymmdd(_ date: Date) -> String {
        let c = HTTPDate.civil(date)
        return HTTPDate.pad(c.year, 4) + HTTPDate.pad(c.month, 2) + HTTPDate.pad(c.day, 2)
    }
}

/// RFC 1123 dates in GMT, without Foundation formatters.
public enum HTTPDate {
    struct Civil { var year, month, day, hour, minute, second, weekday: Int }

    static func civil(_ date: Date) -> Civil {
        let t = Int64(floor(date.timeIntervalSince1970))
        var days = t / 86400
        var secs = t % 86400
        if secs < 0 { secs += 86400; days -= 1 }
        let date = CivilDate(dayNumber: days)
        let (y, m, d) = (date.year, date.month, date.day)
        let weekday = Int(((days % 7) + 11) % 7) // 0 = Sunday; 1970-01-01 was a Thursday
        return Civil(year: Int(y), month: Int(m), day: Int(d), hour: Int(secs / 3600),
                     minute: Int(secs % 3600 / 60), second: Int(secs % 60), weekday: weekday)
    }

    /// `Tue, 02 Jan 2024 03:04:05 GMT`.
    public static func rfc1123(_ date: Date) -> String {
        let c = civil(date)
        let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        return "\(days[c.weekday]), \(pad(c.day, 2)) \(months[c.month - 1]) \(pad(c.year, 4)) "
            + "\(pad(c.hour, 2)):\(pad(c.minute, 2)):\(pad(c.second, 2)) GMT"
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(v)
        return s.count >= width ? s : String(repeating: "0", count: width - s.count) + s
    }
}

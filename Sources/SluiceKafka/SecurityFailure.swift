import Foundation
import SluiceCore

/// A connection failure that librdkafka would retry for ever and that retrying cannot mend: a
/// refused SASL password or mechanism, a broker certificate the client does not trust, a TLS
/// handshake the broker refused. `error` says the cause in one line, without secrets (the texts it
/// is made from are scrubbed before they get here).
struct SecurityFailure: Sendable {
    let error: SluiceError

    /// Classifies one of librdkafka's error log lines; nil when it is not such a failure.
    init?(logLine line: String, bootstrap: String) {
        if let reason = Self.reason(in: line, after: "SASL authentication error: ") {
            error = Self.make("kafka.authentication",
                "SASL authentication to \(bootstrap) failed: the broker refused the user name or password (\(reason)); check the username and password of the source's security block, or sasl.username/sasl.password/sasl.jaas.config in kafkaConfig")
        } else if line.contains("mechanism handshake failed"), let reason = Self.reason(in: line, after: "handshake failed: ") {
            let asked = Self.between(line, "SASL ", " mechanism handshake failed").map { " \($0)" } ?? ""
            let enabled = Self.reason(in: line, after: "supported mechanisms: ").map { " (they enable \($0))" } ?? " (\(reason))"
            error = Self.make("kafka.authentication",
                "SASL authentication to \(bootstrap) failed: the brokers do not enable the mechanism\(asked) the job asks for\(enabled); set the mechanism to one the brokers enable")
        } else if let reason = Self.reason(in: line, after: "SSL handshake failed: ") {
            var cause = reason
            if let extra = cause.range(of: ": client SSL authentication might be required") { cause = String(cause[..<extra.lowerBound]) }
            let clientCertificate = line.contains("certificate required") || line.contains("client SSL authentication")
                || line.contains("alert handshake failure") || line.contains("alert bad certificate") || line.contains("unknown ca")
            error = Self.make("kafka.tls", clientCertificate
                ? "the TLS handshake with \(bootstrap) failed: the broker refused the connection, most likely because it requires a client certificate it trusts (\(cause)); give security.certificateFile and keyFile (kafkaConfig ssl.certificate.location, ssl.key.location) signed by a CA the broker trusts"
                : "the TLS handshake with \(bootstrap) failed (\(cause)); check that the listener speaks TLS and that security.caFile (kafkaConfig ssl.ca.location) holds the CA that signed the broker's certificate")
        } else {
            return nil
        }
    }

    /// OpenSSL refused the broker's certificate with `x509Error` (an X509_V_ERR code).
    init(x509Error: Int32, broker: String, bootstrap: String) {
        let host = Self.host(of: broker) ?? bootstrap
        let address = Self.address(of: broker) ?? bootstrap
        let text: String
        switch x509Error {
        case 10:  // X509_V_ERR_CERT_HAS_EXPIRED
            text = "the broker's certificate has expired; the broker needs a renewed certificate"
        case 9:  // X509_V_ERR_CERT_NOT_YET_VALID
            text = "the broker's certificate is not valid yet; check the clocks of this machine and the broker"
        case 62, 64:  // X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
            text = "the broker's certificate is not issued for host \(host) (a host name mismatch); connect by a name the certificate holds, or, for a test cluster only, set security.verifyHostName: false (kafkaConfig ssl.endpoint.identification.algorithm: none)"
        case 2, 18, 19, 20, 21, 24:  // unknown issuer, self-signed, not a CA
            text = "the broker's certificate is not signed by a CA this job trusts (X.509 error \(x509Error)); give the CA that signed it in security.caFile (kafkaConfig ssl.ca.location)"
        case 23:  // X509_V_ERR_CERT_REVOKED
            text = "the broker's certificate has been revoked"
        default:
            text = "the broker's certificate was refused (X.509 error \(x509Error))"
        }
        error = Self.make("kafka.tls", "TLS to \(address) failed: \(text)")
    }

    private static func make(_ code: String, _ message: String) -> SluiceError {
        SluiceError(.kafka, message, code: code, retriable: false)
    }

    /// The text after `marker`, without librdkafka's ` (after 3ms in state AUTH_REQ)` tail; nil when
    /// `marker` is not in `line`.
    static func reason(in line: String, after marker: String) -> String? {
        guard let r = line.range(of: marker) else { return nil }
        var text = String(line[r.upperBound...])
        if let tail = text.range(of: " (after ", options: .backwards), text.hasSuffix(")") {
            text = String(text[..<tail.lowerBound])
        }
        return text.trimmingCharacters(in: .whitespaces)
    }

    /// The text of `line` between `start` and `end`, nil when they are not there.
    static func between(_ line: String, _ start: String, _ end: String) -> String? {
        guard let e = line.range(of: end), let s = line[..<e.lowerBound].range(of: start, options: .backwards) else { return nil }
        return String(line[s.upperBound..<e.lowerBound])
    }

    /// `host:port` of librdkafka's broker names `sasl_ssl://host:port/id` and `host:port`.
    static func address(of broker: String) -> String? {
        var s = Substring(broker)
        if let scheme = s.range(of: "://") { s = s[scheme.upperBound...] }
        if let slash = s.firstIndex(of: "/") { s = s[..<slash] }
        return s.isEmpty ? nil : String(s)
    }

    /// `host` of librdkafka's broker names `sasl_ssl://host:port/id` and `host:port`.
    static func host(of broker: String) -> String? {
        guard let a = address(of: broker) else { return nil }
        var s = Substring(a)
        if s.hasPrefix("["), let close = s.firstIndex(of: "]") { return String(s[s.index(after: s.startIndex)..<close]) }
        if let colon = s.lastIndex(of: ":") { s = s[..<colon] }
        return s.isEmpty ? nil : String(s)
    }
}

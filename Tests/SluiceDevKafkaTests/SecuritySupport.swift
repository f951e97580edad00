import Foundation
import SluiceCore
import Testing
import SluiceTestSupport
@testable import SluiceDevKafka

extension TestCertificates {
    func tls(certificate: String? = nil, mutual: Bool = false) -> DevKafkaTLS {
        DevKafkaTLS(certificateFile: certificate ?? serverCert, privateKeyFile: serverKey, clientCAFile: mutual ? ca : nil)
    }
}

/// Runs secure_client.py (confluent, kafka-python or raw-metadata) with the security settings in
/// its environment and decodes its JSON line.
func runSecureClient(_ library: String, _ bootstrap: String, topic: String, count: Int = 3,
                     security: ClientSecurity) async throws -> [String: Any] {
    let python = which("python3") ?? "/usr/bin/python3"
    let script = scriptsDirectory.appendingPathComponent("secure_client.py").path
    let settings = security.environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
    let result = try await run("/usr/bin/env", settings + [python, script, library, bootstrap, topic, String(count)], limit: 120)
    guard result.status == 0, let line = result.stdout.split(separator: "\n").last,
          let json = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
        throw ScriptFailure(description: "secure_client.py \(library) exited \(result.status)\nstdout: \(result.stdout)\nstderr: \(result.stderr.suffix(3000))")
    }
    return json
}


import Foundation
import SluiceCore
import SluiceJob
import SluiceKafka

/// A job's Kafka connection settings — its `security` block and its `kafkaConfig` — resolved for
/// SluiceKafka: secret references read, JAAS login files read, relative certificate paths made
/// relative to the job file. `sluice validate` and a run check them with the same code, so they
/// refuse the same settings with the same `FILE:PATH: message` lines.
public enum KafkaConnectionSettings {
    /// One setting and where the job gives it.
    struct Located {
        var setting: KafkaSetting
        var path: String
    }

    /// Properties whose value is a path: made relative to the job file, and checked to exist.
    static let pathKeys: Set<String> = [
        "ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.keystore.location",
        "ssl.crl.location", "ssl.truststore.location",
    ]

    /// The settings of a run. Throws `JobFileError` with every problem (exit 2), including secret
    /// references that cannot be resolved.
    public static func resolve(_ job: LoadedJob, secrets: SecretResolver) throws -> [KafkaSetting] {
        let (located, problems) = locate(job, secrets: secrets, lenient: false)
        let diagnostics = problems + check(job, located).problems
        if !diagnostics.isEmpty { throw JobFileError(diagnostics) }
        return located.map(\.setting)
    }

    /// What `sluice validate` reports: the problems a run would refuse the settings for (secret
    /// references that cannot be resolved here are taken on trust), and the Java settings that are
    /// ignored, as warnings.
    public static func validate(_ job: LoadedJob, secrets: SecretResolver) -> [Diagnostic] {
        let (located, problems) = locate(job, secrets: secrets, lenient: true)
        let checked = check(job, located)
        return problems + checked.problems + checked.notes
    }

    /// Translation and librdkafka's checks, as diagnostics at the path of the setting concerned.
    static func check(_ job: LoadedJob, _ located: [Located]) -> (problems: [Diagnostic], notes: [Diagnostic]) {
        let kafkaConfigPath = job.sourcePath + ".kafkaConfig"
        let checked = KafkaSource.checkSettings(located.map(\.setting))
        return (checked.problems.map { p in
                    Diagnostic(file: job.path, path: path(of: p.key, in: located) ?? kafkaConfigPath, message: text(p.error))
                },
                checked.notes.map { Diagnostic(file: job.path, path: kafkaConfigPath, message: $0, severity: .warning) })
    }

    /// The path of the setting `key` names (a Java name, or the librdkafka name it became).
    static func path(of key: String?, in located: [Located]) -> String? {
        guard let key else { return nil }
        let renamed = ["sasl.mechanisms": "sasl.mechanism", "fetch.wait.max.ms": "fetch.max.wait.ms",
                       "ssl.ca.location": "ssl.truststore.location"]
        return located.last { $0.setting.key == key }?.path
            ?? renamed[key].flatMap { java in located.last { $0.setting.key == java }?.path }
    }

    /// A message and its hint on one line.
    static func text(_ e: SluiceError) -> String { e.hint.map { "\(e.message); \($0)" } ?? e.message }

    /// The settings with their values resolved, and the problems resolving them.
    static func locate(_ job: LoadedJob, secrets: SecretResolver, lenient: Bool) -> ([Located], [Diagnostic]) {
        var out: [Located] = []
        var problems: [Diagnostic] = []
        let source = job.spec.source
        var given: [(key: String, value: SecretValue, path: String)] = []
        if let security = source.security {
            given += security.properties.map { ($0.entry.key, $0.entry.value, "\(job.sourcePath).security.\($0.field)") }
        }
        given += source.kafkaConfig.map { ($0.key, $0.value, "\(job.sourcePath).kafkaConfig.\($0.key)") }
        // A Java trust store is refused by the translation whether or not it exists; a PEM one is a CA file.
        let pemTrustStore = given.contains { $0.key == "ssl.truststore.type" && $0.value.source.uppercased() == "PEM" }
        for (key, value, path) in given {
            do {
                let checked = key != "ssl.truststore.location" || pemTrustStore
                out.append(Located(setting: try setting(key, value, secrets: secrets, lenient: lenient, mustExist: checked), path: path))
            } catch let e as SluiceError {
                problems.append(Diagnostic(file: job.path, path: path, message: text(e)))
            } catch {
                problems.append(Diagnostic(file: job.path, path: path, message: "\(error)"))
            }
        }
        return (out, problems)
    }

    /// One setting resolved: references and secret keys become secrets; a JAAS login file is read;
    /// paths are the job's.
    static func setting(_ key: String, _ value: SecretValue, secrets: SecretResolver, lenient: Bool,
                        mustExist: Bool = true) throws -> KafkaSetting {
        let k = key.trimmingCharacters(in: .whitespaces)
        let resolved: Secret?
        if value.isReference {
            resolved = lenient ? secrets.resolveIfAvailable(value) : try secrets.resolve(value)
            guard resolved != nil else { return KafkaSetting(key: key, value: .unresolved) }
        } else {
            resolved = nil
        }
        let text = resolved?.reveal() ?? value.source
        let secret = value.isReference || SecretKeys.isSecret(k)
        if k == "java.security.auth.login.config" {
            let file = secrets.path(text)
            guard let contents = SecretResolver.readText(file) else {
                if lenient { return KafkaSetting(key: key, value: .unresolved) }
                throw SluiceError.invalid("the JAAS login file \(file) cannot be read",
                                          hint: "check the path (relative paths are read from the job file's directory), or give the login module in sasl.jaas.config")
            }
            return KafkaSetting(key, secret: Secret(contents))
        }
        if pathKeys.contains(k), text != "probe" {
            let file = secrets.path(text)
            guard !mustExist || FileManager.default.fileExists(atPath: file) else {
                throw SluiceError.invalid("no such file \(secret ? "(the path is secret)" : file)",
                                          hint: "relative paths are read from the job file's directory")
            }
            return secret ? KafkaSetting(key, secret: Secret(file)) : KafkaSetting(key, file)
        }
        return secret ? KafkaSetting(key, secret: resolved ?? Secret(text)) : KafkaSetting(key, text)
    }
}

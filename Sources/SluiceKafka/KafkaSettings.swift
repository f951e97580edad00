import Foundation
import SluiceCore

/// One connection property (a librdkafka name, or a Java client name that `KafkaConfigTranslation`
/// translates) with its value already resolved by the application: plain text, or a `Secret`.
///
/// Every value that came from a secret reference (`${env:…}`, `${file:…}`), whichever key holds it,
/// and every value of a secret key (a password, `sasl.jaas.config`) is a `.secret`: it is handed to
/// librdkafka and never printed, and `KafkaSource` scrubs it out of every message librdkafka gives.
///
/// Two keys take what the application read for them: `java.security.auth.login.config` the text of
/// the JAAS login file it names, and `*.location` properties a path the application resolved.
public struct KafkaSetting: Sendable, Hashable, CustomStringConvertible {
    public enum Value: Sendable, Hashable {
        case text(String)
        case secret(Secret)
        /// A reference `sluice validate` could not resolve (the variable or file is not there): the
        /// key is checked, the value is not.
        case unresolved

        /// The value for librdkafka (empty for `.unresolved`).
        var revealed: String {
            switch self {
            case .text(let t): t
            case .secret(let s): s.reveal()
            case .unresolved: ""
            }
        }

        var isSecret: Bool { if case .text = self { false } else { true } }
    }

    public var key: String
    public var value: Value

    public init(key: String, value: Value) {
        self.key = key
        self.value = value
    }

    /// A property whose value is not secret.
    public init(_ key: String, _ text: String) { self.init(key: key, value: .text(text)) }

    /// A property whose value is secret.
    public init(_ key: String, secret: Secret) { self.init(key: key, value: .secret(secret)) }

    public var description: String { value.isSecret ? "\(key)=******" : "\(key)=\(value.revealed)" }
}

/// Takes resolved secret values out of text that leaves SluiceKafka: librdkafka's error strings and
/// log lines, and Sluice's own messages. Each value is replaced by `******`, whatever its case:
/// wherever it occurs when it has four characters or more, and where it stands as a word of its own
/// (not inside a longer run of letters and digits) when it is shorter, so that a one-letter value
/// does not blank out that letter from every message.
struct SecretScrubber: Sendable {
    /// Longest first, so that a secret containing another is replaced whole.
    let secrets: [String]

    init(_ values: [String]) {
        secrets = Set(values.filter { !$0.isEmpty }).sorted { $0.count > $1.count }
    }

    init(settings: [KafkaSetting]) {
        self.init(settings.compactMap { if case .secret(let s) = $0.value { s.reveal() } else { nil } })
    }

    func scrub(_ text: String) -> String {
        var out = text
        for secret in secrets where out.range(of: secret, options: .caseInsensitive) != nil {
            if secret.count >= 4 {
                out = out.replacingOccurrences(of: secret, with: "******", options: .caseInsensitive)
            } else {
                out = Self.replacingWords(secret, in: out)
            }
        }
        return out
    }

    /// `text` with each occurrence of `word` that no letter or digit adjoins replaced.
    static func replacingWords(_ word: String, in text: String) -> String {
        var out = ""
        var rest = text[...]
        while let r = rest.range(of: word, options: .caseInsensitive) {
            let before = r.lowerBound > rest.startIndex ? rest[rest.index(before: r.lowerBound)] : nil
            let after = r.upperBound < rest.endIndex ? rest[r.upperBound] : nil
            let alone = !(before.map { $0.isLetter || $0.isNumber } ?? false) && !(after.map { $0.isLetter || $0.isNumber } ?? false)
            out += rest[..<r.lowerBound]
            out += alone ? "******" : String(rest[r])
            rest = rest[r.upperBound...]
        }
        return out + rest
    }

    func scrub(_ error: SluiceError) -> SluiceError {
        var e = error
        e.message = scrub(e.message)
        e.hint = e.hint.map(scrub)
        e.context = e.context.mapValues(scrub)
        return e
    }

    /// Any error as it may leave SluiceKafka.
    func scrub(_ error: any Error) -> any Error {
        if let e = error as? SluiceError { return scrub(e) }
        if let e = error as? KafkaSettingsError {
            return KafkaSettingsError(problems: e.problems.map { KafkaSettingsError.Problem(key: $0.key, error: scrub($0.error)) })
        }
        return error
    }
}

/// Every problem with a source's connection settings, each naming the setting it is about; thrown
/// the same way by `sluice validate` and by a run, so that both say the same.
public struct KafkaSettingsError: Error, Sendable, CustomStringConvertible {
    public struct Problem: Sendable {
        /// The setting as given (a kafkaConfig key), nil when it is about the settings as a whole.
        public var key: String?
        public var error: SluiceError
    }
    public var problems: [Problem]

    public var description: String { problems.map(\.error.description).joined(separator: "\n") }

    /// The first problem as an error of its own (its kind decides the exit code).
    public var first: SluiceError { problems.first?.error ?? SluiceError.invalid("invalid Kafka settings") }
}

/// What checking connection settings found: the problems a run would refuse them for, and notes
/// about settings that are ignored.
public struct KafkaSettingsCheck: Sendable {
    public var problems: [KafkaSettingsError.Problem]
    public var notes: [String]
}

extension KafkaSource {
    /// Checks connection settings as a run would use them, without connecting: the translation of
    /// Java keys, then each property's name and value against librdkafka. `.unresolved` values have
    /// their key checked only. No secret is in what it returns.
    public static func checkSettings(_ settings: [KafkaSetting]) -> KafkaSettingsCheck {
        let scrubber = SecretScrubber(settings: settings)
        let (translated, problems) = KafkaConfigTranslation.translateCollecting(settings)
        let all = problems + RdKafkaClient.problems(translated.properties)
        return KafkaSettingsCheck(problems: all.map { .init(key: $0.key, error: scrubber.scrub($0.error)) },
                                  notes: translated.notes.map(scrubber.scrub))
    }
}

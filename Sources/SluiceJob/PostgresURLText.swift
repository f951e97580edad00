import Foundation

/// A PostgreSQL URL as a job file holds it, for messages and `sluice show`: its password is never shown.
public enum PostgresURLText {
    /// `text` with a password between `://user:` and `@` replaced by `******`.
    public static func redacted(_ text: String) -> String {
        text.replacing(/(:\/\/[^:@\/]*):[^@\/]*@/) { "\($0.output.1):******@" }
    }

    /// Whether `text` holds a password (`postgresql://user:password@…`).
    public static func hasPassword(_ text: String) -> Bool {
        text.contains(/:\/\/[^:@\/]*:[^@\/]*@/)
    }
}

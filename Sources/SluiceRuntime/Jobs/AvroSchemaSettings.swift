import Foundation
import SluiceCore
import SluiceJob
import SluiceMapping
import SluiceSchemaRegistry

/// Where a job's Avro values get their schemas, resolved at the edge of the program: the Schema
/// Registry client with its password read (`${env:…}`, `${file:…}`), or the text of
/// `avroSchemaFile` (relative to the job file).
public enum AvroSchemaSettings {
    /// The schema provider a job's field program needs; nil when its values are not Avro.
    public static func provider(_ job: LoadedJob, secrets: SecretResolver) throws -> AvroSchemaProvider? {
        guard case .avro(let schema) = job.spec.source.valueFormat else { return nil }
        let source = job.sourcePath
        switch schema {
        case .inline(let text):
            return .schema(text)
        case .file(let path):
            let full = secrets.path(path)
            guard let text = SecretResolver.readText(full) else {
                throw JobFileError([Diagnostic(file: job.path, path: source + ".avroSchemaFile",
                                               message: "the Avro schema file \(full) cannot be read; check the path (relative paths are read from the job file's directory)")])
            }
            return .schema(text)
        case .registry:
            guard let r = job.spec.source.schemaRegistry else {
                throw JobFileError([Diagnostic(file: job.path, path: source, message: "valueFormat avro needs `schemaRegistry`, `avroSchema` or `avroSchemaFile`")])
            }
            let username = try r.username.map { try secrets.resolve($0).reveal() }
            let password = try r.password.map { try secrets.resolve($0) }
            return .registry(SchemaRegistryClient(url: r.url, username: username, password: password))
        }
    }

    /// What `sluice validate` reports: an `avroSchemaFile` that cannot be read or is not a schema.
    public static func validate(_ job: LoadedJob, secrets: SecretResolver) -> [Diagnostic] {
        guard case .avro(.file(let path)) = job.spec.source.valueFormat else { return [] }
        let at = job.sourcePath + ".avroSchemaFile"
        let full = secrets.path(path)
        guard let text = SecretResolver.readText(full) else {
            return [Diagnostic(file: job.path, path: at, message: "the Avro schema file \(full) cannot be read; check the path (relative paths are read from the job file's directory)")]
        }
        do {
            _ = try AvroSchema(parsing: text)
            return []
        } catch {
            return [Diagnostic(file: job.path, path: at, message: "\(full) is not a valid Avro schema: \(error.message)")]
        }
    }
}

import Foundation
import SluiceCore
import SluiceJob
import SluiceMapping
import SluiceSchemaRegistry

/// Where a job's Avro values get their schemas, resolved at the edge of the program: the Schema
/// Registry client with its password read (`${env:…}`, `${file:…}`), or the text of
/// `avroSchemaFile` (relative to the job file).
public enum AvroSchemaSettings {
    /// The schema providers a job's field program needs for its values and keys; nil for one that is
    /// not Avro.
    public static func providers(_ job: LoadedJob, secrets: SecretResolver) throws -> (value: AvroSchemaProvider?, key: AvroSchemaProvider?) {
        (try provider(job, secrets: secrets, key: false), try provider(job, secrets: secrets, key: true))
    }

    /// The schema provider of the values (or keys); nil when they are not Avro.
    public static func provider(_ job: LoadedJob, secrets: SecretResolver, key: Bool = false) throws -> AvroSchemaProvider? {
        let format = key ? job.spec.source.keyFormat : job.spec.source.valueFormat
        let schema: AvroSchemaSpec
        switch format {
        case .avro(let s): schema = s
        case .protobuf: schema = .registry
        default: return nil
        }
        let source = job.sourcePath
        switch schema {
        case .inline(let text):
            return .schema(text)
        case .file(let path):
            let full = secrets.path(path)
            guard let text = SecretResolver.readText(full) else {
                throw JobFileError([Diagnostic(file: job.path, path: source + (key ? ".avroKeySchemaFile" : ".avroSchemaFile"),
                                               message: "the Avro schema file \(full) cannot be read; check the path (relative paths are read from the job file's directory)")])
            }
            return .schema(text)
        case .registry:
            guard let r = job.spec.source.schemaRegistry else {
                throw JobFileError([Diagnostic(file: job.path, path: source, message: "\(key ? "keyFormat" : "valueFormat") \(format.isProtobuf ? "protobuf needs `schemaRegistry`" : "avro needs `schemaRegistry` or a schema")")])
            }
            let username = try r.username.map { try secrets.resolve($0).reveal() }
            let password = try r.password.map { try secrets.resolve($0) }
            return .registry(SchemaRegistryClient(url: r.url, username: username, password: password))
        }
    }

    /// What `sluice validate` reports: an `avroSchemaFile` (`avroKeySchemaFile`) that cannot be read
    /// or is not a schema.
    public static func validate(_ job: LoadedJob, secrets: SecretResolver) -> [Diagnostic] {
        var out: [Diagnostic] = []
        for (format, name) in [(job.spec.source.valueFormat, "avroSchemaFile"), (job.spec.source.keyFormat, "avroKeySchemaFile")] {
            guard case .avro(.file(let path)) = format else { continue }
            let at = job.sourcePath + "." + name
            let full = secrets.path(path)
            guard let text = SecretResolver.readText(full) else {
                out.append(Diagnostic(file: job.path, path: at, message: "the Avro schema file \(full) cannot be read; check the path (relative paths are read from the job file's directory)"))
                continue
            }
            do {
                _ = try AvroSchema(parsing: text)
            } catch {
                out.append(Diagnostic(file: job.path, path: at, message: "\(full) is not a valid Avro schema: \(error.message)"))
            }
        }
        return out
    }
}

import ArgumentParser
import Foundation
import SluiceCore
import SluiceRuntime
import SluiceJob

struct MapFields: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "map",
        abstract: "Propose a field mapping against the destination table: by same name or by same line.",
        discussion: """
        The DataWorks editor's "Map Fields with Same Name" (--by-name) and "Map Fields in Same Line" (--by-position), against the columns of the job's destination table (it must exist; see `sluice ddl --apply`). By name, a source field matches the column named like its last path member (a.a1 → a1), a built-in's bare name (__key__ → key) or a constant's text, ignoring case. Prints the resulting `mapping:` block to paste into the job, then what stays unmapped: source fields that would not be read, and columns that would get NULL.

        Example:
          sluice map jobs/events_hourly.yaml --by-name
        """)

    @Argument(help: "The job file.")
    var job: String

    @Flag(help: "Match source fields and columns by name.")
    var byName = false

    @Flag(help: "Match the i-th source field with the i-th column.")
    var byPosition = false

    @OptionGroup var options: JobOptions

    @Flag(help: "Print the proposal as JSON.")
    var json = false

    func validate() throws {
        guard byName != byPosition else { throw ValidationError("give exactly one of --by-name and --by-position") }
    }

    func run() async throws {
        try await runReportingErrors {
            let loaded = try options.loadSync(job, for: "map")
            let sink = try Destinations.sink(job: loaded, createTable: false)
            guard let table = try await sink.tableColumns() else {
                throw SluiceError(.destination, "destination table \(loaded.spec.destination.table) does not exist",
                                  hint: "create it with `sluice ddl \(job) --apply`")
            }
            let fields = loaded.spec.mapping.map(\.from)
            let columns = table.map(\.name)
            let proposal = byName ? MappingRules.byName(fields: fields, columns: columns)
                                  : MappingRules.byPosition(fields: fields, columns: columns)
            if json {
                let object: [String: Any] = [
                    "mapping": proposal.mapping.map { ["from": $0.from, "to": $0.to ?? ""] },
                    "unmappedFields": proposal.unmappedFields,
                    "unmappedColumns": proposal.unmappedColumns,
                ]
                let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            print("mapping:")
            for m in proposal.mapping { print("  - { from: \(yamlQuoted(m.from)), to: \(yamlQuoted(m.to ?? "")) }") }
            if !proposal.unmappedFields.isEmpty {
                print("# not read (no column): \(proposal.unmappedFields.joined(separator: ", "))")
            }
            if !proposal.unmappedColumns.isEmpty {
                print("# NULL (no field): \(proposal.unmappedColumns.joined(separator: ", "))")
            }
        }
    }

    private func yamlQuoted(_ s: String) -> String {
        "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

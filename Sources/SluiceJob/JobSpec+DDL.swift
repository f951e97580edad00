import SluiceCore

extension TableDDL {
    /// The destination columns of a job, typed from `destination.columnTypes`, else from the mapped
    /// source field. Throws when the job maps onto the table's columns (`*`) and so names none.
    public static func destinationColumns(of job: JobSpec) throws -> [ColumnSpec] {
        var columns: [ColumnSpec] = []
        var seen = Set<String>()
        if job.mapping.contains(where: { $0.to != nil }) {
            for m in job.mapping {
                guard let name = m.to, seen.insert(name).inserted else { continue }
                let type = job.destination.columnTypes[name] ?? defaultType(forSourceField: m.from)
                columns.append(ColumnSpec(name: name, type: type))
            }
        } else {
            let names = job.destination.columns.filter { $0 != "*" }
            guard !names.isEmpty else {
                throw SluiceError.invalid(
                    "job '\(job.name)': the destination columns are '*' (the table's own columns), so there is no column list to create a table from",
                    hint: "list the destination columns in the job (destination.columns or the mapping's 'to' names)")
            }
            for (i, name) in names.enumerated() where seen.insert(name).inserted {
                let from = i < job.mapping.count ? job.mapping[i].from : ""
                let type = job.destination.columnTypes[name] ?? defaultType(forSourceField: from)
                columns.append(ColumnSpec(name: name, type: type))
            }
        }
        return columns
    }
}

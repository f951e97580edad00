import SluiceCore
import SluiceScheduling

extension SluiceJobReader {
    static let sqlNodeKeys = ["name", "description", "type", "target", "sql", "schedule"]
    static let targetKeys = ["type", "path", "url", "datasource", "endpoint", "tunnelEndpoint", "project", "schema",
                             "accessKeyId", "accessKeySecret", "securityToken", "region"]

    /// A `type: sql` job: `target` (the database: the SQLite warehouse, PostgreSQL or MaxCompute, with
    /// a destination's connection keys), `sql` (the statements, `;`-separated, parameters as
    /// `${name}`) and `schedule`.
    func sqlNode(_ map: MapView) -> JobSpec? {
        let name = map.string("name") ?? defaultName
        map.accept("description", "type")
        var target: DestinationKind?
        if let t = map.mapping("target") {
            target = destinationKind(t, what: "target")
            if case .discard? = target {
                reader.error(t.path("type"), "an SQL node runs on a database: use sqlite, postgresql or maxcompute")
                target = nil
            }
            t.finish(known: Self.targetKeys)
        } else {
            reader.error("", "missing `target`: the database the statements run on, e.g. target: { type: sqlite, path: warehouse.db }",
                         line: map.line)
        }
        let statements = sqlStatements(map)
        let schedule = map.mapping("schedule").map { self.schedule($0) }
        map.finish(known: Self.sqlNodeKeys)
        guard let target, let statements else { return nil }
        return JobSpec.sqlNode(name: name, target: target, statements: statements, schedule: schedule ?? nil)
    }

    /// `sql`: one text of `;`-separated statements, or a list of statements. Transaction control is
    /// refused: the node runs its statements in one transaction of its own.
    private func sqlStatements(_ map: MapView) -> [String]? {
        guard map.has("sql") else {
            reader.error("", "missing `sql`: the statements to run, e.g. sql: \"INSERT INTO summary SELECT … WHERE ds = '${partition}'\"",
                         line: map.line)
            return nil
        }
        let texts: [String]?
        if case .sequence? = map.node("sql") { texts = map.stringList("sql") } else { texts = map.string("sql").map { [$0] } }
        guard let texts else { return nil }
        let statements = texts.flatMap(SQLScript.split)
        guard !statements.isEmpty else {
            reader.error(map.path("sql"), "no statement: write the SQL to run")
            return nil
        }
        for (i, statement) in statements.enumerated() where SQLScript.controlsTransaction(statement) {
            reader.error(map.path("sql"), "statement \(i + 1) (\(SQLScript.preview(statement, limit: 40))) controls the transaction; an SQL node runs its statements in one transaction of its own: leave out BEGIN, COMMIT and ROLLBACK")
        }
        return statements
    }
}

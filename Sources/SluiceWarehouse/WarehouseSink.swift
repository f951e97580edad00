import Foundation
import SluiceCore
import SluiceJob
import SluiceSQLite

/// The embedded warehouse as a destination: one SQLite file (WAL mode) holding partitioned tables.
///
/// A write holds one SQLite transaction from `open` to `commit`: an overwrite deletes the
/// partition's rows and inserts the new ones in that transaction, so readers see the old partition
/// or the new one, and a process killed before commit leaves the old content. The provenance row in
/// `_sluice_partitions` is written in the same transaction. Writers of the same file take turns
/// (SQLite has one writer at a time); a writer waits up to `lockTimeoutSeconds` for its turn.
public struct WarehouseSink: Sink {
    public var path: String
    public var table: String
    /// The table's partition columns, when known before `prepare` (used by `tableColumns`).
    public var partitionKeys: [String]
    /// Create the table (and the file) when missing, instead of failing.
    public var createTable: Bool
    /// How long a writer waits for another writer of the same file.
    public var lockTimeoutSeconds: Double
    /// SQLite page cache of a writer, in KiB. A large insert goes the same speed with 16 MiB as with
    /// 64 MiB (the pages are appended and spilled to the write-ahead log either way), in less memory.
    public var cacheSizeKiB: Int

    public init(path: String, table: String, partitionKeys: [String] = [], createTable: Bool = false,
                lockTimeoutSeconds: Double = 600, cacheSizeKiB: Int = 16_384) {
        self.path = path
        self.table = table
        self.partitionKeys = partitionKeys
        self.createTable = createTable
        self.lockTimeoutSeconds = lockTimeoutSeconds
        self.cacheSizeKiB = cacheSizeKiB
    }

    /// The sink of a job destination whose kind is `.sqlite`: its path resolved against
    /// `baseDirectory` (the job file's directory), its partition keys from the partition template.
    public init(destination: DestinationSpec, baseDirectory: String, createTable: Bool = false) throws {
        guard case .sqlite(let file) = destination.kind else {
            throw SluiceError.invalid("the destination is \(destination.kind.typeName), not the SQLite warehouse")
        }
        let path = file.hasPrefix("/") ? file : (baseDirectory.isEmpty ? "." : baseDirectory) + "/" + file
        self.init(path: path, table: destination.table,
                  partitionKeys: TableDDL.partitionKeys(template: destination.partition), createTable: createTable)
    }

    var location: String { "warehouse \(path), table '\(table)'" }

    func openDatabase(create: Bool) async throws -> SQLiteDatabase {
        if !FileManager.default.fileExists(atPath: path) {
            guard create else {
                throw SluiceError(.destination, "no warehouse file at \(path)",
                                  hint: "check the destination path, or create the table with `sluice ddl JOB --apply` or `--create-table`")
            }
            let dir = (path as NSString).deletingLastPathComponent
            if !dir.isEmpty {
                try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            }
        }
        do {
            let timeout = Int32(clamping: Int64(lockTimeoutSeconds * 1000))
            // 16 KiB pages for a new warehouse: fewer pages to write, log and sync per row. A 1M-row
            // overwrite by `sluice run` took a median 4.1 s instead of 4.5 s with SQLite's default 4 KiB
            // (docs/decisions/2026-12-03-startup-and-mapping-threads.md).
            var options = SQLiteOpenOptions(mode: .readWrite(create: create), busyTimeoutMillis: timeout)
            options.newFilePageSize = 16_384
            let db = try await SQLiteDatabase.open(path: path, options: options)
            let cache = cacheSizeKiB
            try await db.perform { c in
                try c.execute("PRAGMA synchronous = FULL; PRAGMA cache_size = -\(cache); "
                              + "PRAGMA journal_size_limit = 67108864; PRAGMA foreign_keys = OFF; "
                              // Debian builds SQLite with secure delete on: an overwrite would zero and
                              // write every page of the old partition before reusing it. FAST zeroes
                              // deleted rows only in pages that are written anyway.
                              + "PRAGMA secure_delete = FAST")
            }
            return db
        } catch {
            throw mapError(error, doing: "opening")
        }
    }

    /// Closes a connection once its queued work is done. Connections are closed explicitly: the
    /// statement cache keeps one alive otherwise, and a connection still open at exit leaves the
    /// write-ahead log behind, which the next process must read back (recovery) and then checkpoint
    /// again in full, a cost that grows with every run.
    static func close(_ db: SQLiteDatabase) async {
        _ = try? await db.perform { $0.close() }
    }

    func mapError(_ error: any Error, doing: String) -> SluiceError {
        if let e = error as? SluiceError { return e }
        if let e = error as? SQLiteError {
            if e.isBusy {
                return SluiceError(.destination, "\(location): the warehouse is locked by another writer (waited \(Int(lockTimeoutSeconds)) s while \(doing))",
                                   hint: "another sluice run or a sqlite3 session holds a write transaction on \(path); retry when it ends")
            }
            return SluiceError(.destination, "\(location): \(doing) failed: \(e.message) (SQLite code \(e.extendedCode))")
        }
        return SluiceError(.destination, "\(location): \(doing) failed: \(error)")
    }

    public func prepare(columns: [ColumnSpec], partitionKeys: [String]) async throws {
        let db = try await openDatabase(create: createTable)
        let table = self.table, createTable = self.createTable, location = self.location
        do {
            try await db.write { c in
                try WarehouseMeta.ensure(c)
                if try !WarehouseMeta.tableExists(c, table) {
                    guard createTable else {
                        throw SluiceError(.destination, "\(location) does not exist",
                                          hint: "create it with `sluice ddl JOB --apply`, or run with --create-table")
                    }
                    try c.execute(TableDDL.createTable(name: table, columns: columns, partitionKeys: partitionKeys,
                                                       dialect: .sqlite))
                    try WarehouseMeta.register(c, table: table, partitionKeys: partitionKeys)
                    return
                }
                let registered = try WarehouseMeta.registeredPartitionKeys(c, table: table)
                let problems = WarehouseSchema.differences(
                    tableColumns: try WarehouseMeta.columns(c, table: table), registeredPartitionKeys: registered,
                    columns: columns, partitionKeys: partitionKeys)
                if !problems.isEmpty {
                    throw SluiceError(.destination,
                                      "\(location) does not match the job:\n" + problems.map { "  - \($0)" }.joined(separator: "\n"),
                                      hint: "change the table or the job's columns so that they agree", code: "destination.schema",
                                      context: ["table": table], retriable: false)
                }
                if registered == nil {
                    try WarehouseMeta.register(c, table: table, partitionKeys: partitionKeys)
                }
                if !partitionKeys.isEmpty {
                    try c.execute("CREATE INDEX IF NOT EXISTS \(TableDDL.quoteSQLite(TableDDL.sqlitePartitionIndexName(table: table))) ON \(TableDDL.quoteSQLite(table)) (\(partitionKeys.map(TableDDL.quoteSQLite).joined(separator: ", ")))")
                }
            }
        } catch {
            await Self.close(db)
            throw mapError(error, doing: "preparing the table")
        }
        await Self.close(db)
    }

    public func tableColumns() async throws -> [ColumnSpec]? {
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        let table = self.table, configured = Set(partitionKeys.map { $0.lowercased() })
        do {
            let db = try await SQLiteDatabase.open(path: path, options: SQLiteOpenOptions(mode: .readOnly))
            return try await db.perform { c -> [ColumnSpec]? in
                defer { c.close() }  // see `close`
                guard try WarehouseMeta.tableExists(c, table) else { return nil }
                let keys = Set((try WarehouseMeta.registeredPartitionKeys(c, table: table) ?? []).map { $0.lowercased() })
                    .union(configured)
                return try WarehouseMeta.columns(c, table: table)
                    .filter { !keys.contains($0.name.lowercased()) && $0.name != WarehouseMeta.writeColumn }
                    .map { ColumnSpec(name: $0.name, type: $0.columnType ?? .string, nullable: !$0.notNull) }
            }
        } catch {
            throw mapError(error, doing: "reading the table's columns")
        }
    }

    public func open(partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec],
                     provenance: WriteProvenance) async throws -> any PartitionWriter {
        let db = try await openDatabase(create: false)
        let table = self.table, location = self.location
        let state = WriterState(table: table, partition: partition, mode: mode, columns: columns,
                                provenance: provenance)
        do {
            try await db.perform { c in
                try c.execute("BEGIN IMMEDIATE")
                do {
                    try state.begin(c, location: location)
                } catch {
                    try? c.execute("ROLLBACK")
                    throw error
                }
            }
        } catch {
            await Self.close(db)
            throw mapError(error, doing: "opening partition \(partition)")
        }
        return WarehouseWriter(db: db, state: state, sink: self)
    }

    /// Looks the attempt up in `_sluice_partitions`, whose row commits in the same transaction as
    /// the attempt's rows: there, the attempt committed; absent, nothing of it is in the table.
    public func commitState(of write: WriteReference) async throws -> CommitState {
        guard FileManager.default.fileExists(atPath: path) else { return .notCommitted }
        let table = self.table
        do {
            let db = try await SQLiteDatabase.open(path: path, options: SQLiteOpenOptions(mode: .readOnly))
            return try await db.perform { c -> CommitState in
                defer { c.close() }  // see `close`
                guard try WarehouseMeta.tableExists(c, WarehouseMeta.partitions),
                      try WarehouseMeta.partitionColumnNames(c).contains("attempt") else { return .notCommitted }
                let found = try c.query("""
                    SELECT rows FROM _sluice_partitions WHERE table_name = ?1 AND partition = ?2 AND job = ?3
                      AND instance_id = ?4 AND attempt = ?5 AND ledger_id = ?6
                    """, [.text(table), .text(write.partition.description), .text(write.job), .text(write.instanceId),
                          .integer(Int64(write.attempt)), .text(write.ledgerId)]).first
                guard let found else { return .notCommitted }
                if case .integer(let rows) = found[0] { return .committed(rows: rows) }
                return .committed(rows: nil)
            }
        } catch {
            throw mapError(error, doing: "looking up the write of instance \(write.instanceId), attempt \(write.attempt)")
        }
    }

    /// An append deletes the rows of the instance's earlier writes of the partition (by
    /// `_sluice_write`) in its own transaction.
    public var replacesEarlierAppends: Bool { true }
}

/// What a warehouse writer keeps between calls. `@unchecked Sendable`: it is only touched inside
/// `SQLiteDatabase.perform`, which runs on the connection's serial queue, one call at a time.
final class WriterState: @unchecked Sendable {
    let table: String
    let partition: PartitionSpec
    let mode: WriteMode
    let columns: [ColumnSpec]
    let provenance: WriteProvenance
    var insert: SQLiteStatement?
    /// This write's id in `_sluice_partitions`.
    var writeId: Int64 = 0
    var rows: Int64 = 0
    var finished = false

    init(table: String, partition: PartitionSpec, mode: WriteMode, columns: [ColumnSpec], provenance: WriteProvenance) {
        self.table = table
        self.partition = partition
        self.mode = mode
        self.columns = columns
        self.provenance = provenance
    }

    /// Checks the table, records the write, removes what it replaces and compiles the insert. Runs
    /// inside the writer's transaction.
    func begin(_ c: SQLiteConnection, location: String) throws {
        try WarehouseMeta.ensure(c)
        guard try WarehouseMeta.tableExists(c, table) else {
            throw SluiceError(.destination, "\(location) does not exist",
                              hint: "create it with `sluice ddl JOB --apply`, or run with --create-table")
        }
        let registered = try WarehouseMeta.registeredPartitionKeys(c, table: table)
        let tableColumns = try WarehouseMeta.columns(c, table: table)
        let problems = WarehouseSchema.differences(
            tableColumns: tableColumns, registeredPartitionKeys: registered, columns: columns, partitionKeys: partition.keys)
        if !problems.isEmpty {
            throw SluiceError(.destination, "\(location) does not match the job:\n"
                              + problems.map { "  - \($0)" }.joined(separator: "\n"), code: "destination.schema",
                              context: ["table": table], retriable: false)
        }
        if registered == nil { try WarehouseMeta.register(c, table: table, partitionKeys: partition.keys) }
        var tagged = tableColumns.contains { $0.name == WarehouseMeta.writeColumn }
        if !tagged && mode == .append {
            try c.execute("ALTER TABLE \(TableDDL.quoteSQLite(table)) ADD COLUMN \(WarehouseMeta.writeColumn) INTEGER")
            tagged = true
        }
        writeId = try recordWrite(c)
        try removeReplaced(c)
        try prepareInsert(c, tagged: tagged)
    }

    /// The write's row in `_sluice_partitions` (its counts are filled in at commit); returns its id.
    private func recordWrite(_ c: SQLiteConnection) throws -> Int64 {
        let offsets = String(decoding: try JSONEncoder().encode(provenance.offsets), as: UTF8.self)
        try c.run("""
            INSERT INTO _sluice_partitions (table_name, partition, mode, job, instance_id, attempt, ledger_id,
              window_start_ms, window_end_ms, topic, offsets, rows, written_at_ms)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0, 0)
            """, [.text(table), .text(partition.description), .text(mode.rawValue), .text(provenance.job),
                  .text(provenance.instanceId), .integer(Int64(provenance.attempt)), .text(provenance.ledgerId),
                  provenance.windowStartMillis.map(SQLiteValue.integer) ?? .null,
                  provenance.windowEndMillis.map(SQLiteValue.integer) ?? .null, .text(provenance.topic), .text(offsets)])
        return c.lastInsertRowID
    }

    /// An overwrite deletes the partition's rows; an append deletes the rows of the same instance's
    /// earlier writes of the partition. Either marks the writes it removed as replaced by this one.
    private func removeReplaced(_ c: SQLiteConnection) throws {
        let q = TableDDL.quoteSQLite
        let keyBindings = partition.entries.map { SQLiteValue.text($0.value) }
        let cond = partition.entries.enumerated().map { "\(q($1.key)) = ?\($0 + 1)" }
        var replaced = "table_name = ?1 AND partition = ?2 AND replaced_by IS NULL AND id <> ?3"
        var replacedBindings: [SQLiteValue] = [.text(table), .text(partition.description), .integer(writeId)]
        if mode == .overwrite {
            try c.run("DELETE FROM \(q(table))" + (cond.isEmpty ? "" : " WHERE \(cond.joined(separator: " AND "))"), keyBindings)
        } else {
            replaced += " AND job = ?4 AND instance_id = ?5 AND ledger_id = ?6"
            replacedBindings += [.text(provenance.job), .text(provenance.instanceId), .text(provenance.ledgerId)]
            let earlier = try c.query("SELECT id FROM _sluice_partitions WHERE \(replaced)", replacedBindings)
                .compactMap { r -> Int64? in if case .integer(let id) = r[0] { id } else { nil } }
            guard !earlier.isEmpty else { return }
            let ids = earlier.map(String.init).joined(separator: ", ")
            try c.run("DELETE FROM \(q(table)) WHERE " + (cond + ["\(WarehouseMeta.writeColumn) IN (\(ids))"]).joined(separator: " AND "),
                      keyBindings)
        }
        try c.run("UPDATE _sluice_partitions SET replaced_by = ?3 WHERE \(replaced)", replacedBindings)
    }

    /// The insert statement, with the partition values (and the write id) bound once.
    private func prepareInsert(_ c: SQLiteConnection, tagged: Bool) throws {
        let q = TableDDL.quoteSQLite
        var bindings = partition.entries.map { SQLiteValue.text($0.value) }
        var names = columns.map(\.name) + partition.keys
        if tagged {
            names.append(WarehouseMeta.writeColumn)
            bindings.append(.integer(writeId))
        }
        let placeholders = (1...max(1, names.count)).map { "?\($0)" }.joined(separator: ", ")
        let sql = names.isEmpty
            ? "INSERT INTO \(q(table)) DEFAULT VALUES"
            : "INSERT INTO \(q(table)) (\(names.map(q).joined(separator: ", "))) VALUES (\(placeholders))"
        let stmt = try c.prepare(sql)
        for (i, v) in bindings.enumerated() {
            try stmt.bind(v, at: Int32(columns.count + i + 1))
        }
        insert = stmt
    }

    func write(_ batch: RowBatch, location: String) throws {
        guard !finished, let stmt = insert else {
            throw SluiceError(.destination, "\(location): write after commit or abort")
        }
        let n = columns.count
        guard batch.columns.count == n else {
            throw SluiceError(.destination, "\(location): a batch has \(batch.columns.count) columns, the writer was opened with \(n)")
        }
        // Text and blobs are bound without copying (SQLITE_STATIC) straight from the batch's arena,
        // which stays in place until `withCells` returns; date-time text is formatted into `scratch`,
        // 32 bytes per column.
        try batch.withCells { cells in
            try withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 32 * max(n, 1)) { scratch in
                for r in 0..<cells.rowCount {
                    do {
                        Self.bind(row: r, of: cells, scratch: scratch, stmt: stmt)
                        defer { stmt.reset() }
                        _ = try stmt.step()
                    } catch let e as SQLiteError {  // the statement was reset by the defer
                        throw SluiceError(.destination, "\(location), partition \(partition): row \(rows + Int64(r) + 1) was refused: \(e.message)")
                    }
                }
            }
        }
        rows += Int64(batch.rowCount)
    }

    /// Binds the cells of row `r` to the insert's first `cells.columnCount` parameters.
    @inline(__always)
    private static func bind(row r: Int, of cells: RowBatch.Cells, scratch: UnsafeMutableBufferPointer<UInt8>,
                             stmt: SQLiteStatement) {
        for c in 0..<cells.columnCount {
            let index = Int32(c + 1)
            switch cells[r, c] {
            case .null:
                stmt.bindNull(at: index)
            case .int(let v):
                stmt.bindInt64(v, at: index)
            case .double(let v):
                stmt.bindDouble(v, at: index)
            case .float(let v):
                // Through the shortest decimal text, so that FLOAT 0.1 is stored as 0.1.
                stmt.bindDouble(Double(v.description) ?? Double(v), at: index)
            case .bool(let v):
                stmt.bindInt64(v ? 1 : 0, at: index)
            case .string(let b), .decimal(let b):
                stmt.bindTextNoCopy(b, at: index)
            case .binary(let b):
                stmt.bindBlobNoCopy(b, at: index)
            case .datetime(let ms):
                bindText({ TimeText.datetime(millis: ms, into: $0) }, scratch, c, stmt, index)
            case .date(let days):
                bindText({ TimeText.date(days: days, into: $0) }, scratch, c, stmt, index)
            case .timestamp(let s, let ns):
                bindText({ TimeText.timestamp(seconds: s, nanos: ns, into: $0) }, scratch, c, stmt, index)
            }
        }
    }

    @inline(__always)
    private static func bindText(_ format: (UnsafeMutableBufferPointer<UInt8>) -> Int, _ scratch: UnsafeMutableBufferPointer<UInt8>,
                                 _ column: Int, _ stmt: SQLiteStatement, _ index: Int32) {
        let slot = UnsafeMutableBufferPointer(rebasing: scratch[(column * 32)..<(column * 32 + 32)])
        let n = format(slot)
        stmt.bindTextNoCopy(UnsafeRawBufferPointer(start: slot.baseAddress, count: n), at: index)
    }

    func commit(_ c: SQLiteConnection, outcome: WriteOutcome, location: String, now: Date) throws -> CommitResult {
        guard !finished else { throw SluiceError(.destination, "\(location): commit after commit or abort") }
        finished = true
        insert = nil
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            try c.run("UPDATE _sluice_partitions SET rows = ?2, outcome = ?3, written_at_ms = ?4 WHERE id = ?1",
                      [.integer(writeId), .integer(rows), .text(String(decoding: try encoder.encode(outcome), as: UTF8.self)),
                       .integer(Int64((now.timeIntervalSince1970 * 1000).rounded()))])
            try c.execute("COMMIT")
        } catch {
            try? c.execute("ROLLBACK")
            c.close()
            throw error
        }
        c.close()
        return CommitResult(rowsWritten: rows)
    }

    func abort(_ c: SQLiteConnection) {
        guard !finished else { return }
        finished = true
        insert = nil
        if c.isInTransaction { try? c.execute("ROLLBACK") }
        c.close()
    }

    /// Closes the connection with the transaction still open, as a process that dies mid-write
    /// does (SQLite discards the transaction). For tests.
    func closeWithoutCommit(_ c: SQLiteConnection) {
        finished = true
        insert = nil
        c.close()
    }
}

/// An open partition of the warehouse: one open SQLite transaction on its own connection.
final class WarehouseWriter: PartitionWriter {
    private let db: SQLiteDatabase
    private let state: WriterState
    private let sink: WarehouseSink

    init(db: SQLiteDatabase, state: WriterState, sink: WarehouseSink) {
        self.db = db
        self.state = state
        self.sink = sink
    }

    func write(_ batch: RowBatch) async throws {
        let state = self.state, location = sink.location
        do {
            try await db.perform { _ in try state.write(batch, location: location) }
        } catch {
            throw sink.mapError(error, doing: "writing partition \(state.partition)")
        }
    }

    func commit(_ outcome: WriteOutcome) async throws -> CommitResult {
        let state = self.state, location = sink.location
        do {
            return try await db.perform { c in try state.commit(c, outcome: outcome, location: location, now: Date()) }
        } catch {
            throw sink.mapError(error, doing: "committing partition \(state.partition)")
        }
    }

    func abort() async {
        let state = self.state
        _ = try? await db.perform { c in state.abort(c) }
    }

    /// See `WriterState.closeWithoutCommit`.
    func closeWithoutCommit() async {
        let state = self.state
        _ = try? await db.perform { c in state.closeWithoutCommit(c) }
    }
}

import Foundation
import SluiceCore
import Testing
@testable import SluiceWarehouse
import SluiceSQLite

@Suite struct WarehouseSinkTests {
    func makeSink(_ dir: TempDir, create: Bool = true, cacheKiB: Int = 65_536) async throws -> WarehouseSink {
        let sink = WarehouseSink(path: dir.file("wh/warehouse.db"), table: "events", createTable: create,
                                 lockTimeoutSeconds: 0.05, cacheSizeKiB: cacheKiB)
        try await sink.prepare(columns: eventColumns, partitionKeys: ["ds"])
        return sink
    }

    @Test func overwriteReplacesOnlyItsPartitionAtCommit() async throws {
        let dir = try TempDir()
        let sink = try await makeSink(dir)
        try await writePartition(sink, "ds=2022112209", [eventBatch(0..<5)])
        try await writePartition(sink, "ds=2022112210", [eventBatch(0..<3, tag: "old")])

        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=2022112210"), mode: .overwrite,
                                    columns: eventColumns, provenance: provenance("2"))
        try await w.write(eventBatch(10..<14, tag: "new"))
        try await w.write(eventBatch(14..<20, tag: "new"))
        // A reader during the write sees the old partition, in full.
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='2022112210'") == 3)
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE payload LIKE 'new%'") == 0)
        let result = try await w.commit()
        #expect(result.rowsWritten == 10)
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='2022112210'") == 10)
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='2022112210' AND payload LIKE 'old%'") == 0)
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='2022112209'") == 5)
    }

    /// Every connection a write opens is closed by its end, so the write-ahead log is checkpointed
    /// and removed instead of being left for the next process to read back and checkpoint again.
    @Test func aFinishedWriteLeavesNoWriteAheadLog() async throws {
        let dir = try TempDir()
        let sink = WarehouseSink(path: dir.file("warehouse.db"), table: "events", createTable: true)
        for (i, tag) in ["first", "second"].enumerated() {
            _ = try await sink.tableColumns()
            try await sink.prepare(columns: eventColumns, partitionKeys: ["ds"])
            let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .overwrite,
                                        columns: eventColumns, provenance: provenance(String(i)))
            try await w.write(eventBatch(0..<500, tag: tag))
            #expect(FileManager.default.fileExists(atPath: sink.path + "-wal"))
            _ = try await w.commit()
            #expect(!FileManager.default.fileExists(atPath: sink.path + "-wal"), "after the \(tag) write")
        }
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE payload LIKE 'second%'") == 500)
    }

    /// A warehouse file the sink creates has 16 KiB pages; one created elsewhere keeps its own.
    @Test func aNewWarehouseHas16KiBPagesAndAnExistingOneKeepsItsPageSize() async throws {
        let dir = try TempDir()
        let sink = try await makeSink(dir)
        #expect(try count(sink.path, "PRAGMA page_size") == 16_384)
        let other = dir.file("wh/other.db")
        let c = try SQLiteConnection(path: other, options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        try c.execute("CREATE TABLE kept (x INTEGER)")
        c.close()
        let existing = WarehouseSink(path: other, table: "events", createTable: true)
        try await existing.prepare(columns: eventColumns, partitionKeys: ["ds"])
        try await writePartition(existing, "ds=1", [eventBatch(0..<3)])
        #expect(try count(other, "PRAGMA page_size") == 4_096)
        #expect(try count(other, "SELECT COUNT(*) FROM events") == 3)
    }

    @Test func abortAndAbandonLeaveTheOldContent() async throws {
        let dir = try TempDir()
        let sink = try await makeSink(dir)
        try await writePartition(sink, "ds=1", [eventBatch(0..<4, tag: "old")])

        let aborted = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .overwrite,
                                          columns: eventColumns, provenance: provenance("2"))
        try await aborted.write(eventBatch(0..<100, tag: "new"))
        await aborted.abort()
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE payload LIKE 'old%'") == 4)

        // A writer whose connection closes mid-transaction, without commit or abort.
        let abandoned = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .overwrite,
                                            columns: eventColumns, provenance: provenance("3"))
        try await abandoned.write(eventBatch(0..<100, tag: "new"))
        await (abandoned as? WarehouseWriter)?.closeWithoutCommit()
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events") == 4)
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE payload LIKE 'new%'") == 0)
        // And the warehouse is writable again.
        try await writePartition(sink, "ds=1", [eventBatch(0..<2, tag: "newer")], instance: "4")
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events") == 2)
    }

    /// The files on disk at an arbitrary moment of a large overwrite are what a SIGKILLed process
    /// leaves behind: a copy of them must open with the old partition intact.
    @Test func filesOfAKilledWriterHoldTheOldContent() async throws {
        let dir = try TempDir()
        let sink = try await makeSink(dir, cacheKiB: 64)   // a tiny cache: uncommitted pages spill to the WAL
        try await writePartition(sink, "ds=1", [eventBatch(0..<500, tag: "old")])
        try await writePartition(sink, "ds=2", [eventBatch(0..<50, tag: "other")])

        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .overwrite,
                                    columns: eventColumns, provenance: provenance("2"))
        let crash = try TempDir()
        for chunk in 0..<20 {
            try await w.write(eventBatch((chunk * 1000)..<((chunk + 1) * 1000), tag: "new"))
            if chunk == 12 {
                for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: sink.path + suffix) {
                    try FileManager.default.copyItem(atPath: sink.path + suffix, toPath: crash.file("warehouse.db" + suffix))
                }
            }
        }
        _ = try await w.commit()
        let walSize = (try? FileManager.default.attributesOfItem(atPath: crash.file("warehouse.db-wal"))[.size] as? Int) ?? 0
        #expect(walSize > 100_000, "the uncommitted write should have spilled into the WAL")
        let copy = crash.file("warehouse.db")
        #expect(try count(copy, "SELECT COUNT(*) FROM events WHERE ds='1'") == 500)
        #expect(try count(copy, "SELECT COUNT(*) FROM events WHERE payload LIKE 'new%'") == 0)
        #expect(try count(copy, "SELECT COUNT(*) FROM events WHERE ds='2'") == 50)
        #expect(try count(copy, "SELECT COUNT(*) FROM _sluice_partitions WHERE instance_id='2'") == 0)
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='1'") == 20_000)
    }

    @Test func appendAddsRowsAndKeepsEveryWrite() async throws {
        let dir = try TempDir()
        let sink = try await makeSink(dir)
        try await writePartition(sink, "ds=1", mode: .append, [eventBatch(0..<3)], instance: "1",
                                 offsets: [PartitionOffsets(partition: 0, from: 0, to: 3)])
        try await writePartition(sink, "ds=1", mode: .append, [eventBatch(3..<5)], instance: "2",
                                 offsets: [PartitionOffsets(partition: 0, from: 3, to: 5)])
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='1'") == 5)
        let parts = try await Warehouse(path: sink.path).partitions(table: "events")
        #expect(parts.count == 1)
        #expect(parts[0].rows == 5)
        #expect(parts[0].writes.map(\.instanceId) == ["1", "2"])
        #expect(parts[0].writes.map(\.mode) == ["append", "append"])
        // An overwrite then leaves one write.
        try await writePartition(sink, "ds=1", [eventBatch(0..<1)], instance: "3")
        let after = try await Warehouse(path: sink.path).partitions(table: "events")
        #expect(after[0].writes.map(\.instanceId) == ["3"])
        #expect(after[0].rows == 1)
    }

    /// An append of an instance that wrote the partition before deletes that instance's rows in its
    /// own transaction: the partition holds each instance's rows once, the replaced write is history.
    @Test func anAppendReplacesItsInstancesEarlierRowsOnly() async throws {
        let dir = try TempDir()
        let sink = try await makeSink(dir)
        try await writePartition(sink, "ds=1", mode: .append, [eventBatch(0..<3)], instance: "1")
        try await writePartition(sink, "ds=1", mode: .append, [eventBatch(3..<5)], instance: "2")
        try await writePartition(sink, "ds=2", mode: .append, [eventBatch(0..<4)], instance: "1")
        try await writePartition(sink, "ds=1", mode: .append, [eventBatch(0..<3, tag: "again")], instance: "1", attempt: 2)
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='1'") == 5)
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='1' AND payload LIKE 'again%'") == 3)
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='2'") == 4, "another partition of the instance is kept")
        let parts = try await Warehouse(path: sink.path).partitions(table: "events")
        let one = try #require(parts.first { $0.partition == "ds=1" })
        #expect(one.writes.map(\.instanceId) == ["2", "1"] && one.writes.map(\.attempt) == [1, 2])
        #expect(one.replaced.map(\.instanceId) == ["1"] && one.replaced[0].replacedBy == one.writes[1].id)
        #expect(try await sink.tableColumns()?.map(\.name) == ["id", "payload"], "the write column is bookkeeping")
        // An abort changes nothing, the earlier rows included.
        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .append, columns: eventColumns,
                                    provenance: provenance("1", attempt: 3))
        try await w.write(eventBatch(0..<9))
        await w.abort()
        #expect(try count(sink.path, "SELECT COUNT(*) FROM events WHERE ds='1' AND payload LIKE 'again%'") == 3)
        #expect(Warehouse.renderPartitions(parts, history: true).contains("append, replaced by write"))
    }

    /// `commitState` finds an attempt by its write record, committed with its rows.
    @Test func commitStateIsTheWriteRecordOfTheAttempt() async throws {
        let dir = try TempDir()
        let sink = try await makeSink(dir)
        func state(_ attempt: Int, ledger: String = "L1") async throws -> CommitState {
            try await sink.commitState(of: WriteReference(ledgerId: ledger, job: "events_hourly", instanceId: "7", attempt: attempt,
                                                          partition: try PartitionSpec(parsing: "ds=1")))
        }
        #expect(try await state(1) == .notCommitted)
        try await writePartition(sink, "ds=1", mode: .append, [eventBatch(0..<3)], instance: "7")
        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .append, columns: eventColumns,
                                    provenance: provenance("7", attempt: 2))
        try await w.write(eventBatch(0..<2))
        #expect(try await state(1) == .committed(rows: 3))
        #expect(try await state(2) == .notCommitted, "an open write is not committed")
        #expect(try await state(1, ledger: "L2") == .notCommitted, "instance ids are per ledger")
        _ = try await w.commit(WriteOutcome(read: 5, late: 1))
        #expect(try await state(2) == .committed(rows: 2))
        let parts = try await Warehouse(path: sink.path).partitions(table: "events")
        #expect(parts[0].writes.first?.outcome == WriteOutcome(read: 5, late: 1))
    }

    /// A warehouse written by an earlier version (no attempt or write columns) is read as it is and
    /// brought up to date by the next write.
    @Test func aWarehouseOfAnEarlierVersionIsUpgradedByItsNextWrite() async throws {
        let dir = try TempDir()
        let path = dir.file("old.db")
        let c = try SQLiteConnection(path: path, options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        try c.execute("""
            CREATE TABLE _sluice_tables (table_name TEXT PRIMARY KEY, partition_keys TEXT NOT NULL);
            CREATE TABLE _sluice_partitions (id INTEGER PRIMARY KEY, table_name TEXT NOT NULL, partition TEXT NOT NULL,
              mode TEXT NOT NULL, job TEXT NOT NULL, instance_id TEXT NOT NULL, window_start_ms INTEGER, window_end_ms INTEGER,
              topic TEXT NOT NULL, offsets TEXT NOT NULL, rows INTEGER NOT NULL, written_at_ms INTEGER NOT NULL);
            CREATE TABLE events (id BIGINT, payload STRING, ds STRING);
            INSERT INTO _sluice_tables VALUES ('events', '["ds"]');
            INSERT INTO events VALUES (1, 'old', '1');
            INSERT INTO _sluice_partitions (table_name, partition, mode, job, instance_id, topic, offsets, rows, written_at_ms)
              VALUES ('events', 'ds=1', 'append', 'events_hourly', '1', 'events', '[]', 1, 0);
            """)
        c.close()
        let before = try await Warehouse(path: path).partitions(table: "events")
        #expect(before[0].writes.count == 1 && before[0].writes[0].attempt == nil)
        let sink = WarehouseSink(path: path, table: "events", partitionKeys: ["ds"])
        try await writePartition(sink, "ds=1", mode: .append, [eventBatch(0..<2)], instance: "1")
        #expect(try count(path, "SELECT COUNT(*) FROM events WHERE ds='1'") == 3, "rows of an earlier version are kept")
        let after = try await Warehouse(path: path).partitions(table: "events")
        #expect(after[0].writes.count == 2)
    }

    @Test func provenanceIsListedPerPartition() async throws {
        let dir = try TempDir()
        let sink = try await makeSink(dir)
        let offsets = [PartitionOffsets(partition: 1, from: 40, to: 90), PartitionOffsets(partition: 0, from: 10, to: 20)]
        try await writePartition(sink, "ds=2022112210", [eventBatch(0..<7)], instance: "42", offsets: offsets)
        try await writePartition(sink, "ds=2022112211", [eventBatch(0..<2)], instance: "43")
        let parts = try await Warehouse(path: sink.path).partitions(table: "events")
        #expect(parts.map(\.partition) == ["ds=2022112210", "ds=2022112211"])
        #expect(parts.map(\.rows) == [7, 2])
        let w = try #require(parts[0].writes.first)
        #expect(w.instanceId == "42")
        #expect(w.job == "events_hourly")
        #expect(w.topic == "events")
        #expect(w.offsets == offsets)
        #expect(w.windowStartMillis == 1_669_107_600_000)
        #expect(w.windowEndMillis == 1_669_111_200_000)
        #expect(w.rows == 7)
        let text = Warehouse.renderPartitions(parts)
        #expect(text.contains("ds=2022112210"))
        #expect(text.contains("0:10-20 1:40-90"))
        #expect(text.contains("[2022-11-22 09:00:00Z, 2022-11-22 10:00:00Z)"))
    }

    @Test func everyValueTypeIsStoredAndDeclaredTypesRoundTrip() async throws {
        let dir = try TempDir()
        let columns: [ColumnSpec] = [
            ColumnSpec(name: "b", type: .bigint), ColumnSpec(name: "i", type: .int),
            ColumnSpec(name: "d", type: .double), ColumnSpec(name: "f", type: .float),
            ColumnSpec(name: "m", type: .decimal(precision: 18, scale: 2)), ColumnSpec(name: "s", type: .string),
            ColumnSpec(name: "v", type: .varchar(8)), ColumnSpec(name: "bo", type: .boolean),
            ColumnSpec(name: "dt", type: .datetime), ColumnSpec(name: "da", type: .date),
            ColumnSpec(name: "ts", type: .timestamp), ColumnSpec(name: "bi", type: .binary),
        ]
        let sink = WarehouseSink(path: dir.file("w.db"), table: "typed", createTable: true)
        try await sink.prepare(columns: columns, partitionKeys: ["ds", "hh"])
        var batch = RowBatch(columns: columns)
        batch.append(row: [.int(1), .int(2), .double(2.5), .float(0.1), .decimal("12.50"), .string("007"),
                           .string("short"), .bool(true), .datetime(1_669_111_200_123), .date(19318),
                           .timestamp(seconds: 1_669_111_200, nanos: 42), .binary([1, 2, 3])])
        batch.append(row: Array(repeating: Value.null, count: columns.count))
        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=20221122,hh=10"), mode: .overwrite,
                                    columns: columns, provenance: provenance())
        try await w.write(batch)
        _ = try await w.commit()
        let r = try rows(sink.path, "SELECT b, i, d, f, m, s, v, bo, dt, da, ts, bi, ds, hh FROM typed ORDER BY b IS NULL")
        #expect(r[0] == [.integer(1), .integer(2), .real(2.5), .real(0.1), .real(12.5), .text("007"), .text("short"),
                         .integer(1), .text("2022-11-22 10:00:00.123"), .text("2022-11-22"),
                         .text("2022-11-22 10:00:00.000000042"), .blob([1, 2, 3]), .text("20221122"), .text("10")])
        #expect(r[1].prefix(12).allSatisfy { $0 == .null })
        let read = try await WarehouseSink(path: sink.path, table: "typed").tableColumns()
        #expect(read == columns)
        let decl = try rows(sink.path, "SELECT type FROM pragma_table_info('typed') WHERE name IN ('m','dt','s')")
        #expect(Set(decl.map { $0[0] }) == [.text("DECIMAL(18,2)"), .text("DATETIME"), .text("TEXT")])
    }

    @Test func missingTableIsAnErrorUnlessCreated() async throws {
        let dir = try TempDir()
        let noFile = WarehouseSink(path: dir.file("none.db"), table: "events")
        let e1 = await #expect(throws: SluiceError.self) {
            try await noFile.prepare(columns: eventColumns, partitionKeys: ["ds"])
        }
        #expect(e1?.kind == .destination)
        #expect(!FileManager.default.fileExists(atPath: dir.file("none.db")))

        _ = try await makeSink(dir)   // creates the file with table events
        let other = WarehouseSink(path: dir.file("wh/warehouse.db"), table: "clicks")
        let e2 = await #expect(throws: SluiceError.self) {
            try await other.prepare(columns: eventColumns, partitionKeys: ["ds"])
        }
        #expect(e2?.message.contains("table 'clicks' does not exist") == true)
        #expect(e2?.hint?.contains("--create-table") == true)
    }

    @Test func schemaMismatchListsEveryDifference() async throws {
        let dir = try TempDir()
        let path = dir.file("w.db")
        let c = try SQLiteConnection(path: path, options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        try c.execute("CREATE TABLE events (id INT, payload TEXT, must BIGINT NOT NULL, ds TEXT NOT NULL)")
        let sink = WarehouseSink(path: path, table: "events")
        let cols = [ColumnSpec(name: "id", type: .bigint), ColumnSpec(name: "payload", type: .string),
                    ColumnSpec(name: "extra", type: .double)]
        let e = await #expect(throws: SluiceError.self) {
            try await sink.prepare(columns: cols, partitionKeys: ["ds", "hh"])
        }
        let message = e?.message ?? ""
        #expect(message.contains("column 'id': the table has INT, the job writes BIGINT"))
        #expect(message.contains("column 'extra' (DOUBLE) is missing from the table"))
        #expect(message.contains("partition column 'hh' is missing from the table"))
        #expect(message.contains("column 'must' is NOT NULL without a default"))
        #expect(!message.contains("payload"))
        // A matching job registers the table's partition keys, and a later job with others is told.
        try c.execute("ALTER TABLE events DROP COLUMN must")
        let fitting = [ColumnSpec(name: "id", type: .int), ColumnSpec(name: "payload", type: .string)]
        try await sink.prepare(columns: fitting, partitionKeys: ["ds"])
        try c.execute("ALTER TABLE events ADD COLUMN hh TEXT")
        let e2 = await #expect(throws: SluiceError.self) {
            try await sink.prepare(columns: fitting, partitionKeys: ["ds", "hh"])
        }
        #expect(e2?.message.contains("the table is partitioned by (ds) but the job writes partition (ds, hh)") == true)
    }

    @Test func tableColumnsLeaveOutPartitionColumns() async throws {
        let dir = try TempDir()
        let path = dir.file("w.db")
        let c = try SQLiteConnection(path: path, options: SQLiteOpenOptions(mode: .readWrite(create: true)))
        try c.execute("CREATE TABLE hand (id INTEGER, name TEXT, note JSONB NOT NULL, ds TEXT, hh TEXT)")
        // Not registered yet: the partition keys the sink was given are left out.
        let sink = WarehouseSink(path: path, table: "hand", partitionKeys: ["ds", "hh"])
        #expect(try await sink.tableColumns() == [ColumnSpec(name: "id", type: .bigint), ColumnSpec(name: "name", type: .string),
                                                  ColumnSpec(name: "note", type: .string, nullable: false)])
        #expect(try await WarehouseSink(path: path, table: "hand").tableColumns()?.count == 5)
        #expect(try await WarehouseSink(path: path, table: "missing").tableColumns() == nil)
        #expect(try await WarehouseSink(path: dir.file("none.db"), table: "hand").tableColumns() == nil)
    }

    @Test func sqliteNativeDeclaredTypesAcceptTheirFamily() {
        let integer = WarehouseColumn(name: "a", declaredType: "INTEGER")
        #expect(integer.accepts(.int) && integer.accepts(.bigint) && integer.accepts(.boolean))
        #expect(!integer.accepts(.string))
        let text = WarehouseColumn(name: "a", declaredType: "text")
        #expect(text.accepts(.string) && text.accepts(.varchar(3)) && text.accepts(.datetime))
        #expect(!text.accepts(.double))
        #expect(WarehouseColumn(name: "a", declaredType: "REAL").accepts(.float))
        #expect(WarehouseColumn(name: "a", declaredType: "BLOB").accepts(.binary))
        #expect(WarehouseColumn(name: "a", declaredType: "NUMERIC").accepts(.decimal(precision: 10, scale: 2)))
        #expect(WarehouseColumn(name: "a", declaredType: "").accepts(.date))
        #expect(WarehouseColumn(name: "a", declaredType: "JSONB").accepts(.string))
        let exact = WarehouseColumn(name: "a", declaredType: "DECIMAL(18,2)")
        #expect(exact.accepts(.decimal(precision: 18, scale: 2)))
        #expect(!exact.accepts(.decimal(precision: 18, scale: 3)))
        #expect(!WarehouseColumn(name: "a", declaredType: "BIGINT").accepts(.int))
    }

    @Test func aSecondWriterWaitsThenFailsClearly() async throws {
        let dir = try TempDir()
        let sink = try await makeSink(dir)
        let first = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .overwrite,
                                        columns: eventColumns, provenance: provenance("1"))
        let e = await #expect(throws: SluiceError.self) {
            _ = try await sink.open(partition: try PartitionSpec(parsing: "ds=2"), mode: .overwrite,
                                    columns: eventColumns, provenance: provenance("2"))
        }
        #expect(e?.kind == .destination)
        #expect(e?.message.contains("locked by another writer") == true)
        await first.abort()
        try await writePartition(sink, "ds=2", [eventBatch(0..<1)])
    }

    @Test func discardSinkCountsAndStoresNothing() async throws {
        let sink = DiscardSink()
        try await sink.prepare(columns: eventColumns, partitionKeys: ["ds"])
        #expect(try await sink.tableColumns() == nil)
        let w = try await sink.open(partition: try PartitionSpec(parsing: "ds=1"), mode: .overwrite,
                                    columns: eventColumns, provenance: provenance())
        try await w.write(eventBatch(0..<10))
        try await w.write(eventBatch(0..<5))
        #expect(try await w.commit().rowsWritten == 15)
    }
}

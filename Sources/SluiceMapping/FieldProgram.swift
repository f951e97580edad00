import Foundation
import SluiceCore
import SluiceJob

/// How a field program reads keys and values and converts them.
public struct FieldProgramOptions: Sendable, Hashable {
    public var keyType: KafkaDataType
    public var valueType: KafkaDataType
    /// Charset of `string` keys and values (`UTF-8`, `GBK`, `GB18030`, `UTF-16`, `ISO-8859-1`, …).
    public var encoding: String
    /// Charset of header values in `__headers__` (DataWorks `headerEncoding`); a value that is not
    /// text in it is given as base64.
    public var headerEncoding = "UTF-8"
    /// JSON (value fields are JSON paths), delimited text (value fields are `[N]`, the Nth part), or
    /// Avro (paths into the decoded record).
    public var valueFormat = ValueFormat.json
    /// JSON (`__key__.path` are JSON paths) or Avro.
    public var keyFormat = ValueFormat.json
    /// Empty text becomes NULL (in every column type).
    public var emptyAsNull: Bool
    public var missingField: MissingFieldPolicy
    /// The job's zone: DATETIME/TIMESTAMP text without an offset is read in it, DATE of an epoch
    /// time is taken in it.
    public var timeZone: TimeZone
    /// What numbers mean in DATETIME/DATE/TIMESTAMP columns, unless a column's binding says.
    public var datetimeUnit: EpochUnit
    /// A `DateTimePattern` for date-time text, unless a column's binding gives one; nil = ISO-8601
    /// and `yyyy-MM-dd HH:mm:ss[.SSS]`.
    public var datetimeFormat: String?
    /// DataWorks `maxFieldLength`: bytes a STRING/VARCHAR/CHAR/BINARY value may have; nil = 8 MiB.
    public var maxFieldLength: Int?
    /// DataWorks `overLengthRule` for values over `maxFieldLength` (or VARCHAR(n)/CHAR(n)'s n
    /// characters); nil = such a value makes the record dirty.
    public var overLengthRule: OverLengthRule?
    /// The rows go to PostgreSQL: text holding a NUL character (U+0000), and JSON that `jsonb` refuses
    /// (`\u0000`, numbers beyond `numeric`), make their record dirty instead of failing the load.
    public var postgresText: Bool

    public init(keyType: KafkaDataType = .string, valueType: KafkaDataType = .string, encoding: String = "UTF-8",
                emptyAsNull: Bool = false, missingField: MissingFieldPolicy = .null,
                timeZone: TimeZone = TimeZone(identifier: "UTC")!, datetimeUnit: EpochUnit = .milliseconds,
                datetimeFormat: String? = nil, maxFieldLength: Int? = nil, overLengthRule: OverLengthRule? = nil,
                postgresText: Bool = false) {
        self.keyType = keyType
        self.valueType = valueType
        self.encoding = encoding
        self.emptyAsNull = emptyAsNull
        self.missingField = missingField
        self.timeZone = timeZone
        self.datetimeUnit = datetimeUnit
        self.datetimeFormat = datetimeFormat
        self.maxFieldLength = maxFieldLength
        self.overLengthRule = overLengthRule
        self.postgresText = postgresText
    }

    /// The options a job implies: key/value types, encoding and zone from its source (no zone =
    /// `fallbackZone`, which the application gives: the machine's), `emptyAsNull`, `maxFieldLength`
    /// and `overLengthRule` from its destination, `missingField` from its settings, `postgresText`
    /// from its destination's kind. (Date-time units and formats are per mapping entry.)
    public init(job: JobSpec, fallbackZone: TimeZone) {
        let postgres = if case .postgresql = job.destination.kind { true } else { false }
        self.init(keyType: job.source.keyType, valueType: job.source.valueType, encoding: job.source.encoding,
                  emptyAsNull: job.destination.emptyAsNull, missingField: job.settings.missingField,
                  timeZone: job.source.timeZone.flatMap { TimeZone(identifier: $0) } ?? fallbackZone,
                  maxFieldLength: job.destination.maxFieldLength, overLengthRule: job.destination.overLengthRule,
                  postgresText: postgres)
        headerEncoding = job.source.headerEncoding
        valueFormat = job.source.valueFormat
        keyFormat = job.source.keyFormat
    }
}

/// A compiled mapping: turns Kafka records into typed rows.
///
/// Compile it once per job (it is `Sendable` and immutable) and call `run` per batch. Each record's
/// value is scanned once for all mapped JSON paths (and its key once if key paths are mapped); when
/// no path is mapped nothing is parsed. A record that cannot be converted is reported to the
/// `DirtyCollector` and produces no row.
public struct FieldProgram: Sendable {
    /// One output column and the source field that fills it (nil: NULL).
    public struct Binding: Sendable, Hashable {
        public var definition: String?
        public var column: ColumnSpec
        /// What numbers mean in this DATETIME/DATE/TIMESTAMP column; nil = `options.datetimeUnit`.
        public var unit: EpochUnit?
        /// A `DateTimePattern` for this column's date-time text; nil = `options.datetimeFormat`.
        public var format: String?
        public init(definition: String?, column: ColumnSpec, unit: EpochUnit? = nil, format: String? = nil) {
            self.definition = definition
            self.column = column
            self.unit = unit
            self.format = format
        }
    }

    enum Op: Sendable {
        case null
        /// Index into `constants` (an index keeps `Op` trivial to copy on the hot path).
        case constant(Int)
        case partition, offset, timestamp, headers
        case key(raw: Bool)
        case value(raw: Bool)
        case valuePath(Int)
        case keyPath(Int)
        /// The Nth part of a text value (`valueFormat` text).
        case textField(Int)
        /// Path `slot` of an Avro or Protobuf value (`valueFormat` avro, protobuf).
        case avroPath(Int)
        /// Path `slot` of an Avro key (`keyFormat` avro).
        case avroKeyPath(Int)
    }

    /// The output columns, in order (the `RowBatch` passed to `run` must have exactly these).
    public let columns: [ColumnSpec]
    /// The source field definition of each column (nil for an unmapped column).
    public let definitions: [String?]
    public let options: FieldProgramOptions
    let ops: [Op]
    let valuePaths: [[PathComponent]]
    let keyPaths: [[PathComponent]]
    let valueScanner: JSONPathScanner
    let keyScanner: JSONPathScanner
    /// Each column's type, nullability and date-time reading.
    let conversions: [ColumnConversion]
    let patterns: [DateTimePattern]
    /// The constants' converted values.
    let constants: [Value]
    let utf8: Bool
    let needsHeaders: Bool
    /// The delimiter of a text value whose parts are mapped (UTF-8); nil when none is.
    let textDelimiter: [UInt8]?
    /// The paths into Avro values (`valueFormat` avro) and keys (`keyFormat` avro), by slot.
    let avroPaths: [[PathComponent]]
    let avroKeyPaths: [[PathComponent]]
    /// The Avro decoders (per schema), when Avro value paths are mapped. `runSplit` fetches the
    /// schemas of a batch's new registry ids before converting it; `prepare` does it for `run`.
    public let avro: AvroDecoders?
    /// The Avro decoders of keys, when Avro key paths are mapped.
    public let avroKey: AvroDecoders?

    /// The UTF-8 delimiter of a text value when `ops` read its parts.
    static func textDelimiter(_ format: ValueFormat, _ ops: [Op]) -> [UInt8]? {
        guard case .text(let delimiter) = format, ops.contains(where: { if case .textField = $0 { true } else { false } }) else { return nil }
        return Array(delimiter.utf8)
    }

    /// True when records' values are parsed as JSON (some value path is mapped).
    public var parsesValueJSON: Bool { !valuePaths.isEmpty }
    /// True when records' keys are parsed as JSON.
    public var parsesKeyJSON: Bool { !keyPaths.isEmpty }

    /// Compiles `(field definition, column)` pairs; the output columns are the pairs' columns in order.
    /// Throws `.invalidInput` naming the column for a definition that does not parse, a path into a
    /// key or value that cannot be JSON, a constant the column cannot hold, a field or column used
    /// twice, an unknown encoding or an invalid datetime format.
    public init(mapping: [(definition: String, column: ColumnSpec)], options: FieldProgramOptions = FieldProgramOptions(),
                avro: AvroSchemaProvider? = nil, avroKey: AvroSchemaProvider? = nil) throws(SluiceError) {
        try self.init(bindings: mapping.map { Binding(definition: $0.definition, column: $0.column) }, options: options,
                      avro: avro, avroKey: avroKey)
    }

    /// Compiles a job's mapping against a table's columns: the output is every table column in table
    /// order, NULL where no field maps to it. Every `to` must name a table column (case-insensitive).
    public init(table: [ColumnSpec], mapping: [FieldMapping], options: FieldProgramOptions = FieldProgramOptions(),
                avro: AvroSchemaProvider? = nil, avroKey: AvroSchemaProvider? = nil) throws(SluiceError) {
        if let first = MappingRules.conflicts(in: mapping).first { throw SluiceError.invalid(first.description) }
        var byColumn: [Int: FieldMapping] = [:]
        for (i, m) in mapping.enumerated() {
            guard let to = m.to else {
                throw SluiceError.invalid("mapping[\(i)] ('\(m.from)') has no destination column")
            }
            guard let c = table.firstIndex(where: { $0.name.lowercased() == to.lowercased() }) else {
                throw SluiceError.invalid("mapping[\(i)] maps '\(m.from)' to column '\(to)', which the table does not have",
                                          hint: "the table's columns: \(table.map(\.name).joined(separator: ", "))")
            }
            byColumn[c] = m
        }
        try self.init(bindings: table.enumerated().map { c, column in
            let m = byColumn[c]
            return Binding(definition: m?.from, column: column, unit: m?.unit, format: m?.format)
        }, options: options, avro: avro, avroKey: avroKey)
    }

    /// Compiles bindings; see `init(mapping:options:)`. With `valueFormat` (`keyFormat`) avro, `avro`
    /// (`avroKey`) says where the schemas come from (an inline schema needs nothing).
    public init(bindings: [Binding], options: FieldProgramOptions = FieldProgramOptions(),
                avro: AvroSchemaProvider? = nil, avroKey: AvroSchemaProvider? = nil) throws(SluiceError) {
        try Self.check(bindings, options)
        utf8 = TextEncoding.isUTF8(options.encoding)
        let (conversions, patterns) = try Self.conversions(bindings, options)
        var compiler = OpCompiler(options: options, converter: Converter(
            emptyAsNull: options.emptyAsNull, zone: options.timeZone, patterns: patterns,
            maxFieldLength: options.maxFieldLength, overLengthRule: options.overLengthRule, postgresText: options.postgresText))
        for (c, b) in bindings.enumerated() { try compiler.add(b, conversion: conversions[c]) }
        self.columns = bindings.map(\.column)
        self.definitions = bindings.map(\.definition)
        self.options = options
        self.ops = compiler.ops
        self.valuePaths = compiler.valuePaths
        self.keyPaths = compiler.keyPaths
        self.valueScanner = JSONPathScanner(paths: compiler.valuePaths)
        self.keyScanner = JSONPathScanner(paths: compiler.keyPaths)
        self.needsHeaders = compiler.needsHeaders
        textDelimiter = Self.textDelimiter(options.valueFormat, compiler.ops)
        avroPaths = compiler.avroPaths
        avroKeyPaths = compiler.avroKeyPaths
        self.avro = try Self.avroDecoders(options.valueFormat, avro, paths: compiler.avroPaths, key: false)
        self.avroKey = try Self.avroDecoders(options.keyFormat, avroKey, paths: compiler.avroKeyPaths, key: true)
        self.conversions = conversions
        self.patterns = patterns
        self.constants = compiler.constants
    }

    /// The decoders of Avro values when their paths are mapped.
    private static func avroDecoders(_ format: ValueFormat, _ given: AvroSchemaProvider?,
                                     paths: [[PathComponent]], key: Bool) throws(SluiceError) -> AvroDecoders? {
        if format.isProtobuf, !paths.isEmpty {
            guard let given else {
                throw SluiceError.invalid("\(key ? "keyFormat" : "valueFormat") protobuf needs the schema registry", hint: "pass AvroSchemaProvider.registry")
            }
            return try AvroDecoders(provider: given, paths: paths, key: key, protobuf: true)
        }
        guard case .avro(let spec) = format, !paths.isEmpty else { return nil }
        if let given { return try AvroDecoders(provider: given, paths: paths, key: key) }
        switch spec {
        case .inline(let text): return try AvroDecoders(provider: .schema(text), paths: paths, key: key)
        case .file(let path):
            throw SluiceError.invalid("the Avro schema file \(path) was not read", hint: "pass its text as AvroSchemaProvider.schema")
        case .registry:
            throw SluiceError.invalid("valueFormat avro with a schema registry needs the registry", hint: "pass AvroSchemaProvider.registry")
        }
    }

    /// The mapping rules (one-to-one both ways) and the encodings.
    private static func check(_ bindings: [Binding], _ options: FieldProgramOptions) throws(SluiceError) {
        let conflicts = MappingRules.conflicts(in: bindings.compactMap { b in
            b.definition.map { FieldMapping(from: $0, to: b.column.name) }
        })
        if let first = conflicts.first { throw SluiceError.invalid(first.description) }
        for (what, name) in [("encoding", options.encoding), ("headerEncoding", options.headerEncoding)]
        where !TextEncoding.isUTF8(name) && !TextEncoding.isSupported(name) {
            throw SluiceError.invalid("\(what) '\(name)' is not known",
                                      hint: "use a charset name such as UTF-8, GBK, GB18030, UTF-16, ISO-8859-1")
        }
    }

    /// Each column's conversion, and the date-time patterns they refer to (by index; -1 for none).
    private static func conversions(_ bindings: [Binding], _ options: FieldProgramOptions) throws(SluiceError)
        -> ([ColumnConversion], [DateTimePattern]) {
        func pattern(_ f: String?, column: String?) throws(SluiceError) -> DateTimePattern? {
            guard let f else { return nil }
            guard let p = DateTimePattern(f) else {
                throw SluiceError.invalid((column.map { "column '\($0)': " } ?? "") + "datetime format '\(f)' is not supported",
                                          hint: "use the letters yyyy MM dd HH mm ss S…, e.g. 'yyyy-MM-dd HH:mm:ss' or 'yyyyMMddHHmmss'")
            }
            return p
        }
        var patterns: [DateTimePattern] = []
        func index(_ p: DateTimePattern?) -> Int {
            guard let p else { return -1 }
            if let i = patterns.firstIndex(of: p) { return i }
            patterns.append(p)
            return patterns.count - 1
        }
        let defaultPattern = index(try pattern(options.datetimeFormat, column: nil))
        var conversions: [ColumnConversion] = []
        for b in bindings {
            if b.unit != nil || b.format != nil {
                switch b.column.type {
                case .datetime, .date, .timestamp: break
                default:
                    throw SluiceError.invalid("column '\(b.column.name)' is \(b.column.type): a date-time \(b.unit != nil ? "unit" : "format") applies only to DATETIME, DATE and TIMESTAMP columns")
                }
            }
            conversions.append(ColumnConversion(type: b.column.type, nullable: b.column.nullable,
                                                unit: b.unit ?? options.datetimeUnit,
                                                pattern: b.format == nil ? defaultPattern : index(try pattern(b.format, column: b.column.name))))
        }
        return (conversions, patterns)
    }

    /// Compiles bindings one by one into the program's operations, constants and JSON paths.
    private struct OpCompiler {
        let options: FieldProgramOptions
        let converter: Converter
        var ops: [Op] = []
        var constants: [Value] = []
        var valuePaths: [[PathComponent]] = []
        var keyPaths: [[PathComponent]] = []
        var avroPaths: [[PathComponent]] = []
        var avroKeyPaths: [[PathComponent]] = []
        var needsHeaders = false

        init(options: FieldProgramOptions, converter: Converter) {
            self.options = options
            self.converter = converter
        }

        mutating func add(_ b: Binding, conversion: ColumnConversion) throws(SluiceError) {
            let col = b.column
            guard let def = b.definition else {
                guard col.nullable else {
                    throw SluiceError.invalid("column '\(col.name)' is NOT NULL but no source field maps to it")
                }
                ops.append(.null)
                return
            }
            let field: SourceField
            do {
                field = try SourceField(parsing: def)
            } catch {
                throw SluiceError.invalid("column '\(col.name)': \(error.description)")
            }
            let raw = col.type == .binary
            switch field {
            case .builtin(.partition): ops.append(.partition)
            case .builtin(.offset): ops.append(.offset)
            case .builtin(.timestamp): ops.append(.timestamp)
            case .builtin(.headers): ops.append(.headers); needsHeaders = true
            case .builtin(.key): ops.append(.key(raw: raw))
            case .builtin(.value): ops.append(.value(raw: raw))
            case .constant(let text): try addConstant(text, def, col, conversion)
            case .valuePath(let path): try addValuePath(path, def, col)
            case .keyPath(let path) where options.keyFormat.isSchemaDecoded:
                ops.append(.avroKeyPath(avroKeyPaths.count))
                avroKeyPaths.append(path)
            case .keyPath(let path):
                guard options.keyType == .string || options.keyType == .bytearray else {
                    throw SluiceError.invalid("column '\(col.name)': field '\(def)' reads JSON from the key, but keyType is \(options.keyType.rawValue)",
                                              hint: "JSON paths need keyType string or bytearray")
                }
                ops.append(.keyPath(keyPaths.count))
                keyPaths.append(path)
            }
        }

        private mutating func addConstant(_ text: String, _ def: String, _ col: ColumnSpec,
                                          _ conversion: ColumnConversion) throws(SluiceError) {
            do {
                let converted = try FastText.withUTF8(text) { [converter] (b) throws(DirtyReason) in
                    var converter = converter
                    return try converter.convert(.text(b), to: conversion)
                }
                constants.append(converted)
                ops.append(.constant(constants.count - 1))
            } catch {
                throw SluiceError.invalid("column '\(col.name)': constant \(def) cannot be a \(col.type): \(error.message)")
            }
        }

        private mutating func addValuePath(_ path: [PathComponent], _ def: String, _ col: ColumnSpec) throws(SluiceError) {
            guard options.valueType == .string || options.valueType == .bytearray else {
                throw SluiceError.invalid("column '\(col.name)': field '\(def)' reads JSON from the value, but valueType is \(options.valueType.rawValue)",
                                          hint: "JSON paths need valueType string or bytearray")
            }
            if case .text = options.valueFormat {
                guard path.count == 1, case .index(let n) = path[0] else {
                    throw SluiceError.invalid("column '\(col.name)': field '\(def)': a text value's fields are addressed by index, [0] for the first")
                }
                ops.append(.textField(n))
                return
            }
            if options.valueFormat.isSchemaDecoded {
                ops.append(.avroPath(avroPaths.count))
                avroPaths.append(path)
                return
            }
            ops.append(.valuePath(valuePaths.count))
            valuePaths.append(path)
        }
    }

    /// Converts every record of `batch` and appends one row per clean record to `rows` (whose
    /// columns must be `columns`). Dirty records go to `dirty`, which throws `.dirtyLimit` when its
    /// record limit is exceeded; rows appended before that stay in `rows`.
    ///
    /// Inlinable so that it is specialised for the caller's batch type; the per-record work is in
    /// `Runner`, compiled once.
    @inlinable
    public func run<B: RecordBatch>(_ batch: B, into rows: inout RowBatch, dirty: inout DirtyCollector) throws(SluiceError) {
        try run(batch, records: 0..<batch.count, into: &rows, dirty: &dirty)
    }

    /// `run` over the records `range` of `batch` only.
    @inlinable
    public func run<B: RecordBatch>(_ batch: B, records range: Range<Int>, into rows: inout RowBatch,
                                    dirty: inout DirtyCollector) throws(SluiceError) {
        precondition(rows.columns == columns, "RowBatch columns differ from the field program's columns")
        let runner = Runner(self)
        let needsHeaders = runner.needsHeaders
        dirty.countRead(range.count)
        for i in range {
            let partition = batch.partition(at: i)
            let offset = batch.offset(at: i)
            let timestamp = batch.timestamp(at: i)
            if needsHeaders { runner.renderHeaders(batch, record: i) }
            let clean = batch.withKey(at: i) { key in
                batch.withValue(at: i) { value in
                    runner.process(key: key, value: value, partition: partition, offset: offset, timestamp: timestamp,
                                   into: &rows)
                }
            }
            if !clean { try dirty.add(runner.takeDirty()) }
        }
        dirty.countOverLength(runner.overLength)
    }

    /// `run` on two threads, with the same result: a child task converts the second half of `batch`
    /// into rows of its own while the calling task converts the first half into `rows`; the second
    /// half's rows are then appended after the first's, and its dirty records after the first's.
    /// Batches of fewer than `splitAt` records are converted on the calling task alone.
    ///
    /// The record limit of `dirty` is checked in record order, as `run` does: the second half collects
    /// without a limit and its dirty records count towards it only when merged, so the error names the
    /// same record as on one thread.
    @inlinable
    public func runSplit<B: RecordBatch & Sendable>(_ batch: B, into rows: inout RowBatch, dirty: inout DirtyCollector,
                                                    splitAt: Int = 2_048) async throws(SluiceError) {
        if let avro { try await avro.prepare(batch) }
        if let avroKey { try await avroKey.prepare(batch) }
        let n = batch.count
        guard n >= max(splitAt, 2) else {
            try run(batch, into: &rows, dirty: &dirty)
            return
        }
        let middle = n / 2
        let bytesPerRow = rows.rowCount > 0 ? rows.arenaBytes / rows.rowCount + 1 : 256
        let maxKept = dirty.maxKept
        let second = Task { () -> Result<(RowBatch, DirtyCollector), SluiceError> in
            var secondRows = RowBatch(columns: columns, reservingRows: n - middle, bytes: (n - middle) * bytesPerRow)
            var secondDirty = DirtyCollector(maxKept: maxKept)
            do throws(SluiceError) {
                try run(batch, records: middle..<n, into: &secondRows, dirty: &secondDirty)
            } catch {
                return .failure(error)
            }
            return .success((secondRows, secondDirty))
        }
        var firstFailure: SluiceError?
        do throws(SluiceError) {
            try run(batch, records: 0..<middle, into: &rows, dirty: &dirty)
        } catch {
            firstFailure = error
        }
        let converted = await second.value  // awaited whatever happened: the child reads the batch
        if let firstFailure { throw firstFailure }
        let (secondRows, secondDirty) = try converted.get()
        rows.append(contentsOf: secondRows)
        try dirty.merge(secondDirty)
    }

    /// Converts one record: its row, or the dirty record it makes. For previews and tests.
    public func evaluate(_ record: OwnedRecord) -> Result<[Value], DirtyRecord> {
        let runner = Runner(self)
        var rows = RowBatch(columns: columns, reservingRows: 1)
        let batch = OwnedRecordBatch([record])
        if runner.needsHeaders { runner.renderHeaders(batch, record: 0) }
        let clean = batch.withKey(at: 0) { key in
            batch.withValue(at: 0) { value in
                runner.process(key: key, value: value, partition: record.partition, offset: record.offset,
                               timestamp: record.timestamp, into: &rows)
            }
        }
        return clean ? .success(Array(rows.row(0))) : .failure(runner.takeDirty())
    }

    func makeDirty(column: Int?, reason: DirtyReason, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?,
                   partition: Int32, offset: Int64, timestamp: Int64) -> DirtyRecord {
        let max = DirtyCollector.maxRawBytes
        return DirtyRecord(partition: partition, offset: offset, timestamp: timestamp,
                           column: column.map { columns[$0].name }, field: column.flatMap { definitions[$0] },
                           reason: reason,
                           key: key.map { Array($0.prefix(max)) }, keyTruncated: (key?.count ?? 0) > max,
                           value: value.map { Array($0.prefix(max)) }, valueTruncated: (value?.count ?? 0) > max)
    }
}

/// One run's state behind a reference, so that the inlinable `run` can call into it without
/// exposing its parts.
@usableFromInline
final class Runner {
    /// Only this runner touches it, from one thread at a time: no dynamic exclusivity checks.
    @exclusivity(unchecked) var state: RunState
    @usableFromInline let needsHeaders: Bool

    @usableFromInline
    init(_ program: FieldProgram) {
        state = RunState(program)
        needsHeaders = program.needsHeaders
    }

    var dirty: DirtyRecord?
    /// Values of clean rows that `overLengthRule` changed or kept whole.
    @usableFromInline var overLength = 0

    /// Renders record `i`'s headers for `__headers__`; called before `process` when the program maps them.
    @usableFromInline @_specialize(where B == OwnedRecordBatch)
    func renderHeaders<B: RecordBatch>(_ batch: B, record i: Int) {
        HeadersJSON.render(batch, record: i, into: state.headersText, decoding: state.headerDecoder)
    }

    /// Appends the record's row to `rows` (its headers rendered by `renderHeaders` first); false when
    /// the record is dirty (no row is appended), which `takeDirty()` then returns.
    @usableFromInline
    func process(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, partition: Int32, offset: Int64,
                 timestamp: Int64, into rows: inout RowBatch) -> Bool {
        state.converter.overLength = 0
        var failure: (Int?, DirtyReason)?
        rows.appendRow { row in
            failure = state.process(key: key, value: value, partition: partition, offset: offset,
                                    timestamp: timestamp, into: &row)
            return failure == nil
        }
        guard let (column, reason) = failure else {
            overLength += state.converter.overLength
            return true
        }
        dirty = state.program.makeDirty(column: column, reason: reason, key: key, value: value, partition: partition,
                                        offset: offset, timestamp: timestamp)
        return false
    }

    /// The dirty record of the last `process` that returned false.
    @usableFromInline
    func takeDirty() -> DirtyRecord {
        defer { dirty = nil }
        return dirty!
    }
}

/// The mutable part of a run: scanners, converter, transcoders and scratch buffers.
struct RunState {
    let program: FieldProgram
    let ops: [FieldProgram.Op]
    var valueScanner: JSONPathScanner
    var keyScanner: JSONPathScanner
    var converter: Converter
    let transcoder: Transcoder?
    let keyText = ByteBuffer()
    let valueText = ByteBuffer()
    let headersText = ByteBuffer()
    /// The parts of this record's text value (byte ranges of its UTF-8 text), when they are mapped.
    var textFields: [Range<Int>] = []
    /// Header values in a `headerEncoding` other than UTF-8; nil for UTF-8.
    let headerDecoder: HeaderDecoder?
    var scratch: [UInt8] = []
    let keyType: KafkaDataType
    let valueType: KafkaDataType
    let missingDirty: Bool
    let conversions: [ColumnConversion]
    /// This record's decoded Avro value (`valueFormat` avro) and key (`keyFormat` avro).
    var avro: AvroRecordState
    var avroKey: AvroRecordState

    init(_ program: FieldProgram) {
        self.program = program
        ops = program.ops
        valueScanner = program.valueScanner
        keyScanner = program.keyScanner
        converter = Converter(emptyAsNull: program.options.emptyAsNull, zone: program.options.timeZone,
                              patterns: program.patterns, maxFieldLength: program.options.maxFieldLength,
                              overLengthRule: program.options.overLengthRule, postgresText: program.options.postgresText)
        transcoder = program.utf8 ? nil : Transcoder(from: program.options.encoding)
        headerDecoder = TextEncoding.isUTF8(program.options.headerEncoding) ? nil
            : Transcoder(from: program.options.headerEncoding).map { HeaderDecoder(transcoder: $0) }
        scratch.reserveCapacity(256)
        keyType = program.options.keyType
        valueType = program.options.valueType
        missingDirty = program.options.missingField == .dirty
        conversions = program.conversions
        avro = AvroRecordState(slots: program.avroPaths.count, key: false)
        avroKey = AvroRecordState(slots: program.avroKeyPaths.count, key: true)
    }

    /// Text of a `string` key or value in UTF-8: the bytes themselves, or their transcoding.
    mutating func text(_ bytes: UnsafeRawBufferPointer, _ buffer: ByteBuffer, what: String) -> Result<UnsafeRawBufferPointer, DirtyReason> {
        guard let transcoder else { return .success(bytes) }
        guard transcoder.decode(bytes, into: buffer) else {
            return .failure(DirtyReason(.invalidText, "the \(what) is not valid \(transcoder.encoding) text"))
        }
        return .success(buffer.bytes)
    }

    /// Fills `row`; returns the failing column (nil: the whole record) and the reason for a dirty record.
    mutating func process(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?, partition: Int32, offset: Int64,
                          timestamp: Int64, into rows: inout RowWriter) -> (Int?, DirtyReason)? {
        // Text views of key and value, transcoded at most once.
        var keyView: UnsafeRawBufferPointer? = nil
        var valueView: UnsafeRawBufferPointer? = nil
        var keyDecoded = false
        var valueDecoded = false

        if !program.valuePaths.isEmpty || program.textDelimiter != nil, let value {
            switch view(value, valueType, valueText, what: "value", decoded: &valueDecoded) {
            case .success(let v): valueView = v
            case .failure(let r): return (nil, r)
            }
            if !program.valuePaths.isEmpty, let e = valueScanner.scan(valueView!) {
                return (nil, DirtyReason(.notJSON, "the value is \(e.description), but JSON fields are mapped (\(program.valuePaths.map { SourceField.valuePath($0).description }.joined(separator: ", ")))"))
            }
            if let delimiter = program.textDelimiter {
                textFields.removeAll(keepingCapacity: true)
                Self.split(valueView!, at: delimiter, into: &textFields)
            }
        }
        if let decoders = program.avro, let failure = decodeAvro(value, decoders) {
            return (nil, failure)
        }
        if let decoders = program.avroKey, let failure = decodeAvroKey(key, decoders) {
            return (nil, failure)
        }
        if !program.keyPaths.isEmpty, let key {
            switch view(key, keyType, keyText, what: "key", decoded: &keyDecoded) {
            case .success(let v): keyView = v
            case .failure(let r): return (nil, r)
            }
            if let e = keyScanner.scan(keyView!) {
                return (nil, DirtyReason(.notJSON, "the key is \(e.description), but JSON fields of the key are mapped (\(program.keyPaths.map { SourceField.keyPath($0).description }.joined(separator: ", ")))"))
            }
        }

        for c in 0..<ops.count {
            let column = conversions[c]
            do throws(DirtyReason) {
                switch ops[c] {
                case .null:
                    continue
                case .constant(let k):
                    rows.set(c, program.constants[k])
                case .partition:
                    if case .bigint = column.type { rows.set(c, stored: .int(Int64(partition))); continue }
                    try convert(.int(Int64(partition)), column, &rows, c)
                case .offset:
                    if case .bigint = column.type { rows.set(c, stored: .int(offset)); continue }
                    try convert(.int(offset), column, &rows, c)
                case .timestamp:
                    // Epoch milliseconds into DATETIME are taken as they are (always in range).
                    if case .datetime = column.type, column.unit == .milliseconds, timestamp >= 0,
                       timestamp <= Converter.maxDatetimeMillis {
                        rows.set(c, stored: .datetime(timestamp))
                        continue
                    }
                    try convert(timestamp < 0 ? .null : .int(timestamp), column, &rows, c)
                case .headers:
                    try convert(.text(headersText.bytes), column, &rows, c)
                case .key(let raw):
                    try whole(key, raw: raw, keyType, keyText, "key", &keyView, &keyDecoded, column, &rows, c)
                case .value(let raw):
                    try whole(value, raw: raw, valueType, valueText, "value", &valueView, &valueDecoded, column, &rows, c)
                case .valuePath(let slot):
                    try pathCell(valueView, valueScanner.span(slot), slot, key: false, column, &rows, c)
                case .keyPath(let slot):
                    try pathCell(keyView, keyScanner.span(slot), slot, key: true, column, &rows, c)
                case .textField(let n):
                    try textCell(valueView, n, column, &rows, c)
                case .avroPath(let slot):
                    try avroCell(slot, column, &rows, c)
                case .avroKeyPath(let slot):
                    try avroKeyCell(slot, column, &rows, c)
                }
            } catch {
                return (c, error)
            }
        }
        return nil
    }

    @inline(__always)
    mutating func convert(_ cell: Cell, _ column: ColumnConversion, _ rows: inout RowWriter, _ c: Int) throws(DirtyReason) {
        try converter.convert(cell, to: column, into: &rows, at: c)
    }

    /// JSON path `slot` of the key or value (`doc`, nil when null) into cell `c`; `span` is what the
    /// scan found.
    @inline(__always)
    mutating func pathCell(_ doc: UnsafeRawBufferPointer?, _ span: JSONSpan, _ slot: Int, key: Bool,
                           _ column: ColumnConversion, _ rows: inout RowWriter, _ c: Int) throws(DirtyReason) {
        guard let doc else { return try convert(.null, column, &rows, c) }
        if span.isPresent {
            try convertSpan(span, doc, column, &rows, c)
        } else if missingDirty {
            throw missing(key ? program.keyPaths[slot] : program.valuePaths[slot], doc, key: key)
        } else {
            try convert(.null, column, &rows, c)
        }
    }

    /// `bytes` as the text that paths address: transcoded into `buffer` when `type` is `string`
    /// (`decoded` then says so), as they are otherwise.
    @inline(__always)
    mutating func view(_ bytes: UnsafeRawBufferPointer, _ type: KafkaDataType, _ buffer: ByteBuffer, what: String,
                       decoded: inout Bool) -> Result<UnsafeRawBufferPointer, DirtyReason> {
        guard type == .string else { return .success(bytes) }
        decoded = true
        return text(bytes, buffer, what: what)
    }

    /// Part `n` of the text value `doc` (nil when null) into cell `c`.
    @inline(__always)
    mutating func textCell(_ doc: UnsafeRawBufferPointer?, _ n: Int, _ column: ColumnConversion,
                           _ rows: inout RowWriter, _ c: Int) throws(DirtyReason) {
        guard let doc else { return try convert(.null, column, &rows, c) }
        if n < textFields.count {
            return try convert(.text(UnsafeRawBufferPointer(rebasing: doc[textFields[n]])), column, &rows, c)
        }
        if missingDirty {
            throw DirtyReason(.missingField, "field '[\(n)]' is missing from the value: it has \(textFields.count) field\(textFields.count == 1 ? "" : "s") (missingField: dirty)")
        }
        try convert(.null, column, &rows, c)
    }

    /// The byte ranges of `text`'s parts between `delimiter`s (an empty text is one empty part).
    static func split(_ text: UnsafeRawBufferPointer, at delimiter: [UInt8], into parts: inout [Range<Int>]) {
        let n = text.count, d = delimiter.count
        var start = 0, i = 0
        guard let first = delimiter.first else { parts.append(0..<n); return }
        while i + d <= n {
            if text[i] == first && (d == 1 || (1..<d).allSatisfy { text[i + $0] == delimiter[$0] }) {
                parts.append(start..<i)
                i += d
                start = i
            } else {
                i += 1
            }
        }
        parts.append(start..<n)
    }

    /// `__key__` or `__value__` into cell `c`: the raw bytes for BINARY, else read as `type`
    /// (`string` text is transcoded once per record into `view`).
    @inline(__always)
    mutating func whole(_ bytes: UnsafeRawBufferPointer?, raw: Bool, _ type: KafkaDataType, _ buffer: ByteBuffer, _ what: String,
                        _ view: inout UnsafeRawBufferPointer?, _ decoded: inout Bool, _ column: ColumnConversion,
                        _ rows: inout RowWriter, _ c: Int) throws(DirtyReason) {
        guard let bytes else { return try convert(.null, column, &rows, c) }
        if raw {
            try convert(.bytes(bytes), column, &rows, c)
        } else if type == .string {
            if !decoded {
                view = try text(bytes, buffer, what: what).get()
                decoded = true
            }
            try convert(.text(view!), column, &rows, c)
        } else {
            try typed(bytes, type, what, column, &rows, c)
        }
    }

    mutating func typed(_ bytes: UnsafeRawBufferPointer, _ type: KafkaDataType, _ what: String, _ column: ColumnConversion,
                        _ rows: inout RowWriter, _ c: Int) throws(DirtyReason) {
        switch type {
        case .bytearray: try convert(.bytes(bytes), column, &rows, c)
        case .long, .integer, .short:
            guard let v = KafkaBytes.integer(bytes, as: type) else {
                throw DirtyReason(.wrongLength, "the \(what) has \(bytes.count) bytes; a \(type.rawValue) has \(KafkaBytes.width(of: type)!)")
            }
            try convert(.int(v), column, &rows, c)
        case .double, .float:
            guard let v = KafkaBytes.floating(bytes, as: type) else {
                throw DirtyReason(.wrongLength, "the \(what) has \(bytes.count) bytes; a \(type.rawValue) has \(KafkaBytes.width(of: type)!)")
            }
            try convert(.double(v), column, &rows, c)
        case .string: try convert(.text(bytes), column, &rows, c)
        }
    }

    mutating func convertSpan(_ span: JSONSpan, _ doc: UnsafeRawBufferPointer, _ column: ColumnConversion,
                              _ rows: inout RowWriter, _ c: Int) throws(DirtyReason) {
        let p = doc.baseAddress!.assumingMemoryBound(to: UInt8.self)
        switch span.kind {
        case .null: try convert(.null, column, &rows, c)
        case .true: try convert(.bool(true), column, &rows, c)
        case .false: try convert(.bool(false), column, &rows, c)
        case .number: try convert(.number(UnsafeRawBufferPointer(rebasing: doc[span.start..<span.end])), column, &rows, c)
        case .string:
            // A JSON column takes the string as JSON (quotes and escapes as written).
            if case .json = column.type {
                return try convert(.json(UnsafeRawBufferPointer(rebasing: doc[span.start..<span.end])), column, &rows, c)
            }
            if !span.escaped {
                return try convert(.text(UnsafeRawBufferPointer(rebasing: doc[(span.start + 1)..<(span.end - 1)])), column, &rows, c)
            }
            JSONText.unescape(p, span, into: &scratch)
            // Moved out for the call, so that converting may use `self`.
            let buffer = scratch
            scratch = []
            defer { scratch = buffer }
            try Self.withBytes(buffer) { (b) throws(DirtyReason) in try convert(.text(b), column, &rows, c) }
        case .object, .array:
            JSONText.compact(p, span, into: &scratch)
            let buffer = scratch
            scratch = []
            defer { scratch = buffer }
            try Self.withBytes(buffer) { (b) throws(DirtyReason) in try convert(.json(b), column, &rows, c) }
        }
    }

    /// `Array.withUnsafeBytes` for a body with typed throws.
    static func withBytes(_ a: [UInt8], _ body: (UnsafeRawBufferPointer) throws(DirtyReason) -> Void) throws(DirtyReason) {
        var failure: DirtyReason?
        a.withUnsafeBytes { b in
            do throws(DirtyReason) { try body(b) } catch { failure = error }
        }
        if let failure { throw failure }
    }

    func missing(_ path: [PathComponent], _ doc: UnsafeRawBufferPointer, key: Bool) -> DirtyReason {
        let field = key ? SourceField.keyPath(path) : SourceField.valuePath(path)
        var message = "field '\(field)' is missing from the \(key ? "key" : "value") (missingField: dirty)"
        if !key, let note = SourceField.explainMissing(path: path, definition: field.description, in: Array(doc)) {
            message += "; " + note.message
        }
        return DirtyReason(.missingField, message)
    }
}

#!/usr/bin/env python3
"""The baseline of `scripts/bench maxcompute`: pyodps's Cython record writer encoding the same
10-column rows as maxcompute-encode-bench (records built beforehand, only writing is timed)."""
import datetime
import decimal
import io
import sys
import time

from odps import options
from odps.models import Record, TableSchema
from odps.tunnel.io.writer import BaseRecordWriter

options.local_timezone = False
rows = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
schema = TableSchema.from_lists(
    ["id", "partition", "offset", "key", "value", "price", "ok", "event_time", "amount", "day"],
    ["bigint", "int", "bigint", "string", "string", "double", "boolean", "datetime", "decimal(18,2)", "date"],
)
epoch = datetime.datetime(2024, 1, 2, 3, 4, 5)
records = []
for i in range(10000):
    records.append(Record(schema=schema, values=[
        i * 7919, i % 12, 1000000 + i, "user-%d" % (i % 997),
        '{"event":"click","page":"/p/%d","n":%d}' % (i, i % 100), i * 0.37, i % 3 == 0,
        epoch + datetime.timedelta(seconds=i), decimal.Decimal("%d.%02d" % (i % 100000, i % 100)),
        datetime.date(2024, 1, 2) + datetime.timedelta(days=i % 30),
    ]))
best = None
for _ in range(3):
    out = io.BytesIO()
    w = BaseRecordWriter(schema, out)
    start = time.perf_counter()
    done = 0
    while done < rows:
        for r in records:
            w.write(r)
        done += len(records)
    w.close()
    elapsed = time.perf_counter() - start
    size = len(out.getvalue())
    if best is None or elapsed < best[0]:
        best = (elapsed, size, done)
elapsed, size, done = best
print("rows=%d stream=%.1f MB best of 3: %.3f s  %.1f MB/s of record stream  %.2f M rows/s"
      % (done, size / 1e6, elapsed, size / 1e6 / elapsed, done / 1e6 / elapsed))

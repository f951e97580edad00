#!/usr/bin/env python3
"""Decodes one tunnel block with pyodps's TunnelRecordReader (strict) and prints its rows as JSON.

usage: pyodps_decode.py BLOCK_FILE SCHEMA_JSON none|deflate

SCHEMA_JSON is a list of [name, type] pairs. Each value is printed as a tagged string so that the
Swift test can compare exactly: "i:<int>", "d:<hex of 8 LE bytes>", "f:<hex of 4 LE bytes>",
"s:<text>", "b:<hex>", "t:true|false", "dt:<epoch ms>", "date:<epoch days>", "ts:<sec>:<nanos>",
"dec:<text>", null for NULL. Exits non-zero (with the reason on stderr) if pyodps rejects the stream,
has to reopen it, or the compressed frame is not a complete zlib stream.
"""
import datetime
import decimal
import io
import json
import struct
import sys
import zlib

from odps import options
from odps.models import TableSchema
from odps.tunnel.io.reader import TunnelRecordReader
from odps.tunnel.io.stream import CompressOption, get_decompress_stream

options.local_timezone = False
options.tunnel.require_stream_footer = True
# Dates before 1928 are valid MaxCompute values; pyodps only warns about local-time ambiguity.
options.allow_antique_date = True


def main():
    path, schema_json, compress = sys.argv[1], sys.argv[2], sys.argv[3]
    data = open(path, "rb").read()
    cols = json.loads(schema_json)
    schema = TableSchema.from_lists([c[0] for c in cols], [c[1] for c in cols])
    types = [c[1].lower() for c in cols]

    if compress == "deflate":
        # Our own strictness: exactly one complete zlib stream, nothing after it.
        d = zlib.decompressobj(zlib.MAX_WBITS)
        d.decompress(data)
        if not d.eof or d.unused_data:
            sys.exit("not exactly one complete zlib stream")
        option = CompressOption(CompressOption.CompressAlgorithm.ODPS_ZLIB)
    elif compress == "none":
        option = None
    else:
        sys.exit("compress must be none or deflate")

    opened = []

    def stream_creator(cursor, row_number=None, raw_size=None):
        if opened:
            raise RuntimeError("pyodps had to reopen the stream at cursor %d" % cursor)
        opened.append(cursor)
        return get_decompress_stream(io.BytesIO(data), option, requests=False)

    reader = TunnelRecordReader(schema, stream_creator)
    rows = []
    while True:
        rec = reader.read()
        if rec is None:
            break
        rows.append([tag(t, v) for t, v in zip(types, rec.values)])
    if len(opened) != 1:
        sys.exit("stream opened %d times" % len(opened))
    print(json.dumps(rows, ensure_ascii=False))


def tag(t, v):
    if v is None:
        return None
    if t in ("bigint", "int", "smallint", "tinyint"):
        return "i:%d" % v
    if t == "double":
        return "d:" + struct.pack("<d", v).hex()
    if t == "float":
        return "f:" + struct.pack("<f", v).hex()
    if t == "boolean":
        return "t:" + ("true" if v else "false")
    if t == "datetime":
        if v.tzinfo is not None:
            v = v.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        return "dt:%d" % ((v - datetime.datetime(1970, 1, 1)) // datetime.timedelta(milliseconds=1))
    if t == "date":
        return "date:%d" % (v - datetime.date(1970, 1, 1)).days
    if t == "timestamp":
        if v.tzinfo is not None:
            v = v.tz_convert("UTC").tz_localize(None)
        ns = v.value
        return "ts:%d:%d" % (ns // 10**9, ns % 10**9)
    if t.startswith("decimal"):
        return "dec:" + format(v, "f")
    if t == "binary":
        return "b:" + bytes(v).hex()
    if isinstance(v, bytes):
        return "s:" + v.decode("utf-8")
    return "s:" + v


if __name__ == "__main__":
    main()

"""Produces the orders of avro_produce.py as plain Avro binary (fastavro's schemaless writer, no
Confluent frame), and writes their schema to a file.

usage: avro_plain_produce.py BOOTSTRAP TOPIC WINDOW_START_MS SCHEMA_FILE
"""
import io
import json
import sys

import fastavro
from confluent_kafka import Producer

from avro_produce import SCHEMA, order


def main():
    bootstrap, topic, start, schema_file = sys.argv[1:5]
    with open(schema_file, "w") as f:
        f.write(SCHEMA)
    parsed = fastavro.parse_schema(json.loads(SCHEMA))
    producer = Producer({"bootstrap.servers": bootstrap})
    for i in range(3):
        out = io.BytesIO()
        fastavro.schemaless_writer(out, parsed, order(i))
        producer.produce(topic, key=f"o{i}", value=out.getvalue(), partition=[0, 1, 0][i],
                         timestamp=int(start) + (i + 1) * 60_000)
    producer.flush(30)
    print("3")


if __name__ == "__main__":
    main()

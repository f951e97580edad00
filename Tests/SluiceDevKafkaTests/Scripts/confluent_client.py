"""confluent-kafka against sluice dev-kafka: produce with explicit (out-of-order) timestamps, keys and
headers, consume, offsets_for_times, watermarks, committed offsets. Prints one JSON object.
Usage: confluent_client.py BOOTSTRAP TOPIC TIMESTAMPS(comma) TARGETS(comma) HEADERS(0|1) CODEC"""
import json
import sys

import confluent_kafka as ck
from confluent_kafka import TopicPartition as TP

bootstrap, topic = sys.argv[1], sys.argv[2]
timestamps = [int(x) for x in sys.argv[3].split(",")]
targets = [int(x) for x in sys.argv[4].split(",")]
with_headers = sys.argv[5] == "1"
codec = sys.argv[6]

errors = []
p = ck.Producer({"bootstrap.servers": bootstrap, "compression.type": codec, "linger.ms": 50})
for i, ts in enumerate(timestamps):
    kw = {"headers": [("idx", str(i).encode()), ("nil", None)]} if with_headers else {}
    p.produce(topic, value=b"value-%d" % i, key=b"key-%d" % i, partition=0, timestamp=ts,
              on_delivery=lambda err, msg: errors.append(str(err)) if err else None, **kw)
left = p.flush(30)
if left or errors:
    print(json.dumps({"error": "produce failed", "left": left, "errors": errors}))
    sys.exit(1)

c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": "confluent-test", "enable.auto.commit": False,
                 "auto.offset.reset": "earliest"})
low, high = c.get_watermark_offsets(TP(topic, 0), timeout=10)
found = []
for t in targets:
    r = c.offsets_for_times([TP(topic, 0, t)], timeout=10)[0]
    found.append(r.offset)
c.assign([TP(topic, 0, 0)])
records = []
while len(records) < len(timestamps):
    m = c.poll(10)
    if m is None:
        break
    if m.error():
        continue
    records.append({"offset": m.offset(), "timestamp": m.timestamp()[1], "tstype": m.timestamp()[0],
                    "key": m.key().decode(), "value": m.value().decode(),
                    "headers": [[k, v.decode() if v is not None else None] for k, v in (m.headers() or [])]})
c.commit(offsets=[TP(topic, 0, 2)], asynchronous=False)
committed = c.committed([TP(topic, 0)], timeout=10)[0].offset
c.close()
print(json.dumps({"low": low, "high": high, "offsets_for_times": found, "records": records, "committed": committed}))

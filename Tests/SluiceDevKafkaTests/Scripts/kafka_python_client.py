"""kafka-python against sluice dev-kafka: the same checks as confluent_client.py through kafka-python's
own protocol code. Usage: kafka_python_client.py BOOTSTRAP TOPIC TIMESTAMPS TARGETS HEADERS(0|1) API_VERSION(e.g. 0.10.2 or auto)"""
import json
import sys

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.structs import OffsetAndMetadata

bootstrap, topic = sys.argv[1], sys.argv[2]
timestamps = [int(x) for x in sys.argv[3].split(",")]
targets = [int(x) for x in sys.argv[4].split(",")]
with_headers = sys.argv[5] == "1"
api = {} if sys.argv[6] == "auto" else {"api_version": tuple(int(x) for x in sys.argv[6].split("."))}

p = KafkaProducer(bootstrap_servers=bootstrap, compression_type="gzip", linger_ms=20, **api)
futures = []
for i, ts in enumerate(timestamps):
    kw = {"headers": [("idx", str(i).encode())]} if with_headers else {}
    futures.append(p.send(topic, value=b"value-%d" % i, key=b"key-%d" % i, partition=0, timestamp_ms=ts, **kw))
p.flush(30)
for f in futures:
    f.get(timeout=30)
p.close()

tp = TopicPartition(topic, 0)
c = KafkaConsumer(bootstrap_servers=bootstrap, group_id="kafka-python-test", enable_auto_commit=False,
                  auto_offset_reset="earliest", **api)
low = c.beginning_offsets([tp])[tp]
high = c.end_offsets([tp])[tp]
found = []
for t in targets:
    r = c.offsets_for_times({tp: t})[tp]
    found.append(r.offset if r is not None else -1)
c.assign([tp])
c.seek_to_beginning(tp)
records = []
for _ in range(50):
    for batch in c.poll(timeout_ms=500).values():
        for r in batch:
            records.append({"offset": r.offset, "timestamp": r.timestamp, "tstype": r.timestamp_type,
                            "key": r.key.decode(), "value": r.value.decode(),
                            "headers": [[k, v.decode() if v is not None else None] for k, v in (r.headers or [])]})
    if len(records) >= len(timestamps):
        break
c.commit({tp: OffsetAndMetadata(2, "", -1)})
committed = c.committed(tp)
c.close()
print(json.dumps({"low": low, "high": high, "offsets_for_times": found, "records": records, "committed": committed}))

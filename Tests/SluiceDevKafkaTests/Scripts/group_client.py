"""A confluent-kafka consumer-group member (subscribe, JoinGroup/SyncGroup/Heartbeat, commits, LeaveGroup).
Usage: group_client.py BOOTSTRAP TOPIC GROUP EXPECTED. Reads EXPECTED records, commits, keeps polling
briefly for extra records, closes. Prints one JSON object."""
import json
import sys

import confluent_kafka as ck

bootstrap, topic, group, expected = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
c = ck.Consumer({"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
                 "enable.auto.commit": False, "session.timeout.ms": 6000})
c.subscribe([topic])
records = []
polls = 0
while len(records) < expected and polls < 200:
    polls += 1
    m = c.poll(0.5)
    if m is None or m.error():
        continue
    records.append([m.partition(), m.offset(), m.value().decode()])
extra = 0
for _ in range(3):
    m = c.poll(0.3)
    if m is not None and not m.error():
        extra += 1
c.commit(asynchronous=False)
assignment = sorted(p.partition for p in c.assignment())
committed = {p.partition: p.offset for p in c.committed([ck.TopicPartition(topic, p) for p in assignment], timeout=10)}
c.close()
print(json.dumps({"records": records, "extra": extra, "assignment": assignment, "committed": committed}))

#!/usr/bin/env python3
"""The sync a user would write by hand: confluent-kafka + json + sqlite3.

Reads the records of a topic whose timestamps fall in [start, end) (offsets_for_times, like DataWorks),
extracts the same fields as the Sluice benchmark job, and overwrites one partition of a SQLite table.
"""
import argparse
import json
import sqlite3

from confluent_kafka import Consumer, TopicPartition


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--topic", required=True)
    ap.add_argument("--start-ms", type=int, required=True)
    ap.add_argument("--end-ms", type=int, required=True)
    ap.add_argument("--db", required=True)
    ap.add_argument("--partition", required=True)
    a = ap.parse_args()

    c = Consumer({"bootstrap.servers": a.bootstrap, "group.id": "baseline", "enable.auto.commit": False})
    parts = sorted(c.list_topics(a.topic, timeout=10).topics[a.topic].partitions)
    starts = c.offsets_for_times([TopicPartition(a.topic, p, a.start_ms) for p in parts], timeout=10)
    ends = c.offsets_for_times([TopicPartition(a.topic, p, a.end_ms) for p in parts], timeout=10)
    plan = {}
    for s, e in zip(starts, ends):
        lo, hi = c.get_watermark_offsets(TopicPartition(a.topic, s.partition), timeout=10)
        plan[s.partition] = (s.offset if s.offset >= 0 else hi, e.offset if e.offset >= 0 else hi)
    todo = {p: r for p, r in plan.items() if r[1] > r[0]}
    c.assign([TopicPartition(a.topic, p, r[0]) for p, r in todo.items()])

    db = sqlite3.connect(a.db)
    db.execute("CREATE TABLE IF NOT EXISTS ods_events (k TEXT, kafka_partition INTEGER, kafka_offset INTEGER, "
               "kafka_ts INTEGER, headers TEXT, event_id TEXT, a1 TEXT, c1 TEXT, d0aa TEXT, amount REAL, ds TEXT)")
    db.execute("BEGIN")
    db.execute("DELETE FROM ods_events WHERE ds = ?", (a.partition,))
    rows = []
    while todo:
        for m in c.consume(num_messages=10000, timeout=1.0):
            if m.error():
                continue
            p, off = m.partition(), m.offset()
            if p not in todo or off >= todo[p][1]:
                continue
            v = json.loads(m.value())
            headers = json.dumps({k: (val.decode() if val is not None else None) for k, val in (m.headers() or [])})
            rows.append((m.key().decode() if m.key() else None, p, off, m.timestamp()[1], headers,
                         v.get("event_id"), v["a"]["a1"], v["c"][1], v["d"][0]["AA"], v.get("amount"), a.partition))
            if off + 1 >= todo[p][1]:
                del todo[p]
            if len(rows) >= 10000:
                db.executemany("INSERT INTO ods_events VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
                rows.clear()
    if rows:
        db.executemany("INSERT INTO ods_events VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)
    db.commit()
    c.close()


if __name__ == "__main__":
    main()

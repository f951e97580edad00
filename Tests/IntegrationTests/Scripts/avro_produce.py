"""Produces Avro orders with confluent-kafka's AvroSerializer through a Schema Registry.

usage: avro_produce.py BOOTSTRAP REGISTRY_URL USER:PASSWORD TOPIC WINDOW_START_MS [--dirty] [--avro-keys]

Three orders, every field type and logical type Sluice maps, at WINDOW_START_MS + 1, 2, 3 minutes on
partitions 0, 1, 0. With --dirty, two more records on partition 1: a value framed with schema id
9999 (not in the registry) and a value whose Avro bytes are cut short. With --avro-keys, the keys
are Avro records too ({"orderId": "o0", "region": 0}, subject TOPIC-key). Prints the value schema id.
"""
import datetime
import decimal
import sys
import uuid

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroSerializer
from confluent_kafka.serialization import MessageField, SerializationContext

SCHEMA = """
{"type": "record", "name": "Order", "namespace": "shop", "fields": [
  {"name": "id", "type": "long"},
  {"name": "customer", "type": {"type": "record", "name": "Customer", "fields": [
    {"name": "name", "type": "string"},
    {"name": "email", "type": ["null", "string"], "default": null}]}},
  {"name": "items", "type": {"type": "array", "items": {"type": "record", "name": "Item", "fields": [
    {"name": "sku", "type": "string"},
    {"name": "qty", "type": "int"},
    {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}}]}}},
  {"name": "attrs", "type": {"type": "map", "values": "string"}},
  {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "PAID", "SHIPPED"]}},
  {"name": "note", "type": ["null", "string"], "default": null},
  {"name": "amount", "type": {"type": "bytes", "logicalType": "decimal", "precision": 12, "scale": 3}},
  {"name": "fixedAmount", "type": {"type": "fixed", "name": "Money", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 4}},
  {"name": "day", "type": {"type": "int", "logicalType": "date"}},
  {"name": "timeMs", "type": {"type": "int", "logicalType": "time-millis"}},
  {"name": "timeUs", "type": {"type": "long", "logicalType": "time-micros"}},
  {"name": "tsMs", "type": {"type": "long", "logicalType": "timestamp-millis"}},
  {"name": "tsUs", "type": {"type": "long", "logicalType": "timestamp-micros"}},
  {"name": "localMs", "type": {"type": "long", "logicalType": "local-timestamp-millis"}},
  {"name": "localUs", "type": {"type": "long", "logicalType": "local-timestamp-micros"}},
  {"name": "ref", "type": {"type": "string", "logicalType": "uuid"}},
  {"name": "rating", "type": "float"},
  {"name": "score", "type": "double"},
  {"name": "flag", "type": "boolean"},
  {"name": "raw", "type": "bytes"},
  {"name": "shipping", "type": ["null", {"type": "record", "name": "Address", "fields": [
    {"name": "city", "type": "string"}, {"name": "zip", "type": "int"}]}], "default": null}
]}
"""

UTC = datetime.timezone.utc

KEY_SCHEMA = '{"type": "record", "name": "OrderKey", "namespace": "shop", "fields": [' \
    '{"name": "orderId", "type": "string"}, {"name": "region", "type": "int"}]}'


def order(i):
    D = decimal.Decimal
    return {
        "id": 1000 + i,
        "customer": {"name": ["Ada", "Bo", "Cy"][i], "email": None if i == 1 else f"c{i}@example.com"},
        "items": [{"sku": f"S-{i}-{k}", "qty": k + 1, "price": D("19.99") * (k + 1)} for k in range(i + 1)],
        "attrs": {"color": ["red", "green", "blue"][i], "size": "L"} if i != 2 else {},
        "status": ["NEW", "PAID", "SHIPPED"][i],
        "note": None if i == 0 else ["", "leave at door", "fragile \"glass\""][i],
        "amount": [D("1234.567"), D("-0.001"), D("0.000")][i],
        "fixedAmount": [D("-98765.4321"), D("1.0000"), D("123456789.0001")][i],
        "day": datetime.date(2024, 2, 29) + datetime.timedelta(days=i),
        "timeMs": datetime.time(13, 45, 30, 123000 + i * 1000),
        "timeUs": datetime.time(23, 59, 59, 999999 - i),
        "tsMs": datetime.datetime(2024, 3, 1, 8, 30, 0, 250000, tzinfo=UTC) + datetime.timedelta(hours=i),
        "tsUs": datetime.datetime(1969, 12, 31, 23, 59, 59, 123456, tzinfo=UTC) + datetime.timedelta(days=i),
        "localMs": datetime.datetime(2024, 3, 1, 20, 0, 0, 5000) + datetime.timedelta(minutes=i),
        "localUs": datetime.datetime(2024, 3, 1, 20, 0, 0, 5) + datetime.timedelta(seconds=i),
        "ref": uuid.UUID(int=0x6F1C2E4A0D3B4C5E9F701A2B3C4D5E60 + i),
        "rating": [4.5, -0.25, 3.0][i],
        "score": [0.1, 1e300, -2.5][i],
        "flag": i % 2 == 0,
        "raw": bytes([0, 1, 2, 255])[: i + 2],
        "shipping": None if i == 0 else {"city": ["", "Hangzhou", "Zürich"][i], "zip": 310000 + i},
    }


def main():
    bootstrap, url, user, topic, start = sys.argv[1:6]
    start = int(start)
    registry = SchemaRegistryClient({"url": url, "basic.auth.user.info": user})
    serializer = AvroSerializer(registry, SCHEMA)
    producer = Producer({"bootstrap.servers": bootstrap})
    context = SerializationContext(topic, MessageField.VALUE)
    key_serializer = AvroSerializer(registry, KEY_SCHEMA)
    key_context = SerializationContext(topic, MessageField.KEY)
    first = None
    for i in range(3):
        value = serializer(order(i), context)
        first = first or value
        key = key_serializer({"orderId": f"o{i}", "region": 10 + i}, key_context) if "--avro-keys" in sys.argv else f"o{i}"
        producer.produce(topic, key=key, value=value, partition=[0, 1, 0][i], timestamp=start + (i + 1) * 60_000)
    if "--dirty" in sys.argv:
        producer.produce(topic, key="unknown", value=b"\x00" + (9999).to_bytes(4, "big") + first[5:],
                         partition=1, timestamp=start + 240_000)
        producer.produce(topic, key="corrupt", value=first[:40], partition=1, timestamp=start + 300_000)
    producer.flush(30)
    print(int.from_bytes(first[1:5], "big"))


if __name__ == "__main__":
    main()

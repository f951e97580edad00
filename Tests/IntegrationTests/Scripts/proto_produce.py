"""Produces Protobuf orders with confluent-kafka's ProtobufSerializer through a Schema Registry.

usage: proto_produce.py BOOTSTRAP REGISTRY_URL USER:PASSWORD TOPIC WINDOW_START_MS [--dirty]

The message class is made without protoc: a FileDescriptorProto built with descriptor_pb2 (importing
google/protobuf/timestamp.proto and wrappers.proto), its class from message_factory.GetMessageClass.
Three orders (nested messages, repeated, map, enum, oneof, Timestamp, Int64Value, packed int32,
sint64, bytes, proto3 optional) at WINDOW_START_MS + 1, 2, 3 minutes on partitions 0, 1, 0. With
--dirty, three more on partition 1: schema id 9999, bytes cut short, and message index [5].
Prints the value schema id.
"""
import datetime
import sys

from confluent_kafka import Producer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.protobuf import ProtobufSerializer
from confluent_kafka.serialization import MessageField, SerializationContext
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2, wrappers_pb2

F = descriptor_pb2.FieldDescriptorProto


def field(message, name, number, ftype, label=F.LABEL_OPTIONAL, type_name=None, oneof=None, proto3_optional=False):
    f = message.field.add(name=name, number=number, type=ftype, label=label)
    if type_name:
        f.type_name = type_name
    if oneof is not None:
        f.oneof_index = oneof
    if proto3_optional:
        f.proto3_optional = True
    return f


def order_class():
    fd = descriptor_pb2.FileDescriptorProto(name="shop/order.proto", package="shop", syntax="proto3")
    fd.dependency.extend(["google/protobuf/timestamp.proto", "google/protobuf/wrappers.proto"])
    order = fd.message_type.add(name="Order")
    customer = order.nested_type.add(name="Customer")
    field(customer, "name", 1, F.TYPE_STRING)
    field(customer, "email", 2, F.TYPE_STRING)
    item = order.nested_type.add(name="Item")
    field(item, "sku", 1, F.TYPE_STRING)
    field(item, "qty", 2, F.TYPE_INT32)
    field(item, "price", 3, F.TYPE_DOUBLE)
    cash = order.nested_type.add(name="Cash")
    field(cash, "currency", 1, F.TYPE_STRING)
    field(cash, "cents", 2, F.TYPE_INT64)
    entry = order.nested_type.add(name="AttrsEntry")
    entry.options.map_entry = True
    field(entry, "key", 1, F.TYPE_STRING)
    field(entry, "value", 2, F.TYPE_STRING)
    status = order.enum_type.add(name="Status")
    for i, s in enumerate(["NEW", "PAID", "SHIPPED"]):
        status.value.add(name=s, number=i)
    order.oneof_decl.add(name="payment")
    order.oneof_decl.add(name="_note")
    field(order, "id", 1, F.TYPE_INT64)
    field(order, "customer", 2, F.TYPE_MESSAGE, type_name=".shop.Order.Customer")
    field(order, "items", 3, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".shop.Order.Item")
    field(order, "attrs", 4, F.TYPE_MESSAGE, F.LABEL_REPEATED, ".shop.Order.AttrsEntry")
    field(order, "status", 5, F.TYPE_ENUM, type_name=".shop.Order.Status")
    field(order, "card", 6, F.TYPE_STRING, oneof=0)
    field(order, "cash", 7, F.TYPE_MESSAGE, type_name=".shop.Order.Cash", oneof=0)
    field(order, "at", 8, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    field(order, "discount", 9, F.TYPE_MESSAGE, type_name=".google.protobuf.Int64Value")
    field(order, "scores", 10, F.TYPE_INT32, F.LABEL_REPEATED)
    field(order, "flag", 11, F.TYPE_BOOL)
    field(order, "raw", 12, F.TYPE_BYTES)
    field(order, "delta", 13, F.TYPE_SINT64)
    field(order, "note", 14, F.TYPE_STRING, oneof=1, proto3_optional=True)
    pool = descriptor_pool.DescriptorPool()
    pool.AddSerializedFile(timestamp_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(wrappers_pb2.DESCRIPTOR.serialized_pb)
    pool.AddSerializedFile(fd.SerializeToString())
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Order"))


def order(cls, i):
    o = cls()
    o.id = 1000 + i
    if i != 1:
        o.customer.name = ["Ada", "Bo", "Cy"][i]
        o.customer.email = "" if i == 0 else f"c{i}@example.com"
    for k in range(i + 1):
        it = o.items.add()
        it.sku = f"S-{i}-{k}"
        it.qty = k + 1
        it.price = 19.99 * (k + 1)
    if i != 2:
        # One key: the order of a map's entries on the wire is the serializer's.
        o.attrs["color"] = ["red", "green"][i]
    o.status = i
    if i == 0:
        o.card = "4111-xxxx"
    elif i == 1:
        o.cash.currency = "EUR"
        o.cash.cents = 1250
    o.at.FromDatetime(datetime.datetime(2024, 3, 1, 8, 30, 0, 250000) + datetime.timedelta(hours=i))
    if i != 0:
        o.discount.value = 100 * i
    o.scores.extend(range(i, i + 3))
    o.flag = i % 2 == 0
    o.raw = bytes([0, 1, 2, 255])[: i + 2]
    o.delta = -5 + i * 5
    if i == 2:
        o.note = "fragile \"glass\""
    return o


def main():
    bootstrap, url, user, topic, start = sys.argv[1:6]
    start = int(start)
    registry = SchemaRegistryClient({"url": url, "basic.auth.user.info": user})
    cls = order_class()
    serializer = ProtobufSerializer(cls, registry, {"use.deprecated.format": False})
    producer = Producer({"bootstrap.servers": bootstrap})
    context = SerializationContext(topic, MessageField.VALUE)
    first = None
    for i in range(3):
        value = serializer(order(cls, i), context)
        first = first or value
        producer.produce(topic, key=f"o{i}", value=value, partition=[0, 1, 0][i], timestamp=start + (i + 1) * 60_000)
    if "--dirty" in sys.argv:
        producer.produce(topic, key="unknown", value=b"\x00" + (9999).to_bytes(4, "big") + first[5:],
                         partition=1, timestamp=start + 240_000)
        producer.produce(topic, key="corrupt", value=first[:30], partition=1, timestamp=start + 300_000)
        # Message indexes [5] (count 1 → zigzag 2, index 5 → zigzag 10): Order's file has one message.
        producer.produce(topic, key="index", value=first[:5] + bytes([2, 10]) + first[6:],
                         partition=1, timestamp=start + 360_000)
    producer.flush(30)
    print(int.from_bytes(first[1:5], "big"))


if __name__ == "__main__":
    main()

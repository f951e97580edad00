"""Topic administration through confluent-kafka's AdminClient and kafka-python's KafkaAdminClient.
Usage: admin_client.py BOOTSTRAP. Prints one JSON object."""
import json
import sys

from confluent_kafka.admin import AclBinding, AdminClient, ConfigResource, NewPartitions, NewTopic
from confluent_kafka.admin import AclOperation, AclPermissionType, ResourcePatternType, ResourceType
from kafka.admin import KafkaAdminClient

bootstrap = sys.argv[1]
out = {}
a = AdminClient({"bootstrap.servers": bootstrap})
for name, f in a.create_topics([NewTopic("admin-t", 2, 1, config={"message.timestamp.type": "LogAppendTime"})]).items():
    out["create"] = f.exception() is None
r = ConfigResource("topic", "admin-t")
configs = a.describe_configs([r])[r].result(timeout=10)
out["timestamp_type"] = configs["message.timestamp.type"].value
r2 = ConfigResource("topic", "admin-t", set_config={"message.timestamp.type": "CreateTime"})
a.alter_configs([r2])[r2].result(timeout=10)
out["timestamp_type_after"] = a.describe_configs([r])[r].result(timeout=10)["message.timestamp.type"].value
for name, f in a.create_partitions([NewPartitions("admin-t", 5)]).items():
    f.result(timeout=10)
out["partitions"] = len(a.list_topics(timeout=10).topics["admin-t"].partitions)
try:
    a.create_partitions([NewPartitions("admin-t", 3)])["admin-t"].result(timeout=10)
    out["shrink"] = "accepted"
except Exception as e:
    out["shrink"] = e.args[0].name()
try:
    fs = a.create_acls([AclBinding(ResourceType.TOPIC, "admin-t", ResourcePatternType.LITERAL, "User:x", "*",
                                   AclOperation.READ, AclPermissionType.ALLOW)])
    for f in fs.values():
        f.result(timeout=10)
    out["acls"] = "accepted"
except Exception as e:
    out["acls"] = e.args[0].name()
ka = KafkaAdminClient(bootstrap_servers=bootstrap)
out["kafka_python_topics"] = sorted(ka.list_topics())
ka.delete_topics(["admin-t"])
out["after_delete"] = sorted(a.list_topics(timeout=10).topics.keys())
ka.close()
print(json.dumps(out))

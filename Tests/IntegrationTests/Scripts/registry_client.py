"""Exercises `sluice dev-registry` with confluent-kafka's SchemaRegistryClient.

usage: registry_client.py REGISTRY_URL USER:PASSWORD

Prints one line per check, `ok NAME` or `FAIL NAME: detail`, and exits 1 when one failed.
"""
import json
import sys

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError

V1 = {"type": "record", "name": "User", "namespace": "t", "fields": [{"name": "id", "type": "long"}]}
V2 = {**V1, "fields": V1["fields"] + [{"name": "email", "type": ["null", "string"], "default": None}]}
BAD = {**V1, "fields": V1["fields"] + [{"name": "age", "type": "int"}]}
NARROW = {**V1, "fields": [{"name": "id", "type": "int"}]}

failed = False


def check(name, ok, detail=""):
    global failed
    print(("ok " if ok else "FAIL ") + name + ("" if ok else ": " + str(detail)))
    failed = failed or not ok


def schema(d, spaced=False):
    return Schema(json.dumps(d, indent=2 if spaced else None), "AVRO")


def main():
    url, user = sys.argv[1:3]
    client = SchemaRegistryClient({"url": url, "basic.auth.user.info": user})
    id1 = client.register_schema("users-value", schema(V1))
    fresh = SchemaRegistryClient({"url": url, "basic.auth.user.info": user})
    check("same schema, same id", fresh.register_schema("users-value", schema(V1, spaced=True)) == id1)
    check("schema by id", json.loads(fresh.get_schema(id1).schema_str) == V1)
    check("compatible change", fresh.test_compatibility("users-value", schema(V2)) is True)
    check("new field without default", fresh.test_compatibility("users-value", schema(BAD)) is False)
    check("long read as int", fresh.test_compatibility("users-value", schema(NARROW)) is False)
    id2 = fresh.register_schema("users-value", schema(V2))
    check("new version, new id", id2 != id1)
    latest = fresh.get_latest_version("users-value")
    check("latest version", latest.version == 2 and latest.schema_id == id2, latest)
    first = fresh.get_version("users-value", 1)
    check("version 1", first.schema_id == id1, first)
    found = fresh.lookup_schema("users-value", schema(V1))
    check("lookup", found.schema_id == id1 and found.version == 1, found)
    try:
        fresh.register_schema("users-value", schema(BAD))
        check("incompatible refused", False, "registered")
    except SchemaRegistryError as e:
        check("incompatible refused", e.http_status_code == 409, e)
    try:
        fresh.get_schema(999)
        check("unknown id", False, "found")
    except SchemaRegistryError as e:
        check("unknown id", e.http_status_code == 404 and e.error_code == 40403, e)
    check("subjects", fresh.get_subjects() == ["users-value"], fresh.get_subjects())
    try:
        SchemaRegistryClient({"url": url, "basic.auth.user.info": "sluice:wrong"}).get_subjects()
        check("wrong password refused", False, "accepted")
    except SchemaRegistryError as e:
        check("wrong password refused", e.http_status_code == 401, e)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

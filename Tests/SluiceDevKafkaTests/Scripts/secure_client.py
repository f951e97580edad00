"""A client we did not write, over TLS and/or SASL, against sluice dev-kafka: produce COUNT records to
partition 0, read them back, commit an offset. Prints one JSON object: {"records": [[offset, key, value]...],
"committed": N} on success, or {"error": KIND, "message": TEXT, "seconds": S} when the client gives up
(KIND: "authentication", "ssl" or the client's own error name).
Usage: secure_client.py confluent|kafka-python|raw-metadata BOOTSTRAP TOPIC COUNT
Security settings come from the environment (so no password is on a command line):
  SECURITY_PROTOCOL (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), SASL_MECHANISM, SASL_USERNAME,
  SASL_PASSWORD, SSL_CA (PEM file), SSL_CERT and SSL_KEY (client certificate, for mutual TLS)."""
import json
import os
import re
import sys
import time

library, bootstrap, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
env = os.environ
protocol = env.get("SECURITY_PROTOCOL", "PLAINTEXT")
started = time.monotonic()
# How the clients word a failed TLS handshake: a certificate they cannot verify, or the broker's alert.
TLS_FAILURE = re.compile(r"SSLError|SSLCertVerificationError|CERTIFICATE_VERIFY_FAILED|certificate verify failed|"
                         r"Handshake failed|SSL handshake failed|alert certificate required|ALERT_CERTIFICATE_REQUIRED|"
                         r"alert bad certificate|ALERT_BAD_CERTIFICATE|alert unknown ca|ALERT_UNKNOWN_CA")


def fail(kind, message):
    print(json.dumps({"error": kind, "message": message, "seconds": round(time.monotonic() - started, 2)}))
    sys.exit(0)


def confluent():
    import confluent_kafka as ck
    from confluent_kafka import TopicPartition as TP

    errors = []
    conf = {"bootstrap.servers": bootstrap, "security.protocol": protocol,
            "error_cb": lambda err: errors.append(err)}
    if env.get("SASL_MECHANISM"):
        conf.update({"sasl.mechanisms": env["SASL_MECHANISM"], "sasl.username": env["SASL_USERNAME"],
                     "sasl.password": env["SASL_PASSWORD"]})
    if env.get("SSL_CA"):
        conf["ssl.ca.location"] = env["SSL_CA"]
    if env.get("SSL_CERT"):
        conf.update({"ssl.certificate.location": env["SSL_CERT"], "ssl.key.location": env["SSL_KEY"]})

    def check_errors():
        # librdkafka reports a TLS alert from the broker (a refused client certificate) as a transport error.
        for err in errors:
            if err.code() == ck.KafkaError._AUTHENTICATION:
                fail("authentication", err.str())
            if err.code() == ck.KafkaError._SSL or TLS_FAILURE.search(err.str()):
                fail("ssl", err.str())
        for err in errors:
            if err.code() == ck.KafkaError._ALL_BROKERS_DOWN:
                fail(err.name(), " | ".join(e.str() for e in errors))

    p = ck.Producer(dict(conf, **{"linger.ms": 10}))
    while time.monotonic() - started < 60:
        p.poll(0.1)
        check_errors()
        try:
            p.list_topics(topic, timeout=0.5)
            break
        except ck.KafkaException:
            continue
    delivered = []
    for i in range(count):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0,
                  on_delivery=lambda err, msg: delivered.append(str(err) if err else None))
    p.flush(30)
    check_errors()
    if len(delivered) != count or any(delivered):
        fail("produce", "deliveries: %s" % delivered)
    c = ck.Consumer(dict(conf, **{"group.id": "secure-confluent", "enable.auto.commit": False,
                                  "auto.offset.reset": "earliest"}))
    c.assign([TP(topic, 0, 0)])
    records = []
    deadline = time.monotonic() + 30
    while len(records) < count and time.monotonic() < deadline:
        m = c.poll(1)
        if m is not None and not m.error():
            records.append([m.offset(), m.key().decode(), m.value().decode()])
    c.commit(offsets=[TP(topic, 0, len(records))], asynchronous=False)
    committed = c.committed([TP(topic, 0)], timeout=10)[0].offset
    c.close()
    return records, committed


class FirstFailure:
    """kafka-python retries a refused bootstrap connection until its timeout and only logs why: stop at
    the first authentication or TLS handshake error it logs, as a user reading the log would."""

    def __init__(self):
        import logging

        class Handler(logging.Handler):
            def emit(self, record):
                text = logging.Formatter().format(record)  # with the traceback, which names the TLS alert
                if "SaslAuthenticationFailedError" in text:
                    kind = "authentication"
                elif TLS_FAILURE.search(text):
                    kind = "ssl"
                else:
                    return
                print(json.dumps({"error": kind, "message": text, "seconds": round(time.monotonic() - started, 2)}),
                      flush=True)
                os._exit(0)

        logging.getLogger("kafka").addHandler(Handler(level=logging.ERROR))


def kafka_python():
    FirstFailure()
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    kw = {"bootstrap_servers": bootstrap, "security_protocol": protocol, "request_timeout_ms": 20000}
    if env.get("SASL_MECHANISM"):
        kw.update({"sasl_mechanism": env["SASL_MECHANISM"], "sasl_plain_username": env["SASL_USERNAME"],
                   "sasl_plain_password": env["SASL_PASSWORD"]})
    if env.get("SSL_CA"):
        kw.update({"ssl_cafile": env["SSL_CA"], "ssl_check_hostname": True})
    if env.get("SSL_CERT"):
        kw.update({"ssl_certfile": env["SSL_CERT"], "ssl_keyfile": env["SSL_KEY"]})
    try:
        p = KafkaProducer(max_block_ms=20000, **kw)
        futures = [p.send(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0) for i in range(count)]
        p.flush(30)
        for f in futures:
            f.get(timeout=30)
        p.close()
        tp = TopicPartition(topic, 0)
        c = KafkaConsumer(group_id="secure-kafka-python", enable_auto_commit=False, auto_offset_reset="earliest", **kw)
        c.assign([tp])
        c.seek_to_beginning(tp)
        records = []
        deadline = time.monotonic() + 30
        while len(records) < count and time.monotonic() < deadline:
            for batch in c.poll(timeout_ms=500).values():
                records += [[r.offset, r.key.decode(), r.value.decode()] for r in batch]
        c.commit({tp: OffsetAndMetadata(len(records), "", -1)})
        committed = c.committed(tp)
        c.close()
        return records, committed
    except Exception as e:  # the test decides whether this error was the expected one
        text = "%s: %s" % (type(e).__name__, e)
        if "SaslAuthenticationFailed" in text or "Authentication" in text:
            fail("authentication", text)
        if "SSL" in text or "certificate" in text.lower():
            fail("ssl", text)
        fail(type(e).__name__, text)


def raw_metadata():
    """Sends a Metadata request as the first frame (over TLS for SSL and SASL_SSL) and reports whether
    the broker answered or closed the connection."""
    import socket
    import ssl
    import struct

    host, port = bootstrap.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=10)
    if protocol in ("SSL", "SASL_SSL"):
        sock = ssl.create_default_context(cafile=env["SSL_CA"]).wrap_socket(sock, server_hostname=host)
    body = struct.pack(">i", 1) + struct.pack(">h", len(topic)) + topic.encode()
    payload = struct.pack(">hhih", 3, 1, 42, 3) + b"raw" + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    received = b""
    closed = True
    try:
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
            if len(received) >= 4 and len(received) >= 4 + struct.unpack(">i", received[:4])[0]:
                closed = False  # answered
                break
    except socket.timeout:
        closed = False
    except (ConnectionResetError, ssl.SSLError):
        pass
    print(json.dumps({"closed": closed, "answer_bytes": len(received),
                      "seconds": round(time.monotonic() - started, 2)}))
    sys.exit(0)


if library == "raw-metadata":
    raw_metadata()
records, committed = confluent() if library == "confluent" else kafka_python()
print(json.dumps({"records": records, "committed": committed, "seconds": round(time.monotonic() - started, 2)}))

"""Sends malformed input to a Kafka broker and checks that it keeps serving a well-behaved client.
Usage: malformed.py BOOTSTRAP SEED. Prints one JSON object: per case whether the broker closed the
connection, and whether the good connection still got answers."""
import json
import random
import socket
import struct
import sys

host, port = sys.argv[1].rsplit(":", 1)
rng = random.Random(int(sys.argv[2]))


def connect():
    s = socket.create_connection((host, int(port)), timeout=10)
    s.settimeout(10)
    return s


def request(api_key, version, correlation, body=b""):
    header = struct.pack(">hhih", api_key, version, correlation, 4) + b"test"
    payload = header + body
    return struct.pack(">i", len(payload)) + payload


def read_response(s):
    def exact(n):
        data = b""
        while len(data) < n:
            chunk = s.recv(n - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data
    size = struct.unpack(">i", exact(4))[0]
    return exact(size)


def closed_after(data, half_close=False):
    """Sends data; True when the broker closes the connection, False when it answers or waits."""
    s = connect()
    try:
        s.sendall(data)
        s.settimeout(2)
        try:
            return s.recv(65536) == b""
        except socket.timeout:
            return False
        except ConnectionResetError:
            return True
    finally:
        s.close()


def good_call(s, correlation):
    s.sendall(request(3, 0, correlation, struct.pack(">i", 0)))
    body = read_response(s)
    return struct.unpack(">i", body[:4])[0] == correlation


good = connect()
results = {"good_before": good_call(good, 1)}
cases = {
    "oversized_length": struct.pack(">i", 0x7FFFFFFF) + b"x" * 16,
    "negative_length": struct.pack(">i", -5) + b"x" * 16,
    "unknown_api_key": request(999, 0, 7),
    "unsupported_version": request(0, 99, 8),
    "truncated_header": struct.pack(">i", 3) + b"\x00\x03\x00",
    "truncated_body": request(3, 1, 9, struct.pack(">i", 5)),
    "huge_array_count": request(3, 1, 10, struct.pack(">i", 0x7FFFFFF0)),
    "bad_string_length": request(3, 0, 11, struct.pack(">ih", 1, 3000)),
    "produce_garbage_records": request(0, 3, 12, struct.pack(">hhi", -1, 1, 1000) + struct.pack(">ih", 1, 6)
                                       + b"events" + struct.pack(">iii", 1, 0, 20) + bytes(rng.randrange(256) for _ in range(20))),
}
for name, data in cases.items():
    results[name] = closed_after(data)
# A frame that never completes: the broker waits; the client gives up.
s = connect()
s.sendall(struct.pack(">i", 100) + b"\x00" * 10)
s.close()
def varint(n):
    n = (n << 1) ^ (n >> 63)
    out = b""
    while n >= 0x80:
        out += bytes([(n & 0x7F) | 0x80])
        n >>= 7
    return out + bytes([n])


def crc32c(data):
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def batch_v2(count):
    records = b""
    for i in range(count):
        r = b"\x00" + varint(i * 10) + varint(i) + varint(1) + b"k" + varint(3) + b"val" + varint(1) + varint(1) + b"h" + varint(1) + b"v"
        records += varint(len(r)) + r
    body = struct.pack(">hiqqqhii", 0, count - 1, 1000, 1000 + 10 * (count - 1), -1, -1, -1, count) + records
    return struct.pack(">qii", 0, 4 + 1 + 4 + len(body), -1) + b"\x02" + struct.pack(">I", crc32c(body)) + body


def produce_body(records):
    return (struct.pack(">hhi", -1, 1, 1000) + struct.pack(">ih", 1, 6) + b"events"
            + struct.pack(">iii", 1, 0, len(records)) + records)


templates = [
    (0, 3, produce_body(batch_v2(3))),
    (0, 7, produce_body(batch_v2(5))),
    (1, 10, struct.pack(">iiiibii", -1, 0, 1, 1 << 20, 0, 0, -1) + struct.pack(">ih", 1, 6) + b"events"
     + struct.pack(">iiiqqi", 1, 0, -1, 0, 0, 1 << 20) + struct.pack(">i", 0)),
    (2, 2, struct.pack(">ib", -1, 0) + struct.pack(">ih", 1, 6) + b"events" + struct.pack(">iiq", 1, 0, 1500)),
    (3, 4, struct.pack(">ih", 1, 6) + b"events" + b"\x01"),
    (19, 1, struct.pack(">ih", 1, 3) + b"new" + struct.pack(">ihii", 3, 1, 0, 0) + struct.pack(">ib", 1000, 0)),
    (11, 2, struct.pack(">h", 1) + b"g" + struct.pack(">iih", 10000, 10000, 0) + struct.pack(">h", 8) + b"consumer"
     + struct.pack(">ih", 1, 5) + b"range" + struct.pack(">i", 4) + b"\x00\x00\x00\x00"),
]
results["template_answers"] = 0
for key, version, body in templates:
    s = connect()
    s.sendall(request(key, version, 1, body))
    try:
        read_response(s)
        results["template_answers"] += 1
    except (EOFError, ConnectionResetError, socket.timeout):
        pass
    s.close()
for i in range(300):
    key, version, body = rng.choice(templates)
    body = bytearray(body)
    for _ in range(rng.randrange(1, 6)):
        body[rng.randrange(len(body))] = rng.randrange(256)
    f = connect()
    f.sendall(request(key, version, i, bytes(body)))
    f.close()
for i in range(300):
    kind = rng.randrange(3)
    if kind == 0:
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
    elif kind == 1:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        data = request(rng.randrange(0, 50), rng.randrange(0, 12), i, body)
    else:
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200)))
        data = request(rng.choice([0, 1, 2, 3, 8, 9, 10, 11, 19]), rng.randrange(0, 4), i, body)
    f = connect()
    f.sendall(data)
    f.close()
results["fuzz_cases"] = 600
results["good_after"] = good_call(good, 2)
fresh = connect()
results["fresh_after"] = good_call(fresh, 3)
print(json.dumps(results))

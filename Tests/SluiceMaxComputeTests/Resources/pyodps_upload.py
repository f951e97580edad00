#!/usr/bin/env python3
"""Uploads rows into the test server with pyodps's own TableTunnel (the official SDK as the client), so
that the test server is checked against the SDK, not only against Sluice.

usage: pyodps_upload.py SERVICE_ENDPOINT TUNNEL_ENDPOINT ACCESS_ID SECRET
Writes events(k, v, ts) partition ds=py with overwrite: ["py-0", 0, None], ["py-1", 1, None], ["py-2", 2, None]
in block 0 (deflate) and block 1 (raw), then commits both; then adds partition ds=fromsql and prints
the result of SELECT * FROM events WHERE ds='py' through the SQL instances API.
"""
import sys

from odps import ODPS, options
from odps.tunnel import TableTunnel

options.retry_times = 0
service, tunnel_endpoint, access_id, secret = sys.argv[1:5]
o = ODPS(access_id, secret, project="proj", endpoint=service)
tunnel = TableTunnel(o, endpoint=tunnel_endpoint)
session = tunnel.create_upload_session("events", partition_spec="ds=py", overwrite=True)
with session.open_record_writer(0, compress=True) as w:
    for i in range(2):
        w.write(session.new_record(["py-%d" % i, i, None]))
with session.open_record_writer(1) as w:
    w.write(session.new_record(["py-2", 2, None]))
session.commit([0, 1])
print("ok")
# The SQL instances API as pyodps drives it: submit, wait for the task, read the result text.
instance = o.run_sql("ALTER TABLE proj.`events` ADD IF NOT EXISTS PARTITION (ds='fromsql');")
instance.wait_for_success(interval=0.01)
instance = o.run_sql("SELECT * FROM events WHERE ds='py'")
instance.wait_for_success(interval=0.01)
sys.stdout.write(instance.get_task_results()["AnonymousSQLTask"])

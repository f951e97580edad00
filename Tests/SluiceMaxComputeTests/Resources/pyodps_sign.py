#!/usr/bin/env python3
"""Re-signs recorded requests with pyodps's own signer and prints the Authorization values, one per line.

usage: pyodps_sign.py REQUESTS_JSON ACCESS_ID SECRET

REQUESTS_JSON is a list of {"method", "url", "endpoint", "headers": [[name, value], ...], "region"}
(region null for v2). The v4 scope day is taken from each request's Date header.
"""
import json
import sys
from email.utils import parsedate_to_datetime

from requests.structures import CaseInsensitiveDict

import odps.accounts as accounts


class Req:
    def __init__(self, method, url, headers):
        self.method = method
        self.url = url
        self.headers = headers


def main():
    requests = json.load(open(sys.argv[1]))
    account = accounts.CloudAccount(sys.argv[2], sys.argv[3])
    for r in requests:
        headers = CaseInsensitiveDict()
        for name, value in r["headers"]:
            if name.lower() != "authorization":
                headers[name] = value
        day = parsedate_to_datetime(headers["Date"]).replace(tzinfo=None)
        accounts.datetime_utcnow = lambda day=day: day
        account._last_signature_date = None
        req = Req(r["method"], r["url"], headers)
        account.sign_request(req, r["endpoint"], region_name=r["region"])
        print(req.headers["Authorization"])


if __name__ == "__main__":
    main()

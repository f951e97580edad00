"""Parses a /metrics answer with prometheus-client's text parser; prints {family: [samples]} as JSON.

Fails (exit 1) on anything the parser rejects, and on a family without HELP text or TYPE.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    out = {}
    for family in text_string_to_metric_families(text):
        if not family.documentation or family.type == "unknown":
            print(f"{family.name}: no HELP or TYPE", file=sys.stderr)
            return 1
        out[family.name] = [{"name": s.name, "labels": s.labels, "value": s.value} for s in family.samples]
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))

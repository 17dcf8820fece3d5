"""Parse a dbtoken /metrics scrape (stdin) with the Prometheus Python client's own parser and
check it: every family dbtoken_-prefixed, documented and of the expected type, the failures by
kind adding up to the total, build info naming the version and sidecar, and the expectations
given on the command line.

    parse_metrics.py --version 0.1.0 --sidecar serve \
        --expect 'dbtoken_ready==1' --expect 'dbtoken_http_requests_total{code="200"}>=3' \
        --absent dbtoken_token_expiry_seconds < scrape.txt

Prints one summary line; exits 1 with the reasons on any failure.
"""

import argparse
import re
import sys

from prometheus_client.parser import text_string_to_metric_families

# Family names as the parser reports them (a counter's family drops the _total suffix).
FAMILIES = {
    "dbtoken_build_info": "gauge",
    "dbtoken_ready": "gauge",
    "dbtoken_refreshes": "counter",
    "dbtoken_refresh_failures": "counter",
    "dbtoken_refresh_failures_by_kind": "counter",
    "dbtoken_refresh_consecutive_failures": "gauge",
    "dbtoken_http_requests": "counter",
}
# Present once a token is cached / once a refresh succeeded.
OPTIONAL = {
    "dbtoken_token_expiry_seconds": "gauge",
    "dbtoken_token_expiry_timestamp_seconds": "gauge",
    "dbtoken_token_refresh_timestamp_seconds": "gauge",
    "dbtoken_last_refresh_success_timestamp_seconds": "gauge",
}
KINDS = {"config", "federated_token", "rejected", "transient", "io"}
EXPECT = re.compile(r"^([a-z_]+)(\{[^}]*\})?(==|>=|<=|>|<)(-?[0-9.e+]+)$")


def key(name, labels):
    return name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--version", required=True)
    ap.add_argument("--sidecar", required=True, choices=["serve", "write"])
    ap.add_argument("--expect", action="append", default=[])
    ap.add_argument("--absent", action="append", default=[])
    a = ap.parse_args()

    text = sys.stdin.read()
    errors = []
    families = {f.name: f for f in text_string_to_metric_families(text)}
    samples = {}
    for f in families.values():
        if not f.name.startswith("dbtoken_"):
            errors.append(f"{f.name}: not dbtoken_-prefixed")
        if not f.documentation:
            errors.append(f"{f.name}: no HELP")
        want = FAMILIES.get(f.name) or OPTIONAL.get(f.name)
        if want is None:
            errors.append(f"{f.name}: unknown family")
        elif f.type != want:
            errors.append(f"{f.name}: type {f.type}, expected {want}")
        for s in f.samples:
            samples[key(s.name, s.labels)] = s.value
    for name in FAMILIES:
        if name not in families:
            errors.append(f"{name}: missing")

    info = [s for s in families.get("dbtoken_build_info", ()).samples] if "dbtoken_build_info" in families else []
    if [s.labels for s in info] != [{"version": a.version, "sidecar": a.sidecar}] or any(s.value != 1 for s in info):
        errors.append(f"dbtoken_build_info: {[(s.labels, s.value) for s in info]}")

    by_kind = families.get("dbtoken_refresh_failures_by_kind")
    kinds = {s.labels.get("kind"): s.value for s in by_kind.samples if s.name.endswith("_total")} if by_kind else {}
    if set(kinds) != KINDS:
        errors.append(f"failure kinds {sorted(kinds)}, expected {sorted(KINDS)}")
    total = samples.get("dbtoken_refresh_failures_total{}")
    if total is None or sum(kinds.values()) != total:
        errors.append(f"failures by kind add up to {sum(kinds.values())}, total is {total}")
    for k, v in samples.items():
        if k.startswith("dbtoken_http_requests_total") and not re.fullmatch(r'dbtoken_http_requests_total\{code="[1-5][0-9][0-9]"\}', k):
            errors.append(f"{k}: not one status code label")

    for e in a.expect:
        m = EXPECT.match(e)
        if not m:
            errors.append(f"bad --expect {e!r}")
            continue
        name, labels, op, value = m.group(1), m.group(2) or "{}", m.group(3), float(m.group(4))
        got = samples.get(name + labels)
        ok = got is not None and {
            "==": got == value, ">=": got >= value, "<=": got <= value, ">": got > value, "<": got < value,
        }[op]
        if not ok:
            errors.append(f"expected {e}, got {got}")
    for name in a.absent:
        if any(k.startswith(name + "{") for k in samples):
            errors.append(f"{name}: present, expected absent")

    if errors:
        print(f"metrics ({a.sidecar}): FAILED", file=sys.stderr)
        for e in errors:
            print(f"  {e}", file=sys.stderr)
        sys.exit(1)
    print(f"metrics ({a.sidecar}): {len(families)} families, {len(samples)} samples, {len(a.expect)} expectations ok")


if __name__ == "__main__":
    main()

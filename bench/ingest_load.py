#!/usr/bin/python3
"""bench/ingest_load.py: load generator of bench/ingest.sh (see bench/README.md).

  ingest_load.py batch HOST PORT TENANT_REF CLIENTS BATCH SECONDS EXAMPLE
      K client processes, each with one keep-alive http.client connection,
      POST /enterprise/aispm/events/batch with BATCH envelopes (unique
      event_ids) until SECONDS have passed. The bearer token is read from the
      environment (BENCH_TOKEN), never from the command line. Every answer
      must be 200 with accepted == BATCH (no duplicates, no rejects). Prints
      one line "RESULT batches events seconds p50_ms p99_ms max_ms errors".
  ingest_load.py sql-body TENANT_REF EXAMPLE
      Prints one envelope (as the batch driver sends it) as a SQL string
      literal, the body of the plain-INSERT reference.
"""
import copy
import http.client
import json
import multiprocessing
import os
import secrets
import sys
import time


def envelope_template(example_path, tenant_ref):
    with open(example_path, encoding="utf-8") as f:
        env = json.load(f)
    env = copy.deepcopy(env)
    env["tenant"]["tenant_ref"] = tenant_ref
    env["event"]["event_id"] = "@@EVENT_ID@@"
    env["transport"]["idempotency_key"] = "@@EVENT_ID@@"
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    env["event"]["occurred_at"] = now
    env["event"]["received_at"] = now
    return json.dumps(env, separators=(",", ":"))


def client(idx, host, port, token, template, batch, deadline, run_id, q):
    lat = []
    events = errors = 0
    first_error = ""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    seq = 0
    while time.monotonic() < deadline:
        parts = []
        for _ in range(batch):
            seq += 1
            parts.append(template.replace("@@EVENT_ID@@", "evt_bench_%s_%d_%d" % (run_id, idx, seq)))
        body = ('{"envelopes":[' + ",".join(parts) + "]}").encode()
        t0 = time.monotonic()
        try:
            conn.request("POST", "/enterprise/aispm/events/batch", body, headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            errors += 1
            first_error = first_error or repr(e)
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            continue
        lat.append(time.monotonic() - t0)
        ok = False
        if resp.status == 200:
            try:
                o = json.loads(data)
                ok = o.get("accepted") == batch and o.get("rejected") == 0 and o.get("duplicates") == 0 and all(
                    x.get("status") == "accepted" for x in o.get("results", []))
            except ValueError:
                ok = False
        if ok:
            events += batch
        else:
            errors += 1
            first_error = first_error or ("HTTP %d %s" % (resp.status, data[:300]))
    conn.close()
    q.put((lat, events, errors, first_error))


def pct(sorted_ms, p):
    if not sorted_ms:
        return 0.0
    i = min(len(sorted_ms) - 1, max(0, int(round(p / 100.0 * len(sorted_ms) + 0.5)) - 1))
    return sorted_ms[i]


def main_batch(host, port, tenant_ref, clients, batch, seconds, example):
    token = os.environ.get("BENCH_TOKEN", "")
    if not token:
        sys.exit("ingest_load.py: BENCH_TOKEN is not set")
    clients, batch, seconds, port = int(clients), int(batch), float(seconds), int(port)
    template = envelope_template(example, tenant_ref)
    run_id = secrets.token_hex(4)
    q = multiprocessing.Queue()
    start = time.monotonic()
    deadline = start + seconds
    procs = [multiprocessing.Process(target=client, args=(i, host, port, token, template, batch, deadline, run_id, q))
             for i in range(clients)]
    for p in procs:
        p.start()
    results = [q.get() for _ in procs]
    for p in procs:
        p.join()
    elapsed = time.monotonic() - start
    lat = sorted(ms * 1000.0 for r in results for ms in r[0])
    events = sum(r[1] for r in results)
    errors = sum(r[2] for r in results)
    for r in results:
        if r[3]:
            print("first error: " + r[3], file=sys.stderr)
            break
    print("envelope %d bytes, run id %s" % (len(template.replace("@@EVENT_ID@@", "evt_bench_%s_0_1" % run_id)), run_id))
    print("RESULT %d %d %.3f %.2f %.2f %.2f %d" % (len(lat), events, elapsed, pct(lat, 50), pct(lat, 99),
                                                  lat[-1] if lat else 0.0, errors))


def main_sql_body(tenant_ref, example):
    s = envelope_template(example, tenant_ref).replace("@@EVENT_ID@@", "evt_bench_plain_0_1")
    print("'" + s.replace("\\", "\\\\").replace("'", "\\'") + "'")


if __name__ == "__main__":
    if len(sys.argv) == 9 and sys.argv[1] == "batch":
        main_batch(*sys.argv[2:])
    elif len(sys.argv) == 4 and sys.argv[1] == "sql-body":
        main_sql_body(*sys.argv[2:])
    else:
        sys.exit(__doc__)

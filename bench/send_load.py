#!/usr/bin/python3
"""bench/send_load.py: load generator of bench/send.sh (see bench/README.md).

  send_load.py HOST PORT ARTIFACT_REF DOMAIN CLIENTS SECONDS
      K client processes, each with one keep-alive http.client connection,
      POST /enterprise/aispm/reports/send {artifact_ref, recipients: [one
      address of DOMAIN], channels: ["smtp"]} until SECONDS have passed. The
      bearer token comes from the environment (BENCH_TOKEN). Every answer must
      be 202 with result "queued". Prints
      "RESULT accepted seconds p50_ms p99_ms max_ms errors t_first t_last"
      (t_* wall-clock seconds of the first request and the last answer).
"""
import http.client
import json
import multiprocessing
import os
import sys
import time


def client(idx, host, port, token, artifact, domain, deadline, q):
    lat, ok, errors, first_error = [], 0, 0, ""
    conn = http.client.HTTPConnection(host, port, timeout=30)
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    seq = 0
    t_first = time.time()
    while time.monotonic() < deadline:
        seq += 1
        body = json.dumps({"artifact_ref": artifact, "recipients": [f"b{idx}-{seq}@{domain}"],
                           "channels": ["smtp"]}).encode()
        t0 = time.monotonic()
        try:
            conn.request("POST", "/enterprise/aispm/reports/send", body, headers)
            resp = conn.getresponse()
            data = resp.read()
        except (OSError, http.client.HTTPException) as e:
            errors += 1
            first_error = first_error or repr(e)
            conn.close()
            conn = http.client.HTTPConnection(host, port, timeout=30)
            continue
        lat.append((time.monotonic() - t0) * 1000)
        if resp.status == 202 and json.loads(data).get("result") == "queued":
            ok += 1
        else:
            errors += 1
            first_error = first_error or f"{resp.status} {data[:200]!r}"
    q.put((ok, errors, lat, first_error, t_first, time.time()))


def main():
    host, port, artifact, domain, clients, seconds = sys.argv[1:7]
    token = os.environ["BENCH_TOKEN"]
    clients, seconds = int(clients), float(seconds)
    q = multiprocessing.Queue()
    t0 = time.monotonic()
    deadline = t0 + seconds
    procs = [multiprocessing.Process(target=client, args=(i, host, int(port), token, artifact, domain, deadline, q))
             for i in range(clients)]
    for p in procs:
        p.start()
    res = [q.get() for _ in procs]
    for p in procs:
        p.join()
    secs = time.monotonic() - t0
    ok = sum(r[0] for r in res)
    errors = sum(r[1] for r in res)
    lat = sorted(x for r in res for x in r[2]) or [0.0]
    firsts = [r[3] for r in res if r[3]]
    if firsts:
        print("first error: " + firsts[0], file=sys.stderr)
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
    print("RESULT %d %.3f %.2f %.2f %.2f %d %.3f %.3f" % (ok, secs, pct(0.5), pct(0.99), lat[-1], errors,
                                                          min(r[4] for r in res), max(r[5] for r in res)))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Load generator of bench/watermark.sh: watermarked evidence-room downloads
through nginx, signed in as an auditor (portal session, like a browser).

  watermark_load.py BASE EMAIL PASSWORD PATH SEQ CLIENTS PER_CLIENT COPY_OUT

Phase 1: SEQ downloads one after another on one session: latency of each.
Phase 2: CLIENTS threads, each with its own session and keep-alive connection,
PER_CLIENT downloads each: downloads/s over the wall time.
Every answer must be 200 with a new X-Download-Id and a body whose SHA-256 is
X-Copy-SHA256. Prints one JSON object; writes the first copy to COPY_OUT."""

import hashlib
import http.client
import json
import re
import statistics
import sys
import threading
import time
import urllib.parse

base, email, password, path, seq, clients, per, copy_out = sys.argv[1:9]
seq, clients, per = int(seq), int(clients), int(per)
u = urllib.parse.urlsplit(base)


class Session:
    def __init__(self):
        self.conn = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        self.cookies = {}

    def req(self, method, p, body=None, headers=None):
        h = dict(headers or {})
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        self.conn.request(method, p, body=body, headers=h)
        r = self.conn.getresponse()
        data = r.read()
        for line in r.headers.get_all("Set-Cookie") or []:
            name, _, rest = line.partition("=")
            self.cookies[name.strip()] = rest.split(";", 1)[0]
        return r, data

    def login(self):
        r, page = self.req("GET", "/portal/login", headers={"Accept": "text/html"})
        csrf = re.search(rb'name="_csrf" value="([^"]+)"', page).group(1).decode()
        form = urllib.parse.urlencode({"email": email, "password": password, "_csrf": csrf, "next": "/portal/"})
        r, _ = self.req("POST", "/portal/login", body=form,
                        headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"})
        if r.status != 303 or "aispm_session" not in self.cookies:
            raise SystemExit(f"login failed: {r.status}")


ids = set()
lock = threading.Lock()
errors = []


def download(s, keep=False):
    t0 = time.perf_counter()
    r, body = s.req("GET", path)
    ms = (time.perf_counter() - t0) * 1000
    dl = r.headers.get("X-Download-Id")
    ok = r.status == 200 and dl and hashlib.sha256(body).hexdigest() == r.headers.get("X-Copy-SHA256")
    with lock:
        if not ok or dl in ids:
            errors.append(f"{r.status} {dl}")
        ids.add(dl)
    if keep:
        with open(copy_out, "wb") as f:
            f.write(body)
        return ms, dl, len(body)
    return ms, dl, len(body)


s = Session()
s.login()
download(s)  # warm-up
lat = []
first = None
for i in range(seq):
    ms, dl, size = download(s, keep=(i == 0))
    if i == 0:
        first = (dl, size)
    lat.append(ms)
lat.sort()

sessions = []
for _ in range(clients):
    c = Session()
    c.login()
    sessions.append(c)


def worker(c):
    for _ in range(per):
        download(c)


threads = [threading.Thread(target=worker, args=(c,)) for c in sessions]
t0 = time.perf_counter()
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - t0
print(json.dumps({
    "seq": seq, "p50_ms": statistics.median(lat), "p90_ms": lat[int(len(lat) * 0.9) - 1], "max_ms": lat[-1],
    "clients": clients, "downloads": clients * per, "wall_s": wall, "downloads_per_s": clients * per / wall,
    "errors": len(errors), "first_download_id": first[0], "copy_bytes": first[1],
}))

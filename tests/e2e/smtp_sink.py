#!/usr/bin/python3
"""A real SMTP server for the delivery tests and the benchmark (Debian
python3-aiosmtpd), run as a subprocess:

    smtp_sink.py --port P --dir D [--tls-cert C --tls-key K]

Every DATA is recorded as one JSON line in D/received.jsonl
({message_id, rcpt_count, size, duplicate, stored}) and, the first time a
Message-ID is seen, stored as D/msgs/<sha256(message-id)>.eml — a receiver
that deduplicates by Message-ID, like the mail stores the delivery
guarantees are about. Behaviour is switched at run time through the file
D/mode (read on every DATA):

    accept            250 (default)
    tempfail          451 4.3.0 (transient)
    permfail          550 5.7.1 (permanent)
    delay:N           store the message, then wait N seconds before the 250
                      (a client killed meanwhile never sees the answer)

With --tls-cert/--tls-key the server offers STARTTLS and refuses MAIL
before it (530). It prints "ready <port>" on stdout once listening.
"""

import argparse
import asyncio
import hashlib
import json
import os
import signal
import ssl
import sys
import threading
import time

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class Sink:
    def __init__(self, directory):
        self.dir = directory
        os.makedirs(os.path.join(directory, "msgs"), exist_ok=True)
        self.seen = set()
        self.lock = threading.Lock()

    def mode(self):
        try:
            with open(os.path.join(self.dir, "mode")) as f:
                return f.read().strip() or "accept"
        except FileNotFoundError:
            return "accept"

    def record(self, entry):
        with open(os.path.join(self.dir, "received.jsonl"), "a") as f:
            f.write(json.dumps(entry) + "\n")

    async def handle_DATA(self, server, session, envelope):
        mode = self.mode()
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        mid = ""
        for line in data.split(b"\r\n"):
            if not line:
                break
            if line.lower().startswith(b"message-id:"):
                mid = line.split(b":", 1)[1].strip().decode("ascii", "replace")
        if mode == "tempfail":
            self.record({"message_id": mid, "rejected": 451, "t": time.time()})
            return "451 4.3.0 try again later"
        if mode == "permfail":
            self.record({"message_id": mid, "rejected": 550, "t": time.time()})
            return "550 5.7.1 refused"
        with self.lock:
            dup = mid in self.seen
            self.seen.add(mid)
        stored = False
        if not dup:
            name = hashlib.sha256(mid.encode()).hexdigest() + ".eml"
            tmp = os.path.join(self.dir, "msgs", name + ".tmp")
            with open(tmp, "wb") as f:
                f.write(data)
            os.rename(tmp, os.path.join(self.dir, "msgs", name))
            stored = True
        self.record({"message_id": mid, "rcpt_count": len(envelope.rcpt_tos), "rcpts": envelope.rcpt_tos,
                     "size": len(data), "duplicate": dup, "stored": stored, "t": time.time()})
        if mode.startswith("delay:"):
            await asyncio.sleep(float(mode.split(":", 1)[1]))
        return "250 2.0.0 stored"


class TLSController(Controller):
    def __init__(self, handler, tls_context, **kw):
        self.tls_context = tls_context
        super().__init__(handler, **kw)

    def factory(self):
        return SMTP(self.handler, tls_context=self.tls_context, require_starttls=True, decode_data=False)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--tls-cert")
    ap.add_argument("--tls-key")
    a = ap.parse_args()
    sink = Sink(a.dir)
    # a seen-set that survives restarts of the sink (the "server back up" case)
    try:
        with open(os.path.join(a.dir, "received.jsonl")) as f:
            for line in f:
                e = json.loads(line)
                if e.get("stored"):
                    sink.seen.add(e["message_id"])
    except FileNotFoundError:
        pass
    if a.tls_cert:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
        ctl = TLSController(sink, ctx, hostname="127.0.0.1", port=a.port)
    else:
        ctl = Controller(sink, hostname="127.0.0.1", port=a.port, decode_data=False,
                         data_size_limit=64 * 1024 * 1024)
    ctl.start()
    print(f"ready {a.port}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    ctl.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

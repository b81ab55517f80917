"""The prefork process model under signals. Runs last in tests/e2e (it
restarts `aispm serve`, which resets /metrics): a killed worker is replaced,
SIGHUP reloads without failing a request, SIGTERM drains without dropping
one and exits 0. Afterwards the app is started again exactly as scripts/up
does (scripts/lib.sh app_start), so later suites find a working stack."""

import concurrent.futures
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time
import urllib.parse

from .conftest import REPO, Client, read_file_bytes, wait_for_status

CATALOG = "/enterprise/aispm/reports/catalog"


# ------------------------------------------------------------------ processes


def pid_alive(pid):
    """exists and is not a zombie"""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def master_pid(state_dir):
    path = os.path.join(state_dir, "run", "aispm.pid")
    with open(path) as f:
        pid = int(f.read().strip())
    assert pid_alive(pid), f"the master in {path} ({pid}) is not running"
    return pid


def children(pid):
    """live children of pid: /proc/PID/task/*/children, or a scan of every
    process's parent where the kernel lacks that file"""
    out = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
        for t in tasks:
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out.update(int(x) for x in f.read().split())
    except FileNotFoundError:
        out = set()
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
                continue
            if ppid == pid:
                out.add(int(d))
    return {c for c in out if pid_alive(c)}


def listen_inode(sock_path):
    """inode of the listening unix socket bound to sock_path"""
    with open("/proc/net/unix") as f:
        next(f)
        for line in f:
            cols = line.split()
            if len(cols) >= 8 and cols[7] == sock_path and int(cols[3], 16) & 0x10000:  # __SO_ACCEPTCON
                return cols[6]
    raise AssertionError(f"nobody listens on {sock_path}")


def http_workers(master, sock_path):
    """children of the master that hold the FastCGI listening socket (the job
    worker closes it)"""
    want = f"socket:[{listen_inode(sock_path)}]"
    found = set()
    for c in children(master):
        try:
            fds = os.listdir(f"/proc/{c}/fd")
        except FileNotFoundError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{c}/fd/{fd}") == want:
                    found.add(c)
                    break
            except OSError:
                pass
    return found


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def socket_path(app_config):
    listen = app_config["listen"]
    assert listen.startswith("unix:"), listen
    return listen[5:]


def metric(base_url, name):
    r = Client(base_url).get("/metrics")
    assert r.status == 200, r.describe()
    m = re.search(rf"^{re.escape(name)} (\d+(?:\.\d+)?)$", r.text, re.M)
    assert m, f"{name} missing from /metrics"
    return float(m.group(1))


def log_events(state_dir, offset=0):
    data = read_file_bytes(os.path.join(state_dir, "logs", "aispm.log"))[offset:]
    out = []
    for line in data.decode("utf-8", "replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def log_size(state_dir, name):
    try:
        return os.path.getsize(os.path.join(state_dir, "logs", name))
    except FileNotFoundError:
        return 0


def app_start(env):
    """the command scripts/up uses to (re)start `aispm serve`"""
    p = subprocess.run(["bash", "-c", 'source scripts/lib.sh && app_start "$AISPM_TEST_STATE"'], cwd=REPO,
                       env=dict(os.environ), capture_output=True, text=True, timeout=90)
    assert p.returncode == 0, f"app_start failed: {p.stdout}\n{p.stderr}"


def ensure_running(env, base_url, state_dir):
    pidfile = os.path.join(state_dir, "run", "aispm.pid")
    try:
        with open(pidfile) as f:
            if pid_alive(int(f.read().strip())):
                return
    except (FileNotFoundError, ValueError):
        pass
    app_start(env)
    wait_for_status(base_url, "/readyz", 200, timeout=30)


# ------------------------------------------------------------------ load


class Result:
    __slots__ = ("t0", "t1", "path", "status", "ctype", "clen", "body", "error")


def hammer(base_url, token, tenant_ref, duration, threads=8, at=None, action=None):
    """GET /healthz and the catalog from `threads` clients for `duration` s,
    one fresh connection per request; calls action() `at` s in. Returns the
    results and the monotonic time just before action() ran."""
    u = urllib.parse.urlsplit(base_url)
    results, lock = [], threading.Lock()
    end = time.monotonic() + duration
    paths = [("/healthz", {}), (CATALOG, {"Authorization": f"Bearer {token}"})]

    def client(i):
        n = i
        while time.monotonic() < end:
            path, hdrs = paths[n % 2]
            n += 1
            res = Result()
            res.path, res.status, res.ctype, res.clen, res.body, res.error = path, None, None, None, None, None
            res.t0 = time.monotonic()
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
            try:
                conn.request("GET", path, headers={"Accept": "application/json", **hdrs})
                r = conn.getresponse()
                res.status, res.ctype, res.clen = r.status, r.getheader("Content-Type"), r.getheader("Content-Length")
                res.body = r.read()
            except Exception as e:  # noqa: BLE001 - every failure is a finding
                res.error = repr(e)
            finally:
                conn.close()
            res.t1 = time.monotonic()
            with lock:
                results.append(res)
            if res.status != 200:
                time.sleep(0.01)

    t_action = None
    with concurrent.futures.ThreadPoolExecutor(threads) as ex:
        futs = [ex.submit(client, i) for i in range(threads)]
        if action is not None:
            time.sleep(at)
            t_action = time.monotonic()
            action()
        for f in futs:
            f.result()
    return results, t_action


def complete_200(res, tenant_ref):
    """None if res is a complete, valid 200; else why not"""
    if res.error:
        return f"{res.path}: {res.error}"
    if res.status != 200:
        return f"{res.path}: status {res.status}"
    if res.clen is None or int(res.clen) != len(res.body):
        return f"{res.path}: Content-Length {res.clen} but {len(res.body)} bytes"
    try:
        doc = json.loads(res.body)
    except ValueError:
        return f"{res.path}: truncated or invalid JSON {res.body[:80]!r}"
    if res.path == "/healthz" and doc != {"status": "ok"}:
        return f"{res.path}: unexpected body {doc}"
    if res.path == CATALOG and (doc.get("tenant_ref") != tenant_ref or len(doc.get("reports", [])) != doc.get("total")):
        return f"{res.path}: unexpected body {res.body[:120]!r}"
    return None


def upstream_errors(state_dir, offset):
    text = read_file_bytes(os.path.join(state_dir, "logs", "nginx-error.log"))[offset:].decode("utf-8", "replace")
    return [line for line in text.splitlines() if "upstream" in line]


CLEAN_CONNECT_FAILURE = re.compile(r"connect\(\) to unix:\S+ failed \((2|111): ")


# ------------------------------------------------------------------ tests


def test_killed_worker_is_replaced(base_url, state_dir, app_config, acme):
    master = master_pid(state_dir)
    sock = socket_path(app_config)
    n_http = int(app_config["http_workers"])
    before = http_workers(master, sock)
    assert len(before) == n_http, f"expected {n_http} HTTP workers, found {sorted(before)}"
    restarts_before = metric(base_url, "aispm_worker_restarts_total")
    log_offset = log_size(state_dir, "aispm.log")

    victim = min(before)
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not pid_alive(victim), 5, f"worker {victim} to die")
    now = wait_until(lambda: (lambda w: w if len(w) == n_http and w - before else None)(http_workers(master, sock)),
                     5, "a replacement HTTP worker")
    assert victim not in now
    assert pid_alive(master), "the master must survive a worker crash"

    c = Client(base_url, token=acme.token_admin)
    for _ in range(4 * n_http):
        assert c.get("/healthz").status == 200
        r = c.get(CATALOG)
        assert r.status == 200 and r.json()["tenant_ref"] == acme.tenant_ref, r.describe()
    restarts = metric(base_url, "aispm_worker_restarts_total")
    assert restarts >= 1 and restarts >= restarts_before + 1, (restarts_before, restarts)
    crashed = [e for e in log_events(state_dir, log_offset) if e.get("event") == "worker_crashed"]
    assert any(e.get("child_pid") == victim and e.get("signal") == signal.SIGKILL for e in crashed), crashed


def test_sighup_reload_keeps_serving(base_url, state_dir, app_config, acme):
    master = master_pid(state_dir)
    before = children(master)
    n_children = int(app_config["http_workers"]) + int(app_config["job_workers"])
    assert len(before) == n_children
    log_offset = log_size(state_dir, "aispm.log")

    results, t_hup = hammer(base_url, acme.token_admin, acme.tenant_ref, duration=2.0, at=0.7,
                            action=lambda: os.kill(master, signal.SIGHUP))
    failures = [why for why in (complete_200(r, acme.tenant_ref) for r in results) if why]
    assert not failures, f"{len(failures)} of {len(results)} requests failed during SIGHUP: {failures[:10]}"
    assert len(results) > 100, f"only {len(results)} requests were made"
    assert sum(r.t0 > t_hup for r in results) > 20, "too little load after the SIGHUP"

    # every worker of the old generation was replaced; the master stayed
    after = wait_until(lambda: (lambda c: c if len(c) == n_children and not c & before else None)(children(master)),
                       10, "the old worker generation to retire")
    assert master_pid(state_dir) == master
    assert len(http_workers(master, socket_path(app_config))) == int(app_config["http_workers"])
    assert any(e.get("event") == "reloaded" for e in log_events(state_dir, log_offset))
    assert not after & before


def test_sigterm_under_load_drops_no_request(env, base_url, state_dir, app_config, acme):
    master = master_pid(state_dir)
    drain_s = int(app_config["drain_timeout_ms"]) / 1000
    log_offset = log_size(state_dir, "aispm.log")
    nginx_offset = log_size(state_dir, "nginx-error.log")
    try:
        results, t_term = hammer(base_url, acme.token_admin, acme.tenant_ref, duration=3.0, at=1.5,
                                 action=lambda: os.kill(master, signal.SIGTERM))
        t_exit = wait_until(lambda: time.monotonic() if not pid_alive(master) else None, drain_s + 5,
                            "the master to exit after SIGTERM")
    finally:
        ensure_running(env, base_url, state_dir)

    assert t_exit - t_term <= drain_s + 1, f"the master took {t_exit - t_term:.1f}s to stop"
    bad = []
    for r in results:
        why = complete_200(r, acme.tenant_ref)
        if why is None:
            continue
        if r.error is None and r.status in (502, 503) and r.t1 >= t_term:
            if r.clen is not None and int(r.clen) != len(r.body):
                bad.append(f"{r.path}: truncated {r.status}")
            continue  # nginx answered: the socket is gone
        bad.append(why + (" (before SIGTERM)" if r.t1 < t_term else ""))
    assert not bad, f"{len(bad)} of {len(results)} requests were dropped or broken: {bad[:10]}"
    assert sum(r.status == 200 and r.t1 < t_term for r in results) > 20, "too little load before SIGTERM"
    refused = sum(r.status in (502, 503) for r in results)
    assert refused > 0, "no request reached nginx after the app stopped: did SIGTERM stop it?"

    # nginx failed to *connect* (socket unlinked); no answer was cut off
    broken = [line for line in upstream_errors(state_dir, nginx_offset) if not CLEAN_CONNECT_FAILURE.search(line)]
    assert not broken, f"nginx saw upstream failures other than a refused connect: {broken[:5]}"

    events = [e for e in log_events(state_dir, log_offset) if e.get("pid") == master]
    assert any(e.get("event") == "stopped" for e in events), f"the master did not log a clean stop: {events}"
    assert not any(e.get("event") == "drain_timeout" for e in events), "workers had to be killed"

    # the restarted app serves again
    assert master_pid(state_dir) != master
    wait_for_status(base_url, "/readyz", 200, timeout=30)
    r = Client(base_url, token=acme.token_admin).get(CATALOG)
    assert r.status == 200, r.describe()


def test_sigterm_exit_status_is_zero(env, base_url, state_dir, app_config, acme):
    """`aispm serve` run as our child, so its exit status can be read"""
    drain_s = int(app_config["drain_timeout_ms"]) / 1000
    stack_master = master_pid(state_dir)
    os.kill(stack_master, signal.SIGTERM)
    wait_until(lambda: not pid_alive(stack_master), drain_s + 5, "the stack's master to stop")
    sock = socket_path(app_config)
    proc = None
    try:
        with open(os.path.join(state_dir, "logs", "aispm.log"), "ab") as log:
            proc = subprocess.Popen([env["AISPM_BIN"], "-c", env["AISPM_TEST_CONFIG"], "serve"],
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True,
                                    env={**os.environ, "AISPM_STACK_CONF": env["AISPM_TEST_CONFIG"]})
        wait_until(lambda: os.path.exists(sock) or proc.poll() is not None, 30, "the socket")
        assert proc.poll() is None, f"aispm serve exited with {proc.returncode}"
        wait_for_status(base_url, "/readyz", 200, timeout=30)

        results, t_term = hammer(base_url, acme.token_admin, acme.tenant_ref, duration=2.0, at=1.0,
                                 action=lambda: proc.send_signal(signal.SIGTERM))
        rc = proc.wait(timeout=drain_s + 5)
        assert rc == 0, f"aispm serve exited with status {rc} after SIGTERM"
        bad = [why for r in results if (why := complete_200(r, acme.tenant_ref))
               and not (r.error is None and r.status in (502, 503) and r.t1 >= t_term)]
        assert not bad, bad[:10]
        assert not os.path.exists(sock), "the socket must be unlinked on shutdown"
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=drain_s + 5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        ensure_running(env, base_url, state_dir)
    wait_for_status(base_url, "/readyz", 200, timeout=30)
    assert master_pid(state_dir) != stack_master

"""Shared fixtures of the end-to-end suite (tests/e2e).

The suite talks to a running stack (nginx -> `aispm serve` -> MariaDB) that
scripts/check starts and describes through environment variables:

  AISPM_TEST_BASE_URL   http://127.0.0.1:PORT (nginx)
  AISPM_TEST_STATE      the stack's state directory (logs/, run/)
  AISPM_TEST_CONFIG     STATE/aispm.conf
  AISPM_TEST_LOGINS     STATE/demo-logins.txt (demo tenant "acme")
  AISPM_BIN             build/aispm (admin CLI)
  AISPM_TEST_DB_SOCKET  the private MariaDB's unix socket

Nothing is skipped: a missing variable makes every test fail. Only the Python
standard library is used. Login throttling counts failures per client address
too (20 per 15 minutes, and every request here comes from 127.0.0.1), so tests
that need failed logins use throwaway users (``throwaway_user``) whose
attempts are removed again when the test ends.
"""

import hashlib
import html
import http.client
import json
import os
import pwd
import re
import secrets
import subprocess
import time
import urllib.parse

import pytest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

REQUIRED_ENV = (
    "AISPM_TEST_BASE_URL",
    "AISPM_TEST_STATE",
    "AISPM_TEST_CONFIG",
    "AISPM_TEST_LOGINS",
    "AISPM_BIN",
    "AISPM_TEST_DB_SOCKET",
)

SESSION_COOKIE = "aispm_session"
LOGIN_COOKIE = "aispm_login"
PROBLEM_JSON = "application/problem+json"


# --------------------------------------------------------------------------
# environment


def load_env():
    missing = [k for k in REQUIRED_ENV if not os.environ.get(k)]
    if missing:
        pytest.fail(
            "the e2e suite needs a running stack; missing environment: "
            + ", ".join(missing)
            + " (scripts/check exports them; see tests/e2e/conftest.py)",
            pytrace=False,
        )
    env = {k: os.environ[k] for k in REQUIRED_ENV}
    for k in ("AISPM_TEST_STATE",):
        if not os.path.isdir(env[k]):
            pytest.fail(f"{k}={env[k]} is not a directory", pytrace=False)
    for k in ("AISPM_TEST_CONFIG", "AISPM_TEST_LOGINS"):
        if not os.path.isfile(env[k]):
            pytest.fail(f"{k}={env[k]} does not exist", pytrace=False)
    if not os.access(env["AISPM_BIN"], os.X_OK):
        pytest.fail(f"AISPM_BIN={env['AISPM_BIN']} is not executable", pytrace=False)
    return env


@pytest.fixture(scope="session", autouse=True)
def env():
    """The stack's environment; every test depends on it (fails, never skips)."""
    return load_env()


@pytest.fixture(scope="session")
def base_url(env):
    return env["AISPM_TEST_BASE_URL"].rstrip("/")


@pytest.fixture(scope="session")
def state_dir(env):
    return env["AISPM_TEST_STATE"]


def read_config(path):
    """key = value lines of aispm.conf"""
    cfg = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if "=" in line:
                k, v = line.split("=", 1)
                cfg[k.strip()] = v.strip()
    return cfg


@pytest.fixture(scope="session")
def app_config(env):
    return read_config(env["AISPM_TEST_CONFIG"])


# --------------------------------------------------------------------------
# HTTP


class Response:
    def __init__(self, method, path, status, reason, headers, body):
        self.method = method
        self.path = path
        self.status = status
        self.reason = reason
        self.headers = headers  # http.client.HTTPMessage
        self.body = body

    def header(self, name):
        return self.headers.get(name)

    def header_all(self, name):
        return self.headers.get_all(name) or []

    @property
    def content_type(self):
        return (self.header("Content-Type") or "").split(";")[0].strip().lower()

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise AssertionError(f"{self.method} {self.path} -> {self.status}: body is not JSON ({e}): {self.body[:300]!r}")

    def problem(self, status=None, code=None):
        """asserts an RFC 9457 problem response and returns its body"""
        assert self.status < 500, f"{self.describe()}: server error"
        if status is not None:
            assert self.status == status, f"{self.describe()}: expected {status}"
        assert self.content_type == PROBLEM_JSON, f"{self.describe()}: Content-Type {self.header('Content-Type')!r}"
        p = self.json()
        assert p.get("status") == self.status, f"{self.describe()}: problem status {p.get('status')!r}"
        if code is not None:
            assert p.get("code") == code, f"{self.describe()}: expected code {code!r}"
        return p

    def set_cookies(self):
        """name -> (value, raw Set-Cookie line)"""
        out = {}
        for line in self.header_all("Set-Cookie"):
            name, _, rest = line.partition("=")
            out[name.strip()] = (rest.split(";", 1)[0], line)
        return out

    def describe(self):
        snippet = self.body[:400]
        return f"{self.method} {self.path} -> {self.status} {self.header('Content-Type')!r} {snippet!r}"

    def __repr__(self):
        return f"<Response {self.describe()}>"


def cookie_attrs(line):
    """attributes of a Set-Cookie line, lower-cased names -> value (or True)"""
    parts = [p.strip() for p in line.split(";")[1:] if p.strip()]
    attrs = {}
    for p in parts:
        k, eq, v = p.partition("=")
        attrs[k.strip().lower()] = v.strip() if eq else True
    return attrs


class Client:
    """One browser-like party: never follows redirects, keeps its own cookies,
    optionally sends a bearer token. Every request uses a fresh connection.
    `recorder`, a list, receives every Response."""

    def __init__(self, base_url, token=None, recorder=None, timeout=30):
        u = urllib.parse.urlsplit(base_url)
        assert u.scheme == "http", base_url
        self.host = u.hostname
        self.port = u.port or 80
        self.base_url = base_url
        self.token = token
        self.cookies = {}
        self.csrf = None  # the session's CSRF token, once signed in
        self.recorder = recorder
        self.timeout = timeout

    def cookie_header(self, cookies):
        return "; ".join(f"{k}={v}" for k, v in cookies.items())

    def request(self, method, path, *, body=None, json_body=None, form=None, headers=None, cookies=None,
                token=None, content_type=None):
        hdrs = {"Accept": "application/json"}
        if headers:
            hdrs.update(headers)
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")
        elif form is not None:
            body = urllib.parse.urlencode(form).encode("ascii")
            hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
        if isinstance(body, str):
            body = body.encode("utf-8")
        if content_type is not None:
            hdrs["Content-Type"] = content_type
        tok = self.token if token is None else token
        if tok:
            hdrs["Authorization"] = f"Bearer {tok}"
        jar = self.cookies if cookies is None else cookies
        if jar:
            hdrs["Cookie"] = self.cookie_header(jar)
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request(method, path, body=body, headers=hdrs)
            r = conn.getresponse()
            data = r.read()
            resp = Response(method, path, r.status, r.reason, r.headers, data)
        finally:
            conn.close()
        for name, (value, line) in resp.set_cookies().items():
            attrs = cookie_attrs(line)
            if attrs.get("max-age") == "0" or value == "":
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        if self.recorder is not None:
            self.recorder.append(resp)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    @property
    def session(self):
        return self.cookies.get(SESSION_COOKIE)


_INPUT_RE = re.compile(r"<input\b[^>]*>", re.I | re.S)
_ATTR_RE = re.compile(r"""([a-zA-Z_:][-a-zA-Z0-9_:.]*)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""")


def hidden_inputs(page, name):
    """values of every <input name=NAME> of an HTML page, in order"""
    values = []
    for tag in _INPUT_RE.findall(page):
        attrs = {m.group(1).lower(): html.unescape(m.group(2) or m.group(3) or m.group(4) or "")
                 for m in _ATTR_RE.finditer(tag)}
        if attrs.get("name") == name:
            values.append(attrs.get("value", ""))
    return values


def scrape_csrf(resp):
    vals = hidden_inputs(resp.text, "_csrf")
    assert vals, f"no hidden _csrf input on {resp.describe()}"
    assert len(set(vals)) == 1, f"different _csrf values on one page: {vals}"
    return vals[0]


def login_form(client):
    """GET /portal/login without presenting a session; returns the form's _csrf"""
    jar = {k: v for k, v in client.cookies.items() if k != SESSION_COOKIE}
    r = client.get("/portal/login", cookies=jar, headers={"Accept": "text/html"})
    assert r.status == 200, r.describe()
    tok = scrape_csrf(r)
    assert client.cookies.get(LOGIN_COOKIE) == tok, "the login form's _csrf must equal the aispm_login cookie"
    return tok


def login_post(client, email, password, next_path="/portal/", csrf=None):
    """submits the login form (fetching a fresh one unless csrf is given);
    returns the POST response"""
    tok = login_form(client) if csrf is None else csrf
    return client.post("/portal/login", form={"email": email, "password": password, "_csrf": tok, "next": next_path},
                       headers={"Accept": "text/html"})


def login(base_url, email, password, client=None):
    """signs in and returns the client with .csrf scraped from a portal page"""
    c = client or Client(base_url)
    r = login_post(c, email, password)
    assert r.status == 303, f"login of {email} failed: {r.describe()}"
    assert c.session, f"no session cookie after logging in {email}"
    c.login_response = r
    home = c.get("/portal/", headers={"Accept": "text/html"})
    assert home.status == 200, home.describe()
    c.csrf = scrape_csrf(home)
    return c


@pytest.fixture
def new_client(base_url):
    def make(token=None, recorder=None):
        return Client(base_url, token=token, recorder=recorder)
    return make


@pytest.fixture
def login_as(base_url):
    def do(email, password, client=None):
        return login(base_url, email, password, client)
    return do


def wait_for_status(base_url, path, status=200, timeout=30):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = Client(base_url, timeout=3).get(path)
            if last.status == status:
                return last
        except OSError as e:
            last = e
        time.sleep(0.2)
    raise AssertionError(f"{path} did not answer {status} within {timeout}s (last: {last!r})")


# --------------------------------------------------------------------------
# demo logins, admin CLI, database


@pytest.fixture(scope="session")
def demo_logins(env):
    """role -> (email, password) from STATE/demo-logins.txt"""
    users = {}
    started = False
    with open(env["AISPM_TEST_LOGINS"], encoding="utf-8") as f:
        for line in f:
            cols = line.split()
            if not cols:
                continue
            if cols[0] == "role" and cols[1:2] == ["email"]:
                started = True
                continue
            if started and len(cols) == 3:
                users[cols[0]] = (cols[1], cols[2])
    assert "tenant_admin" in users and "auditor" in users, f"unexpected demo logins file: {users}"
    return users


class AdminCLI:
    def __init__(self, env):
        self.bin = env["AISPM_BIN"]
        self.config = env["AISPM_TEST_CONFIG"]

    def run(self, *args, password=None, check=True):
        e = dict(os.environ)
        e.pop("AISPM_PASSWORD", None)
        if password is not None:
            e["AISPM_PASSWORD"] = password
        p = subprocess.run([self.bin, "-c", self.config, "admin", *args], env=e, capture_output=True, text=True,
                           timeout=120)
        if check:
            assert p.returncode == 0, f"aispm admin {' '.join(args)} failed ({p.returncode}): {p.stderr}"
        return p

    def out(self, *args, **kw):
        return self.run(*args, **kw).stdout.strip()

    def create_tenant(self, slug, name):
        return self.out("create-tenant", "--slug", slug, "--name", name)

    def create_user(self, tenant, email, role, password, name=None):
        args = ["create-user", "--tenant", tenant, "--email", email, "--role", role]
        if name:
            args += ["--name", name]
        return self.out(*args, password=password)

    def create_token(self, tenant, email, scopes, name="e2e", ttl_days=None):
        args = ["create-token", "--tenant", tenant, "--user", email, "--scopes", scopes, "--name", name]
        if ttl_days is not None:
            args += ["--ttl-days", str(ttl_days)]
        tok = self.out(*args)
        assert re.fullmatch(r"aispm_[A-Za-z0-9_-]{43}", tok), f"unexpected token output {tok!r}"
        return tok


@pytest.fixture(scope="session")
def admin_cli(env):
    return AdminCLI(env)


def db_user():
    return pwd.getpwuid(os.geteuid()).pw_name


def mariadb(env, sql):
    """runs SQL on the stack's MariaDB as the administrative (unix-socket) user;
    returns stdout (tab-separated, no column names)"""
    p = subprocess.run(["mariadb", "--no-defaults", f"--socket={env['AISPM_TEST_DB_SOCKET']}", "-u", db_user(),
                        "-N", "-B", "-e", sql], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, f"mariadb failed: {p.stderr}"
    return p.stdout


@pytest.fixture(scope="session")
def sql(env):
    return lambda statement: mariadb(env, statement)


def sql_str(s):
    return "'" + s.replace("\\", "\\\\").replace("'", "''") + "'"


def account_key(email):
    return hashlib.sha256(email.lower().encode("utf-8")).hexdigest()


def rand(n=8):
    return secrets.token_hex(n // 2 if n > 1 else 1)


def strong_password():
    return "Pw-" + secrets.token_urlsafe(18)


# --------------------------------------------------------------------------
# tenants


class Tenant:
    pass


@pytest.fixture(scope="session")
def acme(base_url, demo_logins, admin_cli):
    """the demo tenant A ("acme"): admin login and bearer tokens"""
    t = Tenant()
    t.slug = "acme"
    t.admin_email, t.admin_password = demo_logins["tenant_admin"]
    t.token_admin = admin_cli.create_token("acme", t.admin_email, "reports:read,reports:write,admin", name="e2e-admin")
    t.token_read = admin_cli.create_token("acme", t.admin_email, "reports:read", name="e2e-read")
    me = Client(base_url, token=t.token_admin).get("/enterprise/aispm/me")
    assert me.status == 200, me.describe()
    t.tenant_ref = me.json()["tenant_ref"]
    t.user_ref = me.json()["user_ref"]
    return t


@pytest.fixture(scope="session")
def tenant_b(base_url, admin_cli):
    """a second tenant "tenant-b-<random>" with a tenant_admin user and tokens"""
    t = Tenant()
    t.slug = f"tenant-b-{rand(10)}"
    t.tenant_ref = admin_cli.create_tenant(t.slug, f"E2E tenant B {t.slug}")
    assert t.tenant_ref.startswith("tenant:"), t.tenant_ref
    t.admin_email = f"admin@{t.slug}.example"
    t.admin_password = strong_password()
    t.admin_user_ref = admin_cli.create_user(t.slug, t.admin_email, "tenant_admin", t.admin_password, name="B Admin")
    t.token_admin = admin_cli.create_token(t.slug, t.admin_email, "reports:read,reports:write,admin", name="b-admin")
    t.token_read = admin_cli.create_token(t.slug, t.admin_email, "reports:read", name="b-read")
    me = Client(base_url, token=t.token_admin).get("/enterprise/aispm/me")
    assert me.status == 200, me.describe()
    assert me.json()["tenant_ref"] == t.tenant_ref
    return t


class ThrowawayUsers:
    """factory of tenant-B users for tests that fail logins on purpose"""

    def __init__(self, admin_cli, tenant):
        self.admin_cli = admin_cli
        self.tenant = tenant
        self.emails = []

    def __call__(self, role="auditor"):
        """creates a user; returns (email, password, user_ref)"""
        email = self.unknown_email()
        password = strong_password()
        ref = self.admin_cli.create_user(self.tenant.slug, email, role, password)
        return email, password, ref

    def unknown_email(self):
        """an address no account has (its failed attempts are cleaned up too)"""
        email = f"u-{rand(10)}@{self.tenant.slug}.example"
        self.emails.append(email)
        return email


@pytest.fixture
def throwaway_user(env, admin_cli, tenant_b):
    """creates users in tenant B for tests that fail logins on purpose; their
    login attempts are deleted afterwards, so they do not count towards the
    per-client throttle of later tests (all tests come from 127.0.0.1)"""
    users = ThrowawayUsers(admin_cli, tenant_b)
    yield users
    if users.emails:
        keys = ", ".join(sql_str(account_key(e)) for e in users.emails)
        mariadb(env, f"DELETE FROM aispm.login_attempts WHERE account_key IN ({keys})")


# --------------------------------------------------------------------------
# evidence


def audit_events(client, limit=500):
    """every evidence event visible to client (newest first), following cursors"""
    out = []
    path = f"/enterprise/aispm/audit/events?limit={limit}"
    for _ in range(100):
        r = client.get(path)
        assert r.status == 200, r.describe()
        body = r.json()
        out.extend(body["events"])
        if not body.get("next_cursor"):
            return out
        path = f"/enterprise/aispm/audit/events?limit={limit}&cursor={body['next_cursor']}"
    raise AssertionError("too many audit pages")


def read_file_bytes(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def files_containing(state_dir, needle):
    """every file under the stack's state directory (logs, configuration,
    artifacts, ...; not the database files) whose bytes contain needle"""
    hits = []
    for root, dirs, files in os.walk(state_dir):
        if os.path.basename(root) == "mysql" or "/mysql" in root:
            dirs[:] = []
            continue
        for f in files:
            p = os.path.join(root, f)
            try:
                with open(p, "rb") as fh:
                    if needle.encode() in fh.read():
                        hits.append(p)
            except OSError:
                pass
    return hits

"""Sign-in, sessions, logout, login throttling and their evidence.

Failed logins use throwaway users of tenant B (the demo users stay usable and
the per-client throttle, 20 failures per 15 minutes from 127.0.0.1, is not
approached: this module fails at most 8 logins and removes those attempts).
"""

import re

from .conftest import (LOGIN_COOKIE, SESSION_COOKIE, Client, audit_events, cookie_attrs, hidden_inputs, login,
                       login_form, login_post, read_file_bytes, scrape_csrf)

HTML = {"Accept": "text/html"}


def expect_secure(app_config):
    return app_config.get("cookie_secure", "true").lower() == "true"


def assert_cookie_attributes(line, app_config, max_age_positive=True):
    attrs = cookie_attrs(line)
    assert attrs.get("httponly") is True, f"HttpOnly missing: {line}"
    assert str(attrs.get("samesite", "")).lower() == "strict", f"SameSite=Strict missing: {line}"
    assert attrs.get("path") == "/", f"Path=/ missing: {line}"
    assert ("secure" in attrs) == expect_secure(app_config), f"Secure does not follow cookie_secure: {line}"
    if max_age_positive:
        assert int(attrs.get("max-age", "0")) > 0, line


def events_of(client, user_ref):
    return [e["event"] for e in audit_events(client)
            if e["event"].get("object_ref") == user_ref or e["event"].get("actor", {}).get("ref") == user_ref]


def test_login_form_carries_double_submit_token(base_url, app_config):
    c = Client(base_url)
    r = c.get("/portal/login", headers=HTML)
    assert r.status == 200, r.describe()
    assert r.content_type == "text/html"
    assert r.header("Cache-Control") == "no-store"
    cookies = r.set_cookies()
    assert LOGIN_COOKIE in cookies, r.describe()
    value, line = cookies[LOGIN_COOKIE]
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", value), value
    assert_cookie_attributes(line, app_config)
    assert scrape_csrf(r) == value
    # each form gets its own token
    assert login_form(Client(base_url)) != value


def test_login_sets_strict_httponly_session_cookie(base_url, demo_logins, app_config, acme):
    email, password = demo_logins["cso"]
    c = Client(base_url)
    r = login_post(c, email, password)
    assert r.status == 303, r.describe()
    assert r.header("Location") == "/portal/"
    cookies = r.set_cookies()
    assert SESSION_COOKIE in cookies, r.describe()
    value, line = cookies[SESSION_COOKIE]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value), value
    assert_cookie_attributes(line, app_config)
    # the one-time login token is cleared
    assert LOGIN_COOKIE in cookies and cookies[LOGIN_COOKIE][0] == ""
    assert cookie_attrs(cookies[LOGIN_COOKIE][1]).get("max-age") == "0"
    assert password not in r.body.decode("utf-8", "replace")

    home = c.get("/portal/", headers=HTML)
    assert home.status == 200, home.describe()
    csrf = scrape_csrf(home)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", csrf), csrf
    assert csrf != value

    me = c.get("/enterprise/aispm/me")
    assert me.status == 200, me.describe()
    body = me.json()
    assert body["auth"] == "session" and body["role"] == "cso"
    assert body["tenant_ref"] == acme.tenant_ref

    # signed in: the login page sends the user on instead of showing the form
    again = c.get("/portal/login", headers=HTML)
    assert again.status == 303 and again.header("Location") == "/portal/", again.describe()

    # evidence of the sign-in, attributed to the user
    ev = events_of(Client(base_url, token=acme.token_admin), body["user_ref"])
    assert any(e["action"] == "auth.login" and e["outcome"] == "success" for e in ev), ev


def test_login_redirects_only_to_local_next(base_url, demo_logins):
    email, password = demo_logins["cso"]
    r = login_post(Client(base_url), email, password, next_path="/portal/catalog")
    assert r.status == 303 and r.header("Location") == "/portal/catalog", r.describe()
    for evil in ("//evil.example/", "https://evil.example/", "/\\evil.example"):
        r = login_post(Client(base_url), email, password, next_path=evil)
        assert r.status == 303, r.describe()
        assert r.header("Location") == "/portal/", f"open redirect via next={evil!r}: {r.header('Location')}"


def test_login_without_matching_form_token_is_refused(base_url, demo_logins):
    email, password = demo_logins["cso"]
    # no _csrf field at all
    c = Client(base_url)
    login_form(c)
    r = c.post("/portal/login", form={"email": email, "password": password, "next": "/portal/"}, headers=HTML)
    assert r.status == 403, r.describe()
    assert SESSION_COOKIE not in r.set_cookies()
    # a token that is not the cookie's
    c = Client(base_url)
    login_form(c)
    r = c.post("/portal/login", form={"email": email, "password": password, "_csrf": "A" * 32, "next": "/portal/"},
               headers=HTML)
    assert r.status == 403, r.describe()
    assert SESSION_COOKIE not in r.set_cookies()
    # the right token but no cookie (a cross-site form post)
    c = Client(base_url)
    tok = login_form(c)
    c.cookies.clear()
    r = c.post("/portal/login", form={"email": email, "password": password, "_csrf": tok, "next": "/portal/"},
               headers=HTML)
    assert r.status == 403, r.describe()
    assert SESSION_COOKIE not in r.set_cookies()


def test_wrong_password_is_a_401_page(base_url, throwaway_user):
    email, password, _ = throwaway_user()
    wrong = password + "-wrong"
    c = Client(base_url)
    r = login_post(c, email, wrong)
    assert r.status == 401, r.describe()
    assert r.content_type == "text/html"
    assert SESSION_COOKIE not in r.set_cookies() and not c.session
    page = r.body.decode("utf-8", "replace")
    assert wrong not in page and password not in page
    # the page is a fresh sign-in form that works
    tok = scrape_csrf(r)
    assert c.cookies.get(LOGIN_COOKIE) == tok
    ok = login_post(c, email, password, csrf=tok)
    assert ok.status == 303, ok.describe()
    # an unknown account answers exactly like a wrong password
    unknown = throwaway_user.unknown_email()
    r = login_post(Client(base_url), unknown, wrong)
    assert r.status == 401, r.describe()


def test_session_id_rotates_on_login(base_url, demo_logins):
    email, password = demo_logins["grc_analyst"]
    c = login(base_url, email, password)
    old = c.session
    # log in again while presenting the old cookie
    r = login_post(c, email, password)
    assert r.status == 303, r.describe()
    new = c.session
    assert new and new != old, "login must issue a new session id"
    only_old = c.get("/enterprise/aispm/me", cookies={SESSION_COOKIE: old})
    only_old.problem(401, "unauthenticated")
    portal_old = c.get("/portal/", cookies={SESSION_COOKIE: old}, headers=HTML)
    assert portal_old.status == 303 and portal_old.header("Location").startswith("/portal/login"), portal_old.describe()
    assert c.get("/enterprise/aispm/me").status == 200


def test_logout_ends_the_session(base_url, demo_logins, acme):
    email, password = demo_logins["approver"]
    c = login(base_url, email, password)
    cookie, csrf = c.session, c.csrf
    user_ref = c.get("/enterprise/aispm/me").json()["user_ref"]

    # logout is a state change: without or with a wrong CSRF token it is refused
    r = c.post("/portal/logout", form={}, headers=HTML)
    assert r.status == 403, r.describe()
    r = c.post("/portal/logout", form={"_csrf": csrf[:-1] + ("A" if csrf[-1] != "A" else "B")}, headers=HTML)
    assert r.status == 403, r.describe()
    assert c.get("/enterprise/aispm/me").status == 200, "a refused logout must not end the session"

    r = c.post("/portal/logout", form={"_csrf": csrf}, headers=HTML)
    assert r.status == 303, r.describe()
    assert r.header("Location").startswith("/portal/login"), r.describe()
    cleared = r.set_cookies().get(SESSION_COOKIE)
    assert cleared and cleared[0] == "" and cookie_attrs(cleared[1]).get("max-age") == "0", r.describe()

    stale = Client(base_url)
    stale.cookies[SESSION_COOKIE] = cookie
    stale.get("/enterprise/aispm/me").problem(401, "unauthenticated")
    home = stale.get("/portal/", headers=HTML)
    assert home.status == 303, home.describe()
    assert home.header("Location") == "/portal/login?next=/portal/"
    # the old session's CSRF token is worthless too
    r = stale.put("/enterprise/aispm/reports/catalog/executive_risk_brief", json_body={"enabled": True},
                  headers={"X-CSRF-Token": csrf})
    r.problem(401, "unauthenticated")

    ev = events_of(Client(base_url, token=acme.token_admin), user_ref)
    assert any(e["action"] == "auth.logout" for e in ev), ev


def test_login_throttling_per_account(base_url, throwaway_user, tenant_b, app_config):
    limit = int(app_config.get("login_max_failures_per_account", "5"))
    assert limit == 5, "this test assumes the shipped limit of 5 failures per account"
    email, password, user_ref = throwaway_user()
    for i in range(limit):
        r = login_post(Client(base_url), email, f"{password}-x{i}")
        assert r.status == 401, f"attempt {i + 1}: {r.describe()}"
    # the account is now throttled, even for the right password
    c = Client(base_url)
    r = login_post(c, email, password)
    assert r.status == 429, r.describe()
    assert SESSION_COOKIE not in r.set_cookies() and not c.session
    assert hidden_inputs(r.text, "_csrf"), "the throttled page is still a sign-in form"
    r = login_post(Client(base_url), email, password + "-again")
    assert r.status == 429, r.describe()
    # another account from the same address is not affected
    other_email, other_password, _ = throwaway_user()
    ok = login_post(Client(base_url), other_email, other_password)
    assert ok.status == 303, ok.describe()

    ev = events_of(Client(base_url, token=tenant_b.token_admin), user_ref)
    assert sum(e["action"] == "auth.login_failed" for e in ev) == limit, ev
    throttled = [e for e in ev if e["action"] == "auth.login_throttled"]
    assert throttled and all(e["outcome"] == "denied" for e in throttled), ev
    assert not any(e["action"] == "auth.login" for e in ev), "a throttled login must not succeed"


def test_auth_evidence_never_holds_secrets(base_url, throwaway_user, tenant_b, acme, state_dir):
    email, password, user_ref = throwaway_user()
    wrong = password + "-Wr0ng"
    r = login_post(Client(base_url), email, wrong)
    assert r.status == 401, r.describe()
    c = login(base_url, email, password)
    cookie, csrf = c.session, c.csrf
    r = c.post("/portal/logout", form={"_csrf": csrf}, headers=HTML)
    assert r.status == 303, r.describe()

    admin = Client(base_url, token=tenant_b.token_admin)
    all_events = audit_events(admin)
    mine = [e["event"] for e in all_events if e["event"].get("object_ref") == user_ref]
    actions = [e["action"] for e in mine]
    for needed in ("auth.login", "auth.login_failed", "auth.logout"):
        assert needed in actions, f"no {needed} event for {user_ref}: {actions}"
    failed = next(e for e in mine if e["action"] == "auth.login_failed")
    assert failed["outcome"] == "failure" and failed["tenant_ref"] == tenant_b.tenant_ref
    login_ev = next(e for e in mine if e["action"] == "auth.login")
    assert login_ev["actor"]["ref"] == user_ref and login_ev["actor"]["role"] == "auditor"

    blob = admin.get("/enterprise/aispm/audit/events?limit=500").body.decode("utf-8")
    for secret in (password, wrong, cookie, csrf):
        assert secret not in blob, "a password, session cookie or CSRF token reached the evidence chain"
    # nor the application's log
    log = read_file_bytes(f"{state_dir}/logs/aispm.log").decode("utf-8", "replace")
    for secret in (password, wrong, cookie, csrf):
        assert secret not in log, "a password, session cookie or CSRF token reached aispm.log"
    # tenant A's evidence does not show tenant B's sign-ins
    a_events = audit_events(Client(base_url, token=acme.token_admin))
    assert not any(e["event"].get("object_ref") == user_ref for e in a_events)

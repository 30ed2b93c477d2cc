"""Schemathesis hooks of scripts/fuzz.sh: the run's login.

Every request is sent as FUZZ_EMAIL (password FUZZ_PASSWORD). The fuzzer itself ends that
login's sessions now and then (logout, a password or role change), so a 401 fetches a new token;
for an ordinary user (FUZZ_SIGNUP=1) a deleted account is signed up again. These logins come from
127.0.0.2, so the fuzzer's own wrong logins from 127.0.0.1 (rate limited per address) do not
lock the run out of its account.
"""

import http.client
import json
import os
import re
import urllib.parse
import uuid

import schemathesis

URL = urllib.parse.urlsplit(os.environ["FUZZ_URL"])
EMAIL = os.environ["FUZZ_EMAIL"]
PASSWORD = os.environ["FUZZ_PASSWORD"]
SIGNUP = os.environ.get("FUZZ_SIGNUP") == "1"
IDEMPOTENCY_KEY = re.compile(r"^[!-~]{1,255}$")


def _post(path, body, content_type):
    connection = http.client.HTTPConnection(URL.hostname, URL.port, timeout=30, source_address=("127.0.0.2", 0))
    try:
        connection.request("POST", path, body=body, headers={"content-type": content_type})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def _login():
    form = urllib.parse.urlencode({"username": EMAIL, "password": PASSWORD})
    status, body = _post("/api/v1/login/access-token", form, "application/x-www-form-urlencoded")
    if status == 200:
        return body["access_token"]
    if SIGNUP:
        _post("/api/v1/users/signup", json.dumps({"email": EMAIL, "password": PASSWORD}), "application/json")
        status, body = _post("/api/v1/login/access-token", form, "application/x-www-form-urlencoded")
        if status == 200:
            return body["access_token"]
    return None


@schemathesis.auth(refresh_interval=600, retry_on=[401])
class Login:
    """A bearer token, logged in again on a 401; the last good one when a login fails (the fuzzer
    may have changed the account's email)."""

    last = None

    def get(self, case, ctx):
        Login.last = _login() or Login.last
        return Login.last

    def set(self, case, data, ctx):
        if data:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.hook
def before_call(context, case, kwargs):
    """A client sends a new Idempotency-Key with each new request, and the same key only to retry
    the same request (tests/api cover replays). The fuzzer draws one valid key and sends it with
    different bodies, which is the documented 422, so each valid key is made unique here; invalid
    keys are left as drawn, for their 422."""
    headers = dict(case.headers or {})
    for name, value in headers.items():
        if name.lower() == "idempotency-key" and isinstance(value, str) and IDEMPOTENCY_KEY.match(value):
            headers[name] = f"{value[:200]}-{uuid.uuid4().hex}"
            case.headers = headers

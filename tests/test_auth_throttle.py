"""Failed sign-ins slow down the client that fails, never the account's owner elsewhere; an
unknown address answers as slowly as a known one."""

import statistics
import time

from crm_web.accounts import ratelimit

OWNER_ADDRESS = {"REMOTE_ADDR": "10.9.8.7"}


def _fail(client, email, **kwargs):
    return client.post("/login", data={"email": email, "password": "wrong-password"}, **kwargs)


def test_a_client_that_keeps_failing_waits_and_the_owner_elsewhere_does_not(app, client, make_org):
    _org, admin = make_org()
    free = app.config["LOGIN_FREE_FAILURES"]
    for _ in range(free):
        assert _fail(client, admin.email).status_code == 422

    throttled = client.post("/login", data={"email": admin.email, "password": "correct-horse"})
    assert throttled.status_code == 429
    assert throttled.headers["Retry-After"] == "1"
    assert "Too many failed sign-ins. Try again in 1 second." in throttled.get_data(as_text=True)
    htmx = _fail(client, admin.email, headers={"HX-Request": "true"})
    assert htmx.status_code == 429 and htmx.headers["Retry-After"]
    assert 'id="login-form"' in htmx.get_data(as_text=True)
    assert "<html" not in htmx.get_data(as_text=True)

    # The owner, from another address, signs in at once.
    owner = client.post(
        "/login",
        data={"email": admin.email, "password": "correct-horse"},
        environ_base=OWNER_ADDRESS,
    )
    assert owner.status_code == 303


def test_each_further_failure_doubles_the_wait_up_to_the_cap(app, make_org):
    free = app.config["LOGIN_FREE_FAILURES"]
    waits = []
    for _ in range(free + 12):
        ratelimit.record_failure("someone@example.com", "10.0.0.1")
        waits.append(ratelimit.login_wait_seconds("someone@example.com", "10.0.0.1"))
    assert waits[: free - 1] == [0] * (free - 1)
    assert waits[free - 1 : free + 3] == [1, 2, 4, 8]
    assert waits[-1] == app.config["LOGIN_MAX_DELAY_SECONDS"]
    # Another account from that address, or that account from another, has not waited.
    assert ratelimit.login_wait_seconds("other@example.com", "10.0.0.1") == 0
    assert ratelimit.login_wait_seconds("someone@example.com", "10.0.0.2") == 0


def test_a_successful_sign_in_forgets_that_clients_failures(app, client, make_org):
    _org, admin = make_org()
    for _ in range(app.config["LOGIN_FREE_FAILURES"] - 1):
        _fail(client, admin.email)
    assert (
        client.post("/login", data={"email": admin.email, "password": "correct-horse"}).status_code
        == 303
    )
    client.post("/logout")
    for _ in range(app.config["LOGIN_FREE_FAILURES"] - 1):
        assert _fail(client, admin.email).status_code == 422


def test_one_address_failing_on_many_accounts_is_stopped(app, client, make_org):
    _org, admin = make_org()
    app.config["LOGIN_MAX_FAILURES_PER_IP"], limit = 8, app.config["LOGIN_MAX_FAILURES_PER_IP"]
    try:
        for number in range(8):
            assert _fail(client, f"nobody{number}@example.com").status_code == 422
        response = client.post("/login", data={"email": admin.email, "password": "correct-horse"})
        assert response.status_code == 429
        assert int(response.headers["Retry-After"]) > 0
        # Another address is not affected.
        other = client.post(
            "/login",
            data={"email": admin.email, "password": "correct-horse"},
            environ_base=OWNER_ADDRESS,
        )
        assert other.status_code == 303
    finally:
        app.config["LOGIN_MAX_FAILURES_PER_IP"] = limit


def _timed_failure(client, email: str, address: str) -> float:
    started = time.perf_counter()
    response = _fail(client, email, environ_base={"REMOTE_ADDR": address})
    elapsed = time.perf_counter() - started
    assert response.status_code == 422
    return elapsed


def test_an_unknown_email_takes_as_long_as_a_known_one(client, make_org):
    _org, admin = make_org()
    known, unknown = [], []
    for round_ in range(4):
        # A fresh address each round: these tries must not be slowed by the throttle.
        known.append(_timed_failure(client, admin.email, f"10.1.0.{round_}"))
        unknown.append(_timed_failure(client, "nobody@example.com", f"10.2.0.{round_}"))
    known_median, unknown_median = statistics.median(known), statistics.median(unknown)
    assert known_median / unknown_median < 2.5, (known, unknown)
    assert unknown_median / known_median < 2.5, (known, unknown)

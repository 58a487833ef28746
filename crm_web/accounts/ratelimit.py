"""Sign-in throttling and public-form limits, counted in Redis.

Failed sign-ins are counted per (account, client address): after a few, that client waits
before trying that account again, longer after each further failure. Nobody can lock an account
for its owner, who signs in from another address. A looser count per address across accounts
stops one client from trying password after password on many accounts.

Without Redis every limit fails open, with a log line: passwords are still checked against slow
hashes and the public forms keep their honeypots, while a sign-in page that refused everyone
would take the whole site down with Redis.
"""

import math

from flask import current_app

from crm_web.redis_client import get_redis, when_redis_down


def _keys(email: str, ip: str) -> tuple[str, str, str]:
    pair = f"{email.lower()}|{ip}"
    return f"crm:login-fail:{pair}", f"crm:login-wait:{pair}", f"crm:login-fail:ip:{ip}"


@when_redis_down(0, "sign-in throttling: not throttled")
def login_wait_seconds(email: str, ip: str) -> int:
    """Seconds this address must wait before trying this account again; 0 when it may now."""
    _count_key, wait_key, ip_key = _keys(email, ip)
    pipe = get_redis().pipeline()
    pipe.pttl(wait_key)
    pipe.get(ip_key)
    pipe.ttl(ip_key)
    wait_ms, ip_failures, ip_ttl = pipe.execute()
    if int(ip_failures or 0) >= current_app.config["LOGIN_MAX_FAILURES_PER_IP"]:
        return max(ip_ttl, 1)
    return math.ceil(wait_ms / 1000) if wait_ms > 0 else 0


def login_delay_seconds(failures: int) -> int:
    """The wait after this many failures in a row from one address on one account."""
    config = current_app.config
    free = config["LOGIN_FREE_FAILURES"]
    if failures < free:
        return 0
    return min(2 ** (failures - free), config["LOGIN_MAX_DELAY_SECONDS"])


@when_redis_down(None, "sign-in throttling: failure not counted")
def record_failure(email: str, ip: str) -> None:
    """Count a failed sign-in; past the free ones, the address waits before its next try."""
    count_key, wait_key, ip_key = _keys(email, ip)
    window = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    pipe = get_redis().pipeline()
    # The pair's count lives as long as failures keep coming; the address's window is fixed
    # (SET NX starts it on the first failure only; EXPIRE NX needs Redis 7).
    pipe.incr(count_key)
    pipe.expire(count_key, window)
    pipe.set(ip_key, 0, ex=window, nx=True)
    pipe.incr(ip_key)
    failures = pipe.execute()[0]
    delay = login_delay_seconds(failures)
    if delay:
        get_redis().set(wait_key, 1, ex=delay)


@when_redis_down(None, "sign-in throttling: count not cleared")
def clear_failures(email: str, ip: str) -> None:
    """Forget this address's failures on this account (after it signed in)."""
    count_key, wait_key, _ip_key = _keys(email, ip)
    get_redis().delete(count_key, wait_key)


@when_redis_down(True, "public form rate limit: allowed")
def allow(bucket: str, limit: int, window_seconds: int) -> bool:
    """Count one more hit on `bucket` (public forms); False once it passes `limit` in the window."""
    key = f"crm:rate:{bucket}"
    pipe = get_redis().pipeline()
    pipe.set(key, 0, ex=window_seconds, nx=True)
    pipe.incr(key)
    _created, hits = pipe.execute()
    return hits <= limit

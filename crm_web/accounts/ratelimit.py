"""Login throttling: failures counted in Redis per account and per client address."""

from flask import current_app

from crm_web.redis_client import get_redis, when_redis_down

# Without Redis every limit here fails open, with a log line per skipped check: locking every
# user out (or refusing every public form) during an outage would do more harm than the short
# unthrottled window, in which passwords are still checked against their slow hashes and public
# forms still have their honeypot.


def _keys(email: str, ip: str) -> tuple[str, str]:
    return f"crm:login-fail:account:{email.lower()}", f"crm:login-fail:ip:{ip}"


@when_redis_down(False, "sign-in throttling: not throttled")
def is_throttled(email: str, ip: str) -> bool:
    """True when this account or this address has failed too often in the current window."""
    account_key, ip_key = _keys(email, ip)
    account_failures, ip_failures = get_redis().mget(account_key, ip_key)
    config = current_app.config
    return (
        int(account_failures or 0) >= config["LOGIN_MAX_FAILURES_PER_ACCOUNT"]
        or int(ip_failures or 0) >= config["LOGIN_MAX_FAILURES_PER_IP"]
    )


@when_redis_down(None, "sign-in throttling: failure not counted")
def record_failure(email: str, ip: str) -> None:
    window = current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"]
    pipe = get_redis().pipeline()
    for key in _keys(email, ip):
        # SET NX starts the window on the first failure only (EXPIRE NX needs Redis 7).
        pipe.set(key, 0, ex=window, nx=True)
        pipe.incr(key)
    pipe.execute()


@when_redis_down(None, "sign-in throttling: count not cleared")
def clear_account(email: str) -> None:
    get_redis().delete(_keys(email, "")[0])


@when_redis_down(True, "public form rate limit: allowed")
def allow(bucket: str, limit: int, window_seconds: int) -> bool:
    """Count one more hit on `bucket` (public forms); False once it passes `limit` in the window."""
    key = f"crm:rate:{bucket}"
    pipe = get_redis().pipeline()
    pipe.set(key, 0, ex=window_seconds, nx=True)
    pipe.incr(key)
    _created, hits = pipe.execute()
    return hits <= limit

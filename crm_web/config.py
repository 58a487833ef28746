"""Configuration read from the environment."""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

PROJECT_ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("CRM_INSTANCE_DIR", PROJECT_ROOT / "instance"))


def sqlalchemy_url(url: str) -> str:
    """Turn the usual postgresql:// URL into one that names the psycopg 3 driver."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def display_url(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password:
        netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
        return parts._replace(netloc=netloc).geturl()
    return url


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    # Generated once so sessions survive restarts and all processes agree on it.
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(48))
        path.chmod(0o600)
    return path.read_text().strip()


class Config:
    """Settings for a running deployment, all from the environment."""

    def __init__(self) -> None:
        env = os.environ
        self.SECRET_KEY = _secret_key()
        self.DATABASE_URL = env.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/crm")
        self.SQLALCHEMY_DATABASE_URI = sqlalchemy_url(self.DATABASE_URL)
        # No ping before each checkout (a round trip per request): a connection the server
        # dropped fails the one request that finds it, and SQLAlchemy, seeing the disconnect,
        # drops every pooled connection of that moment, so the next requests reconnect.
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": False}
        self.REDIS_URL = env.get("REDIS_URL", "redis://127.0.0.1:6379/0")
        self.SMTP_URL = env.get("SMTP_URL", "smtp://127.0.0.1:8025")
        self.MAIL_FROM = env.get("MAIL_FROM", "CRM <no-reply@crm.localhost>")
        # Signs the messages of no organization (a sign-up link).
        self.PRODUCT_NAME = env.get("PRODUCT_NAME", "CRM")
        self.SMS_GATEWAY_URL = env.get("SMS_GATEWAY_URL", "")
        self.SMS_FROM = env.get("SMS_FROM", "")
        # Signs the gateway's delivery reports; defaults to the password in SMS_GATEWAY_URL.
        self.SMS_WEBHOOK_SECRET = env.get("SMS_WEBHOOK_SECRET", "")
        # Words a customer texts to opt out of SMS, or back in (compared folded, see
        # crm_web.campaigns.sms_keywords); and whether the gateway sends Turkish letters with
        # the Turkish single shift table (crm_web.messaging.sms.segments).
        self.SMS_OPT_OUT_KEYWORDS = env.get("SMS_OPT_OUT_KEYWORDS", "STOP,DUR,IPTAL,RET")
        self.SMS_OPT_IN_KEYWORDS = env.get("SMS_OPT_IN_KEYWORDS", "START,BASLA")
        self.SMS_TURKISH_SHIFT = env.get("SMS_TURKISH_SHIFT", "") in ("1", "true", "yes")
        # Operators' logs (crm_web.logs): text lines or one JSON object per line.
        self.LOG_LEVEL = env.get("LOG_LEVEL", "INFO").upper()
        self.LOG_FORMAT = env.get("LOG_FORMAT", "text").lower()
        # How long a worker holds claimed messages without marking any (extended as it marks);
        # after a crash they go again once it runs out and the sweep has passed.
        self.OUTBOX_LEASE_SECONDS = int(env.get("OUTBOX_LEASE_SECONDS", "45"))
        self.OUTBOX_SMTP_CONNECTIONS = int(env.get("OUTBOX_SMTP_CONNECTIONS", "4"))
        self.BASE_URL = env.get("BASE_URL", "http://127.0.0.1:5000").rstrip("/")
        # The role the app's queries run as: never a superuser or table owner, so RLS applies.
        self.DB_APP_ROLE = env.get("DB_APP_ROLE", "crm_app")
        # Set by the run command: the folder where the local SMTP sink stores received mail.
        self.DEV_MAILBOX_DIR = env.get("DEV_MAILBOX_DIR", "")
        # Set by the run command: the folder where the dev SMS gateway stores received messages.
        self.DEV_SMS_DIR = env.get("DEV_SMS_DIR", "")
        # Ticket attachments, one folder per organization.
        self.ATTACHMENTS_DIR = env.get("ATTACHMENTS_DIR", str(INSTANCE_DIR / "attachments"))
        self.SESSION_COOKIE_SECURE = self.BASE_URL.startswith("https://")
        self.SESSION_LIFETIME_SECONDS = int(env.get("SESSION_LIFETIME_SECONDS", 14 * 24 * 3600))
        # The signed session cookie (crm_web.security): a sign-in's cookie lives as long as its
        # row in user_sessions, and is not re-sent with every response.
        self.PERMANENT_SESSION_LIFETIME = timedelta(seconds=self.SESSION_LIFETIME_SECONDS)
        self.SESSION_REFRESH_EACH_REQUEST = False
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.WTF_CSRF_TIME_LIMIT = None
        self.MAX_CONTENT_LENGTH = 64 * 1024 * 1024
        # The largest CSV one import takes (uploads past MAX_CONTENT_LENGTH are cut off before).
        self.IMPORT_MAX_BYTES = int(env.get("IMPORT_MAX_MB", "50")) * 1024 * 1024
        # Uploaded documents (crm_web.storage); empty means instance/uploads.
        self.UPLOAD_DIR = env.get("UPLOAD_DIR", "")
        # /health details for requests from loopback; off when a proxy on this machine relays
        # every request (they would all come from 127.0.0.1) without X-Forwarded-For.
        self.HEALTH_DETAILS_FROM_LOOPBACK = env.get("HEALTH_DETAILS_FROM_LOOPBACK", "1") == "1"
        # Failed sign-ins on one account from one address before each further try waits
        # 1 s, 2 s, 4 s... up to the cap; and failures on any account from one address.
        self.LOGIN_FREE_FAILURES = 5
        self.LOGIN_MAX_DELAY_SECONDS = 5 * 60
        self.LOGIN_MAX_FAILURES_PER_IP = 50
        self.LOGIN_FAILURE_WINDOW_SECONDS = 15 * 60

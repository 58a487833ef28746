"""The run command: services (embedded when not configured), migrations, demo data, then honcho.

Starts web, worker and scheduler from the Procfile with one environment, so the three
processes agree on the database, Redis, SMTP, the SMS gateway and the secret key.
"""

import os
import signal
import subprocess
import sys

from crm_web.config import INSTANCE_DIR, PROJECT_ROOT
from crm_web.devservices import (
    ServiceUnreachable,
    check_postgres,
    check_redis,
    check_smtp,
    embedded_postgres_url,
    embedded_redis_url,
    free_port,
)

# Services started in this process; kept referenced until it exits.
_running_services: list = []
# The sender of the run command's SMS when SMS_FROM is unset (555-01xx numbers are fictional).
DEV_SMS_FROM = "+12025550100"


def _prepare_environment() -> list[str]:
    """Fill DATABASE_URL, REDIS_URL, SMTP_URL and SMS_GATEWAY_URL (starting embedded or local
    ones); return notes to print."""
    notes = []
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = embedded_postgres_url("crm")
        notes.append("PostgreSQL: embedded (instance/postgres)")
    check_postgres(os.environ["DATABASE_URL"])
    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = embedded_redis_url()
        notes.append("Redis:      embedded (instance/redis)")
    check_redis(os.environ["REDIS_URL"])
    if not os.environ.get("SMTP_URL"):
        from crm_web.messaging.devmail import start_sink

        mailbox = INSTANCE_DIR / "mail"
        port = free_port()
        _running_services.append(start_sink(mailbox, port=port))
        os.environ["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        os.environ["DEV_MAILBOX_DIR"] = str(mailbox)
        notes.append(f"Mail:       local sink on port {port}; read it at /dev/mail")
    check_smtp(os.environ["SMTP_URL"])
    if not os.environ.get("SMS_GATEWAY_URL"):
        from crm_web.messaging.devsms import DevSmsGateway

        folder = INSTANCE_DIR / "sms"
        secret = os.environ.get("SMS_WEBHOOK_SECRET") or None
        gateway = DevSmsGateway(folder, webhook_secret=secret).start()
        _running_services.append(gateway)
        os.environ["SMS_GATEWAY_URL"] = gateway.url
        os.environ.setdefault("SMS_FROM", DEV_SMS_FROM)
        # The gateway signs its delivery reports with it, the web app checks them with it.
        os.environ["SMS_WEBHOOK_SECRET"] = gateway.webhook_secret
        os.environ["DEV_SMS_DIR"] = str(folder)
        notes.append(f"SMS:        dev gateway on port {gateway.port}; read it at /dev/sms")
    port = int(os.environ.get("PORT", "5000"))
    os.environ.setdefault("BASE_URL", f"http://127.0.0.1:{port}")
    return notes


def _migrate_and_seed() -> list[tuple[str, str, str]]:
    from flask_migrate import upgrade

    from crm_web import create_app
    from crm_web.db import analyze
    from crm_web.demo import BULK_TABLES, DEMO_PASSWORD, DEMO_USERS, ensure_demo_organization

    app = create_app()
    with app.app_context():
        upgrade(directory=str(PROJECT_ROOT / "migrations"), revision="heads")
        if ensure_demo_organization():
            analyze(app.config["DATABASE_URL"], BULK_TABLES)
            print("Seeded the demo organization.")
    return [(role, email, DEMO_PASSWORD) for email, _name, role, _department, _skills in DEMO_USERS]


def main() -> None:
    try:
        notes = _prepare_environment()
    except ServiceUnreachable as exc:
        sys.exit(f"Error: {exc}")
    logins = _migrate_and_seed()
    port = os.environ.get("PORT", "5000")
    # The Procfile names gunicorn, dramatiq and python: find them in this virtualenv.
    os.environ["PATH"] = os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")
    print("\n".join(["", f"CRM is starting at {os.environ['BASE_URL']}", *notes, "Demo logins:"]))
    for role, email, password in logins:
        print(f"  {role:<10} {email} / {password}")
    print("Press Ctrl-C to stop.\n", flush=True)
    honcho = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "honcho",
            "start",
            "-f",
            str(PROJECT_ROOT / "Procfile"),
            "-p",
            port,
            "web",
            "worker",
            "scheduler",
        ],
        cwd=PROJECT_ROOT,
    )
    # Stopping the launcher (Ctrl-C, or SIGTERM from a supervisor) stops honcho and its processes;
    # the embedded servers stop when this process exits.
    signal.signal(signal.SIGTERM, lambda _signum, _frame: honcho.terminate())
    try:
        sys.exit(honcho.wait())
    except KeyboardInterrupt:
        honcho.send_signal(signal.SIGINT)
        honcho.wait()


if __name__ == "__main__":
    main()

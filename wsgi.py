"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

import gc

from crm_web import create_app

app = create_app()
# What the app holds from start-up (modules, models, compiled SQL and templates) lives as long
# as the process: out of the collector's sight, a full collection no longer walks it, which
# had added some 70 ms to one request in ten on the ticket queue's live refresh.
gc.freeze()

"""The worker process entry: `dramatiq worker.main`. Builds the app and declares every actor."""

from crm_web import create_app
from worker.broker import broker
from worker.middleware import AppContextMiddleware

app = create_app()
broker.add_middleware(AppContextMiddleware(app))

import worker.actors  # noqa: E402,F401  (declares the actors on the configured broker)

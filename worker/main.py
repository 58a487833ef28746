"""The worker process entry: `dramatiq worker.main`. Builds the app and declares every actor."""

import worker.actors  # noqa: F401  (declares the actors on the broker crm_web.jobs built)
from crm_web import create_app
from worker.broker import broker
from worker.middleware import AppContextMiddleware

app = create_app()
broker.add_middleware(AppContextMiddleware(app))

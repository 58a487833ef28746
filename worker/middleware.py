"""Dramatiq middleware: a Flask app context per message, and a record of messages that failed for good."""

import logging
import threading
import traceback

from dramatiq import Middleware
from sqlalchemy.dialects.postgresql import insert

from crm_web import logs

log = logging.getLogger("crm.worker")


class AppContextMiddleware(Middleware):
    """Each message runs inside an app context, with no tenant until the actor sets one."""

    def __init__(self, app):
        self.app = app
        self.local = threading.local()

    def before_process_message(self, broker, message):
        context = self.app.app_context()
        context.push()
        self.local.context = context
        logs.job_started(message.actor_name, message.message_id)

    def _pop(self):
        from crm_web.db import clear_tenant

        context = getattr(self.local, "context", None)
        if context is not None:
            clear_tenant()
            context.pop()
            self.local.context = None
        logs.job_finished()

    def after_process_message(self, broker, message, *, result=None, exception=None):
        self._pop()

    def after_skip_message(self, broker, message):
        self._pop()

    def after_nack(self, broker, message):
        """The message failed for good (retries spent): keep it where the System page shows it."""
        from crm_web.db import tenant_scope
        from crm_web.extensions import db
        from crm_web.jobs import TENANT_JOB_NAMES
        from crm_web.system.models import FailedJob

        exception = message._exception
        error = (
            "".join(traceback.format_exception_only(exception)).strip() if exception else "failed"
        )
        organization_id = message.args[0] if message.actor_name in TENANT_JOB_NAMES else None
        log.error(
            "job failed for good org=%s job=%s:%s queue=%s: %s",
            organization_id, message.actor_name, message.message_id, message.queue_name, error,
        )  # fmt: skip
        with self.app.app_context(), tenant_scope(organization_id):
            db.session.execute(
                insert(FailedJob)
                .values(
                    message_id=message.message_id,
                    organization_id=organization_id,
                    queue_name=message.queue_name,
                    actor_name=message.actor_name,
                    args=list(message.args),
                    error=error[:2000],
                )
                .on_conflict_do_nothing(index_elements=["message_id"])
            )
            db.session.commit()

"""The dev SMS gateway (crm_web.messaging.devsms) as the tests' provider.

Not a test module; test files import `running_gateway` (or `app_gateway`) from it. Fixed credentials, messages
stored in a temporary folder, and no delivery reports unless a test asks for them (a report
to the app's callback URL would change what a test reads).
"""

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from crm_web.messaging.devsms import DevSmsGateway

ACCOUNT = "AC-test"
TOKEN = "gateway-token"


@contextmanager
def running_gateway(**options) -> Iterator[DevSmsGateway]:
    """A dev SMS gateway on 127.0.0.1 for the duration of the block (options as DevSmsGateway's)."""
    options.setdefault("report_delay", None)
    with tempfile.TemporaryDirectory(prefix="dev-sms-") as folder:
        with DevSmsGateway(Path(folder), account=ACCOUNT, token=TOKEN, **options) as gateway:
            yield gateway


@contextmanager
def app_gateway(app, sender: str = "+15550000001") -> Iterator[DevSmsGateway]:
    """A running gateway that the app sends through (as `sender`) for the block."""
    previous = app.config["SMS_GATEWAY_URL"], app.config["SMS_FROM"]
    with running_gateway() as running:
        app.config["SMS_GATEWAY_URL"], app.config["SMS_FROM"] = running.url, sender
        try:
            yield running
        finally:
            app.config["SMS_GATEWAY_URL"], app.config["SMS_FROM"] = previous


@pytest.fixture(name="gateway")
def gateway_fixture(app):
    """The fixture: the app sends its SMS through a running gateway (import it into a test
    module to use it)."""
    with app_gateway(app) as running:
        yield running

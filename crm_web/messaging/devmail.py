"""The local SMTP sink the run command starts, so a newcomer sees the mail the app sends."""

import email
import email.policy
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from aiosmtpd.controller import Controller


class MaildirHandler:
    """Stores each received message as a .eml file in one folder."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns()}.eml"
        (self.folder / name).write_bytes(envelope.original_content or envelope.content)
        return "250 Message accepted for delivery"


def start_sink(folder: Path, host: str = "127.0.0.1", port: int = 8025) -> Controller:
    """Start the sink in a background thread; the caller stops it."""
    controller = Controller(MaildirHandler(folder), hostname=host, port=port)
    controller.start()
    return controller


@dataclass
class ReceivedMail:
    name: str
    received_at: datetime
    sender: str
    to: str
    subject: str
    body: str


def read_mailbox(folder: Path, limit: int = 100) -> list[ReceivedMail]:
    """The newest messages in the sink's folder."""
    if not folder.is_dir():
        return []
    mails = []
    for path in sorted(folder.glob("*.eml"), reverse=True)[:limit]:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        part = message.get_body(preferencelist=("plain", "html"))
        mails.append(
            ReceivedMail(
                name=path.stem,
                received_at=datetime.fromtimestamp(int(path.stem) / 1e9, UTC),
                sender=str(message["From"] or ""),
                to=str(message["To"] or ""),
                subject=str(message["Subject"] or ""),
                body=part.get_content() if part else "",
            )
        )
    return mails

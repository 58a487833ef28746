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
class Attachment:
    filename: str
    content_type: str
    size: int


@dataclass
class ReceivedMail:
    name: str
    received_at: datetime
    sender: str
    to: str
    subject: str
    body: str
    attachments: list[Attachment]


def _parse(path: Path) -> email.message.EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=email.policy.default)


def read_mailbox(folder: Path, limit: int = 100) -> list[ReceivedMail]:
    """The newest messages in the sink's folder."""
    if not folder.is_dir():
        return []
    mails = []
    for path in sorted(folder.glob("*.eml"), reverse=True)[:limit]:
        message = _parse(path)
        part = message.get_body(preferencelist=("plain", "html"))
        mails.append(
            ReceivedMail(
                name=path.stem,
                received_at=datetime.fromtimestamp(int(path.stem) / 1e9, UTC),
                sender=str(message["From"] or ""),
                to=str(message["To"] or ""),
                subject=str(message["Subject"] or ""),
                body=part.get_content() if part else "",
                attachments=[
                    Attachment(
                        attachment.get_filename() or "attachment",
                        attachment.get_content_type(),
                        len(attachment.get_content()),
                    )
                    for attachment in message.iter_attachments()
                ],
            )
        )
    return mails


def read_attachment(folder: Path, name: str, index: int) -> tuple[Attachment, bytes] | None:
    """One attachment of a received message, described, with its bytes; None if none such."""
    path = folder / f"{name}.eml"
    if not name.isdigit() or not path.is_file():
        return None
    attachments = list(_parse(path).iter_attachments())
    if not 0 <= index < len(attachments):
        return None
    found = attachments[index]
    content = found.get_content()
    if isinstance(content, str):
        content = content.encode()
    return Attachment(
        found.get_filename() or "attachment", found.get_content_type(), len(content)
    ), content

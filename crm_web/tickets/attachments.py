"""Attachment files: checked against size and type limits, stored under the instance folder.

The database row and the file are written in one action; a file written by a transaction
that rolls back is deleted again, so no orphan bytes stay behind.
"""

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_web.errors import ValidationError
from crm_web.extensions import db

MAX_FILE_BYTES = 10 * 1024 * 1024
MAX_FILES_PER_MESSAGE = 5
# The type is taken from the extension we allow, never from what the client claims.
CONTENT_TYPES = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "pdf": "application/pdf",
    "txt": "text/plain",
    "log": "text/plain",
    "csv": "text/csv",
    "zip": "application/zip",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_WRITTEN = "crm_ticket_files_written"


@dataclass(frozen=True)
class Upload:
    """A file as the front end received it."""

    filename: str
    data: bytes


def _clean_name(filename: str) -> str:
    name = os.path.basename(filename.replace("\\", "/")).strip().replace("\x00", "")
    return name[-255:]


def check_uploads(uploads: list[Upload]) -> list[tuple[str, str, bytes]]:
    """(filename, content type, bytes) per upload, or a ValidationError on the attachments field."""
    if len(uploads) > MAX_FILES_PER_MESSAGE:
        raise ValidationError(
            _("Too many attachments."),
            {"attachments": _("Attach at most %(count)s files.", count=MAX_FILES_PER_MESSAGE)},
        )
    checked = []
    for upload in uploads:
        name = _clean_name(upload.filename)
        extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
        if extension not in CONTENT_TYPES:
            raise ValidationError(
                _("This kind of file cannot be attached."),
                {
                    "attachments": _(
                        "%(file)s: allowed are %(extensions)s.",
                        file=name or _("The file"),
                        extensions=", ".join(CONTENT_TYPES),
                    )
                },
            )
        if len(upload.data) > MAX_FILE_BYTES:
            raise ValidationError(
                _("A file is too large."),
                {
                    "attachments": _(
                        "%(file)s: at most %(megabytes)s MB per file.",
                        file=name,
                        megabytes=MAX_FILE_BYTES // (1024 * 1024),
                    )
                },
            )
        if not upload.data:
            raise ValidationError(
                _("A file is empty."), {"attachments": _("%(file)s is empty.", file=name)}
            )
        checked.append((name, CONTENT_TYPES[extension], upload.data))
    return checked


def _root() -> Path:
    return Path(current_app.config["ATTACHMENTS_DIR"])


def path_for(storage_key: str) -> Path:
    """Where the bytes of an attachment live."""
    return _root() / storage_key


def store(organization_id: int, data: bytes) -> str:
    """Write the bytes and return their storage key; the file goes if the transaction rolls back."""
    key = f"{organization_id}/{secrets.token_hex(16)}"
    path = path_for(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    session = db.session()
    if not session.in_transaction():
        session.begin()
    session.info.setdefault(_WRITTEN, []).append(path)
    return key


@event.listens_for(Session, "after_commit")
def _keep_files(session: Session) -> None:
    session.info.pop(_WRITTEN, None)


@event.listens_for(Session, "after_soft_rollback")
def _delete_files(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        for path in session.info.pop(_WRITTEN, []):
            path.unlink(missing_ok=True)

"""Where uploaded files live: a small interface (save/open/delete) so object storage can replace disk.

Files are not transactional, so services tie them to the database transaction: a file saved
for a row that rolls back is removed again, and a file whose row is deleted goes only after
the commit.
"""

import os
import re
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from crm_web.extensions import db

CHUNK_SIZE = 64 * 1024
KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(/[A-Za-z0-9][A-Za-z0-9_.-]*)*$")
_DELETE_AFTER_COMMIT = "crm_storage_delete_after_commit"
_DELETE_ON_ROLLBACK = "crm_storage_delete_on_rollback"


class TooLarge(Exception):
    """The stream was longer than the caller allowed; nothing was kept."""


class Storage(Protocol):
    def save(self, key: str, stream: BinaryIO, max_bytes: int) -> int:
        """Store the stream under `key` and return its size; TooLarge (and nothing stored) past max_bytes."""

    def open(self, key: str) -> BinaryIO:
        """The stored bytes, as a file object to read (and close)."""

    def delete(self, key: str) -> None:
        """Remove the stored bytes; a missing key is not an error."""


class LocalStorage:
    """Files under a directory (instance/uploads by default), one per key."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        # Keys are made by the services, never by users; the check keeps it that way.
        if not KEY_PATTERN.match(key) or ".." in key:
            raise ValueError(f"not a storage key: {key!r}")
        return self.root / key

    def save(self, key: str, stream: BinaryIO, max_bytes: int) -> int:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        size = 0
        try:
            with open(partial, "xb") as out:
                while chunk := stream.read(CHUNK_SIZE):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(key)
                    out.write(chunk)
            # Readers never see a half-written file.
            os.replace(partial, path)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        return size

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)


def get_storage() -> Storage:
    """The app's storage: UPLOAD_DIR when configured, else instance/uploads."""
    directory = current_app.config.get("UPLOAD_DIR") or os.path.join(
        current_app.instance_path, "uploads"
    )
    return LocalStorage(directory)


def delete_on_rollback(key: str) -> None:
    """Remove this newly saved file if the current transaction rolls back."""
    _pending(_DELETE_ON_ROLLBACK).append((get_storage(), key))


def delete_after_commit(key: str) -> None:
    """Remove this file once the current transaction commits (a rollback keeps it)."""
    _pending(_DELETE_AFTER_COMMIT).append((get_storage(), key))


def _pending(name: str) -> list:
    session = db.session()
    if not session.in_transaction():
        session.begin()
    return session.info.setdefault(name, [])


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    session.info.pop(_DELETE_ON_ROLLBACK, None)
    for storage, key in session.info.pop(_DELETE_AFTER_COMMIT, []):
        storage.delete(key)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction) -> None:
    # Only the outermost rollback undoes the transaction's files (as in crm_web.jobs).
    if previous_transaction.parent is None:
        session.info.pop(_DELETE_AFTER_COMMIT, None)
        for storage, key in session.info.pop(_DELETE_ON_ROLLBACK, []):
            storage.delete(key)

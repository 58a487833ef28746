"""Notes, campaign preferences and documents of one customer."""

import hashlib
import os
import unicodedata
import uuid
from collections.abc import Iterable
from typing import BinaryIO

from flask_babel import gettext as _
from sqlalchemy import select

from crm_web import formatting
from crm_web.accounts.models import User
from crm_web.customer360.models import (
    CAMPAIGN_TYPES,
    DOCUMENT_CATEGORIES,
    CampaignPreference,
    CustomerDocument,
    CustomerNote,
)
from crm_web.customers.services import get_customer
from crm_web.db import atomic, current_organization_id, current_tenant
from crm_web.errors import NotFound, PermissionDenied, ValidationError
from crm_web.extensions import db
from crm_web.storage import TooLarge, delete_after_commit, delete_on_rollback, get_storage

MAX_NOTE_LENGTH = 10_000
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ZIP = b"PK\x03\x04"
# extension -> (content type we serve it as, leading bytes the file must start with; None = text)
DOCUMENT_TYPES: dict[str, tuple[str, bytes | None]] = {
    ".pdf": ("application/pdf", b"%PDF-"),
    ".docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ZIP,
    ),
    ".xlsx": ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ZIP),
    ".odt": ("application/vnd.oasis.opendocument.text", ZIP),
    ".ods": ("application/vnd.oasis.opendocument.spreadsheet", ZIP),
    ".doc": ("application/msword", OLE),
    ".xls": ("application/vnd.ms-excel", OLE),
    ".png": ("image/png", b"\x89PNG\r\n\x1a\n"),
    ".jpg": ("image/jpeg", b"\xff\xd8\xff"),
    ".jpeg": ("image/jpeg", b"\xff\xd8\xff"),
    ".txt": ("text/plain; charset=utf-8", None),
    ".csv": ("text/csv; charset=utf-8", None),
}
SNIFF_BYTES = 8192


def _note(note_id: int) -> CustomerNote:
    note = db.session.scalar(
        select(CustomerNote).where(
            CustomerNote.id == note_id, CustomerNote.organization_id == current_organization_id()
        )
    )
    if note is None:
        raise NotFound(_("No such note."))
    return note


def _note_body(body: str) -> str:
    body = (body or "").strip()
    if not body:
        raise ValidationError(_("The note is empty."), {"body": _("Write something first.")})
    if len(body) > MAX_NOTE_LENGTH:
        raise ValidationError(
            _("The note is too long."),
            {
                "body": _(
                    "Keep it under %(most)s characters.", most=formatting.number(MAX_NOTE_LENGTH)
                )
            },
        )
    return body


def list_notes(customer_id: int, limit: int = 20) -> list[CustomerNote]:
    """The customer's newest notes."""
    return list(
        db.session.scalars(
            select(CustomerNote)
            .where(
                CustomerNote.organization_id == current_organization_id(),
                CustomerNote.customer_id == customer_id,
            )
            .order_by(CustomerNote.created_at.desc(), CustomerNote.id.desc())
            .limit(limit)
        )
    )


def get_note(customer_id: int, note_id: int) -> CustomerNote:
    """A note of this customer in the current organization."""
    note = _note(note_id)
    if note.customer_id != customer_id:
        raise NotFound(_("No such note."))
    return note


def can_change_note(note: CustomerNote, user: User) -> bool:
    """Authors change their own notes; admins and managers anyone's."""
    return note.author_id == user.id or user.can("moderate notes")


@atomic
def add_note(customer_id: int, body: str) -> CustomerNote:
    """Write a note on the customer, signed by the current user."""
    customer = get_customer(customer_id)
    note = CustomerNote(
        organization_id=customer.organization_id,
        customer_id=customer.id,
        body=_note_body(body),
        author_id=current_tenant().user_id,
    )
    db.session.add(note)
    db.session.flush()
    return note


@atomic
def edit_note(customer_id: int, note_id: int, body: str, *, acting_user: User) -> CustomerNote:
    """Change a note's text (its author, an admin or a manager)."""
    note = get_note(customer_id, note_id)
    if not can_change_note(note, acting_user):
        raise PermissionDenied(_("Only the note's author, an admin or a manager can change it."))
    note.body = _note_body(body)
    db.session.flush()
    return note


@atomic
def delete_note(customer_id: int, note_id: int, *, acting_user: User) -> None:
    """Remove a note (its author, an admin or a manager)."""
    note = get_note(customer_id, note_id)
    if not can_change_note(note, acting_user):
        raise PermissionDenied(_("Only the note's author, an admin or a manager can remove it."))
    db.session.delete(note)
    db.session.flush()


def campaign_preferences(customer_id: int) -> set[str]:
    """The campaign types the customer wants."""
    return set(
        db.session.scalars(
            select(CampaignPreference.campaign_type).where(
                CampaignPreference.organization_id == current_organization_id(),
                CampaignPreference.customer_id == customer_id,
            )
        )
    )


@atomic
def set_campaign_preferences(customer_id: int, campaign_types: Iterable[str]) -> set[str]:
    """Make the customer want exactly these campaign types; each added or removed type is audited."""
    wanted = {value.strip() for value in campaign_types if value.strip()}
    unknown = sorted(wanted - CAMPAIGN_TYPES.keys())
    if unknown:
        raise ValidationError(
            _("Unknown campaign type."),
            {"campaign_types": _("Not a campaign type: %(values)s.", values=", ".join(unknown))},
        )
    customer = get_customer(customer_id)
    current = {
        preference.campaign_type: preference
        for preference in db.session.scalars(
            select(CampaignPreference).where(
                CampaignPreference.organization_id == customer.organization_id,
                CampaignPreference.customer_id == customer.id,
            )
        )
    }
    for campaign_type in sorted(wanted - current.keys()):
        db.session.add(
            CampaignPreference(
                organization_id=customer.organization_id,
                customer_id=customer.id,
                campaign_type=campaign_type,
            )
        )
    for campaign_type in current.keys() - wanted:
        db.session.delete(current[campaign_type])
    db.session.flush()
    return wanted


def list_documents(customer_id: int, limit: int = 20) -> list[CustomerDocument]:
    """The customer's newest documents (all of them are on the timeline's Documents filter)."""
    return list(
        db.session.scalars(
            select(CustomerDocument)
            .where(
                CustomerDocument.organization_id == current_organization_id(),
                CustomerDocument.customer_id == customer_id,
            )
            .order_by(CustomerDocument.created_at.desc(), CustomerDocument.id.desc())
            .limit(limit)
        )
    )


def get_document(customer_id: int, document_id: int) -> CustomerDocument:
    """A document of this customer in the current organization (else NotFound)."""
    document = db.session.scalar(
        select(CustomerDocument).where(
            CustomerDocument.id == document_id,
            CustomerDocument.organization_id == current_organization_id(),
            CustomerDocument.customer_id == customer_id,
        )
    )
    if document is None:
        raise NotFound(_("No such document."))
    return document


def open_document(customer_id: int, document_id: int) -> tuple[CustomerDocument, BinaryIO]:
    """The document's record and its bytes to stream (the caller closes the file)."""
    document = get_document(customer_id, document_id)
    try:
        return document, get_storage().open(document.storage_key)
    except FileNotFoundError:
        raise NotFound(_("The document's file is missing from storage.")) from None


def clean_filename(filename: str) -> str:
    """The name to show and download as: no folders, no control characters, at most 255 long."""
    name = os.path.basename((filename or "").replace("\\", "/"))
    name = "".join(ch for ch in unicodedata.normalize("NFC", name) if ch.isprintable()).strip()
    stem, extension = os.path.splitext(name)
    return (stem[: 255 - len(extension)] + extension).strip(" .") if stem else ""


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut off by the sniff window is fine.
        return exc.start >= len(head) - 3 and exc.reason == "unexpected end of data"
    return True


class _HashingReader:
    """Replays the sniffed head, then the rest of the upload, hashing everything it hands out."""

    def __init__(self, head: bytes, rest: BinaryIO):
        self.head, self.rest = head, rest
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        if self.head:
            chunk, self.head = self.head, b""
        else:
            chunk = self.rest.read(size)
        self.sha256.update(chunk)
        return chunk


@atomic
def upload_document(
    customer_id: int, *, category: str, filename: str, stream: BinaryIO
) -> CustomerDocument:
    """Store a contract, quote or invoice for the customer; type and size are checked first."""
    name = clean_filename(filename)
    extension = os.path.splitext(name)[1].lower()
    errors = {}
    if category not in DOCUMENT_CATEGORIES:
        errors["category"] = _("Choose one of: %(values)s.", values=", ".join(DOCUMENT_CATEGORIES))
    if not name:
        errors["file"] = _("Choose a file to upload.")
    elif extension not in DOCUMENT_TYPES:
        errors["file"] = _("Upload one of: %(values)s.", values=", ".join(sorted(DOCUMENT_TYPES)))
    if errors:
        raise ValidationError(_("The document was not accepted."), errors)
    customer = get_customer(customer_id)
    content_type, signature = DOCUMENT_TYPES[extension]
    head = stream.read(SNIFF_BYTES)
    if not head:
        raise ValidationError(
            _("The document was not accepted."), {"file": _("The file is empty.")}
        )
    matches = _looks_like_text(head) if signature is None else head.startswith(signature)
    if not matches:
        raise ValidationError(
            _("The document was not accepted."),
            {"file": _("The file's content is not a %(kind)s file.", kind=extension)},
        )
    key = f"documents/{customer.organization_id}/{uuid.uuid4().hex}"
    reader = _HashingReader(head, stream)
    try:
        size = get_storage().save(key, reader, MAX_DOCUMENT_BYTES)
    except TooLarge:
        raise ValidationError(
            _("The document was not accepted."),
            {
                "file": _(
                    "Files can be at most %(most)s MB.", most=MAX_DOCUMENT_BYTES // (1024 * 1024)
                )
            },
        ) from None
    delete_on_rollback(key)
    document = CustomerDocument(
        organization_id=customer.organization_id,
        customer_id=customer.id,
        category=category,
        filename=name,
        content_type=content_type,
        size_bytes=size,
        sha256=reader.sha256.hexdigest(),
        storage_key=key,
        uploaded_by_id=current_tenant().user_id,
    )
    db.session.add(document)
    db.session.flush()
    return document


@atomic
def delete_document(customer_id: int, document_id: int) -> None:
    """Remove a document; its file goes once the removal is committed."""
    document = get_document(customer_id, document_id)
    db.session.delete(document)
    db.session.flush()
    delete_after_commit(document.storage_key)

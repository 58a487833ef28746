"""The timeline sources of this domain: notes and documents."""

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import Text, case, cast, literal, select, text

from crm_web import labels
from crm_web.accounts.models import User
from crm_web.customer360.models import CustomerDocument, CustomerNote
from crm_web.customer360.timeline import Kind, TimelineSource, details_object, register_source


def _notes():
    return (
        select(
            cast(literal(""), Text).label("title"),
            CustomerNote.body.label("body"),
            details_object(
                author=User.name,
                # A note counts as edited when it changed after its first minute.
                edited_at=case(
                    (
                        CustomerNote.updated_at
                        > CustomerNote.created_at + text("interval '1 minute'"),
                        CustomerNote.updated_at,
                    )
                ),
            ).label("details"),
        )
        .select_from(CustomerNote)
        .outerjoin(User, User.id == CustomerNote.author_id)
    )


def _documents():
    return (
        select(
            CustomerDocument.filename.label("title"),
            cast(literal(""), Text).label("body"),
            details_object(
                category=CustomerDocument.category,
                size_bytes=CustomerDocument.size_bytes,
                uploaded_by=User.name,
            ).label("details"),
        )
        .select_from(CustomerDocument)
        .outerjoin(User, User.id == CustomerDocument.uploaded_by_id)
    )


register_source(
    TimelineSource(
        name="notes",
        kinds=(Kind("note", _l("Note"), "note", _l("Notes")),),
        select=_notes,
        title=lambda entry: _("Note"),
        organization_id=CustomerNote.organization_id,
        customer_id=CustomerNote.customer_id,
        occurred_at=CustomerNote.created_at,
        row_id=CustomerNote.id,
    )
)
register_source(
    TimelineSource(
        name="documents",
        kinds=(Kind("document", _l("Document"), "document", _l("Documents")),),
        select=_documents,
        title=lambda entry: _(
            "%(category)s uploaded: %(filename)s",
            category=labels.label(entry.details.get("category"), "document_category"),
            filename=entry.data,
        ),
        organization_id=CustomerDocument.organization_id,
        customer_id=CustomerDocument.customer_id,
        occurred_at=CustomerDocument.created_at,
        row_id=CustomerDocument.id,
        link=lambda entry: url_for(
            "customer360.download_document", customer_id=entry.customer_id, document_id=entry.id
        ),
    )
)

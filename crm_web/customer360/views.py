"""The customer 360 page (/customers/<id>) and its fragments: KPIs, open deals, tickets and
activities, timeline, notes, preferences, documents and event registrations."""

import datetime as dt

from flask import Blueprint, redirect, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms import SelectChoice

from crm_web import labels
from crm_web.accounts.services import get_user
from crm_web.automations import services as automations
from crm_web.catalog import customer_value, orders
from crm_web.communications.forms import CommunicationForm
from crm_web.customer360 import scores, services, timeline
from crm_web.customer360.forms import DocumentForm, EventRegistrationForm, NoteForm, PreferencesForm
from crm_web.customers.services import get_customer
from crm_web.errors import PermissionDenied, ValidationError
from crm_web.events import services as events
from crm_web.formatting import local
from crm_web.forms import form_status, submit
from crm_web.inputs import query_int
from crm_web.loyalty.views import card_context as loyalty_card_context
from crm_web.permissions import can, requires
from crm_web.rendering import is_htmx, render
from crm_web.tickets.queue import due_state
from crm_web.tickets.services import STATUS_LABELS as TICKET_STATUS_LABELS
from crm_web.timezones import to_local

bp = Blueprint("customer360", __name__)

PAGE = "customer360/page.html"
# Sent with every change so the page's timeline and KPIs reload themselves (hx-trigger ... from:body).
CHANGED_EVENT = "customer-changed"


def _selected_types() -> list[str] | None:
    return timeline.parse_groups(",".join(request.args.getlist("types")))


def _timeline_context(customer_id: int, types: list[str] | None) -> dict:
    return {
        "timeline": timeline.timeline_page(customer_id, types=types),
        "timeline_groups": timeline.groups(),
        "selected_types": types,
    }


def _notes_context(
    customer_id: int, form: NoteForm | None = None, editing_note_id: int | None = None
) -> dict:
    notes = services.list_notes(customer_id)
    editing = next((note for note in notes if note.id == editing_note_id), None)
    return {
        "notes": notes,
        "note_form": form or NoteForm(formdata=None),
        # ?edit_note=<id>: the page with that note's inline form open (what htmx swaps in).
        "editing_note_id": editing.id if editing else None,
        "edit_form": NoteForm(formdata=None, obj=editing) if editing else None,
    }


def _documents_context(customer_id: int, form: DocumentForm | None = None) -> dict:
    documents = services.list_documents(customer_id) if can("read documents") else []
    return {
        "documents": documents,
        "document_form": form or DocumentForm(formdata=None),
        "document_accept": ",".join(sorted(services.DOCUMENT_TYPES)),
        "document_max_mb": services.MAX_DOCUMENT_BYTES // (1024 * 1024),
    }


def _preferences_context(customer_id: int, form: PreferencesForm | None = None) -> dict:
    if form is None:
        form = PreferencesForm(formdata=None)
        form.campaign_types.data = sorted(services.campaign_preferences(customer_id))
    return {"preferences_form": form}


def _event_choices(customer_id: int) -> list[SelectChoice]:
    return [
        SelectChoice(event.id, f"{event.name} ({local(event.starts_at)})")
        for event in events.open_events_for(customer_id)
    ]


def _events_context(customer_id: int, form: EventRegistrationForm | None = None) -> dict:
    form = form or EventRegistrationForm(formdata=None)
    form.event_id.choices = _event_choices(customer_id)
    return {
        "registrations": events.customer_registrations(customer_id),
        "registration_form": form,
    }


def _orders_context(customer_id: int) -> dict:
    return {
        "recent_orders": orders.recent_orders(customer_id),
        "order_status_labels": orders.STATUS_LABELS,
        "customer_value": customer_value.value_of(customer_id),
        "segment_labels": customer_value.SEGMENT_LABELS,
    }


def _page_context(customer) -> dict:
    now = dt.datetime.now(dt.UTC)
    return {
        "customer": customer,
        "owner": get_user(customer.owner_id) if customer.owner_id else None,
        "overview": scores.customer_overview(customer),
        # The open deals, tickets and activities: deadlines and close dates passed are marked.
        "now": now,
        "today": to_local(now).date(),
        "ticket_status_labels": TICKET_STATUS_LABELS,
        "due_state": due_state,
        "activity_labels": labels.ACTIVITY_TYPE,
        "communication_form": CommunicationForm(formdata=None),
        **_timeline_context(customer.id, _selected_types()),
        **_notes_context(customer.id, editing_note_id=query_int("edit_note")),
        **_preferences_context(customer.id),
        **_documents_context(customer.id),
        **_events_context(customer.id),
        **_orders_context(customer.id),
        **loyalty_card_context(customer.id),
        "customer_journeys": (
            automations.customer_journeys(customer.id) if can("view automations") else []
        ),
    }


def render_fragment(customer, block: str, status: int = 200, changed: bool = False, **context):
    """One block of the 360 page for HTMX, telling the page what changed. Without htmx: a
    successful change redirects to the page, a refused one shows the whole page with errors."""
    if not is_htmx():
        if request.method == "POST" and status < 400:
            return redirect(url_for("customer360.show", customer_id=customer.id), code=303)
        return render(PAGE, status=status, **{**_page_context(customer), **context})
    response = render(PAGE, block=block, status=status, **{"customer": customer, **context})
    if changed and status < 400:
        response.headers["HX-Trigger"] = CHANGED_EVENT
    return response


@bp.route("/customers/<int:customer_id>")
@requires("view customers")
def show(customer_id: int):
    customer = get_customer(customer_id)
    return render(PAGE, **_page_context(customer))


@bp.route("/customers/<int:customer_id>/timeline")
@requires("view customers")
def timeline_fragment(customer_id: int):
    customer = get_customer(customer_id)
    types = _selected_types()
    cursor = request.args.get("cursor")
    if not is_htmx():
        return redirect(url_for(".show", customer_id=customer.id, types=types or []), code=303)
    page = timeline.timeline_page(customer.id, types=types, cursor=cursor)
    return render(
        PAGE,
        block="timeline_rows" if cursor else "timeline",
        customer=customer,
        timeline=page,
        timeline_groups=timeline.groups(),
        selected_types=types,
    )


@bp.route("/customers/<int:customer_id>/kpis")
@requires("view customers")
def kpis(customer_id: int):
    customer = get_customer(customer_id)
    return render_fragment(customer, "kpis", overview=scores.customer_overview(customer))


@bp.route("/customers/<int:customer_id>/notes", methods=["POST"])
@requires("write notes")
def add_note(customer_id: int):
    customer = get_customer(customer_id)
    form = NoteForm()
    if submit(form, lambda: services.add_note(customer.id, form.body.data)):
        return render_fragment(customer, "notes", changed=True, **_notes_context(customer.id))
    return render_fragment(
        customer, "notes", status=form_status(form), **_notes_context(customer.id, form)
    )


def _note_fragment(customer, note, *, editing: bool, form: NoteForm | None = None, status=200):
    return render_fragment(
        customer,
        "note_edit" if editing else "note",
        status=status,
        changed=not editing and request.method == "POST",
        note=note,
        editing_note_id=note.id if editing else None,
        edit_form=form or NoteForm(formdata=None, obj=note),
    )


@bp.route("/customers/<int:customer_id>/notes/<int:note_id>", methods=["GET", "POST"])
@requires("write notes")
def note(customer_id: int, note_id: int):
    """GET: the note as shown (cancelling an edit). POST: save the edited text."""
    customer = get_customer(customer_id)
    note = services.get_note(customer.id, note_id)
    if request.method == "GET":
        return _note_fragment(customer, note, editing=False)
    form = NoteForm()
    # Someone else's note is a 403 page, not a message on the form.
    if edited := submit(
        form,
        lambda: services.edit_note(customer.id, note.id, form.body.data, acting_user=current_user),
        shown=ValidationError,
    ):
        return _note_fragment(customer, edited.value, editing=False)
    return _note_fragment(customer, note, editing=True, form=form, status=form_status(form))


@bp.route("/customers/<int:customer_id>/notes/<int:note_id>/edit")
@requires("write notes")
def edit_note(customer_id: int, note_id: int):
    customer = get_customer(customer_id)
    note = services.get_note(customer.id, note_id)
    if not services.can_change_note(note, current_user):
        raise PermissionDenied(_("Only the note's author, an admin or a manager can change it."))
    return _note_fragment(customer, note, editing=True)


@bp.route("/customers/<int:customer_id>/notes/<int:note_id>/delete", methods=["POST"])
@requires("write notes")
def delete_note(customer_id: int, note_id: int):
    customer = get_customer(customer_id)
    services.delete_note(customer.id, note_id, acting_user=current_user)
    return render_fragment(customer, "notes", changed=True, **_notes_context(customer.id))


@bp.route("/customers/<int:customer_id>/preferences", methods=["POST"])
@requires("change contact preferences")
def preferences(customer_id: int):
    customer = get_customer(customer_id)
    form = PreferencesForm()
    if submit(
        form, lambda: services.set_campaign_preferences(customer.id, form.campaign_types.data or [])
    ):
        return render_fragment(
            customer, "preferences", saved=True, **_preferences_context(customer.id)
        )
    return render_fragment(customer, "preferences", status=form_status(form), preferences_form=form)


@bp.route("/customers/<int:customer_id>/documents", methods=["POST"])
@requires("manage documents")
def upload_document(customer_id: int):
    customer = get_customer(customer_id)
    form = DocumentForm()
    if submit(
        form,
        lambda: services.upload_document(
            customer.id,
            category=form.category.data,
            filename=form.file.data.filename or "",
            stream=form.file.data.stream,
        ),
    ):
        return render_fragment(
            customer, "documents", changed=True, **_documents_context(customer.id)
        )
    return render_fragment(
        customer,
        "documents",
        status=form_status(form),
        **_documents_context(customer.id, form),
    )


@bp.route("/customers/<int:customer_id>/documents/<int:document_id>")
@requires("read documents")
def download_document(customer_id: int, document_id: int):
    customer = get_customer(customer_id)
    document, stream = services.open_document(customer.id, document_id)
    response = send_file(
        stream,
        mimetype=document.content_type,
        as_attachment=True,
        download_name=document.filename,
        etag=document.sha256,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/customers/<int:customer_id>/documents/<int:document_id>/delete", methods=["POST"])
@requires("manage documents")
def delete_document(customer_id: int, document_id: int):
    customer = get_customer(customer_id)
    services.delete_document(customer.id, document_id)
    return render_fragment(customer, "documents", changed=True, **_documents_context(customer.id))


@bp.route("/customers/<int:customer_id>/events", methods=["POST"])
@requires("register attendees")
def register_for_event(customer_id: int):
    customer = get_customer(customer_id)
    form = EventRegistrationForm()
    form.event_id.choices = _event_choices(customer.id)
    if submit(form, lambda: events.register_customer(form.event_id.data, customer.id)):
        return render_fragment(
            customer, "customer_events", changed=True, **_events_context(customer.id)
        )
    return render_fragment(
        customer,
        "customer_events",
        status=form_status(form),
        **_events_context(customer.id, form),
    )

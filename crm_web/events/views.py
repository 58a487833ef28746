"""The events list, an event's page with its attendees, and event forms."""

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _

from crm_web.customers.services import get_customer
from crm_web.events import services
from crm_web.events.forms import EventForm, RegisterForm
from crm_web.forms import form_status, submit
from crm_web.permissions import requires
from crm_web.rendering import is_htmx, redirect_to, render
from crm_web.timezones import from_local, to_local

bp = Blueprint("events", __name__)

# Marketing runs events; sales and managers sign their customers up at the door too.


def _event_values(form: EventForm) -> dict:
    return {
        "name": form.name.data,
        "starts_at": from_local(form.starts_at.data),
        "ends_at": from_local(form.ends_at.data),
        "location": form.location.data or "",
        "notes": form.notes.data or "",
        "capacity": form.capacity.data,
    }


def _form_for(event) -> EventForm:
    form = EventForm(formdata=None, obj=event)
    form.starts_at.data = to_local(event.starts_at).replace(tzinfo=None)
    form.ends_at.data = to_local(event.ends_at).replace(tzinfo=None) if event.ends_at else None
    return form


@bp.route("/events")
@requires("view events")
def index():
    when = request.args.get("when", "upcoming")
    cursor = request.args.get("cursor")
    page = services.list_events(when, cursor=cursor)
    next_url = (
        url_for("events.index", when=when, cursor=page.next_cursor) if page.next_cursor else None
    )
    return render(
        "events/index.html",
        block="rows" if cursor else "list",
        page=page,
        next_url=next_url,
        when=when,
        counts=services.attendee_counts([event.id for event in page.items]),
        form=EventForm(formdata=None),
    )


@bp.route("/events", methods=["POST"])
@requires("organize events")
def create():
    form = EventForm()
    if created := submit(form, lambda: services.create_event(**_event_values(form))):
        event = created.value
        flash(_("%(event)s is scheduled.", event=event.name), "success")
        return redirect_to(url_for("events.show", event_id=event.id))
    page = services.list_events("upcoming")
    return render(
        "events/index.html",
        block="event_form",
        status=form_status(form),
        page=page,
        next_url=None,
        when="upcoming",
        counts=services.attendee_counts([event.id for event in page.items]),
        form=form,
    )


def _event_page(event, *, block="content", status=200, register_form=None, **context):
    cursor = request.args.get("cursor")
    attendees = services.list_attendees(event.id, cursor=cursor)
    next_url = (
        url_for("events.show", event_id=event.id, cursor=attendees.next_cursor)
        if attendees.next_cursor
        else None
    )
    return render(
        "events/show.html",
        block="attendee_rows" if cursor else block,
        status=status,
        event=event,
        attendees=attendees,
        next_url=next_url,
        counts=services.attendee_counts([event.id]).get(event.id, services.Counts()),
        register_form=register_form or RegisterForm(formdata=None),
        **context,
    )


@bp.route("/events/<int:event_id>")
@requires("view events")
def show(event_id: int):
    return _event_page(services.get_event(event_id))


@bp.route("/events/<int:event_id>/edit", methods=["GET", "POST"])
@requires("organize events")
def edit(event_id: int):
    event = services.get_event(event_id)
    form = EventForm() if request.method == "POST" else _form_for(event)
    if saved := submit(form, lambda: services.update_event(event.id, **_event_values(form))):
        flash(_("%(event)s is saved.", event=saved.value.name), "success")
        return redirect_to(url_for("events.show", event_id=event.id))
    return render(
        "events/edit.html", block="form", status=form_status(form), event=event, form=form
    )


@bp.route("/events/<int:event_id>/attendees", methods=["POST"])
@requires("register attendees")
def register(event_id: int):
    event = services.get_event(event_id)
    form = RegisterForm()

    def register_customer():
        customer = services.find_customer(form.reference.data)
        services.register_customer(event.id, customer.id)
        return customer

    if registered := submit(form, register_customer):
        return _event_page(event, block="attendees", registered=registered.value)
    return _event_page(event, block="attendees", status=form_status(form), register_form=form)


@bp.route("/events/<int:event_id>/attendees/<int:attendee_id>/attendance", methods=["POST"])
@requires("register attendees")
def attendance(event_id: int, attendee_id: int):
    event = services.get_event(event_id)
    attended = request.form.get("attended") == "1"
    attendee = services.set_attendance(event.id, attendee_id, attended)
    if not is_htmx():
        return redirect_to(url_for("events.show", event_id=event.id))
    customer = get_customer(attendee.customer_id)
    return render(
        "events/show.html",
        block="attendee",
        event=event,
        attendee=attendee,
        customer=customer,
        counts=services.attendee_counts([event.id]).get(event.id, services.Counts()),
        oob_counts=True,
    )


@bp.route("/events/<int:event_id>/attendees/<int:attendee_id>/delete", methods=["POST"])
@requires("register attendees")
def unregister(event_id: int, attendee_id: int):
    event = services.get_event(event_id)
    services.unregister(event.id, attendee_id)
    return _event_page(event, block="attendees")

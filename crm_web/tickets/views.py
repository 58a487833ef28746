"""The ticket queue, the ticket page with its thread, settings, and the public support pages."""

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from wtforms import SelectChoice

from crm_web.accounts.ratelimit import allow
from crm_web.errors import Throttled, ValidationError
from crm_web.extensions import csrf
from crm_web.forms import form_status, submit
from crm_web.i18n import speak
from crm_web.inputs import as_id, query_int, whole_number
from crm_web.outbox import services as outbox
from crm_web.permissions import requires
from crm_web.rendering import is_htmx, redirect_to, render, render_blocks, wanted_fragment
from crm_web.security import embeddable, public
from crm_web.surveys import invitations
from crm_web.tickets import attachments, queue, services
from crm_web.tickets.forms import (
    CsatForm,
    MessageForm,
    PublicTicketForm,
    SettingsForm,
    TicketDetailsForm,
    TicketForm,
)
from crm_web.tickets.models import ACTIVE_STATUSES, CATEGORIES, CHANNELS, PRIORITIES, STATUSES

bp = Blueprint("tickets", __name__)

# The public form: at most this many tickets per client address per organization and window.
PUBLIC_FORM_LIMIT = 5
PUBLIC_FORM_WINDOW_SECONDS = 600


def _uploads(field: str = "attachments") -> list[attachments.Upload]:
    uploads = []
    for storage in request.files.getlist(field):
        if storage.filename:
            # One byte over the limit is enough to refuse the file without reading it all.
            uploads.append(
                attachments.Upload(storage.filename, storage.read(attachments.MAX_FILE_BYTES + 1))
            )
    return uploads


# -- the queue --------------------------------------------------------------------------------


def _queue_context(
    filters: queue.QueueFilters, *, limit: int = queue.PAGE_SIZE, version: str = "", **extra
):
    cursor = request.args.get("cursor")
    page = queue.queue_page(current_user, filters, cursor=cursor, limit=limit)
    args = filters.query_args()
    now = datetime.now(UTC)
    return {
        "page": page,
        "filters": filters,
        "counts": queue.view_counts(current_user),
        "count_cap": queue.COUNT_CAP,
        "next_url": url_for("tickets.index", cursor=page.next_cursor, **args)
        if page.next_cursor
        else None,
        "refresh_url": url_for(
            "tickets.index", v=version or queue.queue_version(now), fragment="rows", **args
        ),
        "views": queue.VIEWS,
        "sorts": queue.SORTS,
        "statuses": ACTIVE_STATUSES,
        "priorities": PRIORITIES,
        "channels": CHANNELS,
        "categories": CATEGORIES,
        "all_statuses": STATUSES,
        "status_labels": services.STATUS_LABELS,
        "agents": services.assignable_users(),
        "oob": (),
        "due_state": queue.due_state,
        "now": now,
        "me": current_user.id,
        **extra,
    }


@bp.route("/tickets")
@requires("work tickets")
def index():
    """The queue: the page, its filtered results, a further page of rows, or the live refresh."""
    filters = queue.QueueFilters.parse(request.args)
    if not is_htmx():
        return render("tickets/queue.html", **_queue_context(filters))
    if request.args.get("cursor"):
        return render("tickets/queue.html", block="page_rows", **_queue_context(filters))
    if wanted_fragment("rows"):
        # The live refresh: nothing to swap (204) while no ticket changed, else every row the
        # agent has loaded (at least a page, so new tickets get rows of their own) and the
        # counters out of band.
        version = queue.queue_version(datetime.now(UTC))
        if request.args.get("v") == version:
            return "", 204
        limit = max(query_int("rows", 0), queue.PAGE_SIZE)
        context = _queue_context(filters, limit=limit, version=version, oob=("tabs",))
        return render_blocks("tickets/queue.html", "rows", "tabs", **context)
    return render("tickets/queue.html", block="results", **_queue_context(filters))


@bp.route("/tickets/bulk", methods=["POST"])
@requires("work tickets")
def bulk():
    """Assign or change the status of the selected tickets."""
    ticket_ids = request.form.getlist("ticket_ids", type=as_id)
    action = request.form.get("action", "")
    try:
        if action == "assign":
            assignee = request.form.get("bulk_assignee_id", "")
            assignee_id = current_user.id if assignee == "me" else whole_number(assignee) or None
            count = services.bulk_assign(ticket_ids, assignee_id)
            notice = ngettext("%(num)d ticket assigned.", "%(num)d tickets assigned.", count)
        elif action == "status":
            count = services.bulk_change_status(ticket_ids, request.form.get("status", ""))
            notice = ngettext("%(num)d ticket updated.", "%(num)d tickets updated.", count)
        else:
            raise ValidationError(_("Choose an action."))
    except ValueError:
        raise ValidationError(
            _("Choose an assignee."), {"assignee_id": _("Choose someone.")}
        ) from None
    filters = queue.QueueFilters.parse(request.args)
    if not is_htmx():
        flash(notice, "success")
        return redirect_to(url_for("tickets.index", **filters.query_args()))
    return render("tickets/queue.html", block="results", **_queue_context(filters, notice=notice))


# -- one ticket -------------------------------------------------------------------------------


def _ticket_context(ticket, **extra):
    messages = services.thread(ticket.id)
    return {
        "ticket": ticket,
        "messages": messages,
        "email_problems": services.email_problems(messages),
        "undeliverable": outbox.undeliverable_reason(ticket.customer.primary_email or ""),
        "authors": services.authors(messages),
        "agents": services.assignable_users(),
        "status_labels": services.STATUS_LABELS,
        "transitions": services.TRANSITIONS,
        **extra,
    }


@bp.route("/tickets/new", methods=["GET", "POST"])
@requires("work tickets")
def new():
    """Open a ticket by hand (a call, an email forwarded by someone)."""
    form = TicketForm()
    form.assignee_id.choices = [SelectChoice(0, _("Route automatically"))] + [
        SelectChoice(user.id, user.name) for user in services.assignable_users()
    ]
    if created := submit(
        form,
        lambda: services.create_ticket(
            customer_id=form.customer_id.data,
            customer_email=form.customer_email.data or "",
            subject=form.subject.data,
            description=form.description.data or "",
            channel=form.channel.data,
            category=form.category.data,
            ticket_type=form.ticket_type.data,
            priority=form.priority.data,
            department=form.department.data or "",
            tags=form.tags.data or "",
            assignee_id=form.assignee_id.data or None,
            uploads=_uploads(),
        ),
    ):
        ticket = created.value
        flash(_("Ticket %(reference)s created.", reference=ticket.reference), "success")
        return redirect_to(url_for("tickets.show", ticket_id=ticket.id))
    return render("tickets/new.html", block="form", status=form_status(form), form=form)


@bp.route("/tickets/<int:ticket_id>")
@requires("work tickets")
def show(ticket_id: int):
    """The ticket page, or its thread for the thread's own refresh."""
    ticket = services.get_ticket(ticket_id)
    block = wanted_fragment("thread") or "content"
    return render("tickets/ticket.html", block=block, form=MessageForm(), **_ticket_context(ticket))


@bp.route("/tickets/<int:ticket_id>/messages", methods=["POST"])
@requires("work tickets")
def post_message(ticket_id: int):
    """Post a public reply or an internal note, with attachments."""
    form = MessageForm()
    post = services.add_note if form.kind.data == "note" else services.add_reply
    if submit(form, lambda: post(ticket_id, form.body.data, uploads=_uploads())):
        if not is_htmx():
            return redirect_to(url_for("tickets.show", ticket_id=ticket_id))
        # A fresh composer, the thread with the new message and the header (status may move).
        ticket = services.get_ticket(ticket_id)
        return render_blocks(
            "tickets/ticket.html",
            "composer",
            "thread",
            "header",
            form=MessageForm(formdata=None),
            oob=("thread", "header"),
            **_ticket_context(ticket),
        )
    ticket = services.get_ticket(ticket_id)
    return render(
        "tickets/ticket.html",
        block="composer",
        status=form_status(form),
        form=form,
        **_ticket_context(ticket),
    )


def _after_change(ticket_id: int):
    """The response to a status or assignment change: the row in the queue, else the ticket's
    header and thread."""
    ticket = services.get_ticket(ticket_id)
    if not is_htmx():
        return redirect_to(url_for("tickets.show", ticket_id=ticket_id))
    if wanted_fragment("row"):
        return render(
            "tickets/queue.html",
            block="row",
            ticket=queue.queue_rows([ticket.id])[0],
            status_labels=services.STATUS_LABELS,
            due_state=queue.due_state,
            now=datetime.now(UTC),
            me=current_user.id,
            changed=True,
        )
    return render_blocks(
        "tickets/ticket.html",
        "header",
        "thread",
        form=MessageForm(formdata=None),
        oob=("thread",),
        **_ticket_context(ticket),
    )


@bp.route("/tickets/<int:ticket_id>/status", methods=["POST"])
@requires("work tickets")
def change_status(ticket_id: int):
    """Change the status from the ticket page or the queue."""
    services.change_status(ticket_id, request.form.get("status", ""))
    return _after_change(ticket_id)


@bp.route("/tickets/<int:ticket_id>/assign", methods=["POST"])
@requires("work tickets")
def assign(ticket_id: int):
    """Assign to someone, to me ("me") or to nobody ("")."""
    value = request.form.get("assignee_id", "")
    if value == "me":
        assignee_id = current_user.id
    elif value == "":
        assignee_id = None
    elif (assignee_id := whole_number(value)) is None:
        raise ValidationError(_("Choose an assignee."), {"assignee_id": _("Choose someone.")})
    services.assign(ticket_id, assignee_id)
    return _after_change(ticket_id)


@bp.route("/tickets/<int:ticket_id>/edit", methods=["GET", "POST"])
@requires("work tickets")
def edit(ticket_id: int):
    """Edit the ticket's details."""
    ticket = services.get_ticket(ticket_id)
    form = TicketDetailsForm(obj=ticket)
    if request.method == "GET":
        form.tags.data = ", ".join(ticket.tags)
    if submit(
        form,
        lambda: services.update_ticket(
            ticket_id,
            subject=form.subject.data,
            description=form.description.data or "",
            category=form.category.data,
            ticket_type=form.ticket_type.data,
            priority=form.priority.data,
            tags=form.tags.data or "",
            department=form.department.data or "",
        ),
    ):
        flash(_("%(reference)s is saved.", reference=ticket.reference), "success")
        return redirect_to(url_for("tickets.show", ticket_id=ticket_id))
    return render(
        "tickets/edit.html", block="form", status=form_status(form), form=form, ticket=ticket
    )


@bp.route("/tickets/attachments/<int:attachment_id>")
@requires("work tickets")
def download(attachment_id: int):
    """Download an attachment of this organization."""
    attachment = services.get_attachment(attachment_id)
    path = attachments.path_for(attachment.storage_key)
    if not path.is_file():
        abort(404)
    # Always a download, never rendered in our origin, whatever the file contains.
    return send_file(
        path,
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.filename,
    )


@bp.route("/tickets/settings", methods=["GET", "POST"])
@requires("configure tickets")
def settings():
    """Routing settings and the agents' load."""
    current = services.get_settings()
    form = SettingsForm(obj=current)
    form.resolution_survey_id.choices = [("", _("None: the one-click rating only"))] + [
        (str(survey.id), survey.name) for survey in invitations.sendable_surveys()
    ]
    if submit(
        form,
        lambda: services.update_settings(
            agent_ticket_cap=form.agent_ticket_cap.data,
            resolution_survey_id=form.resolution_survey_id.data,
        ),
    ):
        flash(_("Support settings saved."), "success")
        return redirect_to(url_for("tickets.settings"))
    return render(
        "tickets/settings.html",
        block="form",
        status=form_status(form),
        form=form,
        agents=services.agent_loads(),
        cap=current.agent_ticket_cap,
    )


# -- public pages -----------------------------------------------------------------------------


@bp.route("/support/<slug>", methods=["GET", "POST"])
@public
@csrf.exempt
def public_form(slug: str):
    """The organization's public support form (no sign-in; honeypot and rate limit), to link
    to or embed in an iframe.

    Exempt from CSRF, as the lead form is: it acts for no signed-in user, so a forged post can
    do nothing a visitor could not do by filling it in. It sets no cookie, so a third-party
    iframe works."""
    organization = services.public_organization(slug)
    speak()
    form = PublicTicketForm()

    def open_ticket():
        if form.website.data:
            # A bot filled in the hidden field: it looks accepted, nothing is stored.
            return None
        if not allow(
            f"ticket-form:{organization.id}:{request.remote_addr}",
            PUBLIC_FORM_LIMIT,
            PUBLIC_FORM_WINDOW_SECONDS,
        ):
            raise Throttled(_("Too many requests from your address; try again later."))
        return services.submit_public_ticket(
            slug,
            name=form.name.data,
            email=form.email.data,
            subject=form.subject.data,
            description=form.description.data,
            category=form.category.data,
            uploads=_uploads(),
        )

    throttled = False
    try:
        opened = submit(form, open_ticket)
    except Throttled as exc:
        opened, throttled = None, True
        form.form_errors.append(exc.message)
    response = render(
        "tickets/public_form.html",
        block="form",
        status=429 if throttled else form_status(form),
        form=form,
        organization=organization,
        done=opened is not None,
        ticket=opened.value if opened else None,
    )
    return embeddable(response)


@bp.route("/support/csat/<token>", methods=["GET", "POST"])
@public
def csat(token: str):
    """The satisfaction survey a resolution email links to."""
    ticket = services.csat_ticket(token)
    speak(ticket.customer.language)
    form = CsatForm()
    if request.method == "GET" and request.args.get("rating") in ("1", "2", "3", "4", "5"):
        form.rating.data = request.args["rating"]
    if rated := submit(
        form, lambda: services.submit_csat(token, int(form.rating.data), form.comment.data or "")
    ):
        ticket = rated.value
    return render(
        "tickets/csat.html",
        block="form",
        status=form_status(form),
        form=form,
        ticket=ticket,
        done=rated is not None or ticket.csat_rating is not None,
    )

"""Marketing pages: the email template library (versions, preview, test send) and campaigns
(draft, schedule, live progress, pause/resume/cancel, A/B winner, results, recipients CSV)."""

import datetime as dt
from dataclasses import dataclass

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    make_response,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.datastructures import MultiDict

from crm_web.campaigns import library, results, services
from crm_web.campaigns.models import RECIPIENT_STATUSES, TEMPLATE_CATEGORIES
from crm_web.csv_writer import stream_csv
from crm_web.customer360.models import CAMPAIGN_TYPES
from crm_web.errors import Conflict, ValidationError
from crm_web.formatting import local, number
from crm_web.permissions import requires
from crm_web.rendering import redirect_to, render, render_blocks, wanted_fragment
from crm_web.segments.services import segment_choices
from crm_web.sla.charts import Series, bar_chart
from crm_web.surveys import invitations
from crm_web.surveys.services import get_survey
from crm_web.timezones import from_local

bp = Blueprint("campaigns", __name__)

CATEGORY_LABELS = {
    "newsletter": _l("Newsletter"),
    "promotion": _l("Promotion"),
    "event": _l("Event invitation"),
    "birthday": _l("Birthday"),
    "custom": _l("Custom"),
}


# -- the template library -----------------------------------------------------------------------


@bp.route("/email-templates")
@requires("manage email templates")
def templates():
    return render(
        "campaigns/templates.html",
        templates=library.list_templates(),
        starters=[starter[0] for starter in library.STARTERS],
    )


def _preview(version):
    """The version as the customer named by `?customer=` (a code) sees it, else a sample."""
    code = request.args.get("customer", "").strip()
    customer = library.customer_values(code) if code else None
    preview = library.preview(version, **(customer or {}))
    if code and customer is None:
        return library.Preview(preview.email, _("No customer has the code %(code)s.", code=code))
    return preview


def _template_form(template, version, values: MultiDict | dict, errors: dict, status: int = 200):
    return render(
        "campaigns/template_form.html",
        block="form",
        status=status,
        template=template,
        version=version,
        values=values,
        errors=errors,
        categories=TEMPLATE_CATEGORIES,
        category_labels=CATEGORY_LABELS,
        versions=library.versions(template) if template else [],
        preview=_preview(version) if version else None,
        customer_code=request.args.get("customer", ""),
    )


@bp.route("/email-templates/new", methods=["GET", "POST"])
@requires("manage email templates")
def new_template():
    if request.method == "POST":
        try:
            template = library.create_template(request.form.to_dict())
        except ValidationError as exc:
            return _template_form(None, None, request.form, exc.fields, 422)
        flash(_("Template %(name)s is saved.", name=template.name), "success")
        return redirect_to(url_for("campaigns.edit_template", template_id=template.id))
    return _template_form(None, None, {"category": "custom"}, {})


@bp.route("/email-templates/<int:template_id>", methods=["GET", "POST"])
@requires("manage email templates")
def edit_template(template_id: int):
    template = library.get_template(template_id)
    if request.method == "POST":
        try:
            version = library.save_version(template_id, request.form.to_dict())
        except ValidationError as exc:
            return _template_form(
                template, library.current_version(template), request.form, exc.fields, 422
            )
        flash(_("Version %(number)s is saved.", number=version.version), "success")
        return redirect_to(url_for("campaigns.edit_template", template_id=template_id))
    version = library.current_version(template)
    values = {
        "name": template.name,
        "category": template.category,
        "subject": version.subject,
        "preheader": version.preheader,
        "html": version.html,
        "text": version.text,
    }
    return _template_form(template, version, values, {})


@bp.route("/email-templates/versions/<int:version_id>/preview.html")
@requires("manage email templates")
def preview_html(version_id: int):
    """A version's HTML alone for the preview's sandboxed frame (inline styles, nothing else)."""
    preview = _preview(library.get_version(version_id))
    if preview.email is None:
        abort(404)
    response = make_response(preview.email.html)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; sandbox"
    )
    return response


@bp.route("/email-templates/<int:template_id>/test", methods=["POST"])
@requires("manage email templates")
def test_send(template_id: int):
    try:
        version = library.send_test(template_id, request.form.get("addresses", ""))
    except ValidationError as exc:
        flash(exc.fields.get("addresses", exc.message), "error")
    else:
        flash(_("A test of version %(number)s is on its way.", number=version.version), "success")
    return redirect_to(url_for("campaigns.edit_template", template_id=template_id))


@bp.route("/email-templates/starters", methods=["POST"])
@requires("manage email templates")
def add_starters():
    added = library.add_starter_templates()
    flash(_("%(count)s starter templates added.", count=added), "success")
    return redirect_to(url_for("campaigns.templates"))


# -- campaigns ----------------------------------------------------------------------------------


@bp.route("/campaigns")
@requires("view campaigns")
def index():
    page = services.list_campaigns(cursor=request.args.get("cursor"))
    figures = results.recipient_count_by_status([c.id for c in page.items])
    return render(
        "campaigns/index.html",
        block="rows" if request.args.get("cursor") else "content",
        page=page,
        figures=figures,
        next_url=url_for("campaigns.index", cursor=page.next_cursor),
    )


def _form_data(form: MultiDict) -> dict:
    variants = []
    for position in range(services.MAX_VARIANTS):
        template_id = form.get(f"variant{position}_template", "")
        if template_id:
            variants.append(
                {"template_id": template_id, "subject": form.get(f"variant{position}_subject", "")}
            )
    return {
        "name": form.get("name", ""),
        "channel": form.get("channel", "email"),
        "sms_body": form.get("sms_body", ""),
        "sender_id": form.get("sender_id", ""),
        "topic": form.get("topic", ""),
        "from_name": form.get("from_name", ""),
        "from_address": form.get("from_address", ""),
        "reply_to": form.get("reply_to", ""),
        "include_segment_ids": form.getlist("include_segment_ids"),
        "exclude_segment_ids": form.getlist("exclude_segment_ids"),
        "throttle_per_minute": form.get("throttle_per_minute", ""),
        "ab_test_percent": form.get("ab_test_percent", "") or 0,
        "ab_metric": form.get("ab_metric", "opens"),
        "ab_wait_minutes": form.get("ab_wait_minutes", "") or 240,
        "ab_auto": form.get("ab_auto") == "y",
        "variants": variants,
        "survey_id": form.get("survey_id", ""),
    }


@dataclass(frozen=True)
class Estimate:
    recipients: int
    cost: results.SmsCost


def _estimate(values: dict) -> Estimate:
    """How many the SMS would reach and what it costs, from the form as it stands."""
    ids = {}
    for name in ("include_segment_ids", "exclude_segment_ids"):
        raw = values.get(name) or []
        ids[name] = [int(i) for i in raw if str(i).isdigit()]
    try:
        count = services.reachable(
            "sms", ids["include_segment_ids"], ids["exclude_segment_ids"], values.get("topic", "")
        )
    except ValueError:
        count = 0
    return Estimate(count, results.sms_cost(values.get("sms_body", ""), count))


def _campaign_form(campaign, values: dict, errors: dict, status: int = 200):
    return render(
        "campaigns/form.html",
        block="form",
        estimate=_estimate(values) if values.get("channel") == "sms" else None,
        status=status,
        campaign=campaign,
        values=values,
        errors=errors,
        segments=segment_choices(),
        templates=library.list_templates(),
        topics=CAMPAIGN_TYPES,
        positions=range(services.MAX_VARIANTS),
        surveys=invitations.sendable_surveys(),
    )


def _values(campaign) -> dict:
    variants = results.variants(campaign)
    values = {
        "name": campaign.name,
        "channel": campaign.channel,
        "sms_body": campaign.sms_body,
        "sender_id": campaign.sender_id,
        "topic": campaign.topic,
        "from_name": campaign.from_name,
        "from_address": campaign.from_address,
        "reply_to": campaign.reply_to,
        "include_segment_ids": [str(i) for i in campaign.include_segment_ids],
        "exclude_segment_ids": [str(i) for i in campaign.exclude_segment_ids],
        "throttle_per_minute": campaign.throttle_per_minute or "",
        "ab_test_percent": campaign.ab_test_percent,
        "ab_metric": campaign.ab_metric,
        "ab_wait_minutes": campaign.ab_wait_minutes,
        "ab_auto": campaign.ab_auto,
        "survey_id": str(campaign.survey_id or ""),
    }
    for variant in variants:
        version = library.get_version(variant.version_id)
        values[f"variant{variant.position}_template"] = str(version.template_id)
        values[f"variant{variant.position}_subject"] = variant.subject
    return values


@bp.route("/campaigns/new", methods=["GET", "POST"])
@requires("send campaigns")
def new():
    if request.method == "POST":
        try:
            campaign = services.create_campaign(_form_data(request.form))
        except ValidationError as exc:
            return _campaign_form(None, _posted(request.form), exc.fields, 422)
        flash(_("Campaign %(name)s is saved as a draft.", name=campaign.name), "success")
        return redirect_to(url_for("campaigns.show", campaign_id=campaign.id))
    channel = "sms" if request.args.get("channel") == "sms" else "email"
    return _campaign_form(
        None,
        {"channel": channel, "ab_metric": "opens", "ab_wait_minutes": 240, "ab_auto": True},
        {},
    )


@bp.route("/campaigns/form", methods=["POST"])
@bp.route("/campaigns/<int:campaign_id>/form", methods=["POST"])
@requires("send campaigns")
def form_fragment(campaign_id: int | None = None):
    """The form again with what was typed, for another channel (nothing is saved)."""
    campaign = services.get_campaign(campaign_id) if campaign_id else None
    return _campaign_form(campaign, _posted(request.form), {})


@bp.route("/campaigns/sms-estimate", methods=["POST"])
@requires("send campaigns")
def sms_estimate():
    """The live count under the SMS text: reachable customers, characters, encoding, parts."""
    # Only ever the fragment: the page around it needs the whole form's context.
    return render_blocks(
        "campaigns/form.html", "sms_estimate", estimate=_estimate(_posted(request.form))
    )


def _posted(form: MultiDict) -> dict:
    values = form.to_dict()
    values["include_segment_ids"] = form.getlist("include_segment_ids")
    values["exclude_segment_ids"] = form.getlist("exclude_segment_ids")
    values["ab_auto"] = form.get("ab_auto") == "y"
    return values


@bp.route("/campaigns/<int:campaign_id>/edit", methods=["GET", "POST"])
@requires("send campaigns")
def edit(campaign_id: int):
    campaign = services.get_campaign(campaign_id)
    if request.method == "POST":
        try:
            services.update_campaign(campaign_id, _form_data(request.form))
        except ValidationError as exc:
            return _campaign_form(campaign, _posted(request.form), exc.fields, 422)
        except Conflict as exc:
            flash(exc.message, "error")
        return redirect_to(url_for("campaigns.show", campaign_id=campaign_id))
    return _campaign_form(campaign, _values(campaign), {})


def _chart(campaign):
    hours = results.events_by_hour(campaign)
    return bar_chart(
        _("Opens and clicks by hour"),
        [f"{local(hour, 'short')} {local(hour, 'time')}" for hour, _opens, _clicks in hours],
        [
            Series(_("Opens"), "series-a", [opens for _hour, opens, _clicks in hours]),
            Series(_("Clicks"), "series-b", [clicks for _hour, _opens, clicks in hours]),
        ],
        label=lambda value: number(value, 0),
    )


@bp.route("/campaigns/<int:campaign_id>")
@requires("view campaigns")
def show(campaign_id: int):
    campaign = services.get_campaign(campaign_id)
    stats = results.stats(campaign)
    if wanted_fragment("progress"):
        return render("campaigns/show.html", block="progress", campaign=campaign, stats=stats)
    status = request.args.get("status", "")
    page = results.recipients_page(campaign, status=status, cursor=request.args.get("cursor"))
    next_url = url_for(
        "campaigns.show",
        campaign_id=campaign_id,
        status=status or None,
        cursor=page.next_cursor,
        fragment="recipients",
    )
    if wanted_fragment("recipients"):
        return render("campaigns/show.html", block="recipient_rows", page=page, next_url=next_url)
    by_variant = results.variant_results(campaign)
    best = (
        max(by_variant, key=lambda r: r.rate(campaign.ab_metric)) if len(by_variant) > 1 else None
    )
    confidence = {
        r.position: results.significance(best, r, campaign.ab_metric)
        for r in by_variant
        if best is not None and r is not best
    }
    return render(
        "campaigns/show.html",
        campaign=campaign,
        stats=stats,
        page=page,
        next_url=next_url,
        filter_status=status,
        statuses=RECIPIENT_STATUSES,
        results=by_variant,
        best=best,
        confidence=confidence,
        links=results.link_clicks(campaign),
        chart=_chart(campaign),
        survey=get_survey(campaign.survey_id) if campaign.survey_id else None,
        survey_answers=invitations.campaign_answers(campaign.id) if campaign.survey_id else None,
        segments=dict(segment_choices()),
        today=dt.date.today(),
        sms_cost=results.sms_cost(campaign.sms_body) if campaign.channel == "sms" else None,
    )


def _action(campaign_id: int, do):
    try:
        do()
    except (Conflict, ValidationError) as exc:
        flash(
            exc.message if not getattr(exc, "fields", None) else "; ".join(exc.fields.values()),
            "error",
        )
    return redirect_to(url_for("campaigns.show", campaign_id=campaign_id))


@bp.route("/campaigns/<int:campaign_id>/schedule", methods=["POST"])
@requires("send campaigns")
def schedule(campaign_id: int):
    form = request.form
    mode = form.get("mode", "now")

    def do():
        send_at = local_date = local_time = None
        try:
            if mode == "at":
                send_at = from_local(dt.datetime.fromisoformat(form.get("send_at", "")))
            elif mode == "local":
                local_date = dt.date.fromisoformat(form.get("local_date", ""))
                local_time = dt.time.fromisoformat(form.get("local_time", ""))
        except ValueError:
            raise ValidationError(
                _("Choose when to send."), {"send_at": _("Give a date and time.")}
            ) from None
        services.schedule_campaign(
            campaign_id, mode=mode, send_at=send_at, local_date=local_date, local_time=local_time
        )
        flash(_("The campaign is scheduled."), "success")

    return _action(campaign_id, do)


@bp.route("/campaigns/<int:campaign_id>/<any(pause, resume, cancel):action>", methods=["POST"])
@requires("send campaigns")
def change(campaign_id: int, action: str):
    do = {
        "pause": services.pause_campaign,
        "resume": services.resume_campaign,
        "cancel": services.cancel_campaign,
    }[action]
    if wanted_fragment("progress"):
        try:
            do(campaign_id)
        except Conflict:
            pass
        campaign = services.get_campaign(campaign_id)
        return render(
            "campaigns/show.html",
            block="progress",
            campaign=campaign,
            stats=results.stats(campaign),
        )
    return _action(campaign_id, lambda: do(campaign_id))


@bp.route("/campaigns/<int:campaign_id>/winner", methods=["POST"])
@requires("send campaigns")
def winner(campaign_id: int):
    position = request.form.get("variant", type=int)
    return _action(campaign_id, lambda: services.choose_winner(campaign_id, position))


@bp.route("/campaigns/<int:campaign_id>/recipients.csv")
@requires("view campaigns")
def recipients_csv(campaign_id: int) -> Response:
    campaign = services.get_campaign(campaign_id)
    status = request.args.get("status", "")
    header = [
        "email",
        "phone",
        "variant",
        "status",
        "sent_at",
        "opened_at",
        "opens",
        "clicked_at",
        "clicks",
        "unsubscribed_at",
        "error",
    ]

    def rows():
        cursor = None
        while True:
            page = results.recipients_page(campaign, status=status, cursor=cursor, limit=1000)
            for r in page.items:
                yield [
                    r.email,
                    r.phone,
                    "" if r.variant is None else "ABCD"[r.variant],
                    r.status,
                    r.sent_at.isoformat() if r.sent_at else "",
                    r.opened_at.isoformat() if r.opened_at else "",
                    r.opens,
                    r.clicked_at.isoformat() if r.clicked_at else "",
                    r.clicks,
                    r.unsubscribed_at.isoformat() if r.unsubscribed_at else "",
                    r.error,
                ]
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    return Response(
        stream_with_context(stream_csv(header, rows())),
        mimetype="text/csv",
        headers={
            "Content-Disposition": f'attachment; filename="campaign-{campaign.id}-recipients.csv"'
        },
    )

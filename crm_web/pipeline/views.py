"""The pipeline board, the deal list and pages, the forecast, quotes and the sales settings.

One blueprint serves them all, so their endpoints keep the `pipeline.` names that templates
and other domains link to; that makes this module a little longer than 600 lines.
"""

from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from flask import Blueprint, flash, make_response, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectChoice

from crm_web import fragments
from crm_web.errors import ValidationError
from crm_web.formatting import local, plain_number
from crm_web.forms import form_status, submit
from crm_web.inputs import whole_number
from crm_web.outbox.services import messages_for
from crm_web.permissions import can, requires
from crm_web.pipeline import board as pipeline_board
from crm_web.pipeline import forecast as forecasting
from crm_web.pipeline import opportunities, quote_sending, quotes, stages
from crm_web.pipeline.forms import (
    QUOTE_BLANK_LINES,
    DealForm,
    MoveForm,
    OpportunityForm,
    QuoteForm,
    ReviewForm,
    SettingsForm,
    StageForm,
    TargetsForm,
)
from crm_web.pipeline.quote_documents import document_language, quote_document
from crm_web.rendering import redirect_to, render, render_block
from crm_web.timezones import user_timezone

bp = Blueprint("pipeline", __name__)


def _board_context(filters: pipeline_board.Filters) -> dict:
    return {
        "filters": filters,
        # Called by the filter bar only, so a fragment without it never runs the query.
        "owners": pipeline_board.owners,
        # Card links are this prefix + the id: one url_for per page instead of one per card
        # (building 120 URLs was the board's costliest step).
        "deal_url_prefix": url_for("pipeline.detail", opportunity_id=0).removesuffix("0"),
    }


@bp.route("/pipeline")
@requires("work deals")
def board():
    filters = pipeline_board.parse_filters(request.args)
    context = _board_context(filters)
    columns = pipeline_board.board_columns(filters)
    filtered_by = urlencode(sorted(filters.query().items()))

    def cards_contexts(indexes: list[int]) -> list[dict]:
        stale = [columns[index] for index in indexes]
        pipeline_board.add_first_cards(stale, filters, display=True)
        return [{**context, "column": column} for column in stale]

    # A column's cards are kept rendered until a change bumps its stage's version; the
    # totals above them are always read afresh.
    kept = fragments.render_kept(
        "pipeline/board.html",
        "column_cards",
        [(column.stage.id, column.version, filtered_by) for column in columns],
        cards_contexts,
    )
    for column, cards_html in zip(columns, kept, strict=True):
        column.cards_html = cards_html
    return render("pipeline/board.html", block="board", columns=columns, **context)


@bp.route("/pipeline/columns/<int:stage_id>")
@requires("work deals")
def column(stage_id: int):
    """The next cards of one column (scrolled into view)."""
    filters = pipeline_board.parse_filters(request.args)
    return render(
        "pipeline/board.html",
        block="column_cards",
        column=pipeline_board.column_page(stage_id, filters, request.args.get("cursor")),
        **_board_context(filters),
    )


def _optional_id(name: str) -> int | None:
    value = (request.form.get(name) or "").strip()
    return whole_number(value)


@bp.route("/pipeline/opportunities/<int:opportunity_id>/move", methods=["POST"])
@requires("work deals")
def move(opportunity_id: int):
    """A drop on the board: the move, answered with both columns' new totals (out of band)."""
    filters = pipeline_board.parse_filters(request.args)
    stage_id = _optional_id("stage_id")
    if stage_id is None:
        opportunities.get_opportunity(opportunity_id)  # another tenant's id is a 404, not a 422
        raise ValidationError(_("Choose a stage."), {"stage_id": _("Choose a stage.")})
    columns = opportunities.drop_card(
        opportunity_id,
        filters,
        stage_id=stage_id,
        after_id=_optional_id("after_id"),
        before_id=_optional_id("before_id"),
        reason=request.form.get("reason", ""),
    )
    body = "".join(
        render_block("pipeline/board.html", "column_total", column=column, oob=True)
        for column in columns
    )
    response = make_response(body)
    response.vary.add("HX-Request")
    return response


@bp.route("/pipeline/list")
@requires("work deals")
def opportunity_list():
    filters = pipeline_board.parse_filters(request.args)
    status = request.args.get("status") or None
    page = pipeline_board.opportunity_list(
        filters, status=status, cursor=request.args.get("cursor")
    )
    query = {**filters.query(), **({"status": status} if status else {})}
    next_url = (
        url_for("pipeline.opportunity_list", cursor=page.next_cursor, **query)
        if page.next_cursor
        else None
    )
    return render(
        "pipeline/list.html",
        block="rows" if request.args.get("cursor") else "results",
        page=page,
        next_url=next_url,
        status=status,
        **_board_context(filters),
    )


def _opportunity_form(form: DealForm) -> DealForm:
    if isinstance(form, OpportunityForm):
        form.stage_id.choices = [
            SelectChoice(stage.id, stage.name)
            for stage in stages.list_stages()
            if stage.outcome == "open"
        ]
    form.owner_id.choices = [SelectChoice(id_, name) for id_, name in pipeline_board.owners()]
    if request.method == "GET" and form.owner_id.data is None:
        form.owner_id.data = current_user.id
    return form


def _deal_values(form) -> dict:
    """The fields a new deal and an edited one share."""
    return {
        "name": form.name.data,
        "amount": form.amount.data,
        "expected_close_date": form.expected_close_date.data,
        "owner_id": form.owner_id.data,
        "probability": form.probability.data,
        "source": form.source.data or "",
        "competitor": form.competitor.data or "",
        "next_step": form.next_step.data or "",
        "description": form.description.data or "",
    }


@bp.route("/pipeline/opportunities/new", methods=["GET", "POST"])
@requires("work deals")
def new_opportunity():
    form = _opportunity_form(OpportunityForm())
    if request.method == "GET" and request.args.get("customer"):
        form.customer.data = request.args["customer"]
    if accepted := submit(
        form,
        lambda: opportunities.create_opportunity(
            customer_id=opportunities.find_customer_id(form.customer.data),
            stage_id=form.stage_id.data,
            **_deal_values(form),
        ),
    ):
        opportunity = accepted.value
        flash(_("%(number)s is on the board.", number=opportunity.opportunity_number), "success")
        return redirect_to(url_for("pipeline.detail", opportunity_id=opportunity.id))
    return render(
        "pipeline/form.html", block="form", status=form_status(form), form=form, opportunity=None
    )


@bp.route("/pipeline/opportunities/<int:opportunity_id>/edit", methods=["GET", "POST"])
@requires("work deals")
def edit_opportunity(opportunity_id: int):
    opportunity = opportunities.get_opportunity(opportunity_id)
    form = _opportunity_form(DealForm(obj=opportunity))
    if request.method == "GET":
        form.probability.data = f"{opportunity.probability.normalize():f}"
    if submit(
        form,
        lambda: opportunities.update_opportunity(opportunity_id, **_deal_values(form)),
    ):
        flash(_("Saved."), "success")
        return redirect_to(url_for("pipeline.detail", opportunity_id=opportunity_id))
    return render(
        "pipeline/form.html",
        block="form",
        status=form_status(form),
        form=form,
        opportunity=opportunity,
    )


def _move_form(opportunity) -> MoveForm:
    form = MoveForm()
    form.stage_id.choices = [SelectChoice(stage.id, stage.name) for stage in stages.list_stages()]
    if request.method == "GET":
        form.stage_id.data = opportunity.stage_id
    return form


def _detail(opportunity, move_form: MoveForm, status: int = 200):
    return render(
        "pipeline/detail.html",
        block="move_form",
        status=status,
        opportunity=opportunity,
        card=pipeline_board.card(opportunity.id),
        history=pipeline_board.stage_history(opportunity.id),
        quotes=quotes.quotes_for(opportunity.id),
        move_form=move_form,
    )


@bp.route("/pipeline/opportunities/<int:opportunity_id>")
@requires("work deals")
def detail(opportunity_id: int):
    opportunity = opportunities.get_opportunity(opportunity_id)
    return _detail(opportunity, _move_form(opportunity))


@bp.route("/pipeline/opportunities/<int:opportunity_id>/stage", methods=["POST"])
@requires("work deals")
def change_stage(opportunity_id: int):
    """The deal page's stage form (the board's drag-and-drop, without a mouse)."""
    opportunity = opportunities.get_opportunity(opportunity_id)
    form = _move_form(opportunity)
    if submit(
        form,
        lambda: opportunities.move_opportunity(
            opportunity_id, stage_id=form.stage_id.data, reason=form.reason.data or ""
        ),
    ):
        flash(_("Stage changed."), "success")
        return redirect_to(url_for("pipeline.detail", opportunity_id=opportunity_id))
    return _detail(opportunities.get_opportunity(opportunity_id), form, status=form_status(form))


# ---- Forecast ----------------------------------------------------------------------------------


def _targets_form(start, targets: dict) -> TargetsForm:
    form = TargetsForm()
    if request.method == "GET":
        for index in range(forecasting.MONTHS):
            month = forecasting.add_months(start, index)
            target = targets.get(month)
            form.months.append_entry(
                {
                    "month": month.strftime("%Y-%m"),
                    "amount": "" if target is None else f"{target:f}",
                }
            )
    for row in form.months:
        row.form.amount.label.text = _("Target %(month)s", month=_month_name(row.form.month.data))
    return form


def _month_name(month: str | None) -> str:
    """A target row's month ("2026-12") as the reader says it ("Aralık 2026")."""
    try:
        return local(date.fromisoformat(f"{month}-01"), "month")
    except (TypeError, ValueError):
        return month or ""


def _forecast_page(block: str, form: TargetsForm | None = None, status: int = 200):
    # Managers edit the targets in a form of their own (with its CSRF token) beside the figures;
    # the others read them within the figures, kept rendered until a deal, owner or target changes.
    manager = can("set sales targets")
    start, version = forecasting.version()
    figures = fragments.render_kept(
        "pipeline/forecast.html",
        "forecast_figures",
        [(*version, manager)],
        lambda _indexes: [
            {
                "forecast": forecasting.forecast(today=start),
                "manager": manager,
                "best_case_probability": forecasting.BEST_CASE_PROBABILITY,
                "commit_probability": forecasting.COMMIT_PROBABILITY,
            }
        ],
    )[0]
    if manager and form is None:
        form = _targets_form(start, forecasting.targets(start))
    return render(
        "pipeline/forecast.html",
        block=block,
        status=status,
        figures_html=figures,
        manager=manager,
        targets_form=form,
    )


@bp.route("/forecast")
@requires("work deals")
def forecast():
    return _forecast_page("forecast")


@bp.route("/forecast/targets", methods=["POST"])
@requires("set sales targets")
def save_targets():
    form = TargetsForm()
    if submit(
        form,
        lambda: forecasting.set_targets(
            {row.form.month.data: row.form.amount.data for row in form.months.entries}
        ),
    ):
        flash(_("Targets saved."), "success")
        return redirect_to(url_for("pipeline.forecast"))
    for row in form.months:
        row.form.amount.label.text = _("Target %(month)s", month=row.form.month.data)
    return _forecast_page("targets_form", form, status=422)


# ---- Quotes ------------------------------------------------------------------------------------


def _quote_form(quote=None) -> QuoteForm:
    form = QuoteForm(obj=quote) if request.method == "GET" and quote else QuoteForm()
    if request.method == "GET":
        if quote is None:
            sales_settings = quotes.settings()
            form.tax_rate.data = f"{sales_settings.default_tax_rate:f}"
            today = datetime.now(user_timezone()).date()
            form.valid_until.data = today + timedelta(days=sales_settings.quote_validity_days)
        else:
            form.items.entries.clear()
            form.discount_percent.data = f"{quote.discount_percent:f}"
            form.tax_rate.data = f"{quote.tax_rate:f}"
            for item in quote.items:
                form.items.append_entry(
                    {
                        "description": item.description,
                        "quantity": plain_number(item.quantity),
                        "unit_price": f"{item.unit_price:f}",
                        "discount_percent": plain_number(item.discount_percent),
                    }
                )
        for _ in range(QUOTE_BLANK_LINES):
            form.items.append_entry()
    return form


def _quote_values(form: QuoteForm) -> dict:
    return {
        "title": form.title.data,
        "lines": [entry.form.data for entry in form.items.entries],
        "discount_percent": form.discount_percent.data,
        "tax_rate": form.tax_rate.data,
        "valid_until": form.valid_until.data,
        "notes": form.notes.data or "",
    }


@bp.route("/pipeline/opportunities/<int:opportunity_id>/quotes/new", methods=["GET", "POST"])
@requires("work deals")
def new_quote(opportunity_id: int):
    opportunity = opportunities.get_opportunity(opportunity_id)
    form = _quote_form()
    if created := submit(
        form,
        lambda: quotes.create_quote(opportunity_id, **_quote_values(form)),
    ):
        quote = created.value
        flash(_("Quote %(number)s saved as a draft.", number=quote.quote_number), "success")
        return redirect_to(url_for("pipeline.quote", quote_id=quote.id))
    return render(
        "pipeline/quote_form.html",
        block="form",
        status=form_status(form),
        form=form,
        opportunity=opportunity,
        quote=None,
        action=url_for("pipeline.new_quote", opportunity_id=opportunity_id),
    )


@bp.route("/quotes/<int:quote_id>/edit", methods=["GET", "POST"])
@requires("work deals")
def edit_quote(quote_id: int):
    quote = quotes.get_quote(quote_id)
    form = _quote_form(quote)
    if saved := submit(
        form,
        lambda: quotes.update_quote(quote_id, **_quote_values(form)),
    ):
        edited = saved.value
        flash(
            _("Saved as version %(version)s.", version=edited.version)
            if edited.version != quote.version
            else _("Quote saved."),
            "success",
        )
        return redirect_to(url_for("pipeline.quote", quote_id=edited.id))
    return render(
        "pipeline/quote_form.html",
        block="form",
        status=form_status(form),
        form=form,
        opportunity=quote.opportunity,
        quote=quote,
        action=url_for("pipeline.edit_quote", quote_id=quote_id),
    )


def _quote_page(quote, review_form=None, status: int = 200, template="pipeline/quote.html"):
    settings = quotes.settings()
    all_versions = quotes.versions(quote)
    return render(
        template,
        block="quote",
        status=status,
        quote=quote,
        document=quote_document(quote, settings),
        versions=all_versions,
        settings=settings,
        review_form=review_form or ReviewForm(),
        send_refusal=quote_sending.refusal(quote),
        emails=messages_for((quote_sending.MESSAGE_KIND,), [v.id for v in all_versions]),
    )


@bp.route("/quotes/<int:quote_id>")
@requires("work deals")
def quote(quote_id: int):
    return _quote_page(quotes.get_quote(quote_id))


@bp.route("/quotes/<int:quote_id>/print")
@requires("work deals")
def print_quote(quote_id: int):
    """The quote as a printable page, in the language the customer's PDF speaks."""
    with force_locale(document_language(current_user.organization)):
        return _quote_page(quotes.get_quote(quote_id), template="pipeline/quote_print.html")


@bp.route("/quotes/<int:quote_id>/pdf")
@requires("work deals")
def quote_pdf(quote_id: int):
    """The quote as a PDF file: the copy the customer was sent, else drawn from this version."""
    filename, data = quote_sending.pdf_for_download(quotes.get_quote(quote_id))
    response = make_response(data)
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.route("/quotes/<int:quote_id>/email", methods=["POST"])
@requires("work deals")
def email_quote(quote_id: int):
    """Send to customer: the quote by email with its PDF attached."""
    quote = quote_sending.email_quote(quote_id, acting_user=current_user)
    flash(
        _("%(number)s v%(version)s is on its way to %(address)s, with the PDF attached.")
        % {
            "number": quote.quote_number,
            "version": quote.version,
            "address": quote.opportunity.customer.primary_email,
        },
        "success",
    )
    return redirect_to(url_for("pipeline.quote", quote_id=quote_id))


QUOTE_ACTIONS = {
    "submit": (quotes.submit_quote, _l("Submitted.")),
    "send": (quotes.send_quote, _l("Marked as sent.")),
    "accept": (lambda quote_id: quotes.record_decision(quote_id, accepted=True), _l("Accepted.")),
    "reject": (lambda quote_id: quotes.record_decision(quote_id, accepted=False), _l("Rejected.")),
}


@bp.route("/quotes/<int:quote_id>/<any(submit, send, accept, reject):action>", methods=["POST"])
@requires("work deals")
def quote_action(quote_id: int, action: str):
    """The status buttons of a quote."""
    service, message = QUOTE_ACTIONS[action]
    result = service(quote_id)
    flash(
        _(
            "%(number)s v%(version)s: %(message)s",
            number=result.quote_number,
            version=result.version,
            message=message,
        ),
        "success",
    )
    return redirect_to(url_for("pipeline.quote", quote_id=quote_id))


@bp.route("/quotes/<int:quote_id>/<any('approve', 'send-back'):decision>", methods=["POST"])
@requires("approve quotes")
def review_quote(quote_id: int, decision: str):
    form = ReviewForm()
    if submit(
        form,
        lambda: quotes.review_quote(
            quote_id,
            acting_user=current_user,
            approve=decision == "approve",
            note=form.note.data or "",
        ),
    ):
        flash(_("Approved.") if decision == "approve" else _("Sent back to draft."), "success")
        return redirect_to(url_for("pipeline.quote", quote_id=quote_id))
    return _quote_page(quotes.get_quote(quote_id), form, status=form_status(form))


# ---- Settings ----------------------------------------------------------------------------------


def _settings_page(settings_form=None, stage_form=None, status: int = 200, block="content"):
    current = quotes.settings()
    if settings_form is None:
        settings_form = SettingsForm(
            data={
                "quote_approval_threshold": f"{current.quote_approval_threshold:f}",
                "default_tax_rate": f"{current.default_tax_rate:f}",
                "quote_validity_days": str(current.quote_validity_days),
                "quote_terms": current.quote_terms,
            }
        )
    return render(
        "pipeline/settings.html",
        block=block,
        status=status,
        stages=stages.list_stages(),
        settings_form=settings_form,
        stage_form=stage_form or StageForm(),
    )


@bp.route("/pipeline/settings")
@requires("configure pipeline")
def settings():
    return _settings_page()


@bp.route("/pipeline/settings/quotes", methods=["POST"])
@requires("configure pipeline")
def save_settings():
    form = SettingsForm()
    if submit(
        form,
        lambda: quotes.update_settings(
            quote_approval_threshold=form.quote_approval_threshold.data,
            default_tax_rate=form.default_tax_rate.data,
            quote_validity_days=form.quote_validity_days.data,
            quote_terms=form.quote_terms.data or "",
        ),
    ):
        flash(_("Quote settings saved."), "success")
        return redirect_to(url_for("pipeline.settings"))
    return _settings_page(settings_form=form, status=422, block="settings_form")


@bp.route("/pipeline/settings/stages", methods=["POST"])
@requires("configure pipeline")
def add_stage():
    form = StageForm()
    if submit(
        form,
        lambda: stages.add_stage(
            name=form.name.data, probability=form.probability.data, position=form.position.data
        ),
    ):
        flash(_("Stage %(name)s added.", name=form.name.data), "success")
        return redirect_to(url_for("pipeline.settings"))
    return _settings_page(stage_form=form, status=422, block="stage_form")


@bp.route("/pipeline/settings/stages/<int:stage_id>", methods=["POST"])
@requires("configure pipeline")
def update_stage(stage_id: int):
    stages.get_stage(stage_id)
    form = StageForm()
    if form.validate_on_submit():
        stages.update_stage(
            stage_id,
            name=form.name.data,
            probability=form.probability.data,
            position=form.position.data,
        )
        flash(_("Stage %(name)s saved.", name=form.name.data), "success")
        return redirect_to(url_for("pipeline.settings"))
    raise ValidationError(
        _("Please correct the stage."), {name: errors[0] for name, errors in form.errors.items()}
    )


@bp.route("/pipeline/settings/stages/<int:stage_id>/delete", methods=["POST"])
@requires("configure pipeline")
def delete_stage(stage_id: int):
    stages.delete_stage(stage_id)
    flash(_("Stage removed."), "success")
    return redirect_to(url_for("pipeline.settings"))

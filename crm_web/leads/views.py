"""Lead pages: the list, capture and edit, a lead's workflow, conversion, settings, scoring, and the
public web form."""

from datetime import date, timedelta

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from crm_web.accounts.services import list_users
from crm_web.errors import ServiceError, Throttled
from crm_web.extensions import csrf
from crm_web.formatting import lowercase
from crm_web.forms import form_status, show_service_error, submit
from crm_web.i18n import speak
from crm_web.leads import assignment, scoring, services
from crm_web.leads.forms import (
    AssignForm,
    AssignmentRuleForm,
    ConvertForm,
    LeadForm,
    LeadSettingsForm,
    ScoringRuleForm,
    StatusForm,
    TeamForm,
    WebFormSubmission,
    choices,
)
from crm_web.leads.models import LEAD_SOURCES, LEAD_STATUSES
from crm_web.permissions import requires
from crm_web.rendering import is_htmx, redirect_to, render, render_blocks
from crm_web.security import embeddable, public

bp = Blueprint("leads", __name__)


def _users() -> dict:
    return {user.id: user for user in list_users()}


def _user_choices(blank: str) -> list:
    return choices([("", blank)] + [(str(u.id), u.name) for u in assignment.active_users()])


def _member_choices() -> list:
    return choices((u.id, u.name) for u in assignment.active_users())


def _int_or_none(value) -> int | None:
    return int(value) if value not in (None, "", "None") else None


# The list


@bp.route("/leads/")
@requires("view leads")
def index():
    filters = {
        "q": request.args.get("q", "").strip(),
        "status": request.args.get("status", ""),
        "source": request.args.get("source", ""),
        "assigned_to": request.args.get("assigned_to", ""),
        "band": request.args.get("band", ""),
        "sort": request.args.get("sort", "newest"),
    }
    page = services.search_leads(**filters, cursor=request.args.get("cursor"))
    active = {key: value for key, value in filters.items() if value}
    next_url = url_for("leads.index", cursor=page.next_cursor, **active)
    return render(
        "leads/index.html",
        block="rows" if request.args.get("cursor") else "results",
        page=page,
        next_url=next_url,
        filters=filters,
        statuses=LEAD_STATUSES,
        sources=LEAD_SOURCES,
        bands=scoring.BANDS,
        users=_users(),
    )


# Capture and edit


@bp.route("/leads/new", methods=["GET", "POST"])
@requires("capture leads")
def new():
    form = LeadForm()
    form.assigned_to_id.choices = _user_choices(_("By the assignment rules"))
    if created := submit(
        form,
        lambda: services.create_lead(
            **form.values(), assigned_to_id=_int_or_none(form.assigned_to_id.data)
        ),
    ):
        lead = created.value
        flash(_("Lead %(number)s is saved.", number=lead.lead_number), "success")
        return redirect_to(url_for("leads.detail", lead_id=lead.id))
    return render("leads/form.html", block="form", status=form_status(form), form=form, lead=None)


@bp.route("/leads/<int:lead_id>/edit", methods=["GET", "POST"])
@requires("capture leads")
def edit(lead_id: int):
    lead = services.get_lead(lead_id)
    form = LeadForm(obj=lead)
    del form.assigned_to_id
    if submit(form, lambda: services.update_lead(lead_id, **form.values())):
        flash(_("Lead %(number)s is saved.", number=lead.lead_number), "success")
        return redirect_to(url_for("leads.detail", lead_id=lead_id))
    return render("leads/form.html", block="form", status=form_status(form), form=form, lead=lead)


# One lead: details, workflow, assignment


def _status_form(lead) -> StatusForm:
    form = StatusForm()
    form.status.choices = choices(
        (s, services.STATUS_LABELS[s]) for s in services.TRANSITIONS[lead.status]
    )
    return form


def _assign_form(lead) -> AssignForm:
    form = AssignForm(data={"assigned_to_id": str(lead.assigned_to_id or "")})
    form.assigned_to_id.choices = _user_choices(_("Nobody"))
    return form


def _detail_context(lead, *, status_form=None, assign_form=None) -> dict:
    return dict(
        lead=lead,
        users=_users(),
        history=assignment.history(lead.id),
        customer=services.converted_customer(lead),
        status_form=status_form or _status_form(lead),
        assign_form=assign_form or _assign_form(lead),
        action=scoring.action_label(lead.recommended_action),
        factors=scoring.SCORING_FACTORS,
    )


def _detail(lead, *, block="content", status=200, **forms):
    return render("leads/detail.html", block=block, status=status, **_detail_context(lead, **forms))


@bp.route("/leads/<int:lead_id>")
@requires("view leads")
def detail(lead_id: int):
    return _detail(services.get_lead(lead_id))


@bp.route("/leads/<int:lead_id>/status", methods=["POST"])
@requires("work leads")
def change_status(lead_id: int):
    lead = services.get_lead(lead_id)
    form = _status_form(lead)
    form.status.choices = choices((s, s) for s in LEAD_STATUSES)
    if changed := submit(
        form,
        lambda: services.change_status(lead_id, form.status.data, reason=form.reason.data or ""),
    ):
        lead = changed.value
        if not is_htmx():
            flash(
                _(
                    "%(number)s is now %(status)s.",
                    number=lead.lead_number,
                    status=lowercase(str(services.STATUS_LABELS[lead.status])),
                ),
                "success",
            )
            return redirect_to(url_for("leads.detail", lead_id=lead_id))
        # The panel, and the page's actions out of band: Convert comes (or goes) with the status.
        return render_blocks(
            "leads/detail.html", "workflow", "actions", oob=("actions",), **_detail_context(lead)
        )
    form.status.choices = _status_form(lead).status.choices
    return _detail(lead, block="workflow", status=form_status(form), status_form=form)


@bp.route("/leads/<int:lead_id>/assign", methods=["POST"])
@requires("assign leads")
def assign(lead_id: int):
    lead = services.get_lead(lead_id)
    form = _assign_form(lead)
    if reassigned := submit(
        form,
        lambda: services.reassign_lead(
            lead_id, _int_or_none(form.assigned_to_id.data), note=form.note.data or ""
        ),
    ):
        if not is_htmx():
            return redirect_to(url_for("leads.detail", lead_id=lead_id))
        return _detail(reassigned.value, block="assignment")
    return _detail(lead, block="assignment", status=form_status(form), assign_form=form)


@bp.route("/leads/<int:lead_id>/convert", methods=["GET", "POST"])
@requires("work leads")
def convert(lead_id: int):
    lead = services.get_lead(lead_id)
    match = services.matching_customer(lead) if lead.status == "qualified" else None
    form = ConvertForm()
    if request.method == "GET":
        # Only the same email is likely enough the same person to link by default.
        form.customer_choice.data = "match" if match and match.strong else "new"
        form.opportunity_name.data = lead.company or lead.display_name
        form.opportunity_amount.data = lead.budget
        form.opportunity_expected_close_date.data = date.today() + timedelta(days=30)

    def convert_lead():
        opportunity = None
        if form.create_opportunity.data:
            opportunity = {
                "name": form.opportunity_name.data or "",
                "amount": form.opportunity_amount.data,
                "expected_close_date": form.opportunity_expected_close_date.data,
            }
        linked = match is not None and form.customer_choice.data == "match"
        return services.convert_lead(
            lead_id,
            # The match found above (the service need not look it up again).
            customer_id=match.customer.id if linked else None,
            create_new_customer=not linked,
            opportunity=opportunity,
        )

    if converted := submit(form, convert_lead):
        lead = converted.value
        # Where the work goes on: the new deal, else the customer.
        if lead.converted_opportunity_id:
            flash(_("%(lead)s is converted: here is its deal.", lead=lead.lead_number), "success")
            return redirect_to(
                url_for("pipeline.detail", opportunity_id=lead.converted_opportunity_id)
            )
        flash(_("%(lead)s is converted into this customer.", lead=lead.lead_number), "success")
        return redirect_to(url_for("customer360.show", customer_id=lead.converted_customer_id))
    return render(
        "leads/convert.html",
        block="form",
        status=form_status(form),
        form=form,
        lead=lead,
        match=match,
    )


# Settings: capture, teams, assignment rules


def _settings_page(*, block="content", status=200, **forms):
    settings = services.get_settings()
    team_form = forms.get("team_form") or TeamForm(formdata=None)
    team_form.member_ids.choices = _member_choices()
    rule_form = forms.get("rule_form") or AssignmentRuleForm(formdata=None)
    _rule_targets(rule_form)
    return render(
        "leads/settings.html",
        block=block,
        status=status,
        settings=settings,
        settings_form=forms.get("settings_form") or LeadSettingsForm(obj=settings, formdata=None),
        team_form=team_form,
        rule_form=rule_form,
        teams=assignment.list_teams(),
        members=assignment.team_members(),
        rules=assignment.list_rules(),
        users=_users(),
        form_url=url_for("leads.web_form", slug=current_user.organization.slug, _external=True),
    )


def _rule_targets(form: AssignmentRuleForm) -> None:
    form.target.choices = choices(
        [("", _("Choose…"))]
        + [(f"team:{t.id}", _("Team: %(name)s", name=t.name)) for t in assignment.list_teams()]
        + [(f"user:{u.id}", u.name) for u in assignment.active_users()]
    )


def _rule_values(form: AssignmentRuleForm) -> dict:
    kind, _, target_id = (form.target.data or "").partition(":")
    return {
        "name": form.name.data or "",
        "priority": form.priority.data,
        "user_id": int(target_id) if kind == "user" else None,
        "team_id": int(target_id) if kind == "team" else None,
        "method": form.method.data,
        "sources": form.sources.data or "",
        "industries": form.industries.data or "",
        "countries": form.countries.data or "",
        "cities": form.cities.data or "",
        "required_skills": form.required_skills.data or "",
        "max_open_leads": form.max_open_leads.data,
        "is_active": form.is_active.data,
    }


@bp.route("/leads/settings")
@requires("configure leads")
def settings():
    return _settings_page()


@bp.route("/leads/settings/capture", methods=["POST"])
@requires("configure leads")
def update_settings():
    form = LeadSettingsForm()
    if submit(
        form,
        lambda: services.update_settings(
            web_form_enabled=form.web_form_enabled.data,
            web_form_thank_you=form.web_form_thank_you.data,
            auto_assign=form.auto_assign.data,
        ),
    ):
        flash(_("Lead capture settings are saved."), "success")
        return redirect_to(url_for("leads.settings"))
    return _settings_page(block="settings_form", status=422, settings_form=form)


@bp.route("/leads/teams", methods=["POST"])
@requires("configure leads")
def create_team():
    form = TeamForm()
    form.member_ids.choices = _member_choices()
    if created := submit(
        form, lambda: assignment.create_team(name=form.name.data, member_ids=form.member_ids.data)
    ):
        flash(_("Team %(name)s is saved.", name=created.value.name), "success")
        return redirect_to(url_for("leads.settings"))
    return _settings_page(block="team_form", status=422, team_form=form)


@bp.route("/leads/teams/<int:team_id>", methods=["GET", "POST"])
@requires("configure leads")
def edit_team(team_id: int):
    team = assignment.get_team(team_id)
    form = TeamForm(obj=team)
    form.member_ids.choices = _member_choices()
    if request.method == "GET":
        form.member_ids.data = [u.id for u in assignment.team_members().get(team.id, [])]
    if submit(
        form,
        lambda: assignment.update_team(
            team_id, name=form.name.data, member_ids=form.member_ids.data
        ),
    ):
        flash(_("Team %(name)s is saved.", name=form.name.data), "success")
        return redirect_to(url_for("leads.settings"))
    return render(
        "leads/team_edit.html", block="form", status=form_status(form), form=form, team=team
    )


@bp.route("/leads/teams/<int:team_id>/delete", methods=["POST"])
@requires("configure leads")
def delete_team(team_id: int):
    team = assignment.get_team(team_id)
    assignment.delete_team(team.id)
    flash(_("Team %(name)s is deleted.", name=team.name), "success")
    return redirect_to(url_for("leads.settings"))


@bp.route("/leads/assignment-rules", methods=["POST"])
@requires("configure leads")
def create_assignment_rule():
    form = AssignmentRuleForm()
    _rule_targets(form)
    if created := submit(form, lambda: assignment.create_rule(**_rule_values(form))):
        flash(_("Rule %(name)s is saved.", name=created.value.name), "success")
        return redirect_to(url_for("leads.settings"))
    return _settings_page(block="rule_form", status=422, rule_form=form)


@bp.route("/leads/assignment-rules/<int:rule_id>", methods=["GET", "POST"])
@requires("configure leads")
def edit_assignment_rule(rule_id: int):
    rule = assignment.get_rule(rule_id)
    form = AssignmentRuleForm(obj=rule)
    _rule_targets(form)
    if request.method == "GET":
        form.target.data = f"team:{rule.team_id}" if rule.team_id else f"user:{rule.user_id}"
        for name in assignment.CONDITION_FIELDS + ("required_skills",):
            getattr(form, name).data = ", ".join(getattr(rule, name))
    if submit(form, lambda: assignment.update_rule(rule_id, **_rule_values(form))):
        flash(_("Rule %(name)s is saved.", name=form.name.data), "success")
        return redirect_to(url_for("leads.settings"))
    return render(
        "leads/rule_edit.html", block="form", status=form_status(form), form=form, rule=rule
    )


@bp.route("/leads/assignment-rules/<int:rule_id>/delete", methods=["POST"])
@requires("configure leads")
def delete_assignment_rule(rule_id: int):
    rule = assignment.get_rule(rule_id)
    assignment.delete_rule(rule.id)
    flash(_("Rule %(name)s is deleted.", name=rule.name), "success")
    return redirect_to(url_for("leads.settings"))


# Scoring


def _scoring_values(form: ScoringRuleForm) -> dict:
    return {
        "factor": form.factor.data,
        "label": form.label.data or "",
        "field": form.field.data,
        "operator": form.operator.data,
        "value": form.value.data or "",
        "points": form.points.data,
    }


def _scoring_page(*, block="content", status=200, form=None):
    return render(
        "leads/scoring.html",
        block=block,
        status=status,
        rules=scoring.list_rules(),
        form=form or ScoringRuleForm(formdata=None),
        fields=scoring.FIELDS,
        operators=scoring.OPERATORS,
    )


@bp.route("/leads/scoring")
@requires("configure leads")
def scoring_rules():
    services.get_settings()
    return _scoring_page()


@bp.route("/leads/scoring/rules", methods=["POST"])
@requires("configure leads")
def create_scoring_rule():
    form = ScoringRuleForm()
    if created := submit(form, lambda: scoring.create_rule(**_scoring_values(form))):
        flash(
            _("Rule %(name)s is saved; scores are being recomputed.", name=created.value.label),
            "success",
        )
        return redirect_to(url_for("leads.scoring_rules"))
    return _scoring_page(block="rule_form", status=422, form=form)


@bp.route("/leads/scoring/rules/<int:rule_id>", methods=["GET", "POST"])
@requires("configure leads")
def edit_scoring_rule(rule_id: int):
    rule = scoring.get_rule(rule_id)
    form = ScoringRuleForm(obj=rule)
    if submit(
        form,
        lambda: scoring.update_rule(
            rule_id, is_active=form.is_active.data, **_scoring_values(form)
        ),
    ):
        flash(
            _("Rule %(name)s is saved; scores are being recomputed.", name=form.label.data),
            "success",
        )
        return redirect_to(url_for("leads.scoring_rules"))
    return render(
        "leads/scoring_rule_edit.html",
        block="form",
        status=form_status(form),
        form=form,
        rule=rule,
    )


@bp.route("/leads/scoring/rules/<int:rule_id>/delete", methods=["POST"])
@requires("configure leads")
def delete_scoring_rule(rule_id: int):
    rule = scoring.get_rule(rule_id)
    scoring.delete_rule(rule.id)
    flash(_("Rule %(name)s is deleted; scores are being recomputed.", name=rule.label), "success")
    return redirect_to(url_for("leads.scoring_rules"))


@bp.route("/leads/scoring/analysis")
@requires("analyse lead scoring")
def scoring_analysis():
    return render("leads/analysis.html", analysis=scoring.analysis())


# The public web form


@bp.route("/f/<slug>/lead", methods=["GET", "POST"])
@public
@csrf.exempt
def web_form(slug: str):
    """An organization's public lead form, to link to or embed in an iframe.

    Exempt from CSRF: it acts for no signed-in user, so a forged post can do
    nothing a visitor could not do by filling it in; the honeypot and the per-address rate limit
    are its protection. It sets no cookie, so a third-party iframe works.
    """
    settings = services.web_form_organization(slug)
    speak()
    form = WebFormSubmission()
    status, thanks = 200, None
    if request.method == "POST":
        # The service checks the fields itself, after counting the attempt and the honeypot.
        try:
            services.capture_web_form(
                slug, request.form.to_dict(), client_ip=request.remote_addr or ""
            )
        except Throttled as exc:
            form.form_errors.append(exc.message)
            status = 429
        except ServiceError as exc:
            show_service_error(form, exc)
            status = 422
        else:
            thanks = settings.web_form_thank_you
    response = render(
        "leads/public_form.html",
        block="form",
        status=status,
        form=form,
        thanks=thanks,
        slug=slug,
        honeypot=services.HONEYPOT_FIELD,
    )
    return embeddable(response)

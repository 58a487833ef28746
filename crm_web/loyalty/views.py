"""Loyalty pages: the program (rules, tiers, category multipliers, members), the rewards
catalog, a member's ledger, and the customer page's loyalty card with its actions."""

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from wtforms import SelectChoice

from crm_web.catalog.products import list_categories
from crm_web.customers.services import get_customer
from crm_web.errors import ServiceError
from crm_web.forms import form_status, submit
from crm_web.loyalty import coupons, ledger, members, overview, programs, rewards
from crm_web.loyalty.forms import (
    MultiplierForm,
    PointsForm,
    ProgramForm,
    RedeemForm,
    RewardForm,
    TierForm,
)
from crm_web.loyalty.models import REWARD_KINDS
from crm_web.permissions import requires
from crm_web.rendering import is_htmx, redirect_to, render

bp = Blueprint("loyalty", __name__)

# Sent with a change on the customer page, which reloads its KPIs and timeline (customer360).
CUSTOMER_CHANGED = "customer-changed"


def _program_page(*, block="content", status=200, **forms):
    program = programs.active_program()
    q = request.args.get("q", "")
    page = members.search_members(q, cursor=request.args.get("cursor"))
    multiplier_form = forms.get("multiplier_form") or MultiplierForm(formdata=None)
    multiplier_form.category_id.choices = [
        SelectChoice(str(c.id), c.name) for c in list_categories()
    ]
    return render(
        "loyalty/index.html",
        block="member_rows" if request.args.get("cursor") else block,
        status=status,
        program=program,
        tiers=programs.tiers(program) if program else [],
        category_rules=programs.category_rules(program) if program else [],
        page=page,
        q=q,
        next_url=url_for(".index", q=q or None, cursor=page.next_cursor),
        program_form=forms.get("program_form") or ProgramForm(formdata=None, obj=program),
        tier_form=forms.get("tier_form") or TierForm(formdata=None),
        multiplier_form=multiplier_form,
    )


@bp.route("/loyalty")
@requires("view loyalty")
def index():
    return _program_page()


@bp.route("/loyalty/programs", methods=["POST"])
@requires("configure loyalty")
def create_program():
    form = ProgramForm()
    if submit(form, lambda: programs.create_program(form.data)):
        flash(_("The loyalty program is set up."), "success")
        return redirect_to(url_for(".index"))
    return _program_page(block="program", status=form_status(form), program_form=form)


@bp.route("/loyalty/programs/<int:program_id>", methods=["POST"])
@requires("configure loyalty")
def update_program(program_id: int):
    programs.get_program(program_id)
    form = ProgramForm()
    if submit(form, lambda: programs.update_program(program_id, form.data)):
        flash(_("The program is saved."), "success")
        return redirect_to(url_for(".index"))
    return _program_page(block="program", status=form_status(form), program_form=form)


@bp.route("/loyalty/programs/<int:program_id>/tiers", methods=["POST"])
@requires("configure loyalty")
def add_tier(program_id: int):
    programs.get_program(program_id)
    form = TierForm()
    if submit(
        form,
        lambda: programs.add_tier(
            program_id,
            name=form.name.data,
            threshold=form.threshold.data,
            points_multiplier=form.points_multiplier.data,
            benefits=form.benefits.data,
        ),
    ):
        return redirect_to(url_for(".index")) if not is_htmx() else _program_page(block="tiers")
    return _program_page(block="tiers", status=form_status(form), tier_form=form)


@bp.route("/loyalty/programs/<int:program_id>/tiers/<int:tier_id>/delete", methods=["POST"])
@requires("configure loyalty")
def remove_tier(program_id: int, tier_id: int):
    programs.remove_tier(program_id, tier_id)
    return redirect_to(url_for(".index")) if not is_htmx() else _program_page(block="tiers")


@bp.route("/loyalty/programs/<int:program_id>/multipliers", methods=["POST"])
@requires("configure loyalty")
def set_multiplier(program_id: int):
    programs.get_program(program_id)
    form = MultiplierForm()
    if submit(
        form,
        lambda: programs.set_category_multiplier(
            program_id, form.category_id.data, form.multiplier.data
        ),
    ):
        return (
            redirect_to(url_for(".index")) if not is_htmx() else _program_page(block="multipliers")
        )
    return _program_page(block="multipliers", status=form_status(form), multiplier_form=form)


# Rewards


def _rewards_page(form: RewardForm | None = None, status: int = 200):
    program = programs.active_program()
    form = form or RewardForm(formdata=None)
    form.kind.choices = [SelectChoice(k, rewards.KIND_LABELS[k]) for k in REWARD_KINDS]
    form.min_tier_id.choices = [SelectChoice("", _("Everyone"))] + [
        SelectChoice(str(t.id), t.name) for t in (programs.tiers(program) if program else [])
    ]
    return render(
        "loyalty/rewards.html",
        block="catalog",
        status=status,
        program=program,
        rewards=rewards.list_rewards(active_only=False),
        kind_labels=rewards.KIND_LABELS,
        form=form,
    )


@bp.route("/loyalty/rewards")
@requires("view loyalty")
def rewards_catalog():
    return _rewards_page()


@bp.route("/loyalty/rewards", methods=["POST"])
@requires("configure loyalty")
def add_reward():
    form = RewardForm()
    if submit(form, lambda: rewards.create_reward(form.data)):
        return redirect_to(url_for(".rewards_catalog")) if not is_htmx() else _rewards_page()
    return _rewards_page(form, form_status(form))


@bp.route("/loyalty/rewards/<int:reward_id>/active", methods=["POST"])
@requires("configure loyalty")
def toggle_reward(reward_id: int):
    reward = rewards.get_reward(reward_id)
    rewards.set_reward_active(reward.id, not reward.is_active)
    return redirect_to(url_for(".rewards_catalog")) if not is_htmx() else _rewards_page()


# A member


@bp.route("/loyalty/members/<int:member_id>")
@requires("view loyalty")
def member(member_id: int):
    found = members.get_member(member_id)
    cursor = request.args.get("cursor")
    page = ledger.entries(found.id, cursor=cursor, limit=50)
    return render(
        "loyalty/member.html",
        block="entry_rows" if cursor else "content",
        member=found,
        page=page,
        next_url=url_for(".member", member_id=member_id, cursor=page.next_cursor),
        available=ledger.available(found.id),
        coupons=coupons.coupons_of(found.id),
        redemptions=rewards.redemptions_of(found.id),
    )


# The customer page's card


def card_context(customer_id: int, **forms) -> dict:
    """What loyalty/_card.html needs (the customer page includes it)."""
    card = overview.customer_card(customer_id)
    redeem_form = forms.get("redeem_form") or RedeemForm(formdata=None)
    redeem_form.reward_id.choices = [
        SelectChoice(
            str(r.id), _("%(name)s (%(points)s points)", name=r.name, points=r.points_cost)
        )
        for r in card.rewards
    ]
    return {
        "loyalty": card,
        "redeem_form": redeem_form,
        "points_form": forms.get("points_form") or PointsForm(formdata=None),
        "points_action": forms.get("points_action"),
        "loyalty_error": forms.get("error"),
    }


def _errors_of(form) -> str:
    messages = [*form.form_errors, *(e for errors in form.errors.values() for e in errors)]
    return " ".join(str(message) for message in messages)


def _card(customer, *, status: int = 200, changed: bool = False, **forms):
    """The card for HTMX; without it, back to the customer page (an error as its message)."""
    if not is_htmx():
        if status >= 400:
            form = forms.get("redeem_form") or forms.get("points_form")
            flash(forms.get("error") or (_errors_of(form) if form else ""), "error")
        return redirect(url_for("customer360.show", customer_id=customer.id), code=303)
    html = render_template(
        "loyalty/_card.html", customer=customer, **card_context(customer.id, **forms)
    )
    response = make_response(html, status)
    response.vary.add("HX-Request")
    if changed and status < 400:
        response.headers["HX-Trigger"] = CUSTOMER_CHANGED
    return response


def _card_action(customer_id: int, form, action, form_name: str, **extra):
    customer = get_customer(customer_id)
    if submit(form, action):
        return _card(customer, changed=True)
    return _card(customer, status=form_status(form), **{form_name: form}, **extra)


@bp.route("/customers/<int:customer_id>/loyalty/enrol", methods=["POST"])
@requires("enrol members")
def enrol(customer_id: int):
    customer = get_customer(customer_id)
    try:
        members.enrol(customer.id)
    except ServiceError as exc:
        return _card(
            customer, status=exc.status, error=" ".join(exc.fields.values()) or exc.message
        )
    return _card(customer, changed=True)


@bp.route("/customers/<int:customer_id>/loyalty/redeem", methods=["POST"])
@requires("redeem rewards")
def redeem(customer_id: int):
    form = RedeemForm()
    reward_id = form.reward_id.data
    return _card_action(
        customer_id,
        form,
        lambda: rewards.redeem_reward(
            customer_id, int(reward_id) if str(reward_id or "").isdigit() else None
        ),
        "redeem_form",
    )


@bp.route("/customers/<int:customer_id>/loyalty/spend", methods=["POST"])
@requires("redeem rewards")
def spend(customer_id: int):
    form = PointsForm()
    return _card_action(
        customer_id,
        form,
        lambda: members.redeem_points(customer_id, form.points.data, form.note.data),
        "points_form",
        points_action="spend",
    )


@bp.route("/customers/<int:customer_id>/loyalty/adjust", methods=["POST"])
@requires("adjust points")
def adjust(customer_id: int):
    form = PointsForm()
    return _card_action(
        customer_id,
        form,
        lambda: members.adjust_points(customer_id, form.points.data, form.note.data),
        "points_form",
        points_action="adjust",
    )

"""One's own profile: language, time zone and API tokens (/profile); and the organization's
tokens for admins (/admin/api-tokens)."""

from datetime import UTC, datetime

from flask import Blueprint, flash, request, url_for
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user

from crm_web.accounts import preferences, services
from crm_web.accounts.forms import ApiTokenForm, ProfileForm
from crm_web.forms import form_status, submit
from crm_web.permissions import requires
from crm_web.rendering import is_htmx, redirect_to, render

bp = Blueprint("profile", __name__)

PROFILE = "accounts/profile.html"
ORGANIZATION_TOKENS = "accounts/api_tokens.html"
# A person has a few tokens; more than this and the list says it shows the newest.
OWN_TOKENS_SHOWN = 100


def _preferences_form(formdata=None) -> ProfileForm:
    form = ProfileForm(formdata=formdata, organization=current_user.organization)
    if formdata is None:
        form.locale.data = current_user.locale or ""
        form.timezone.data = current_user.timezone or ""
    return form


def _profile(
    *, block: str = "content", status: int = 200, form=None, preferences_form=None, **context
):
    return render(
        PROFILE,
        block=block,
        status=status,
        tokens=services.list_api_tokens(user_id=current_user.id, limit=OWN_TOKENS_SHOWN),
        form=form or ApiTokenForm(formdata=None),
        preferences_form=preferences_form or _preferences_form(),
        now=datetime.now(UTC),
        **context,
    )


@bp.route("/profile", methods=["GET", "POST"])
def show():
    """Who you are, your language and time zone, and your API tokens."""
    if request.method == "GET":
        return _profile()
    form = _preferences_form(request.form)
    if submit(
        form,
        lambda: preferences.update_profile(
            current_user.id, locale=form.locale.data, timezone=form.timezone.data
        ),
    ):
        refresh()  # the next words already speak the language just chosen
        flash(_("Your preferences are saved."), "success")
        return redirect_to(url_for(".show"))
    return _profile(block="preferences", status=form_status(form), preferences_form=form)


@bp.route("/profile/tokens", methods=["POST"])
@requires("use API tokens")
def create_token():
    form = ApiTokenForm()
    user = current_user._get_current_object()
    if created := submit(
        form,
        lambda: services.create_api_token(user, form.name.data, expires_on=form.expires_on.data),
    ):
        token, raw = created.value
        # The token is shown this once, in this answer (never in a redirect or the session).
        response = _profile(block="tokens", new_token=token, raw_token=raw)
        response.headers["Cache-Control"] = "no-store"
        return response
    return _profile(block="tokens", status=form_status(form), form=form)


@bp.route("/profile/tokens/<int:token_id>/revoke", methods=["POST"])
@requires("use API tokens")
def revoke_token(token_id: int):
    token = services.revoke_api_token(token_id, acting_user=current_user)
    notice = _("The token %(name)s is revoked.", name=token.name)
    if not is_htmx():
        flash(notice, "success")
        return redirect_to(url_for(".show"))
    return _profile(block="tokens", notice=notice)


@bp.route("/admin/api-tokens")
@requires("manage API tokens")
def organization_tokens():
    """Every working or expired token of the organization, newest first."""
    cursor = request.args.get("cursor")
    page = services.list_api_tokens(cursor=cursor)
    return render(
        ORGANIZATION_TOKENS,
        block="rows" if cursor else "content",
        page=page,
        next_url=url_for(".organization_tokens", cursor=page.next_cursor),
        now=datetime.now(UTC),
    )


@bp.route("/admin/api-tokens/<int:token_id>/revoke", methods=["POST"])
@requires("manage API tokens")
def revoke_organization_token(token_id: int):
    token = services.revoke_api_token(token_id, acting_user=current_user)
    if not is_htmx():
        flash(_("The token %(name)s is revoked.", name=token.name), "success")
        return redirect_to(url_for(".organization_tokens"))
    return render(ORGANIZATION_TOKENS, block="row", token=token, now=datetime.now(UTC))

"""Sign-in, sign-up, invitations, the admin's user pages, the company details and the organization's settings."""

from flask import Blueprint, flash, request, session, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from crm_web import i18n, onboarding
from crm_web.accounts import company as companies
from crm_web.accounts import preferences, services
from crm_web.accounts.forms import (
    ChoosePasswordForm,
    CompanyForm,
    InviteForm,
    LoginForm,
    OrganizationForm,
    SignupForm,
    UserForm,
)
from crm_web.accounts.ratelimit import allow
from crm_web.errors import Throttled
from crm_web.forms import form_status, submit
from crm_web.permissions import requires
from crm_web.rendering import redirect_to, render
from crm_web.security import public, safe_redirect_target

bp = Blueprint("accounts", __name__)

# Sign-ups from one address, as the public support form limits its submissions.
SIGNUP_LIMIT = 5
SIGNUP_WINDOW_SECONDS = 3600


def load_session_user(user_id: str):
    """Flask-Login's loader: the user of this session, whose organization becomes the tenant."""
    organization_id, session_id = session.get("organization_id"), session.get("session_id")
    if organization_id is None or session_id is None:
        return None
    user, snapshot = services.load_user(
        int(user_id), organization_id, session_id, session.get("signed_in")
    )
    if snapshot is not None:
        # Sent back with this response; later requests read the user from it.
        session["signed_in"] = snapshot
    return user


def _sign_in(user) -> None:
    # Nothing a visitor had in the cookie before signing in carries over.
    session.clear()
    session.permanent = True
    login_user(user)
    # Lets the loader scope each later request before its first query and check that this
    # sign-in still holds (see load_user).
    session["organization_id"] = user.organization_id
    session["session_id"] = services.start_session(user)


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm()
    try:
        signed_in = submit(
            form,
            lambda: services.authenticate(
                form.email.data, form.password.data, request.remote_addr or ""
            ),
        )
    except Throttled as exc:
        form.form_errors.append(exc.message)
        response = render("accounts/login.html", block="form", status=429, form=form)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if signed_in:
        _sign_in(signed_in.value)
        return redirect_to(
            safe_redirect_target(request.args.get("next"), url_for("dashboard.index"))
        )
    return render("accounts/login.html", block="form", status=form_status(form), form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    # Deleting the sign-in's row makes a copy of the old cookie worthless too.
    services.end_session(session["session_id"])
    logout_user()
    session.clear()
    flash(_("You are signed out."), "info")
    return redirect_to(url_for("accounts.login"))


@bp.route("/signup", methods=["GET", "POST"])
@public
def signup():
    """Sign-up's first step: the answer is the same whether or not the address has an account."""
    form = SignupForm()

    def request_signup():
        if not allow(f"signup:{request.remote_addr}", SIGNUP_LIMIT, SIGNUP_WINDOW_SECONDS):
            raise Throttled(_("Too many sign-ups from your address; try again later."))
        return services.request_signup(
            name=form.name.data,
            slug=form.slug.data,
            timezone=form.timezone.data,
            currency=form.currency.data.upper(),
            admin_email=form.admin_email.data,
            admin_name=form.admin_name.data,
            locale=str(get_locale()),
        )

    throttled = False
    try:
        sent = submit(form, request_signup)
    except Throttled as exc:
        sent, throttled = None, True
        form.form_errors.append(exc.message)
    response = render(
        "accounts/signup.html",
        block="form",
        status=429 if throttled else form_status(form),
        form=form,
        sent_to=sent.value if sent else None,
    )
    if throttled:
        response.headers["Retry-After"] = str(SIGNUP_WINDOW_SECONDS)
    return response


@bp.route("/signup/<token>", methods=["GET", "POST"])
@public
def finish_signup(token: str):
    """Sign-up's last step, from the emailed link: choose a password, and the organization is made."""
    details = services.signup_details(token)
    form = ChoosePasswordForm()
    if completed := submit(form, lambda: onboarding.complete_signup(token, form.password.data)):
        _organization, admin = completed.value
        _sign_in(admin)
        flash(_("Welcome! Your organization is ready."), "success")
        return redirect_to(url_for("dashboard.index"))
    return render(
        "accounts/signup_finish.html",
        block="form",
        status=form_status(form),
        form=form,
        details=details,
    )


@bp.route("/invite/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str):
    user = services.invitation_user(token)
    form = ChoosePasswordForm()
    if accepted := submit(form, lambda: services.accept_invitation(token, form.password.data)):
        _sign_in(accepted.value)
        flash(_("Your password is set. Welcome!"), "success")
        return redirect_to(url_for("dashboard.index"))
    return render(
        "accounts/invitation.html", block="form", status=form_status(form), form=form, invited=user
    )


@bp.route("/admin/users")
@requires("manage users")
def users():
    return render(
        "accounts/users.html", block="user_list", users=services.list_users(), form=InviteForm()
    )


@bp.route("/admin/users/invite", methods=["POST"])
@requires("manage users")
def invite():
    form = InviteForm()
    if submit(
        form,
        lambda: services.invite_user(
            email=form.email.data,
            name=form.name.data,
            role=form.role.data,
            department=form.department.data or "",
            skills=form.skills.data or "",
        ),
    ):
        # The same words whether or not the address was free (see invite_user).
        flash(_("Invitation sent to %(address)s.", address=form.email.data.strip()), "success")
        return redirect_to(url_for("accounts.users"))
    return render(
        "accounts/users.html",
        block="invite_form",
        status=422,
        users=services.list_users(),
        form=form,
    )


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@requires("manage users")
def edit_user(user_id: int):
    user = services.get_user(user_id)
    form = UserForm(obj=user)
    if request.method == "GET":
        form.skills.data = ", ".join(user.skills)
    if submit(
        form,
        lambda: services.update_user(
            user_id,
            acting_user=current_user,
            name=form.name.data,
            role=form.role.data,
            department=form.department.data or "",
            skills=form.skills.data or "",
            is_active=form.is_active.data,
        ),
    ):
        flash(_("%(name)s is saved.", name=form.name.data), "success")
        return redirect_to(url_for("accounts.users"))
    return render(
        "accounts/user_edit.html", block="form", status=form_status(form), form=form, user=user
    )


COMPANY_FIELDS = ("name", "address", "phone", "email", "tax_office", "tax_number")


@bp.route("/admin/company", methods=["GET", "POST"])
@requires("configure organization")
def company():
    """The company details every quote prints (name, address, contact, tax office and number)."""
    organization = companies.get_company()
    form = CompanyForm(obj=organization)
    if submit(
        form,
        lambda: companies.update_company(
            **{name: getattr(form, name).data or "" for name in COMPANY_FIELDS}
        ),
    ):
        flash(_("Company details saved."), "success")
        return redirect_to(url_for("accounts.company"))
    return render("accounts/company.html", block="form", status=form_status(form), form=form)


@bp.route("/admin/settings", methods=["GET", "POST"])
@requires("configure organization")
def organization_settings():
    """The organization's name, language, time zone and currency."""
    form = OrganizationForm(obj=current_user.organization)
    if saved := submit(
        form,
        lambda: preferences.update_organization(
            name=form.name.data,
            locale=form.locale.data,
            timezone=form.timezone.data,
            currency=form.currency.data,
            sms_quiet_hours=form.sms_quiet_hours.data or "",
            sms_opt_out_keywords=form.sms_opt_out_keywords.data or "",
            sms_opt_in_keywords=form.sms_opt_in_keywords.data or "",
        ),
    ):
        i18n.switch_to(current_user.locale, saved.value.locale)
        flash(_("The organization's settings are saved."), "success")
        return redirect_to(url_for("accounts.organization_settings"))
    return render("accounts/organization.html", block="form", status=form_status(form), form=form)

"""Sign-in, sign-up, invitations and the admin's user pages."""

from flask import Blueprint, flash, request, session, url_for
from flask_login import current_user, login_user, logout_user

from crm_web.accounts import services
from crm_web.accounts.forms import AcceptInvitationForm, InviteForm, LoginForm, SignupForm, UserForm
from crm_web.errors import ServiceError, Throttled
from crm_web.forms import form_status, show_service_error
from crm_web.rendering import redirect_to, render
from crm_web.security import public, roles_required, safe_redirect_target

bp = Blueprint("accounts", __name__)


def load_session_user(user_id: str):
    """Flask-Login's loader: the user of this session, whose organization becomes the tenant."""
    return services.load_user(int(user_id), session.get("organization_id"))


def _sign_in(user) -> None:
    session.regenerate()
    login_user(user)
    # Lets the loader scope each later request before its first query (see load_user).
    session["organization_id"] = user.organization_id


@bp.route("/login", methods=["GET", "POST"])
@public
def login():
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(
                form.email.data, form.password.data, request.remote_addr or ""
            )
        except Throttled as exc:
            form.form_errors.append(exc.message)
            response = render("accounts/login.html", block="form", status=429, form=form)
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        except ServiceError as exc:
            show_service_error(form, exc)
        else:
            _sign_in(user)
            return redirect_to(
                safe_redirect_target(request.args.get("next"), url_for("dashboard.index"))
            )
    return render("accounts/login.html", block="form", status=form_status(form), form=form)


@bp.route("/logout", methods=["POST"])
def logout():
    logout_user()
    session.clear()
    # The signed-out visitor gets a fresh id; the old one is deleted with its data.
    session.regenerate()
    flash("You are signed out.", "info")
    return redirect_to(url_for("accounts.login"))


@bp.route("/signup", methods=["GET", "POST"])
@public
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        try:
            _organization, admin = services.create_organization(
                name=form.name.data,
                slug=form.slug.data,
                timezone=form.timezone.data,
                currency=form.currency.data.upper(),
                admin_email=form.admin_email.data,
                admin_name=form.admin_name.data,
                admin_password=form.admin_password.data,
            )
        except ServiceError as exc:
            show_service_error(form, exc)
        else:
            _sign_in(admin)
            flash("Welcome! Your organization is ready.", "success")
            return redirect_to(url_for("dashboard.index"))
    return render("accounts/signup.html", block="form", status=form_status(form), form=form)


@bp.route("/invite/<token>", methods=["GET", "POST"])
@public
def accept_invitation(token: str):
    user = services.invitation_user(token)
    form = AcceptInvitationForm()
    if form.validate_on_submit():
        try:
            user = services.accept_invitation(token, form.password.data)
        except ServiceError as exc:
            show_service_error(form, exc)
        else:
            _sign_in(user)
            flash("Your password is set. Welcome!", "success")
            return redirect_to(url_for("dashboard.index"))
    return render(
        "accounts/invitation.html", block="form", status=form_status(form), form=form, invited=user
    )


@bp.route("/admin/users")
@roles_required("admin")
def users():
    return render(
        "accounts/users.html", block="user_list", users=services.list_users(), form=InviteForm()
    )


@bp.route("/admin/users/invite", methods=["POST"])
@roles_required("admin")
def invite():
    form = InviteForm()
    if form.validate_on_submit():
        try:
            user = services.invite_user(
                email=form.email.data,
                name=form.name.data,
                role=form.role.data,
                department=form.department.data or "",
                skills=form.skills.data or "",
            )
        except ServiceError as exc:
            show_service_error(form, exc)
        else:
            flash(f"Invitation sent to {user.email}.", "success")
            return redirect_to(url_for("accounts.users"))
    return render(
        "accounts/users.html",
        block="invite_form",
        status=422,
        users=services.list_users(),
        form=form,
    )


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@roles_required("admin")
def edit_user(user_id: int):
    user = services.get_user(user_id)
    form = UserForm(obj=user)
    if request.method == "GET":
        form.skills.data = ", ".join(user.skills)
    if form.validate_on_submit():
        try:
            services.update_user(
                user_id,
                acting_user=current_user,
                name=form.name.data,
                role=form.role.data,
                department=form.department.data or "",
                skills=form.skills.data or "",
                is_active=form.is_active.data,
            )
        except ServiceError as exc:
            show_service_error(form, exc)
        else:
            flash(f"{form.name.data} is saved.", "success")
            return redirect_to(url_for("accounts.users"))
    return render(
        "accounts/user_edit.html", block="form", status=form_status(form), form=form, user=user
    )

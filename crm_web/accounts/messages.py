"""What the accounts domain sends through the outbox: invitations and sign-up mail."""

from flask import current_app
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_web.accounts.models import Organization, User
from crm_web.accounts.services import SIGNUP_MAX_AGE_SECONDS, invitation_token, signup_details
from crm_web.db import current_organization_id
from crm_web.errors import ServiceError
from crm_web.extensions import db
from crm_web.outbox.kinds import Cancel, MessageKind, Pending, register, rows_by_id


def _users(messages: list[Pending]) -> dict[int, User]:
    return rows_by_id(User, (message.source_id for message in messages))


def _load_invitations(messages: list[Pending]) -> dict:
    organization = db.session.get(Organization, current_organization_id())
    users = _users(messages)
    contexts = {}
    for message in messages:
        user = users.get(message.source_id)
        if user is None:
            contexts[message.id] = Cancel(_("The invited user was deleted."))
        elif user.password_hash:
            contexts[message.id] = Cancel(_("The invitation was accepted already."))
        else:
            contexts[message.id] = {
                "user": user,
                "organization": organization,
                "token": invitation_token(user),
            }
    return contexts


register(
    MessageKind(
        name="invitation",
        title=_l("Invitation"),
        channel="email",
        template="accounts/invitation",
        description=_l("An invitation to join the organization, with a link to choose a password."),
        load=_load_invitations,
        sample=lambda: {
            "user": {"name": "Zeynep Öztürk", "role": "sales"},
            "organization": {"name": "Çağlar Tekstil"},
            "token": "sample-token",
        },
    )
)


def _load_signup_links(messages: list[Pending]) -> dict:
    contexts = {}
    for message in messages:
        token = message.context["token"]
        try:
            details = signup_details(token)
        except ServiceError as exc:
            contexts[message.id] = Cancel(_("Not sent: %(reason)s", reason=exc.message))
            continue
        contexts[message.id] = {
            "details": details,
            # Signed with the name of the organization being created.
            "organization_name": details["name"],
            "link": f"{current_app.config['BASE_URL']}/signup/{token}",
            "hours": SIGNUP_MAX_AGE_SECONDS // 3600,
        }
    return contexts


def _load_existing_accounts(messages: list[Pending]) -> dict:
    organization = db.session.get(Organization, current_organization_id())
    users = _users(messages)
    return {
        message.id: {"user": users[message.source_id], "organization": organization}
        if message.source_id in users
        else Cancel(_("The user was deleted."))
        for message in messages
    }


register(
    MessageKind(
        name="signup_link",
        title=_l("Sign-up link"),
        channel="email",
        template="accounts/signup_link",
        description=_l(
            "Sent to a new address that asked to create an organization: the link to finish."
        ),
        load=_load_signup_links,
        sample=lambda: {
            "details": {"name": "Çağlar Tekstil", "admin_name": "Şükrü Çağlar"},
            "organization_name": "Çağlar Tekstil",
            "link": "https://crm.example/signup/sample-token",
            "hours": SIGNUP_MAX_AGE_SECONDS // 3600,
        },
    )
)
register(
    MessageKind(
        name="signup_existing_account",
        title=_l("Sign-up with an address that has an account"),
        channel="email",
        template="accounts/signup_existing_account",
        description=_l(
            "Sent to an account's owner when someone signs up with their address (the sign-up "
            "page answers alike either way)."
        ),
        load=_load_existing_accounts,
        sample=lambda: {
            "user": {"name": "Zeynep Öztürk"},
            "organization": {"name": "Çağlar Tekstil"},
        },
    )
)

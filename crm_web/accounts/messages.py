"""What the accounts domain sends through the outbox: invitations."""

from sqlalchemy import select

from crm_web.accounts.models import Organization, User
from crm_web.accounts.services import invitation_token
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.outbox.kinds import Cancel, MessageKind, Pending, register


def _load_invitations(messages: list[Pending]) -> dict:
    organization = db.session.get(Organization, current_organization_id())
    users = {
        user.id: user
        for user in db.session.scalars(
            select(User).where(
                User.organization_id == organization.id,
                User.id.in_({message.source_id for message in messages}),
            )
        )
    }
    contexts = {}
    for message in messages:
        user = users.get(message.source_id)
        if user is None:
            contexts[message.id] = Cancel("The invited user was deleted.")
        elif user.password_hash:
            contexts[message.id] = Cancel("The invitation was accepted already.")
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
        title="Invitation",
        channel="email",
        template="accounts/invitation",
        description="An invitation to join the organization, with a link to choose a password.",
        load=_load_invitations,
        sample=lambda: {
            "user": {"name": "Zeynep Öztürk", "role": "sales"},
            "organization": {"name": "Çağlar Tekstil"},
            "token": "sample-token",
        },
    )
)

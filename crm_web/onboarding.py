"""A new organization, ready to work: its account, then each domain's own set-up.

The CLI, the demo and a finished sign-up all create organizations here. A domain that needs
rows before its first use (stages, settings, default rules) adds its set-up to DOMAIN_SET_UPS.
"""

from crm_web.accounts import services as accounts
from crm_web.accounts.models import Organization, User
from crm_web.db import atomic
from crm_web.leads.services import set_up_organization as set_up_leads
from crm_web.pipeline.stages import set_up_organization as set_up_pipeline

# Each takes the new organization's id, within the transaction that created it.
DOMAIN_SET_UPS = (set_up_pipeline, set_up_leads)


@atomic
def create_organization(**details) -> tuple[Organization, User]:
    """A new organization, its first admin and every domain's set-up, in one transaction;
    `details` are those of accounts.services.create_organization_and_admin."""
    organization, admin = accounts.create_organization_and_admin(**details)
    for set_up in DOMAIN_SET_UPS:
        set_up(organization.id)
    return organization, admin


@atomic
def complete_signup(token: str, password: str) -> tuple[Organization, User]:
    """Sign-up's last step: the link's organization and its admin, with the chosen password."""
    return create_organization(**accounts.unfinished_signup(token), admin_password=password)

"""What automations send through the outbox: an email from the template library, or one of the
SMS templates under templates/sms/automations/. A message carries its step run's id; at send
time the kind checks consent again (email opt-in, SMS opt-in, do-not-contact, an active
customer) and cancels a message the customer no longer agrees to."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import text

from crm_web.campaigns import content, library
from crm_web.campaigns.messages import urls
from crm_web.db import current_organization_id
from crm_web.extensions import db
from crm_web.outbox.kinds import Cancel, MessageKind, Pending, register

EMAIL_KIND = "automation_email"
# name -> what a marketer picks it by; each is templates/sms/automations/<name>.txt.
SMS_TEMPLATES = {
    "birthday": _l("Birthday greeting"),
    "birthday_coupon": _l("Birthday greeting with a coupon code"),
    "welcome": _l("Welcome"),
    "win_back": _l("We miss you"),
    "holiday": _l("Holiday greeting"),
    "loyalty_welcome": _l("Welcome to the loyalty program"),
    "tier_upgraded": _l("Loyalty tier upgraded"),
    "points_expiring": _l("Points expiring soon"),
    "reward_redeemed": _l("Reward redeemed"),
}

_RUNS = """
SELECT r.id, r.automation_id, c.id AS customer_id, c.first_name, c.last_name, c.company_name,
       c.city, c.primary_email, c.primary_phone,
       c.is_active AND c.email_opt_in AND NOT c.do_not_contact AS email_ok,
       c.is_active AND c.sms_opt_in AND NOT c.do_not_contact AS sms_ok,
       a.status AS automation_status,
       m.points_balance, t.name AS tier_name
  FROM automation_step_runs r
  JOIN automation_enrollments e ON e.organization_id = r.organization_id AND e.id = r.enrollment_id
  JOIN automations a ON a.organization_id = r.organization_id AND a.id = r.automation_id
  JOIN customers c ON c.organization_id = e.organization_id AND c.id = e.customer_id
  LEFT JOIN LATERAL (
      SELECT points_balance, tier_id FROM loyalty_members lm
       WHERE lm.organization_id = c.organization_id AND lm.customer_id = c.id AND lm.is_active
       ORDER BY lm.id LIMIT 1) m ON true
  LEFT JOIN loyalty_tiers t ON t.organization_id = c.organization_id AND t.id = m.tier_id
 WHERE r.organization_id = :org AND r.id = ANY(:ids)
"""


def sms_kind(name: str) -> str:
    return f"automation_sms_{name}"


def _runs(messages: list[Pending]) -> dict:
    wanted = sorted({message.source_id for message in messages} - {None})
    return {
        row.id: row
        for row in db.session.execute(
            text(_RUNS), {"org": current_organization_id(), "ids": wanted}
        )
    }


def _customer(row) -> dict:
    return content.customer_fields(
        row.first_name, row.last_name, row.company_name, row.city, row.primary_email
    )


def _load_email(messages: list[Pending]) -> dict:
    organization_id = current_organization_id()
    rows = _runs(messages)
    organization_name = library.organization_name()
    prepared, contexts = {}, {}
    for message in messages:
        row = rows.get(message.source_id)
        if row is None:
            contexts[message.id] = Cancel(_("The automation or its customer was deleted."))
            continue
        if not row.email_ok:
            contexts[message.id] = Cancel(_("The customer no longer agrees to this email."))
            continue
        version_id = message.context["version_id"]
        if version_id not in prepared:
            prepared[version_id] = library.prepare(library.get_version(version_id))
        template = prepared[version_id]
        values = {
            "customer": _customer(row),
            "organization_name": organization_name,
            "loyalty": {"points": row.points_balance, "tier": row.tier_name},
            **urls(organization_id, row.id, version_id, template.links, journey=True),
        }
        contexts[message.id] = {
            "prepared": template,
            "values": values,
            "sender": (organization_name, ""),
            "headers": {
                "List-Unsubscribe": f"<{values['unsubscribe_url']}>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                "X-CRM-Automation": str(row.automation_id),
            },
        }
    return contexts


def _load_sms(messages: list[Pending]) -> dict:
    rows = _runs(messages)
    organization_name = library.organization_name()
    contexts = {}
    for message in messages:
        row = rows.get(message.source_id)
        if row is None:
            contexts[message.id] = Cancel(_("The automation or its customer was deleted."))
        elif not row.sms_ok:
            contexts[message.id] = Cancel(_("The customer no longer agrees to SMS."))
        else:
            contexts[message.id] = {
                "customer": _customer(row),
                "organization_name": organization_name,
                "loyalty": {"points": row.points_balance, "tier": row.tier_name},
            }
    return contexts


def _sample() -> dict:
    return {
        "customer": {"first_name": "Ayşe", "name": "Ayşe Yılmaz"},
        "organization_name": "Demo",
        "loyalty": {"points": 1200, "tier": "Gold"},
    }


def _sample_email() -> dict:
    template = content.prepare(
        0, "Hello {{ customer.first_name }}", "", library.STARTERS[0][4], "Hello", ()
    )
    return {"prepared": template, "values": library.sample_context(), "sender": ("", ""),
            "headers": {}}  # fmt: skip


register(
    MessageKind(
        name=EMAIL_KIND,
        title=_l("Automation email"),
        channel="email",
        template="campaigns/campaign",
        description=_l("An automation step's email, from the organization's template library."),
        load=_load_email,
        sample=_sample_email,
        headers=lambda context: context["headers"],
        render=lambda context: content.render(context["prepared"], context["values"]),
        sender=lambda context: context["sender"],
    )
)

for _name, _title in SMS_TEMPLATES.items():
    register(
        MessageKind(
            name=sms_kind(_name),
            title=_l("Automation SMS: %(name)s", name=_title),
            channel="sms",
            template=f"automations/{_name}",
            description=_l("An automation step's SMS."),
            load=_load_sms,
            sample=_sample,
        )
    )

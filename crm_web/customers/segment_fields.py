"""What segment rules can ask of the customer record itself (crm_web.segments.registry)."""

from flask_babel import lazy_gettext as _l

from crm_web.accounts.services import list_users
from crm_web.customers.fields import BY_NAME
from crm_web.segments.registry import SegmentField, register

GROUP = _l("Customer")


def _choices(name: str):
    return lambda: [(value, label) for value, label in BY_NAME[name].choices if value]


def _owners() -> list[tuple[str, str]]:
    return [(str(user.id), user.name) for user in list_users()]


for field in (
    SegmentField(
        "age",
        _l("Age"),
        GROUP,
        "number",
        "CAST(date_part('year', age(current_date, c.birth_date)) AS integer)",
    ),
    SegmentField("city", _l("City"), GROUP, "text", "c.city", nullable=False),
    SegmentField("country", _l("Country code"), GROUP, "text", "c.country", nullable=False),
    SegmentField("industry", _l("Industry"), GROUP, "text", "c.industry", nullable=False),
    SegmentField(
        "company_size",
        _l("Company size"),
        GROUP,
        "choice",
        "c.company_size",
        _choices("company_size"),
        nullable=False,
    ),
    SegmentField(
        "customer_type",
        _l("Customer type"),
        GROUP,
        "choice",
        "c.customer_type",
        _choices("customer_type"),
        nullable=False,
    ),
    SegmentField(
        "lifecycle_stage",
        _l("Lifecycle stage"),
        GROUP,
        "choice",
        "c.lifecycle_stage",
        _choices("lifecycle_stage"),
        nullable=False,
    ),
    SegmentField("tags", _l("Tags"), GROUP, "tags", "c.tags", nullable=False),
    SegmentField("owner", _l("Owner"), GROUP, "choice", "c.owner_id", _owners, numeric_choice=True),
    SegmentField("created", _l("Created"), GROUP, "date", "c.created_at", timestamp=True),
    SegmentField(
        "customer_since", _l("Customer since"), GROUP, "date", "c.customer_since", nullable=False
    ),
    SegmentField("annual_revenue", _l("Annual revenue"), GROUP, "number", "c.annual_revenue"),
    SegmentField(
        "email_opt_in", _l("Agrees to email"), GROUP, "boolean", "c.email_opt_in", nullable=False
    ),
    SegmentField(
        "sms_opt_in", _l("Agrees to SMS"), GROUP, "boolean", "c.sms_opt_in", nullable=False
    ),
    SegmentField(
        "do_not_contact",
        _l("Do not contact"),
        GROUP,
        "boolean",
        "c.do_not_contact",
        nullable=False,
    ),
):
    register(field)

"""What segment rules can ask of a customer's deals (crm_web.segments.registry)."""

from flask_babel import lazy_gettext as _l

from crm_web.segments.registry import SegmentField, register

GROUP = _l("Deals")

register(
    SegmentField(
        "open_deal_amount",
        _l("Open deal amount"),
        GROUP,
        "number",
        "(SELECT coalesce(sum(o.amount), 0) FROM opportunities o "
        "WHERE o.organization_id = c.organization_id AND o.customer_id = c.id "
        "AND o.status = 'open')",
        nullable=False,
    )
)
register(
    SegmentField(
        "won_deals",
        _l("Won deals"),
        GROUP,
        "number",
        "(SELECT count(*) FROM opportunities o WHERE o.organization_id = c.organization_id "
        "AND o.customer_id = c.id AND o.status = 'won')",
        nullable=False,
    )
)

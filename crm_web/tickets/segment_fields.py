"""What segment rules can ask of a customer's tickets (crm_web.segments.registry)."""

from flask_babel import lazy_gettext as _l

from crm_web.segments.registry import SegmentField, register
from crm_web.tickets.models import ACTIVE_STATUSES

register(
    SegmentField(
        "open_tickets",
        _l("Open tickets"),
        _l("Support"),
        "number",
        "(SELECT count(*) FROM tickets t WHERE t.organization_id = c.organization_id "
        f"AND t.customer_id = c.id AND t.status IN {ACTIVE_STATUSES!r})",
        nullable=False,
    )
)

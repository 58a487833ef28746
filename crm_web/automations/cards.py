"""The automations card on the marketing dashboard: customers enrolled in journeys this month
against last month, the enrollments that finished this month (completed, goal reached) and the
journeys running now."""

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_web.dashboard.figures import Figure, Row, months, one
from crm_web.dashboard.registry import Card


def automations(user) -> Figure:
    period = months()
    row = one(
        """SELECT count(*) FILTER (WHERE enrolled_at >= :this_start) AS enrolled,
                  count(*) FILTER (WHERE enrolled_at >= :last_start AND enrolled_at < :this_start)
                      AS enrolled_before,
                  count(*) FILTER (WHERE state = 'completed' AND finished_at >= :this_start)
                      AS completed,
                  count(*) FILTER (WHERE goal_reached AND finished_at >= :this_start)
                      AS goal_reached,
                  (SELECT count(*) FROM automations
                    WHERE organization_id = :org AND status = 'active') AS journeys
             FROM automation_enrollments
            WHERE organization_id = :org
              AND (enrolled_at >= :last_start OR finished_at >= :this_start)""",
        period,
    )
    return Figure(
        row.enrolled,
        previous=row.enrolled_before,
        caption=_("Customers enrolled in journeys this month"),
        rows=[
            Row(_("Enrolled last month"), row.enrolled_before),
            Row(_("Completed this month"), row.completed),
            Row(_("Goal reached this month"), row.goal_reached),
            Row(_("Active journeys"), row.journeys),
        ],
        drill_url=url_for("automations.index"),
    )


CARDS = (Card("automations", _l("Automations"), ("marketing",), automations, order=60),)

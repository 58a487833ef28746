"""The survey NPS card on the marketing and support dashboards: the Net Promoter Score of the
organization's survey responses completed this month against last month.

Responses are counted by when they were completed (a respondent may start one month and finish
the next), over every survey of the organization, each response's `nps` answer once. No index
leads with `completed_at` (the started-at index cannot bound a response started long before),
so the query reads the organization's responses through its organization_id prefix: about
10 ms for 30,000; an index on (organization_id, completed_at) is the step when that grows.
"""

from flask import url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from crm_web.dashboard.figures import Figure, Row, months, rows
from crm_web.dashboard.registry import Card
from crm_web.surveys.analytics import nps_from_counts


def survey_nps(user) -> Figure:
    period = months()
    found = rows(
        """SELECT nps,
                  count(*) FILTER (WHERE completed_at >= :this_start) AS this_month,
                  count(*) FILTER (WHERE completed_at < :this_start) AS last_month
             FROM survey_responses
            WHERE organization_id = :org AND state = 'completed' AND nps IS NOT NULL
              AND completed_at >= :last_start
            GROUP BY nps""",
        period,
    )
    now = nps_from_counts({row.nps: row.this_month for row in found})
    before = nps_from_counts({row.nps: row.last_month for row in found})
    return Figure(
        now["score"],
        previous=before["score"],
        caption=_(
            "NPS of %(count)s responses completed this month, %(before)s last month",
            count=now["responses"],
            before=before["responses"],
        ),
        rows=[
            Row(_("Promoters"), now["promoters"]),
            Row(_("Passives"), now["passives"]),
            Row(_("Detractors"), now["detractors"]),
        ],
        drill_url=url_for("surveys.index"),
    )


CARDS = (Card("survey_nps", _l("Survey NPS"), ("marketing", "support"), survey_nps, order=50),)

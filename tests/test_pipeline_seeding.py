"""Demo deals: set-based, consistent with what the services would have written."""

from sqlalchemy import text

from crm_web.customers.seeding import seed_customers
from crm_web.db import atomic
from crm_web.extensions import db
from crm_web.pipeline import forecast as forecasting
from crm_web.pipeline.seeding import seed_pipeline


def _one(sql: str, **params):
    return db.session.execute(text(sql), params).one()


def test_seeded_deals_history_totals_and_quotes(sales):
    atomic(seed_customers)(50, seed=3)
    assert atomic(seed_pipeline)(400, seed=3, quote_share=0.5) == 400
    org = sales.organization.id
    count, open_, won, lost = _one(
        "SELECT count(*), count(*) FILTER (WHERE status = 'open'),"
        " count(*) FILTER (WHERE status = 'won'), count(*) FILTER (WHERE status = 'lost')"
        " FROM opportunities WHERE organization_id = :org",
        org=org,
    )
    assert count == 400 and open_ > 200 and won > 0 and lost > 0
    # The kept column totals agree with a fresh aggregate.
    mismatches = _one(
        "SELECT count(*) FROM pipeline_stages s"
        " LEFT JOIN pipeline_stage_totals t ON t.stage_id = s.id"
        " LEFT JOIN (SELECT stage_id, count(*) n, sum(amount) a FROM opportunities"
        "            WHERE organization_id = :org GROUP BY stage_id) o ON o.stage_id = s.id"
        " WHERE s.organization_id = :org"
        " AND (coalesce(t.opportunity_count, 0), coalesce(t.amount, 0))"
        "     IS DISTINCT FROM (coalesce(o.n, 0), coalesce(o.a, 0))",
        org=org,
    )[0]
    assert mismatches == 0
    # So do the kept sums of open deals per month, owner, stage and probability.
    month_mismatches = _one(
        "SELECT count(*) FROM (SELECT date_trunc('month', expected_close_date)::date AS month,"
        " coalesce(owner_id, 0) AS owner_key, stage_id, probability, count(*) AS n, sum(amount) AS a"
        " FROM opportunities WHERE organization_id = :org AND status = 'open' GROUP BY 1, 2, 3, 4) o"
        " FULL JOIN (SELECT * FROM pipeline_month_totals WHERE organization_id = :org"
        "  AND opportunity_count <> 0) m USING (month, owner_key, stage_id, probability)"
        " WHERE (o.n, o.a) IS DISTINCT FROM (m.opportunity_count, m.amount)",
        org=org,
    )[0]
    assert month_mismatches == 0
    # Every deal's history starts from nowhere and ends in its current stage, in time order.
    broken = _one(
        "SELECT count(*) FROM opportunities o WHERE o.organization_id = :org AND NOT EXISTS ("
        " SELECT 1 FROM opportunity_stage_history h WHERE h.opportunity_id = o.id"
        "  AND h.from_stage_id IS NULL) OR o.stage_id <> (SELECT h.to_stage_id"
        "  FROM opportunity_stage_history h WHERE h.opportunity_id = o.id"
        "  ORDER BY h.changed_at DESC, h.id DESC LIMIT 1)",
        org=org,
    )[0]
    assert broken == 0
    unclosed = _one(
        "SELECT count(*) FROM opportunities WHERE organization_id = :org AND status <> 'open'"
        " AND (closed_at IS NULL OR (win_reason = '' AND loss_reason = ''))",
        org=org,
    )[0]
    assert unclosed == 0
    duplicates = _one(
        "SELECT count(*) FROM (SELECT stage_id, position FROM opportunities"
        " WHERE organization_id = :org GROUP BY 1, 2 HAVING count(*) > 1) d",
        org=org,
    )[0]
    assert duplicates == 0
    quotes, bad_totals, current = _one(
        "SELECT count(*), count(*) FILTER (WHERE q.subtotal <> (SELECT sum(line_total)"
        " FROM quote_items i WHERE i.quote_id = q.id)), count(DISTINCT quote_number)"
        " FROM quotes q WHERE organization_id = :org",
        org=org,
    )
    assert quotes > 20 and bad_totals == 0
    assert (
        _one("SELECT count(*) FROM quotes WHERE organization_id = :org AND is_current", org=org)[0]
        == current
    )
    # And the forecast has history to read.
    result = forecasting.forecast()
    assert result.won_count_12m == won and result.open_count == open_
    assert any(rate.reached for rate in result.stage_rates)

"""The forecast against figures worked out by hand (see the table in each test)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.pipeline import forecast as forecasting
from crm_web.pipeline import opportunities
from crm_web.pipeline.models import StageChange
from tests.pipeline_fixtures import deal

TODAY = date(2030, 1, 10)
D = Decimal


def _at(day: int) -> datetime:
    return datetime(2029, 11, 26, 9, tzinfo=UTC) + timedelta(days=day)


def _retime(opportunity, *days: int) -> None:
    """Give a deal's stage history (oldest first) these days after 26 Nov 2029."""
    changes = db.session.scalars(
        select(StageChange)
        .where(StageChange.opportunity_id == opportunity.id)
        .order_by(StageChange.id)
    ).all()
    assert len(changes) == len(days)
    for change, day in zip(changes, days, strict=True):
        change.changed_at = _at(day)
    opportunity.created_at = _at(days[0])


@pytest.fixture
def book(sales):
    """Open: A Qualification 1000 Jan, B Proposal 2000 Feb, C Negotiation 4000 Feb (manager),
    D Prospecting 500 overdue (Dec), E Negotiation 10000 Aug (outside the window).
    Closed: W won 3000 on 5 Jan (manager), L lost 700 on 3 Jan. Targets: Jan 10000, Feb 5000."""
    stages = sales.stages
    a = deal(sales, "Qualification", "1000", expected_close_date=date(2030, 1, 20))
    b = deal(sales, "Proposal", "2000", expected_close_date=date(2030, 2, 5))
    c = deal(
        sales,
        "Negotiation",
        "4000",
        expected_close_date=date(2030, 2, 25),
        owner_id=sales.manager.id,
    )
    d = deal(sales, "Prospecting", "500", expected_close_date=date(2029, 12, 15))
    deal(sales, "Negotiation", "10000", expected_close_date=date(2030, 8, 1))
    w = deal(
        sales,
        "Prospecting",
        "3000",
        expected_close_date=date(2030, 1, 5),
        owner_id=sales.manager.id,
    )
    for stage in ("Qualification", "Proposal"):
        opportunities.move_opportunity(w.id, stage_id=stages[stage].id)
    opportunities.move_opportunity(w.id, stage_id=stages["Closed Won"].id, reason="Signed")
    lost = deal(sales, "Prospecting", "700", expected_close_date=date(2030, 1, 3))
    opportunities.move_opportunity(lost.id, stage_id=stages["Qualification"].id)
    opportunities.move_opportunity(lost.id, stage_id=stages["Closed Lost"].id, reason="Price")
    _retime(w, 0, 10, 30, 40)
    _retime(lost, 0, 4, 10)
    w.closed_at = _at(40)  # 5 Jan 2030
    lost.closed_at = _at(38)  # 3 Jan 2030
    forecasting.set_target(date(2030, 1, 1), "10000")
    forecasting.set_target(date(2030, 2, 1), "5000")
    db.session.commit()
    return {"a": a, "b": b, "c": c, "d": d}


def _row(figures):
    return {
        "open": figures.open_count,
        "overdue": figures.overdue_count,
        "pipeline": figures.pipeline,
        "won": figures.won,
        "worst": figures.worst_case,
        "expected": figures.expected,
        "best": figures.best_case,
        "historical": figures.historical,
        "target": figures.target,
        "coverage": figures.coverage,
    }


def test_months_totals_and_coverage(sales, book):
    result = forecasting.forecast(today=TODAY)
    assert [m.month for m in result.months] == [date(2030, month, 1) for month in range(1, 7)]
    january, february = result.months[0], result.months[1]
    # Jan: A 1000@25% + D 500@10% (overdue) open; W 3000 won.
    #   weighted 250 + 50 = 300; best: both below 50% so weighted; worst: nothing at 75%.
    #   by win rates: Qualification 50% x 1000 + Prospecting 50% x 500 = 750.
    #   coverage: 1500 / (10000 - 3000) = 0.214 -> 0.21
    assert _row(january) == {
        "open": 2,
        "overdue": 1,
        "pipeline": D("1500.00"),
        "won": D("3000.00"),
        "worst": D("3000.00"),
        "expected": D("3300.00"),
        "best": D("3300.00"),
        "historical": D("3750.00"),
        "target": D("10000.00"),
        "coverage": D("0.21"),
    }
    # Feb: B 2000@50% + C 4000@75%: weighted 1000 + 3000; best 2000 + 4000 in full;
    #   worst C only, 3000; by win rates: Proposal 100% x 2000 + Negotiation (no history,
    #   its 75%) x 4000 = 5000; coverage 6000 / 5000 = 1.2.
    assert _row(february) == {
        "open": 2,
        "overdue": 0,
        "pipeline": D("6000.00"),
        "won": D("0.00"),
        "worst": D("3000.00"),
        "expected": D("4000.00"),
        "best": D("6000.00"),
        "historical": D("5000.00"),
        "target": D("5000.00"),
        "coverage": D("1.20"),
    }
    for empty in result.months[2:]:
        assert (empty.open_count, empty.pipeline, empty.target, empty.coverage) == (
            0,
            0,
            None,
            None,
        )
    # Six months: pipeline 7500, won 3000; coverage 7500 / (15000 - 3000) = 0.625 -> 0.63.
    assert _row(result.total) == {
        "open": 4,
        "overdue": 1,
        "pipeline": D("7500.00"),
        "won": D("3000.00"),
        "worst": D("6000.00"),
        "expected": D("7300.00"),
        "best": D("9300.00"),
        "historical": D("8750.00"),
        "target": D("15000.00"),
        "coverage": D("0.63"),
    }
    # Every open deal, whatever its date: 1000 + 2000 + 4000 + 500 + 10000, weighted
    # 250 + 1000 + 3000 + 50 + 7500.
    assert (result.open_count, result.open_pipeline, result.open_weighted) == (
        5,
        D("17500.00"),
        D("11800.00"),
    )


def test_owners(sales, book):
    result = forecasting.forecast(today=TODAY)
    owners = {figures.label: figures for figures in result.owners}
    assert set(owners) == {"Sid Seller", "Meg Manager"}
    seller, manager = owners["Sid Seller"], owners["Meg Manager"]
    # Seller: A, B, D. Weighted 250 + 1000 + 50; best 250 + 2000 + 50.
    assert (seller.pipeline, seller.expected, seller.best_case, seller.worst_case) == (
        D("3500.00"),
        D("1300.00"),
        D("2300.00"),
        D("0.00"),
    )
    # Manager: C open, W won 3000.
    assert (manager.pipeline, manager.won, manager.expected, manager.best_case) == (
        D("4000.00"),
        D("3000.00"),
        D("6000.00"),
        D("7000.00"),
    )
    assert manager.worst_case == D("6000.00")


def test_win_rates_and_cycle_from_the_stage_history(sales, book):
    result = forecasting.forecast(today=TODAY)
    rates = {rate.name: rate for rate in result.stage_rates}
    # W went Prospecting(10d) > Qualification(20d) > Proposal(10d) > Won;
    # L went Prospecting(4d) > Qualification(6d) > Lost.
    assert (rates["Prospecting"].reached, rates["Prospecting"].won) == (2, 1)
    assert rates["Prospecting"].win_rate == D("50.0")
    assert rates["Prospecting"].average_days == D("7.0")
    assert rates["Qualification"].average_days == D("13.0")
    assert (rates["Proposal"].win_rate, rates["Proposal"].average_days) == (D("100.0"), D("10.0"))
    assert (rates["Negotiation"].reached, rates["Negotiation"].win_rate) == (0, None)
    assert rates["Closed Lost"].win_rate == D("0.0")
    assert (result.won_count_12m, result.lost_count_12m, result.win_rate_12m) == (1, 1, D("50.0"))
    assert result.average_cycle_days == D("40.0")


def test_chart_geometry(sales, book):
    chart = forecasting.forecast(today=TODAY).chart
    january = chart["groups"][0]
    worst, expected, best = (bar["height"] for bar in january["bars"])
    assert 0 < worst < expected <= best
    # The scale's top is a round number above the largest figure (the 10000 target).
    assert chart["ticks"][-1]["value"] == D("10000")
    assert january["target_y"] == chart["ticks"][-1]["y"]


def test_targets_are_set_by_managers_only(client, sales, login_as):
    login_as(sales.seller)
    page = client.get("/forecast")
    assert page.status_code == 200
    assert "Save targets" not in page.get_data(as_text=True)
    months = forecasting.this_month("UTC")
    data = {"months-0-month": months.strftime("%Y-%m"), "months-0-amount": "25000"}
    assert client.post("/forecast/targets", data=data).status_code == 403
    login_as(sales.manager)
    assert "Save targets" in client.get("/forecast").get_data(as_text=True)
    bad = client.post("/forecast/targets", data={**data, "months-0-amount": "lots"})
    assert bad.status_code == 422
    assert client.post("/forecast/targets", data=data).status_code == 303
    set_tenant(sales.organization.id, sales.manager.id)
    assert forecasting.targets(months) == {months: D("25000.00")}
    # An empty amount clears it.
    client.post("/forecast/targets", data={**data, "months-0-amount": ""})
    set_tenant(sales.organization.id, sales.manager.id)
    assert forecasting.targets(months) == {}


def test_closing_a_deal_refreshes_the_cached_win_rates(sales, book):
    before = forecasting.forecast()
    assert (before.won_count_12m, before.lost_count_12m) == (1, 1)
    # Read again: now from the cache, same figures.
    assert forecasting.forecast().won_count_12m == 1
    opportunities.move_opportunity(
        book["b"].id, stage_id=sales.stages["Closed Won"].id, reason="Signed today"
    )
    after = forecasting.forecast()
    assert (after.won_count_12m, after.lost_count_12m) == (2, 1)
    rates = {rate.name: rate for rate in after.stage_rates}
    assert (rates["Proposal"].reached, rates["Proposal"].won) == (2, 2)

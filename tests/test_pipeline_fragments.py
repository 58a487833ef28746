"""The board's columns and the forecast's figures kept rendered, under the stage versions the
database bumps on every change to what they show (0017_pipeline_versions)."""

import re
from datetime import date

from sqlalchemy import text

from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.pipeline import forecast as forecasting
from crm_web.pipeline import opportunities
from tests.pipeline_fixtures import deal

HTMX = {"HX-Request": "true"}


def versions(sales) -> dict[str, int]:
    rows = db.session.execute(
        text(
            "SELECT s.name, t.version FROM pipeline_stages s"
            " JOIN pipeline_stage_totals t ON t.stage_id = s.id"
            " WHERE s.organization_id = :org"
        ),
        {"org": sales.organization.id},
    )
    return dict(rows.all())


def bumped(before: dict, after: dict) -> set[str]:
    return {name for name, version in after.items() if version > before[name]}


def test_every_change_a_card_or_the_forecast_shows_bumps_its_stages(sales):
    before = versions(sales)
    opportunity = deal(sales, "Proposal", name="Bumped")
    assert bumped(before, after := versions(sales)) == {"Proposal"}

    other = deal(sales, "Proposal")
    before = versions(sales)
    opportunities.move_opportunity(
        opportunity.id, stage_id=sales.stages["Proposal"].id, after_id=other.id
    )
    assert bumped(before, after := versions(sales)) == {"Proposal"}, "a move within the column"

    opportunities.move_opportunity(opportunity.id, stage_id=sales.stages["Negotiation"].id)
    assert bumped(after, after2 := versions(sales)) == {"Proposal", "Negotiation"}

    # The card shows its customer's name: only a change of name counts.
    customer = sales.customers[0].id
    db.session.execute(text("UPDATE customers SET city = 'Lyon' WHERE id = :c"), {"c": customer})
    assert versions(sales) == after2
    db.session.execute(
        text("UPDATE customers SET company_name = 'Renamed Ltd' WHERE id = :c"), {"c": customer}
    )
    assert bumped(after2, after3 := versions(sales)) == {"Proposal", "Negotiation"}

    # Owners' names and targets count for every stage, with deals or without.
    db.session.execute(
        text("UPDATE users SET name = 'Sid Renamed' WHERE id = :u"), {"u": sales.seller.id}
    )
    assert bumped(after3, after4 := versions(sales)) == set(sales.stages)
    forecasting.set_target(date(2030, 1, 1), "5000")
    assert bumped(after4, after5 := versions(sales)) == set(sales.stages)

    db.session.execute(text("DELETE FROM opportunities WHERE id = :o"), {"o": opportunity.id})
    assert bumped(after5, versions(sales)) == {"Negotiation"}


def test_board_columns_come_from_redis_until_their_stage_changes(
    client, sales, login_as, statements, make_org, make_user
):
    card = deal(sales, "Qualification", name="Kept Card")
    deal(sales, "Proposal", name="Other Card")
    db.session.commit()
    login_as(sales.seller)
    first = client.get("/pipeline", headers=HTMX).get_data(as_text=True)
    assert "Kept Card" in first and "Company 0" in first

    statements.clear()
    assert client.get("/pipeline", headers=HTMX).get_data(as_text=True) == first
    assert not any("first_cards" in statement for statement in statements), "cards read again"

    # Behind the services' back: the customer renamed by SQL shows at once.
    set_tenant(sales.organization.id, sales.seller.id)
    db.session.execute(
        text("UPDATE customers SET company_name = 'Renamed Ltd' WHERE id = :c"),
        {"c": sales.customers[0].id},
    )
    db.session.commit()
    assert "Renamed Ltd" in client.get("/pipeline", headers=HTMX).get_data(as_text=True)

    # A drag: the card leaves one kept column and enters another.
    response = client.post(
        f"/pipeline/opportunities/{card.id}/move",
        data={"stage_id": sales.stages["Proposal"].id},
        headers=HTMX,
    )
    assert response.status_code == 200
    board = client.get("/pipeline", headers=HTMX).get_data(as_text=True)
    proposal = board.index(f'data-stage-id="{sales.stages["Proposal"].id}"')
    negotiation = board.index(f'data-stage-id="{sales.stages["Negotiation"].id}"')
    assert proposal < board.index(f'id="opportunity-{card.id}"') < negotiation

    # Filtered boards are kept apart from the whole board.
    filtered = client.get(f"/pipeline?owner_id={sales.manager.id}", headers=HTMX).get_data(
        as_text=True
    )
    assert "Kept Card" not in filtered

    # Another organization at the same stage versions never sees these columns.
    organization, admin = make_org(name="Elsewhere")
    client.post("/logout")
    login_as(admin)
    assert "Kept Card" not in client.get("/pipeline", headers=HTMX).get_data(as_text=True)


def test_forecast_figures_come_from_redis_until_a_deal_or_target_changes(
    client, sales, login_as, statements
):
    opportunity = deal(sales, "Negotiation", amount="1000", expected_close_date=date.today())
    db.session.commit()
    login_as(sales.seller)
    first = client.get("/forecast", headers=HTMX).get_data(as_text=True)
    assert "1,000.00" in first and "Save targets" not in first

    statements.clear()
    assert client.get("/forecast", headers=HTMX).get_data(as_text=True) == first
    assert not any("open_sums" in statement for statement in statements), "figures summed again"

    # A manager's target shows on the seller's page, a won deal in the figures.
    set_tenant(sales.organization.id, sales.manager.id)
    month = forecasting.this_month("UTC")
    forecasting.set_target(month, "4321")
    opportunities.move_opportunity(
        opportunity.id, stage_id=sales.stages["Closed Won"].id, reason="Signed"
    )
    db.session.commit()
    page = client.get("/forecast", headers=HTMX).get_data(as_text=True)
    assert "4,321.00" in page
    won = re.search(r'<tr>\s*<td>[^<]*</td>\s*<td class="num">0</td>', page)
    assert won is not None, "the month's deal is no longer open"

    # The manager's page has the form, with the target in it, and the same figures.
    client.post("/logout")
    login_as(sales.manager)
    manager_page = client.get("/forecast", headers=HTMX).get_data(as_text=True)
    # The target is shown again in the reader's format (crm_web.forms.AmountField).
    assert "Save targets" in manager_page and 'value="4,321.00"' in manager_page

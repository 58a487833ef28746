"""The pipeline pages through the test client: roles, the board and its fragments, moves."""

import re
from datetime import date

import pytest

from crm_web.db import set_tenant
from crm_web.extensions import db
from crm_web.pipeline import board as pipeline_board
from crm_web.pipeline import stages as pipeline_stages
from tests.pipeline_fixtures import deal

PAGES = [
    "/pipeline",
    "/pipeline/list",
    "/forecast",
    "/pipeline/opportunities/new",
]


@pytest.mark.parametrize("role", ["support", "marketing"])
def test_other_roles_are_refused(client, sales, make_user, login_as, role):
    user = make_user(sales.organization, role=role)
    login_as(user)
    for url in [*PAGES, f"/pipeline/columns/{sales.stages['Proposal'].id}", "/pipeline/settings"]:
        assert client.get(url).status_code == 403, url
    set_tenant(sales.organization.id, sales.seller.id)
    opportunity = deal(sales)
    response = client.post(
        f"/pipeline/opportunities/{opportunity.id}/move",
        data={"stage_id": sales.stages["Proposal"].id},
    )
    assert response.status_code == 403


def test_sales_pages_render(client, sales, login_as):
    opportunity = deal(sales, "Qualification", amount="1234.50", name="Big Kahuna")
    login_as(sales.seller)
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 200, url
    page = client.get("/pipeline").get_data(as_text=True)
    assert "Big Kahuna" in page
    assert f'id="column-total-{sales.stages["Qualification"].id}"' in page
    assert "1,234.50" in page
    assert "vendor/sortable-1.15.6.min.js" in page
    assert client.get(f"/pipeline/opportunities/{opportunity.id}").status_code == 200
    # Settings are the admin's.
    assert client.get("/pipeline/settings").status_code == 403


def test_board_fragment_and_column_keyset(client, sales, login_as):
    ids = [deal(sales, "Proposal", name=f"Deal {i:02d}").id for i in range(25)]
    login_as(sales.seller)
    fragment = client.get("/pipeline", headers={"HX-Request": "true"}).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="board"')
    shown = [int(i) for i in re.findall(r'data-id="(\d+)"', fragment)]
    # Newest on top; a dozen per column, the rest behind a "load more" row.
    assert shown == list(reversed(ids))[: pipeline_board.BOARD_FIRST_CARDS]
    more = re.search(r'hx-get="(/pipeline/columns/\d+\?[^"]+)"', fragment).group(1)
    rest = client.get(more.replace("&amp;", "&"), headers={"HX-Request": "true"})
    assert rest.status_code == 200
    assert [int(i) for i in re.findall(r'data-id="(\d+)"', rest.get_data(as_text=True))] == list(
        reversed(ids)
    )[
        pipeline_board.BOARD_FIRST_CARDS : pipeline_board.BOARD_FIRST_CARDS
        + pipeline_board.BOARD_COLUMN_SIZE
    ]
    assert "load-more" not in rest.get_data(as_text=True)
    bad = client.get(
        f"/pipeline/columns/{sales.stages['Proposal'].id}?cursor=garbage",
        headers={"HX-Request": "true"},
    )
    assert bad.status_code == 422


def test_filters_narrow_board_totals_and_list(client, sales, login_as):
    deal(sales, "Proposal", amount="100", expected_close_date=date(2030, 3, 3))
    deal(sales, "Proposal", amount="900", expected_close_date=date(2030, 4, 3), name="April")
    deal(sales, "Proposal", amount="5000", owner_id=sales.manager.id, name="Managers")
    login_as(sales.seller)
    proposal = sales.stages["Proposal"].id
    page = client.get("/pipeline?close_month=2030-04").get_data(as_text=True)
    assert "April" in page and "Managers" not in page
    total = re.search(rf'id="column-total-{proposal}".*?</p>', page, re.S).group(0)
    assert "1 deal<" in total and "900.00" in total
    page = client.get(f"/pipeline?owner_id={sales.manager.id}").get_data(as_text=True)
    assert "Managers" in page and "April" not in page
    listing = client.get("/pipeline/list?amount_min=500&amount_max=1000").get_data(as_text=True)
    assert "April" in listing and "Managers" not in listing
    assert client.get("/pipeline?close_month=March").status_code == 422
    # A hand-edited query string: the page names each bad filter and what it needs.
    bad = client.get("/pipeline?close_month=March&amount_min=lots")
    assert bad.status_code == 422
    page = bad.get_data(as_text=True)
    assert "Close month: Use a month like 2026-03." in page
    assert "Amount min: Enter an amount." in page


def test_move_answers_with_both_totals_out_of_band(client, sales, login_as):
    moving = deal(sales, "Qualification", amount="700")
    deal(sales, "Qualification", amount="300")
    login_as(sales.seller)
    qualification, proposal = sales.stages["Qualification"].id, sales.stages["Proposal"].id
    response = client.post(
        f"/pipeline/opportunities/{moving.id}/move",
        data={"stage_id": proposal, "after_id": "", "before_id": ""},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    old = re.search(
        rf'<p class="column-total" id="column-total-{qualification}" hx-swap-oob="true">.*?</p>',
        body,
        re.S,
    )
    new = re.search(
        rf'<p class="column-total" id="column-total-{proposal}" hx-swap-oob="true">.*?</p>',
        body,
        re.S,
    )
    assert old and "1 deal<" in old.group(0) and "300.00" in old.group(0)
    assert new and "1 deal<" in new.group(0) and "700.00" in new.group(0)
    # Into a lost column without a reason: refused, with the field named.
    lost = client.post(
        f"/pipeline/opportunities/{moving.id}/move",
        data={"stage_id": sales.stages["Closed Lost"].id},
        headers={"HX-Request": "true"},
    )
    assert lost.status_code == 422
    assert "Say why the deal was lost" in lost.get_data(as_text=True)


def test_stage_form_on_the_deal_page(client, sales, login_as):
    opportunity = deal(sales, "Negotiation")
    login_as(sales.seller)
    url = f"/pipeline/opportunities/{opportunity.id}/stage"
    won = sales.stages["Closed Won"].id
    response = client.post(url, data={"stage_id": won, "reason": ""})
    assert response.status_code == 422
    assert "Give a reason." in response.get_data(as_text=True)
    response = client.post(url, data={"stage_id": won, "reason": "Best price"})
    assert response.status_code == 303
    page = client.get(f"/pipeline/opportunities/{opportunity.id}").get_data(as_text=True)
    assert "Best price" in page
    assert re.search(r"Negotiation</td><td>Closed Won", page)


def test_create_from_the_form(client, sales, login_as):
    login_as(sales.seller)
    customer = sales.customers[1]
    data = {
        "name": "Fleet renewal",
        "customer": customer.customer_code,
        "amount": "12000",
        "expected_close_date": "2030-06-30",
        "stage_id": sales.stages["Qualification"].id,
        "owner_id": sales.seller.id,
    }
    response = client.post("/pipeline/opportunities/new", data={**data, "customer": "CUS-NOPE"})
    assert response.status_code == 422
    assert "No customer with this code." in response.get_data(as_text=True)
    response = client.post("/pipeline/opportunities/new", data=data)
    assert response.status_code == 303
    assert "Fleet renewal" in client.get(response.headers["Location"]).get_data(as_text=True)


def test_admin_edits_stages(client, sales, login_as):
    login_as(sales.admin)
    assert client.get("/pipeline/settings").status_code == 200
    response = client.post(
        "/pipeline/settings/stages", data={"name": "Demo", "probability": "40", "position": "3"}
    )
    assert response.status_code == 303
    set_tenant(sales.organization.id, sales.admin.id)
    names = [stage.name for stage in pipeline_stages.list_stages()]
    assert names[:4] == ["Prospecting", "Qualification", "Demo", "Proposal"]
    qualification = sales.stages["Qualification"]
    opportunity = deal(sales, "Qualification")
    response = client.post(
        f"/pipeline/settings/stages/{qualification.id}",
        data={"name": "Qualified", "probability": "30", "position": "2"},
    )
    assert response.status_code == 303
    set_tenant(sales.organization.id, sales.admin.id)
    db.session.refresh(opportunity)
    assert opportunity.probability == 30
    refused = client.post(f"/pipeline/settings/stages/{qualification.id}/delete")
    assert refused.status_code == 409
    set_tenant(sales.organization.id, sales.admin.id)
    demo = next(s for s in pipeline_stages.list_stages() if s.name == "Demo")
    assert client.post(f"/pipeline/settings/stages/{demo.id}/delete").status_code == 303


def test_editing_a_deal_moves_its_sums(client, sales, login_as):
    from crm_web.pipeline import forecast as forecasting

    month = forecasting.this_month("UTC")
    later = forecasting.add_months(month, 2)
    opportunity = deal(sales, "Proposal", amount="1000", expected_close_date=month)
    login_as(sales.seller)
    url = f"/pipeline/opportunities/{opportunity.id}/edit"
    assert client.get(url).status_code == 200
    data = {
        "name": "Renamed",
        "amount": "2500",
        "expected_close_date": later.isoformat(),
        "owner_id": sales.manager.id,
        "probability": "60",
    }
    assert client.post(url, data={**data, "amount": "-1"}).status_code == 422
    assert client.post(url, data=data).status_code == 303
    set_tenant(sales.organization.id, sales.seller.id)
    proposal = sales.stages["Proposal"].id
    count, amount, weighted = pipeline_board.column_totals(pipeline_board.Filters())[proposal]
    assert (count, amount, weighted) == (1, 2500, 1500)
    result = forecasting.forecast()
    by_month = {figures.month: figures for figures in result.months}
    assert (by_month[month].pipeline, by_month[later].pipeline) == (0, 2500)
    assert by_month[later].expected == 1500
    assert [(o.label, o.pipeline) for o in result.owners] == [("Meg Manager", 2500)]

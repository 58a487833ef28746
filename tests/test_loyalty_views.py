"""Loyalty pages, the customer page's loyalty card and the loyalty API."""

import pytest

from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.loyalty import members, programs, rewards
from tests import factories
from tests.loyalty_fixtures import make_shop

HTMX = {"HX-Request": "true"}


@pytest.fixture
def shop(make_org):
    made = make_shop(make_org, first_order_bonus="10")
    db.session.commit()
    return made


def test_a_manager_sets_up_a_program_from_the_page(client, make_org, login_as):
    organization, admin = make_org("Fresh")
    login_as(factories.user(organization, role="manager"))
    page = client.get("/loyalty").get_data(as_text=True)
    assert "Set up the program" in page
    bad = client.post(
        "/loyalty/programs",
        data={"name": "Stars", "code": "", "points_per_unit": "-1", "tier_basis": "points"},
        headers=HTMX,
    )
    assert bad.status_code == 422
    html = bad.get_data(as_text=True)
    assert "This field is required." in html and "Enter a number from 0" in html
    good = client.post(
        "/loyalty/programs",
        data={
            "name": "Stars",
            "code": "stars",
            "points_per_unit": "2",
            "point_expiry_days": "180",
            "birthday_multiplier": "2",
            "tier_basis": "spend",
            "is_active": "y",
        },
    )
    assert good.status_code == 303
    set_tenant(organization.id)
    program = programs.active_program()
    assert (program.code, program.point_expiry_days, program.tier_basis) == ("STARS", 180, "spend")
    clear_tenant()
    tier = client.post(
        f"/loyalty/programs/{program.id}/tiers",
        data={"name": "Gold", "threshold": "abc", "points_multiplier": "2"},
        headers=HTMX,
    )
    assert tier.status_code == 422 and "Enter a number" in tier.get_data(as_text=True)


def test_a_seller_enrols_redeems_and_is_refused_beyond_the_points(
    client, shop, make_user, login_as
):
    set_tenant(shop.organization.id, shop.admin.id)
    reward = rewards.create_reward({"name": "Tote bag", "kind": "service", "points_cost": "500"})
    db.session.commit()
    seller = make_user(shop.organization, role="sales")
    login_as(seller)
    customer_page = client.get(f"/customers/{shop.customer.id}").get_data(as_text=True)
    assert "Enrol in Stars" in customer_page
    enrolled = client.post(f"/customers/{shop.customer.id}/loyalty/enrol", headers=HTMX)
    assert enrolled.status_code == 200
    assert enrolled.headers["HX-Trigger"] == "customer-changed"
    assert "LOY-000001" in enrolled.get_data(as_text=True)
    again = client.post(f"/customers/{shop.customer.id}/loyalty/enrol", headers=HTMX)
    assert again.status_code == 422 and "member already" in again.get_data(as_text=True)

    refused = client.post(
        f"/customers/{shop.customer.id}/loyalty/redeem", data={"reward_id": reward.id}, headers=HTMX
    )
    assert refused.status_code == 422
    assert "Not enough points: 0 available, 500 asked." in refused.get_data(as_text=True)
    negative = client.post(
        f"/customers/{shop.customer.id}/loyalty/spend", data={"points": "-5"}, headers=HTMX
    )
    assert negative.status_code == 422
    assert "Enter a whole number from 1" in negative.get_data(as_text=True)
    assert (
        client.post(
            f"/customers/{shop.customer.id}/loyalty/adjust", data={"points": "5", "note": "x"}
        ).status_code
        == 403
    )


def test_a_manager_adjusts_points_and_the_member_page_shows_the_ledger(
    client, shop, make_user, login_as
):
    set_tenant(shop.organization.id, shop.admin.id)
    member = members.enrol(shop.customer.id)
    db.session.commit()
    login_as(make_user(shop.organization, role="manager"))
    no_reason = client.post(
        f"/customers/{shop.customer.id}/loyalty/adjust", data={"points": "50"}, headers=HTMX
    )
    assert no_reason.status_code == 422 and "Say why" in no_reason.get_data(as_text=True)
    given = client.post(
        f"/customers/{shop.customer.id}/loyalty/adjust",
        data={"points": "50", "note": "Sorry for the delay"},
        headers=HTMX,
    )
    assert given.status_code == 200
    assert 'id="loyalty-points">50<' in given.get_data(as_text=True)
    ledger_page = client.get(f"/loyalty/members/{member.id}").get_data(as_text=True)
    assert "Sorry for the delay" in ledger_page and "+50" in ledger_page
    listing = client.get("/loyalty?q=LOY-000001").get_data(as_text=True)
    assert shop.customer.customer_code in listing or "Zeynep" in listing


def test_the_loyalty_api(client, shop, make_org):
    headers = factories.bearer(shop.admin)
    listed = client.get("/api/v1/crm/loyalty/programs/", headers=headers).json
    assert [p["code"] for p in listed["items"]] == ["STARS"]
    assert [t["name"] for t in listed["items"][0]["tiers"]] == ["Bronze", "Silver", "Gold"]
    second = client.post(
        "/api/v1/crm/loyalty/programs/",
        json={"name": "Two", "code": "TWO", "tiers": [{"name": "X", "threshold": "-1"}]},
        headers=headers,
    )
    assert second.status_code == 422
    assert second.json["fields"] == {
        "is_active": "Another program is active; end it first (one program earns at a time)."
    }
    inactive = client.post(
        "/api/v1/crm/loyalty/programs/",
        json={
            "name": "Two",
            "code": "TWO",
            "is_active": False,
            "tiers": [{"name": "X", "threshold": "-1"}],
        },
        headers=headers,
    )
    assert inactive.status_code == 422
    assert list(inactive.json["fields"]) == ["tiers[0].threshold"]

    url = f"/api/v1/crm/customers/{shop.customer.id}/loyalty/"
    assert client.get(url, headers=headers).status_code == 404
    joined = client.post(url, headers=headers)
    assert joined.status_code == 201 and joined.json["tier"] == "Bronze"
    set_tenant(shop.organization.id, shop.admin.id)
    members.adjust_points(shop.customer.id, 300, "Gift")
    coupon_reward = rewards.create_reward(
        {
            "name": "20 off",
            "kind": "coupon",
            "points_cost": "200",
            "coupon_type": "amount",
            "coupon_value": "20",
            "coupon_valid_days": "30",
        }
    )
    db.session.commit()
    clear_tenant()
    catalog = client.get("/api/v1/crm/rewards/", headers=headers).json
    assert [r["name"] for r in catalog["items"]] == ["20 off"]
    redeem = f"{url}redeem/"
    assert client.post(redeem, json={}, headers=headers).status_code == 422
    too_much = client.post(redeem, json={"points": 5000}, headers=headers)
    assert too_much.status_code == 422
    assert too_much.json["fields"] == {"points": "Not enough points: 300 available, 5000 asked."}
    redeemed = client.post(redeem, json={"reward_id": coupon_reward.id}, headers=headers)
    assert redeemed.status_code == 201
    assert len(redeemed.json["coupon"]["code"]) == 10 and redeemed.json["balance"] == 100
    read = client.get(url, headers=headers).json
    assert [(e["kind"], e["points"]) for e in read["ledger"]["items"]] == [
        ("redeem", -200),
        ("adjust", 300),
    ]

    other, other_admin = make_org("Elsewhere")
    other_headers = factories.bearer(other_admin)
    assert client.get(url, headers=other_headers).status_code == 404
    assert client.post(redeem, json={"points": 1}, headers=other_headers).status_code == 404

"""The global search (/search): customers, leads, deals and tickets by name, code, email or phone,
each kind only for the roles that may see it, and never another organization's."""

import re

import pytest

from crm_web.db import clear_tenant, set_tenant
from crm_web.permissions import ROLES
from tests import factories

HTMX = {"HX-Request": "true"}


def _records(organization, users, email_domain: str) -> dict:
    """One record of each kind, with the same names in every organization."""
    set_tenant(organization.id, users["admin"].id)
    customer = factories.customer(
        customer_type="company",
        company_name="Şahin Lojistik",
        first_name="",
        last_name="",
        primary_email=f"info@{email_domain}",
        primary_phone="+90 532 111 22 33",
    )
    lead = factories.lead(
        first_name="Derya",
        last_name="Yıldız",
        company="Kuzey Tekstil",
        email=f"derya@{email_domain}",
        phone="+90 533 444 55 66",
    )
    deal = factories.deal(customer.id, "5000", name="Şahin fleet renewal")
    clear_tenant()
    ticket = factories.ticket(
        organization, user=users["support"], customer_id=customer.id, subject="Invoice missing"
    )
    clear_tenant()
    return {"customer": customer, "lead": lead, "deal": deal, "ticket": ticket}


@pytest.fixture
def two_companies(make_org, make_user):
    """Two organizations with the same names in them, each with a user of every role."""
    companies = []
    for name in ("Searching", "Elsewhere"):
        organization, admin = make_org(name)
        users = {"admin": admin}
        for role in ROLES[1:]:
            users[role] = make_user(organization, role=role)
        records = _records(organization, users, f"{name.lower()}.example")
        companies.append((organization, users, records))
    return companies


def _hits(html: str) -> dict[str, list[str]]:
    """The results' groups: heading -> the hrefs of its hits."""
    groups = {}
    for block in html.split('class="search-group"')[1:]:
        heading = re.search(r'class="search-heading"[^>]*>([^<]+)<', block).group(1)
        groups[heading] = re.findall(r'class="search-hit"[^>]*href="([^"]+)"', block)
    return groups


def _search(client, term: str, htmx: bool = True) -> str:
    response = client.get("/search", query_string={"q": term}, headers=HTMX if htmx else {})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_each_kind_is_found_by_name_code_email_and_phone(client, two_companies, login_as):
    _organization, users, mine = two_companies[0]
    login_as(users["admin"])
    customer = f"/customers/{mine['customer'].id}"
    lead = f"/leads/{mine['lead'].id}"
    deal = f"/pipeline/opportunities/{mine['deal'].id}"
    ticket = f"/tickets/{mine['ticket'].id}"

    # Folded as one types it: no Turkish letters, any case.
    assert _hits(_search(client, "sahin")) == {"Customers": [customer], "Deals": [deal]}
    assert _hits(_search(client, mine["customer"].customer_code)) == {"Customers": [customer]}
    assert _hits(_search(client, "info@searching.example")) == {"Customers": [customer]}
    # A phone as people write it at home finds the stored +90 number.
    assert _hits(_search(client, "0532 111 22 33")) == {"Customers": [customer]}

    assert _hits(_search(client, "Kuzey")) == {"Leads": [lead]}
    assert _hits(_search(client, mine["lead"].lead_number)) == {"Leads": [lead]}
    assert _hits(_search(client, "derya@searching.example")) == {"Leads": [lead]}
    assert _hits(_search(client, "+90 533 444 55 66")) == {"Leads": [lead]}

    assert _hits(_search(client, "fleet ren")) == {"Deals": [deal]}
    assert _hits(_search(client, mine["deal"].opportunity_number.lower())) == {"Deals": [deal]}

    assert _hits(_search(client, "invoice")) == {"Tickets": [ticket]}
    assert _hits(_search(client, f"T-{mine['ticket'].number}"))["Tickets"] == [ticket]


def test_results_as_one_types_and_the_page(client, two_companies, login_as):
    _organization, users, mine = two_companies[0]
    login_as(users["admin"])
    fragment = _search(client, "sahin")
    assert fragment.strip().startswith('<div id="search-results"') and "<html" not in fragment
    assert 'role="listbox"' in fragment and 'role="option"' in fragment
    # Each kind with a list page links to all it finds there.
    assert 'href="/customers?q=sahin&amp;active=all"' in fragment
    assert "Şahin Lojistik" in fragment and mine["customer"].customer_code in fragment

    page = _search(client, "sahin", htmx=False)
    assert "<h1>Search</h1>" in page and 'id="global-search" name="q" value="sahin"' in page
    assert _hits(page) == _hits(fragment)

    assert "Nothing found for “nothing like it”." in _search(client, "nothing like it")
    # A single letter is no search: nothing asked, nothing shown.
    single = _search(client, "s")
    assert "search-group" not in single and "Nothing found" not in single
    assert re.search(r'<div id="search-results"[^>]*hidden>', single)


def test_no_other_organization_is_ever_found(client, two_companies, login_as):
    _organization, users, mine = two_companies[0]
    _other, _other_users, theirs = two_companies[1]
    login_as(users["admin"])
    found = set()
    for term in ("sahin", "derya", "kuzey", "invoice", "fleet", "0532 111 22 33", "elsewhere"):
        for hrefs in _hits(_search(client, term)).values():
            found.update(hrefs)
    # Ids repeat across kinds (customer 6, lead 6): a hit is its kind's path and its id.
    kinds = {
        "customer": "/customers/",
        "lead": "/leads/",
        "deal": "/pipeline/opportunities/",
        "ticket": "/tickets/",
    }

    def hrefs_of(records):
        return {
            href
            for href in found
            for kind, path in kinds.items()
            if href == f"{path}{records[kind].id}"
        }

    assert len(hrefs_of(mine)) == 4 == len(found)
    assert not hrefs_of(theirs)
    # Not even by the other organization's own email, code or number.
    assert _hits(_search(client, "info@elsewhere.example")) == {}
    # Codes and numbers count per organization: the same code is this one's own customer.
    assert theirs["customer"].customer_code == mine["customer"].customer_code
    assert _hits(_search(client, theirs["customer"].customer_code)) == {
        "Customers": [f"/customers/{mine['customer'].id}"]
    }


@pytest.mark.parametrize(
    ("role", "kinds"),
    [
        ("admin", {"Customers", "Leads", "Deals", "Tickets"}),
        ("manager", {"Customers", "Leads", "Deals", "Tickets"}),
        ("sales", {"Customers", "Leads", "Deals"}),
        ("support", {"Customers", "Tickets"}),
        ("marketing", {"Customers", "Leads"}),
    ],
)
def test_each_role_finds_only_what_it_may_open(role, kinds, client, two_companies, login_as):
    _organization, users, _mine = two_companies[0]
    login_as(users[role])
    found = set()
    for term in ("sahin", "derya", "invoice"):
        found |= set(_hits(_search(client, term)))
    assert found == kinds
    # And every hit opens for that role.
    for term in ("sahin", "derya", "invoice"):
        for hrefs in _hits(_search(client, term)).values():
            for href in hrefs:
                assert client.get(href).status_code == 200, (role, href)

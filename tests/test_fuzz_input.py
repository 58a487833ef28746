"""Hostile input never gets a 5xx: every /api/v1 endpoint (found in the app's url_map, so a new
one is covered without touching this file) and the main list pages, fuzzed with Hypothesis.

The query parameter names come from the code itself (every `args.get("...")` in crm_web) and
the JSON field names from the endpoints' own modules and the models' columns, so the fuzzer
speaks the app's vocabulary: it hits the validation paths rather than being ignored.
"""

import inspect
import json
import re
from urllib.parse import urlencode
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crm_web
from crm_web.activities.services import create_activity
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.tickets.services import create_ticket
from tests.activity_fixtures import api_token, make_team

EXAMPLES = settings(
    max_examples=int(__import__("os").environ.get("FUZZ_N", "25")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
# The list pages a user filters by hand (query strings are easy to edit).
LIST_PAGES = (
    "/customers",
    "/customers/export.csv",
    "/leads",
    "/pipeline",
    "/activities",
    "/tickets",
    "/sla/escalations",
)

NASTY_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\x00",
        "a\x00b",
        "\ud800",
        "x\udfffy",
        "' OR 1=1 --",
        "1; DROP TABLE customers",
        "%",
        "_",
        "\\",
        "=HYPERLINK(\"http://evil.example\")",
        "-1",
        "0",
        "1",
        "1.5",
        "1e400",
        "NaN",
        "2026-02-30",
        "2026-13",
        "9" * 30,
        "-" + "9" * 30,
        str(2**63),
        str(-(2**63) - 1),
        "²",
        "İı",
        "null",
        "true",
        "a" * 5000,
    ]
)
TEXT = st.one_of(NASTY_TEXT, st.text(max_size=20))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.sampled_from([0, -1, 2**63, -(2**63) - 1, 2**64, 10**40]),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)
    ),
    max_leaves=6,
)


def deep(depth: int) -> str:
    """A JSON text nested `depth` arrays deep (the parser's recursion)."""
    return "[" * depth + "]" * depth


def _vocabulary(sources: list[str], pattern: str) -> list[str]:
    return sorted({name for source in sources for name in re.findall(pattern, source)})


def query_names() -> list[str]:
    """Every query parameter name the code reads."""
    sources = [path.read_text() for path in Path(crm_web.__file__).parent.rglob("*.py")]
    return _vocabulary(sources, r"args\.get(?:list)?\(\s*\"(\w+)\"")


def body_names(app) -> list[str]:
    """Every one-word string in the API's modules, and every model column: a superset of the
    JSON field names."""
    modules = {
        inspect.getmodule(app.view_functions[rule.endpoint])
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
    }
    names = set(_vocabulary([inspect.getsource(m) for m in modules], r"\"([a-z_]{2,40})\""))
    for mapper in db.Model.registry.mappers:
        names.update(column.key for column in mapper.columns)
    return sorted(names)


@pytest.fixture
def world(make_org, make_user):
    """A team with a customer, lead, deal, ticket and activity, and the admin's API token."""
    team = make_team(make_org, make_user)
    set_tenant(team.organization.id, team.admin.id)
    ticket = create_ticket(subject="Printer on fire", customer_id=team.customers[0].id)
    activity = create_activity(
        activity_type="call",
        subject="Call back",
        customer_id=team.customers[0].id,
        due_at=datetime.now(UTC) + timedelta(days=1),
    )
    db.session.commit()
    clear_tenant()
    ids = {
        "customer_id": team.customers[0].id,
        "lead_id": team.lead.id,
        "opportunity_id": team.opportunity.id,
        "ticket_id": ticket.id,
        "activity_id": activity.id,
    }
    return team, api_token(team, team.admin), ids


def api_routes(app, ids: dict[str, int]) -> list[tuple[str, str]]:
    """(method, path) of every API endpoint, its path parameters filled with real rows' ids."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", str(ids.get(name, 1)))
        assert "<" not in path, f"give the fuzzer an id for {rule.rule}"
        routes.extend((method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"}))
    return sorted(routes)


def query(params: dict[str, str]) -> str:
    """A query string as raw bytes would carry it: a lone surrogate as its invalid UTF-8 bytes."""
    return urlencode({name: value.encode("utf-8", "surrogatepass") for name, value in params.items()})


def _assert_no_5xx(response, method: str, path: str, sent) -> None:
    assert response.status_code < 500, (
        f"{method} {path} with {str(sent)[:200]!r} gave {response.status_code}: "
        f"{response.get_data(as_text=True)[:300]}"
    )


def run_each(checks: dict[str, object]) -> None:
    """Run every endpoint's fuzz check and report all the endpoints that failed, not the first."""
    failures = []
    for name, check in checks.items():
        try:
            check()
        except AssertionError as exc:
            failures.append(f"{name}: {str(exc).splitlines()[0]}")
    assert not failures, "\n".join(failures)


def fuzz_query(client, path: str, names: list[str], headers: dict | None = None):
    """A Hypothesis check of GET `path` with any of `names` as query parameters."""

    params_strategy = st.one_of(
        st.dictionaries(st.sampled_from(names), TEXT, min_size=1, max_size=4),
        # Every parameter at once with the same hostile value: whichever the view reads gets it.
        NASTY_TEXT.map(lambda value: dict.fromkeys(names, value)),
    )

    @EXAMPLES
    @given(params_strategy)
    def check(params):
        response = client.get(f"{path}?{query(params)}", headers=headers)
        # A stream that fails after its 200 shows here, when the body is read.
        response.get_data()
        _assert_no_5xx(response, "GET", path, params)

    return check


def fuzz_body(client, method: str, path: str, bodies, headers: dict):
    """A Hypothesis check of `method path` with `bodies` as its JSON text."""

    @EXAMPLES
    @given(bodies)
    def check(body):
        response = client.open(
            path, method=method, data=body, content_type="application/json", headers=headers
        )
        _assert_no_5xx(response, method, path, body)

    return check


def test_api_query_parameters_never_give_a_5xx(app, client, world):
    _team, headers, ids = world
    names = query_names()
    assert {"cursor", "limit", "q", "status"} <= set(names)
    paths = [path for method, path in api_routes(app, ids) if method == "GET"]
    run_each({path: fuzz_query(client, path, names, headers) for path in paths})


def test_api_json_bodies_never_give_a_5xx(app, client, world):
    _team, headers, ids = world
    names = body_names(app)
    assert {"primary_email", "subject", "tags", "amount", "attachments"} <= set(names)
    bodies = st.one_of(
        st.dictionaries(st.sampled_from(names), JSON_VALUES, max_size=6).map(json.dumps),
        JSON_VALUES.map(json.dumps),
        st.sampled_from([deep(100), deep(100_000), "{", '{"a": 1', "\x00", '"\\u0000"']),
    )
    routes = [(method, path) for method, path in api_routes(app, ids) if method != "GET"]
    assert routes
    run_each(
        {
            f"{method} {path}": fuzz_body(client, method, path, bodies, headers)
            for method, path in routes
        }
    )


def test_list_page_filters_never_give_a_5xx(client, world, login_as):
    team, _headers, _ids = world
    login_as(team.admin)
    names = query_names()
    run_each({path: fuzz_query(client, path, names) for path in LIST_PAGES})

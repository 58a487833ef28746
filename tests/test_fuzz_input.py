"""Hostile input never gets a 5xx: every /api/v1 endpoint (found in the app's url_map, so a new
one is covered without touching this file) and the main list pages, fuzzed with Hypothesis.

The query parameter names come from the code itself (every `args.get("...")` in crm_web) and
the JSON field names from the endpoints' own modules and the models' columns, so the fuzzer
speaks the app's vocabulary: it hits the validation paths rather than being ignored.
"""

import inspect
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import crm_web
from crm_web.activities.services import create_activity
from crm_web.db import clear_tenant, set_tenant
from crm_web.extensions import db
from crm_web.tickets.services import create_ticket
from tests import factories
from tests.activity_fixtures import make_team

EXAMPLES = settings(
    max_examples=25,
    deadline=None,
    database=None,
    # The same examples on every run: a failure here is a bug to fix, never a flaky test.
    derandomize=True,
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
        '=HYPERLINK("http://evil.example")',
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
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
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
    return _vocabulary(sources, r"(?:args\.get(?:list)?|query_int)\(\s*\"(\w+)\"")


def body_names(view) -> list[str]:
    """The JSON field names an endpoint may read: the one-word strings in its own source, and
    the string members of the constant collections (FIELDS, CREATE_FIELDS, ...) of its module
    and the crm_web modules that module uses."""
    names = set(re.findall(r"\"([a-z_]{2,40})\"", inspect.getsource(view)))
    module = inspect.getmodule(view)
    modules = [module] + [
        value
        for value in vars(module).values()
        if inspect.ismodule(value) and value.__name__.startswith("crm_web.")
    ]
    for used in modules:
        for constant, value in vars(used).items():
            if constant.isupper() and isinstance(value, tuple | list | set | frozenset | dict):
                names.update(item for item in value if isinstance(item, str))
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
    return team, factories.bearer(team.admin), ids


def api_routes(app, ids: dict[str, int]) -> list[tuple[str, str, str]]:
    """(method, path, endpoint) of every API endpoint, its path parameters filled with real rows' ids."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("api."):
            continue
        path = rule.rule
        for name in rule.arguments:
            path = path.replace(f"<int:{name}>", str(ids.get(name, 1)))
        assert "<" not in path, f"give the fuzzer an id for {rule.rule}"
        methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
        routes.extend((method, path, rule.endpoint) for method in methods)
    return sorted(routes)


def query(params: dict[str, str]) -> str:
    """A query string as raw bytes would carry it: a lone surrogate as its invalid UTF-8 bytes."""
    return urlencode(
        {name: value.encode("utf-8", "surrogatepass") for name, value in params.items()}
    )


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


def fuzz_body(client, method: str, path: str, names: list[str], headers: dict):
    """A Hypothesis check of `method path` with JSON bodies made of the field names `names`."""
    field = st.sampled_from(names)
    bodies = st.one_of(
        # One field at a time gets past the checks of the others.
        st.builds(lambda name, value: {name: value}, field, JSON_VALUES).map(json.dumps),
        # Every field at once: whichever the endpoint checks first gets the hostile value.
        SCALARS.map(lambda value: json.dumps(dict.fromkeys(names, value))),
        st.dictionaries(field, JSON_VALUES, min_size=1, max_size=4).map(json.dumps),
        JSON_VALUES.map(json.dumps),
        st.sampled_from([deep(100), deep(100_000), "{", '{"a": 1', "\x00", '"\\u0000"']),
    )

    @EXAMPLES
    @given(bodies)
    def check(body):
        response = client.open(
            path, method=method, data=body, content_type="application/json", headers=headers
        )
        _assert_no_5xx(response, method, path, body)

    return check


# The endpoints are shared out among a few tests so that parallel workers split the work.
SHARDS = 3


@pytest.mark.parametrize("shard", range(SHARDS))
def test_api_query_parameters_never_give_a_5xx(app, client, world, shard):
    _team, headers, ids = world
    names = query_names()
    assert {"cursor", "limit", "q", "status"} <= set(names)
    paths = [path for method, path, _endpoint in api_routes(app, ids) if method == "GET"]
    paths = paths[shard::SHARDS]
    run_each({path: fuzz_query(client, path, names, headers) for path in paths})


@pytest.mark.parametrize("shard", range(SHARDS))
def test_api_json_bodies_never_give_a_5xx(app, client, world, shard):
    _team, headers, ids = world
    routes = [route for route in api_routes(app, ids) if route[0] != "GET"]
    assert routes
    routes = routes[shard::SHARDS]
    checks = {}
    for method, path, endpoint in routes:
        names = body_names(app.view_functions[endpoint])
        checks[f"{method} {path}"] = fuzz_body(client, method, path, names, headers)
    run_each(checks)


@pytest.mark.parametrize("shard", range(SHARDS))
def test_list_page_filters_never_give_a_5xx(client, world, login_as, shard):
    team, _headers, _ids = world
    login_as(team.admin)
    names = query_names()
    run_each({path: fuzz_query(client, path, names) for path in LIST_PAGES[shard::SHARDS]})


# A deal and a ticket the API would take but for the field under test (ids filled in from `world`).
CLOSING = {"name": "x", "customer_id": "customer_id", "expected_close_date": "2030-01-31"}
TICKET = {"subject": "x", "customer_id": "customer_id"}
JOURNEY = {"name": "x", "trigger_kind": "birthday"}


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/api/v1/crm/customers/",
            {"last_name": "B", "primary_email": True},
            "primary_email",
        ),
        ("POST", "/api/v1/crm/customers/", {"last_name": "B", "tags": 5}, "tags"),
        ("POST", "/api/v1/crm/customers/", {"last_name": "B", "city": "Van\x00"}, "city"),
        ("POST", "/api/v1/crm/customers/", {"last_name": "B", "city": "\ud800"}, "city"),
        ("POST", "/api/v1/crm/tickets/", TICKET | {"subject": None}, "subject"),
        ("POST", "/api/v1/crm/tickets/", TICKET | {"attachments": None}, "attachments"),
        ("POST", "/api/v1/crm/tickets/", TICKET | {"assignee_id": 0}, "assignee_id"),
        ("POST", "/api/v1/crm/tickets/", TICKET | {"assignee_id": 2**64}, "assignee_id"),
        ("POST", "/api/v1/crm/opportunities/", CLOSING | {"amount": True}, "amount"),
        ("POST", "/api/v1/crm/opportunities/", CLOSING | {"currency": 0}, "currency"),
        ("PUT", "/api/v1/crm/customers/{customer_id}/", {"primary_email": [None]}, "primary_email"),
        ("POST", "/api/v1/crm/automations/", {"name": "x", "trigger_kind": []}, "trigger_kind"),
        ("POST", "/api/v1/crm/automations/", JOURNEY | {"reentry": {"every": 1}}, "reentry"),
        (
            "POST",
            "/api/v1/crm/automations/",
            JOURNEY | {"trigger_config": {"leap_day": ["feb28"]}},
            "trigger_config.leap_day",
        ),
        ("POST", "/api/v1/crm/automations/", JOURNEY | {"goal": {"kind": [1]}}, "goal.kind"),
        ("POST", "/api/v1/crm/automations/", JOURNEY | {"steps": [{"type": {}}]}, "steps.0.type"),
    ],
)
def test_hostile_json_fields_get_a_422_naming_the_field(client, world, method, path, body, field):
    _team, headers, ids = world
    body = {
        name: ids[value] if isinstance(value, str) and value in ids else value
        for name, value in body.items()
    }
    response = client.open(
        path.format(**ids),
        method=method,
        data=json.dumps(body),
        content_type="application/json",
        headers=headers,
    )
    assert response.status_code == 422, response.get_data(as_text=True)
    assert field in response.get_json()["fields"]


def test_deeply_nested_json_is_a_422(client, world):
    _team, headers, _ids = world
    for depth in (40, 100_000):
        response = client.post(
            "/api/v1/crm/tickets/",
            data=deep(depth),
            content_type="application/json",
            headers=headers,
        )
        assert response.status_code == 422
        assert response.get_json()["fields"] == {"body": "Nested more than 32 levels."}


def test_an_id_past_64_bits_in_the_path_is_a_404(client, world):
    _team, headers, _ids = world
    response = client.get(f"/api/v1/crm/customers/{2**64}/", headers=headers)
    assert response.status_code == 404


def test_a_nul_in_a_filter_is_a_422_naming_it_on_the_page(client, world, login_as):
    team, _headers, _ids = world
    login_as(team.admin)
    response = client.get("/customers?q=a%00b")
    assert response.status_code == 422
    assert "Q: Remove the NUL character" in response.get_data(as_text=True)


def test_a_nul_in_a_posted_form_is_a_422_naming_the_field(client, world, login_as):
    team, _headers, _ids = world
    login_as(team.admin)
    response = client.post("/customers/new", data={"first_name": "Nul\x00", "last_name": "Byte"})
    assert response.status_code == 422
    assert "First name: Remove the NUL character" in response.get_data(as_text=True)


def test_the_export_checks_its_filters_before_the_stream_starts(client, world, login_as):
    team, _headers, _ids = world
    login_as(team.admin)
    for query in ("owner=" + "9" * 30, "city=%00", "owner=%C2%B2"):
        response = client.get(f"/customers/export.csv?{query}")
        assert response.status_code == 422, query
        assert response.mimetype != "text/csv"

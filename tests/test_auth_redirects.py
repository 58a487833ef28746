"""The sign-in's `next` target: only a path on this site, as the browser will read it."""

from urllib.parse import quote

import pytest

from crm_web.security import safe_redirect_target

# Each of these is another host once the browser has dropped tabs and line breaks and read
# backslashes as slashes.
OFF_SITE = [
    "https://evil.example/",
    "//evil.example/",
    "/\\evil.example/",
    "\\/evil.example/",
    "\\\\evil.example/",
    "/\t/evil.example/",
    "/\n/evil.example/",
    "/\r\n/evil.example/",
    "\t//evil.example/",
    "/\t\\evil.example/",
    "javascript:alert(1)",
    "evil.example",
    "",
]


@pytest.mark.parametrize("target", OFF_SITE)
def test_an_off_site_target_falls_back_to_the_default(target):
    assert safe_redirect_target(target, "/") == "/"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/customers?q=ada", "/customers?q=ada"),
        ("/tickets/12", "/tickets/12"),
        ("/customers\\7", "/customers/7"),
        ("/cust\tomers", "/customers"),
    ],
)
def test_a_path_on_this_site_is_kept_as_the_browser_reads_it(target, expected):
    assert safe_redirect_target(target, "/") == expected


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("target", OFF_SITE)
def test_sign_in_never_redirects_off_site(client, make_org, target, htmx):
    _org, admin = make_org()
    headers = {"HX-Request": "true"} if htmx else {}
    # Percent-encoded in the query string, as a link would carry it (%09, %5C, %0A...).
    response = client.post(
        f"/login?next={quote(target, safe='')}",
        data={"email": admin.email, "password": "correct-horse"},
        headers=headers,
    )
    location = response.headers["HX-Redirect" if htmx else "Location"]
    assert location == "/"


def test_sign_in_follows_a_path_on_this_site(client, make_org):
    _org, admin = make_org()
    response = client.post(
        "/login?next=/tickets%3Fview%3Dmine",
        data={"email": admin.email, "password": "correct-horse"},
    )
    assert response.headers["Location"] == "/tickets?view=mine"

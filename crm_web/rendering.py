"""One template serves the full page and its HTMX fragments (its named blocks)."""

from flask import current_app, make_response, redirect, render_template, request, url_for


def request_header(name: str) -> str | None:
    """A header of the request, or None: read from the WSGI environ, as Werkzeug's headers do,
    without the exception their lookup raises for each header a request lacks (a dozen a
    request, a few percent of a small page's time)."""
    return request.environ.get("HTTP_" + name.upper().replace("-", "_"))


def is_htmx() -> bool:
    """An HTMX request that wants a fragment (a boosted navigation, or the page htmx fetches to
    restore history it did not cache, wants the whole page)."""
    return (
        request_header("HX-Request") == "true"
        and request_header("HX-Boosted") != "true"
        and request_header("HX-History-Restore-Request") != "true"
    )


def wanted_fragment(*names: str) -> str | None:
    """The fragment an HTMX request asks for by name (`fragment` in its query or form), when it
    is one of `names`: views branch on what they render, never on the id of the element that
    swaps it (HX-Target), so markup can change without breaking a view."""
    name = request.values.get("fragment")
    return name if is_htmx() and name in names else None


def render_block(template_name: str, block_name: str, **context) -> str:
    """Render one named block of a page template with the page's context."""
    app = current_app._get_current_object()
    template = app.jinja_env.get_or_select_template(template_name)
    app.update_template_context(context)
    block = template.blocks[block_name]
    return "".join(block(template.new_context(context)))


def render(template_name: str, block: str = "content", status: int = 200, **context):
    """The full page, or just `block` for an HTMX request; the two share one URL, so say Vary."""
    if is_htmx():
        body = render_block(template_name, block, **context)
    else:
        body = render_template(template_name, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def render_blocks(template_name: str, *blocks: str, status: int = 200, **context):
    """Several named blocks of one page in one response (the later ones swap out of band)."""
    body = "".join(render_block(template_name, block, **context) for block in blocks)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def redirect_to(url: str):
    """Redirect after a successful change: HTMX follows HX-Redirect, a plain form a 303."""
    if request_header("HX-Request") == "true":
        response = make_response("", 200)
        response.headers["HX-Redirect"] = url
        return response
    return redirect(url, code=303)


def row_url(endpoint: str, key: str) -> str:
    """The URL of `endpoint` without the value of its last part `key`, for a list to add each
    row's id to (`{{ base }}{{ row.id }}`): one url_for per list instead of one per row, which
    had been a sixth of rendering a 50-row list."""
    url = url_for(endpoint, **{key: 0})
    if not url.endswith("/0"):
        raise ValueError(f"{endpoint} does not end with its {key}: {url}")
    return url[:-1]

"""Rendered blocks kept in Redis, each under a key that names the version of what it shows.

The caller names a block by parts that change whenever its content would (for the pipeline, the
stage versions the database bumps on every change, 0017_pipeline_versions). A change therefore
makes a new key instead of deleting the old one: no writer has to know what readers keep, and a
reader can never keep an old rendering under a new key. Keys also name the organization, the
reader's language and time zone (a block shows amounts and times as its reader reads them), and
a digest of the template's source, so a deploy that changes the markup starts afresh; unused
keys expire.
"""

import hashlib
from collections.abc import Callable

from flask import current_app
from markupsafe import Markup

from crm_web.db import current_organization_id
from crm_web.formatting import locale
from crm_web.redis_client import get_redis, when_redis_down
from crm_web.rendering import render_block
from crm_web.timezones import user_timezone

KEPT_SECONDS = 600

_template_digests: dict[str, str] = {}


def _template_digest(template_name: str) -> str:
    if template_name not in _template_digests:
        env = current_app.jinja_env
        source = env.loader.get_source(env, template_name)[0]
        _template_digests[template_name] = hashlib.sha1(source.encode()).hexdigest()[:12]
    return _template_digests[template_name]


def _key(template_name: str, block: str, parts: tuple) -> str:
    return ":".join(
        [
            "crm:fragment",
            str(current_organization_id()),
            str(locale()),
            user_timezone().key,
            template_name,
            _template_digest(template_name),
            block,
            *map(str, parts),
        ]
    )


def render_kept(
    template_name: str,
    block: str,
    versions: list[tuple],
    contexts: Callable[[list[int]], list[dict]],
) -> list[Markup]:
    """The block rendered once for each entry of `versions` (the parts naming what it shows, at
    which version), from Redis where kept. `contexts(indexes)` gives the rendering context of
    the entries that were not, all at once, so their data can be read in one query. Without
    Redis every entry is rendered from the database."""
    names = [_key(template_name, block, parts) for parts in versions]
    kept = _read_kept(names) or [None] * len(names)
    missing = [index for index, html in enumerate(kept) if html is None]
    if missing:
        for index, context in zip(missing, contexts(missing), strict=True):
            kept[index] = render_block(template_name, block, **context)
        _keep({names[index]: kept[index] for index in missing})
    return [Markup(html) for html in kept]


@when_redis_down(None, "reading kept fragments")
def _read_kept(names: list[str]) -> list[str | None]:
    return [None if html is None else html.decode() for html in get_redis().mget(names)]


@when_redis_down(None, "keeping rendered fragments")
def _keep(rendered: dict[str, str]) -> None:
    with get_redis().pipeline(transaction=False) as pipe:
        for name, html in rendered.items():
            pipe.set(name, html, ex=KEPT_SECONDS)
        pipe.execute()

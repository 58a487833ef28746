"""The CRM web application."""

import functools

from flask import Flask

from crm_web.config import PROJECT_ROOT, Config


def create_app(config: object | None = None) -> Flask:
    """Build the app: extensions, blueprints, error handlers and request hooks; nothing else."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.from_object(config or Config())
    register_logging(app)
    register_extensions(app)
    register_input_checks(app)
    register_blueprints(app)
    register_template_globals(app)
    register_errorhandlers(app)
    register_request_hooks(app)
    register_commands(app)
    return app


def register_logging(app: Flask) -> None:
    from crm_web import logs

    logs.configure(app)


def register_extensions(app: Flask) -> None:
    from flask_babel import lazy_gettext

    from crm_web import (
        i18n,
        models,  # noqa: F401  (every model known to Alembic and the mapper)
    )
    from crm_web.accounts.views import load_session_user
    from crm_web.db import install_app_role
    from crm_web.extensions import csrf, db, login_manager, migrate
    from crm_web.redis_client import init_redis
    from crm_web.security import CookieSessionInterface

    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "accounts.login"
    login_manager.login_message = lazy_gettext("Please sign in to continue.")
    login_manager.user_loader(load_session_user)
    init_redis(app)
    i18n.init_app(app)
    app.session_interface = CookieSessionInterface()
    with app.app_context():
        install_app_role(db.engine, app.config["DB_APP_ROLE"])


def register_input_checks(app: Flask) -> None:
    """Before the blueprints: their `<int:...>` routes take the 64-bit converter."""
    from crm_web.inputs import init_app

    init_app(app)


def register_blueprints(app: Flask) -> None:
    from crm_web.api.views import blueprint as api_blueprint
    from crm_web.domains import DEV_PAGES, DOMAINS, search_providers
    from crm_web.extensions import csrf

    for domain in DOMAINS:
        for pages in domain.pages:
            app.register_blueprint(pages)
    for dev in DEV_PAGES:
        if app.config[dev.folder_setting]:
            app.register_blueprint(dev.pages)
    domain_apis = [domain.api for domain in DOMAINS if domain.api is not None]
    # The API authenticates with bearer tokens, never cookies, so CSRF does not apply.
    # Flask-WTF looks at the innermost blueprint of a request: the domain's.
    for domain_api in domain_apis:
        csrf.exempt(domain_api)
    app.register_blueprint(api_blueprint(domain_apis))
    app.extensions["search_providers"] = search_providers()


def register_template_globals(app: Flask) -> None:
    """The shared macros (_macros.html) are globals: a fragment rendered alone, without its
    page's top-level imports, can use them too."""
    macros = app.jinja_env.get_template("_macros.html").module
    for name in ("field", "form_errors", "load_more", "email_address", "nav_badge"):
        app.jinja_env.globals[name] = getattr(macros, name)
    from crm_web import formatting, labels
    from crm_web.domains import navigation_entries
    from crm_web.navigation import Navigation
    from crm_web.permissions import can, may_open
    from crm_web.redis_client import redis_up
    from crm_web.rendering import row_url

    formatting.init_app(app)
    app.jinja_env.filters["label"] = labels.label
    app.jinja_env.globals["can"] = can
    app.jinja_env.globals["may_open"] = may_open
    app.jinja_env.globals["navigation"] = Navigation(app, navigation_entries()).for_request
    app.jinja_env.globals["row_url"] = row_url
    # Called by the page layout only, so fragments never probe; the probe's answer is cached.
    app.jinja_env.globals["background_work_delayed"] = lambda: not redis_up()


def register_errorhandlers(app: Flask) -> None:
    from crm_web.error_pages import register

    register(app)


def register_request_hooks(app: Flask) -> None:
    from crm_web.db import clear_tenant
    from crm_web.security import add_security_headers, require_login

    app.before_request(require_login)
    app.after_request(add_security_headers)
    app.teardown_request(lambda exc: clear_tenant())
    # Flask asks inspect.iscoroutinefunction of every hook and view on every request (a dozen
    # a request); a function's answer never changes. Bounded: callbacks made per request pass.
    app.ensure_sync = functools.lru_cache(maxsize=1024)(app.ensure_sync)


def register_commands(app: Flask) -> None:
    from crm_web.cli import crm

    app.cli.add_command(crm)

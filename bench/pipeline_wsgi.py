"""The app as gunicorn serves it, plus two bench-only pages: the ceilings bench_pipeline.py
compares with. They are added here, never in crm_web.

`/bench/bare` runs one indexed 50-row query and renders it with Jinja, behind the same
sign-in, session and tenant set-up as every page. `/bench/bare-anonymous` does the same for
anyone, without a session or a user to load (the tenant comes from `?org=`): what the machine
does for the query and the template alone.
"""

from flask import render_template, request
from sqlalchemy import text

from crm_web.db import current_organization_id, set_tenant
from crm_web.extensions import db
from crm_web.security import public
from wsgi import app

BARE_TEMPLATE = """<table>{% for row in rows %}<tr><td>{{ row.customer_code }}</td>
<td>{{ row.first_name }} {{ row.last_name }}</td><td>{{ row.primary_email }}</td></tr>{% endfor %}</table>"""
# Compiled once, as the app's file templates are: the ceiling renders, it does not compile.
bare_template = app.jinja_env.from_string(BARE_TEMPLATE)


def bare():
    rows = db.session.execute(
        text(
            "SELECT customer_code, first_name, last_name, primary_email FROM customers"
            " WHERE organization_id = :org ORDER BY id LIMIT 50"
        ),
        {"org": current_organization_id()},
    ).all()
    return render_template(bare_template, rows=rows)


@public
def bare_anonymous():
    set_tenant(int(request.args["org"]))
    return bare()


app.add_url_rule("/bench/bare", "bench_bare", bare)
app.add_url_rule("/bench/bare-anonymous", "bench_bare_anonymous", bare_anonymous)

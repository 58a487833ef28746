"""The yardstick of bench_request_cost.py: a plain Flask page, no session, no ORM, no app.

One indexed 50-row query through a `psycopg_pool` connection pool, rendered with a Jinja
template compiled once: what a page of 50 customers costs this machine with Flask itself and
nothing of ours. The same query as bench/pipeline_wsgi.py's /bench/bare, on the same
database, under the same gunicorn (2 workers x 4 threads), so the ratios compare our
framework's cost per request, not the query's. The organization comes from `?org=`.
"""

import os

from flask import Flask, render_template, request
from psycopg_pool import ConnectionPool

TEMPLATE = """<table>{% for row in rows %}<tr><td>{{ row[0] }}</td>
<td>{{ row[1] }} {{ row[2] }}</td><td>{{ row[3] }}</td></tr>{% endfor %}</table>"""
QUERY = (
    "SELECT customer_code, first_name, last_name, primary_email FROM customers"
    " WHERE organization_id = %s ORDER BY id LIMIT 50"
)

app = Flask(__name__)
# As many connections as a worker has threads; opened at start, as the app's pool keeps them.
pool = ConnectionPool(os.environ["DATABASE_URL"], min_size=4, max_size=4, open=True)
template = app.jinja_env.from_string(TEMPLATE)


@app.route("/plain")
def plain():
    with pool.connection() as connection:
        rows = connection.execute(QUERY, (int(request.args["org"]),)).fetchall()
    return render_template(template, rows=rows)

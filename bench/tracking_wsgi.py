"""The app as gunicorn serves it, plus /bench/hello: the ceiling bench_campaigns.py compares
the tracking endpoints with (a public route that returns a word, through the same request
hooks as every page). Added here, never in crm_web."""

from crm_web.security import public
from wsgi import app


@public
def hello():
    return "hello"


app.add_url_rule("/bench/hello", "bench_hello", hello)

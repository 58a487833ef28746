"""Saving a page of survey answers under 20 concurrent respondents, beside a hello-world route
on the same gunicorn in the same run. Run by hand (prints figures; not a test):

    .venv/bin/python bench/bench_survey_submit.py [--respondents 1500] [--concurrency 20]

A launched 20-question survey (4 pages of 5: NPS with a display condition and a skip rule,
choices, rating, text, number, email, date, a matrix, a ranking). Its respondents have begun
(page 1 saved in this process: the public link allows an address only a few starts), and each
of `--concurrency` clients takes the next respondent and posts its pages 2, 3 and 4 through
its resume link, as a browser's form does (urlencoded; the 303 not followed), the last one
completing the response (limit check, completed_count). Every post is checked to have saved.

gunicorn: 2 workers x 4 threads (the Procfile's), --preload, serving the app plus
/bench/hello (bench/tracking_wsgi.py). The same clients (threads with keep-alive connections)
hit /bench/hello for as many requests first. Target (issue 17): a page submission's p95
< 50 ms at 20 concurrent respondents; report req/s beside hello's, and `uptime`.
"""

import argparse
import http.client
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import psycopg
from _common import (
    ROOT,
    fresh_database,
    migrated_app,
    new_organization,
    p50_p95,
    server_url,
    stop,
    vacuum_analyze,
    wait_for_port,
)

DATABASE = "bench_sresp"
PAGES = 4


def document() -> dict:
    """20 questions on 4 pages; detractors see a reason and skip to the last page."""
    options = [{"id": f"o{n}", "label": f"Option {n}"} for n in range(1, 5)]
    low = {"match": "all", "conditions": [{"question": "nps", "op": "lte", "value": 6}]}

    def q(qid, kind, **extra):
        return {"id": qid, "type": kind, "title": f"Question {qid}", **extra}

    return {
        "pages": [
            {
                "id": "p1",
                "questions": [
                    q("nps", "nps", required=True),
                    q("why", "long_text", display=low),
                    q("s1", "single", options=options),
                    q("r1", "rating", scale=5),
                    q("t1", "short_text"),
                ],
                "rules": [{"when": low, "goto": "p4"}],
            },
            {
                "id": "p2",
                "questions": [
                    q("m1", "multiple", options=options, required=True),
                    q("d1", "dropdown", options=options),
                    q("n1", "number", min=0, max=100),
                    q("e1", "email"),
                    q("dt", "date"),
                ],
            },
            {
                "id": "p3",
                "questions": [
                    q(
                        "mx",
                        "matrix",
                        rows=[{"id": f"r{n}", "label": f"Row {n}"} for n in range(1, 4)],
                        columns=[{"id": f"c{n}", "label": f"Col {n}"} for n in range(1, 4)],
                        required=True,
                    ),
                    q("rk", "ranking", options=options),
                    q("s2", "single", options=options),
                    q("r2", "rating", scale=10),
                    q("l1", "long_text"),
                ],
            },
            {
                "id": "p4",
                "questions": [
                    q("s3", "single", options=options),
                    q("m2", "multiple", options=options),
                    q("t2", "short_text"),
                    q("n2", "number"),
                    q("l2", "long_text"),
                ],
            },
        ]
    }


def page_form(number: int, respondent: int) -> list[tuple[str, str]]:
    """A page of answers as the browser posts it (the respondent's number varies them)."""
    pick = f"o{respondent % 4 + 1}"
    forms = {
        0: [("q_nps", str(7 + respondent % 4)), ("q_s1", pick), ("q_r1", "4"), ("q_t1", "fine")],
        1: [("q_m1", "o1"), ("q_m1", pick), ("q_d1", pick), ("q_n1", str(respondent % 100)),
            ("q_e1", f"r{respondent}@example.com"), ("q_dt", "2026-05-31")],
        2: [("q_mx_r1", "c1"), ("q_mx_r2", "c2"), ("q_mx_r3", "c3"), ("q_rk_o1", "2"),
            ("q_rk_o2", "1"), ("q_rk_o3", "4"), ("q_rk_o4", "3"), ("q_s2", pick),
            ("q_r2", str(respondent % 10 + 1)), ("q_l1", "The delivery was quick and the staff kind.")],
        3: [("q_s3", pick), ("q_m2", pick), ("q_t2", "thanks"), ("q_n2", "3.5"),
            ("q_l2", "Nothing more to add.")],
    }  # fmt: skip
    return [("page", str(number)), *forms[number]]


def prepare(app, respondents: int) -> tuple[int, int, list[str]]:
    """A launched survey and `respondents` responses with page 1 saved; their resume paths."""
    from werkzeug.datastructures import MultiDict

    from crm_web.db import tenant_scope
    from crm_web.extensions import db
    from crm_web.surveys import responses, services

    with app.app_context():
        organization, admin = new_organization("Bench Survey", slug="bench-survey")
        db.session.commit()
        with tenant_scope(organization.id, admin.id):
            survey = services.create_survey({"name": "Customer feedback"}, document())
            services.update_settings(
                survey.id,
                {"description": "Five minutes, four short pages.", "thank_you": "Thank you!"},
            )
            services.launch(survey.id)
            paths = []
            for n in range(respondents):
                respondent = responses.Respondent(survey, responses.version_document(survey))
                saved = responses.save_page(
                    respondent, 0, MultiDict(page_form(0, n)[1:]), ip="127.0.0.1"
                )
                paths.append("/s/r/" + responses.resume_token(saved))
        return organization.id, survey.id, paths


class Client(threading.Thread):
    """One respondent's browser at a time: a keep-alive connection posting pages in order."""

    def __init__(self, port: int, work: queue.Queue, samples: list, failures: list):
        super().__init__(daemon=True)
        self.port, self.work, self.samples, self.failures = port, work, samples, failures

    def run(self) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", self.port)
        while True:
            try:
                item = self.work.get_nowait()
            except queue.Empty:
                return
            for method, path, body, expected in item:
                headers = {}
                if body is not None:
                    headers["Content-Type"] = "application/x-www-form-urlencoded"
                started = time.perf_counter()
                connection.request(method, path, body=body, headers=headers)
                answer = connection.getresponse()
                answer.read()
                self.samples.append((time.perf_counter() - started) * 1000)
                if answer.status != expected:
                    self.failures.append((path, answer.status))


def run_clients(port: int, items: list, concurrency: int) -> tuple[list[float], list, float]:
    work: queue.Queue = queue.Queue()
    for item in items:
        work.put(item)
    samples: list[float] = []
    failures: list = []
    clients = [Client(port, work, samples, failures) for _ in range(concurrency)]
    started = time.perf_counter()
    for client in clients:
        client.start()
    for client in clients:
        client.join()
    return samples, failures, time.perf_counter() - started


def report(name: str, samples: list[float], seconds: float) -> float:
    p50, p95 = p50_p95(samples)
    rate = len(samples) / seconds
    print(
        f"{name:<34}{len(samples):>7,} requests {rate:>8,.0f} req/s   p50 {p50:6.1f} ms   p95 {p95:6.1f} ms"
    )
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--respondents", type=int, default=1500)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--port", type=int, default=5111)
    args = parser.parse_args()

    server = server_url()
    url = fresh_database(server, DATABASE)
    redis_url = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
    os.environ.update(
        DATABASE_URL=url, REDIS_URL=redis_url, SECRET_KEY="bench-survey", LOG_LEVEL="WARNING"
    )
    from crm_web.devservices import drop_database
    from crm_web.extensions import db

    app = migrated_app()
    process = None
    try:
        started = time.perf_counter()
        organization_id, survey_id, paths = prepare(app, args.respondents)
        print(f"{args.respondents:,} respondents begun in {time.perf_counter() - started:.0f} s")
        vacuum_analyze(url, "survey_responses", "survey_tallies", "surveys")
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "gunicorn"), "--workers", "2", "--threads", "4",
                "--preload", "--bind", f"127.0.0.1:{args.port}", "--chdir", str(ROOT / "bench"),
                "tracking_wsgi:app",
            ],
            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_for_port(args.port, process)
        warm = [[("GET", "/bench/hello", None, 200)] for _ in range(200)]
        warm += [[("GET", path, None, 200)] for path in paths[:40]]
        run_clients(args.port, warm, args.concurrency)

        requests_made = args.respondents * (PAGES - 1)
        hello = [[("GET", "/bench/hello", None, 200)] for _ in range(requests_made)]
        samples, failures, seconds = run_clients(args.port, hello, args.concurrency)
        hello_rate = report("hello", samples, seconds)
        pages = [
            [
                ("POST", path, urllib.parse.urlencode(page_form(number, n)), 303)
                for number in range(1, PAGES)
            ]
            for n, path in enumerate(paths)
        ]
        samples, failures, seconds = run_clients(args.port, pages, args.concurrency)
        rate = report("page submission (pages 2-4)", samples, seconds)
        print(f"{'submission / hello':<34}{rate / hello_rate:>7.2f}x requests/s")
        with psycopg.connect(url) as connection:
            completed, count = connection.execute(
                "SELECT (SELECT count(*) FROM survey_responses WHERE survey_id = %s AND state = "
                "'completed'), (SELECT completed_count FROM surveys WHERE id = %s)",
                (survey_id, survey_id),
            ).fetchone()
        print(
            f"completed responses {completed:,} (completed_count {count:,}); failures {len(failures)}"
        )
        if failures:
            print("first failures:", failures[:5])
        print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    finally:
        if process is not None:
            stop(process)
        with app.app_context():
            db.engine.dispose()
        drop_database(server, DATABASE)


if __name__ == "__main__":
    main()

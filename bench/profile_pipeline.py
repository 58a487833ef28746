"""The pipeline pages' CPU cost per request in one process, next to the bare endpoint's.

Run by hand (prints figures; not a test), on the database bench_pipeline.py prepared:

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/crm_bench_pipeline REDIS_URL=redis://127.0.0.1:6379/5 \
        SECRET_KEY=bench-secret .venv/bin/python bench/profile_pipeline.py [scenario ...] [--profile NAME]

Signs in as the bench's first seller through the Flask test client (no server, no network) and,
for each scenario (bare, board, board-cold, column, move, forecast, forecast-cold; all by
default), prints the best of
--repeats runs of --requests requests in CPU milliseconds per request (time.process_time, so
other processes on a busy machine weigh less than on wall-clock figures), the statements one
request sends, and the ratio to the bare endpoint (bench/pipeline_wsgi.py's /bench/bare). With
--profile NAME it then prints that scenario's cProfile, by CPU time. The move scenario drags
real cards, as bench_pipeline.py does. The -cold scenarios drop the kept board columns and
forecast figures (crm_web.fragments) before each request: what a first view after a change costs.
"""

import argparse
import cProfile
import os
import pstats
import random
import re
import sys
import time
from pathlib import Path

import psycopg
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import HTMX, PASSWORD, form_csrf, htmx_csrf  # noqa: E402

from bench.pipeline_wsgi import app  # noqa: E402
from crm_web.extensions import db  # noqa: E402
from crm_web.redis_client import get_redis  # noqa: E402

SLUG = "bench-pipeline"
SCENARIOS = ("bare", "board", "board-cold", "column", "move", "forecast", "forecast-cold")


def sign_in(client) -> dict:
    """The headers of an HTMX request by the bench's first seller."""
    page = client.get("/login").get_data(as_text=True)
    csrf = form_csrf(page)
    response = client.post(
        "/login",
        data={"csrf_token": csrf, "email": f"seller0@{SLUG}.example", "password": PASSWORD},
    )
    assert response.status_code == 303, "run bench_pipeline.py once to seed the database"
    page = client.get("/pipeline").get_data(as_text=True)
    return {**HTMX, "X-CSRFToken": htmx_csrf(page)}


def board_data() -> tuple[list[int], list[int], dict[int, list[int]]]:
    """The open stages, deals to drag, and the first cards of each column to drop them below."""
    with psycopg.connect(os.environ["DATABASE_URL"]) as connection:
        org = connection.execute("SELECT id FROM organizations WHERE slug = %s", (SLUG,)).fetchone()
        stages = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM pipeline_stages WHERE organization_id = %s AND outcome = 'open'"
                " ORDER BY position",
                org,
            )
        ]
        movable = [
            row[0]
            for row in connection.execute(
                "SELECT id FROM opportunities WHERE organization_id = %s AND status = 'open'"
                " ORDER BY random() LIMIT 2000",
                org,
            )
        ]
        anchors = {
            stage: [
                row[0]
                for row in connection.execute(
                    "SELECT id FROM opportunities WHERE organization_id = %s AND stage_id = %s"
                    " ORDER BY position, id LIMIT 20",
                    (org[0], stage),
                )
            ]
            for stage in stages
        }
    return stages, movable, anchors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scenarios", nargs="*", metavar="scenario", help=", ".join(SCENARIOS))
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--profile", choices=SCENARIOS)
    args = parser.parse_args()
    if unknown := set(args.scenarios) - set(SCENARIOS):
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")

    client = app.test_client()
    headers = sign_in(client)
    stages, movable, anchors = board_data()
    board = client.get("/pipeline", headers=headers).get_data(as_text=True)
    load_more = re.search(r'hx-get="([^"]+)"', board).group(1).replace("&amp;", "&")
    rng = random.Random(5)

    def move():
        stage = rng.choice(stages)
        return client.post(
            f"/pipeline/opportunities/{rng.choice(movable)}/move",
            headers=headers,
            data={"stage_id": stage, "after_id": rng.choice(anchors[stage]), "before_id": ""},
        )

    with app.app_context():
        redis = get_redis()

    def cold(url: str):
        def request():
            if kept := list(redis.scan_iter("crm:fragment:*")):
                redis.delete(*kept)
            return client.get(url, headers=headers)

        return request

    requests = {
        "bare": lambda: client.get("/bench/bare", headers=headers),
        "board": lambda: client.get("/pipeline", headers=headers),
        "board-cold": cold("/pipeline"),
        "column": lambda: client.get(load_more, headers=headers),
        "move": move,
        "forecast": lambda: client.get("/forecast", headers=headers),
        "forecast-cold": cold("/forecast"),
    }
    statements = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *_: statements.append(1))

    def cpu_ms(request) -> float:
        started = time.process_time()
        for _ in range(args.requests):
            request()
        return (time.process_time() - started) / args.requests * 1000

    print(
        f"CPU ms per request, best of {args.repeats} x {args.requests} (load {os.getloadavg()[0]:.1f})"
    )
    figures = {}
    for name in dict.fromkeys(["bare", *(args.scenarios or SCENARIOS)]):
        request = requests[name]
        for _ in range(5):  # warm caches and connections
            assert request().status_code == 200, name
        statements.clear()
        request()
        count = len(statements)
        figures[name] = min(cpu_ms(request) for _ in range(args.repeats))
        print(
            f"{name:<14} {figures[name]:6.2f} ms  {count:2d} statements"
            f"  {figures['bare'] / figures[name]:5.2f}x bare"
        )
    if args.profile:
        profile = cProfile.Profile(time.process_time)
        profile.runcall(lambda: [requests[args.profile]() for _ in range(args.requests)])
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)


if __name__ == "__main__":
    main()

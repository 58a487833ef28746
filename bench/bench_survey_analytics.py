"""Survey analytics benchmark (prints figures; not a test).

    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
    REDIS_URL=redis://127.0.0.1:6379/16 \\
        .venv/bin/python bench/bench_survey_analytics.py --responses 100000

A database of its own (bench_survey_analytics unless --database) is migrated and an
organization given a launched 20-question survey on four pages (NPS, choices, ratings, two
matrices, a ranking, open text shown to detractors...). N responses are made in Python along
the survey's own logic (crm_web/surveys/logic.py; 85% finish, the others stop after a page),
each scored and tallied with the functions a page save calls (scoring.score_response's,
tallies.answer_keys, the sentiment keys), then loaded with COPY as the owner and ANALYZEd.
The summary is checked against counts taken straight from the responses' answers. It prints
p50/p95 (Flask test client, one client) of:

1. `analytics.summary` alone;
2. the analytics page, whole (target p95 < 300 ms) and its live fragment (what it polls);
3. the benchmark card (loaded by the page) and a cross-tab card (asked for);
4. the responses table's first page (a 50-row list: the baseline);
timed round robin, beside the machine's load average.
"""

import argparse
import datetime as dt
import functools
import io
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

import psycopg
from _common import (
    HTMX,
    fresh_database,
    new_organization,
    p50_p95,
    server_url,
    sign_in,
    timed,
    vacuum_analyze,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

FINISH = 0.85
DAYS = 120
TEXTS = (
    "Delivery was fast and the support team was very helpful.",
    "Great product, I love the new design!",
    "The app is slow and crashes when I upload photos.",
    "Terrible customer service, nobody answered my emails for a week.",
    "Good value for the price, would buy again.",
    "Checkout was confusing and the shipping cost was too high.",
    "Everything worked as expected.",
    "The package arrived damaged and the refund took too long.",
    "Friendly staff and quick answers on the phone.",
    "I wish the mobile app had a dark mode.",
    "Prices went up again, not happy about it.",
    "Excellent quality, the best purchase this year.",
    "Support fixed my problem in minutes, thank you!",
    "Too many emails, please send fewer newsletters.",
    "The invoice was wrong twice, very frustrating.",
    "Nice experience overall, the website is easy to use.",
)


def _options(prefix: str, labels: list[str]) -> list[dict]:
    return [{"id": f"{prefix}{n}", "label": label} for n, label in enumerate(labels, start=1)]


def document() -> dict:
    """Twenty questions on four pages; the reason shows to detractors only."""
    agree = _options("a", ["Disagree", "Neutral", "Agree"])
    pages = [
        [
            {"id": "nps", "type": "nps", "title": "How likely are you to recommend us?"},
            {
                "id": "why",
                "type": "long_text",
                "title": "What should we do better?",
                "display": {
                    "match": "all",
                    "conditions": [{"question": "nps", "op": "lte", "value": 6}],
                },
            },
            {
                "id": "plan",
                "type": "single",
                "title": "Which plan are you on?",
                "options": _options("p", ["Free", "Basic", "Pro", "Enterprise"]),
            },
            {"id": "csat", "type": "rating", "title": "Overall satisfaction", "scale": 5},
        ],
        [
            {
                "id": "uses",
                "type": "multiple",
                "title": "What do you use us for?",
                "options": _options("u", ["Sales", "Support", "Marketing", "Reports", "Billing"]),
            },
            {
                "id": "heard",
                "type": "dropdown",
                "title": "How did you hear of us?",
                "options": _options("h", ["Search", "Friend", "Ad", "Event", "Other"]),
            },
            {"id": "ease", "type": "rating", "title": "Ease of use", "scale": 5},
            {
                "id": "agree",
                "type": "matrix",
                "title": "How far do you agree?",
                "rows": _options("r", ["It saves me time", "It is reliable", "It is good value"]),
                "columns": agree,
                "multiple": False,
            },
            {"id": "seats", "type": "number", "title": "How many people use it?"},
        ],
        [
            {
                "id": "support",
                "type": "single",
                "title": "Did you contact support?",
                "options": _options("s", ["Yes", "No"]),
            },
            {
                "id": "order",
                "type": "ranking",
                "title": "Rank what matters most",
                "options": _options("o", ["Price", "Speed", "Features", "Support"]),
            },
            {"id": "value", "type": "rating", "title": "Value for money", "scale": 10},
            {"id": "one_word", "type": "short_text", "title": "Describe us in a few words"},
            {"id": "since", "type": "date", "title": "Customer since"},
        ],
        [
            {
                "id": "channels",
                "type": "matrix",
                "title": "Which channels do you use?",
                "rows": _options("c", ["Email", "Phone", "Chat"]),
                "columns": _options("f", ["Never", "Sometimes", "Often"]),
                "multiple": False,
            },
            {
                "id": "features",
                "type": "multiple",
                "title": "Which features should come next?",
                "options": _options("n", ["Dark mode", "API", "Offline", "Reports"]),
            },
            {
                "id": "renew",
                "type": "single",
                "title": "Will you renew?",
                "options": _options("w", ["Yes", "Maybe", "No"]),
            },
            {"id": "contact", "type": "email", "title": "Email us back at"},
            {"id": "comment", "type": "long_text", "title": "Anything else?"},
        ],
    ]
    return {
        "pages": [
            {"id": f"p{n}", "title": "", "questions": questions}
            for n, questions in enumerate(pages, start=1)
        ]
    }


def random_answers(rng: random.Random, doc: dict) -> dict:
    """Plausible answers to every question (logic keeps those on the respondent's path)."""
    nps = rng.choices(range(11), weights=[2, 1, 1, 2, 2, 4, 6, 10, 16, 22, 18])[0]
    answers = {"nps": nps, "why": rng.choice(TEXTS)}
    for page in doc["pages"]:
        for q in page["questions"]:
            kind = q["type"]
            if q["id"] in answers or rng.random() < 0.08:  # some leave optional ones empty
                continue
            if kind in ("single", "dropdown"):
                answers[q["id"]] = rng.choice(q["options"])["id"]
            elif kind == "multiple":
                picked = {o["id"] for o in q["options"] if rng.random() < 0.4}
                answers[q["id"]] = [o["id"] for o in q["options"] if o["id"] in picked] or [
                    q["options"][0]["id"]
                ]
            elif kind == "rating":
                answers[q["id"]] = rng.randint(max(1, q["scale"] - 4), q["scale"])
            elif kind == "number":
                answers[q["id"]] = rng.choice([1, 2, 3, 5, 8, 10, 25, 50])
            elif kind == "matrix":
                answers[q["id"]] = {r["id"]: rng.choice(q["columns"])["id"] for r in q["rows"]}
            elif kind == "ranking":
                answers[q["id"]] = rng.sample([o["id"] for o in q["options"]], len(q["options"]))
            elif kind in ("short_text", "long_text"):
                answers[q["id"]] = rng.choice(TEXTS)
            elif kind == "date":
                answers[q["id"]] = (
                    f"20{rng.randint(18, 26)}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
                )
            elif kind == "email":
                answers[q["id"]] = f"person{rng.randint(1, 99999)}@example.com"
    return answers


def make_responses(survey, doc: dict, count: int, seed: int = 7):
    """The response rows to COPY and the tally rows, made as page saves make them."""
    import json

    from crm_web.surveys import logic, scoring, sentiment, tallies
    from crm_web.surveys.models import TALLY_SHARDS

    rng = random.Random(seed)
    # A few distinct texts: each is scored once.
    text_sentiment = functools.cache(functools.partial(sentiment.score, language=survey.language))
    index = {q["id"]: q for page in doc["pages"] for q in page["questions"]}
    now = dt.datetime.now(dt.UTC)
    rows = io.StringIO()
    counts: Counter = Counter()
    for response_id in range(1, count + 1):
        wanted = random_answers(rng, doc)
        walked = logic.path(doc, logic.answers_on_path(doc, wanted))
        pages = len(walked) if rng.random() < FINISH else rng.randint(1, len(walked) - 1)
        seen = walked[:pages]
        shown = {
            q["id"]
            for number in seen
            for q in logic.visible_questions(doc["pages"][number], wanted)
        }
        answers = {k: v for k, v in logic.answers_on_path(doc, wanted).items() if k in shown}
        texts = scoring.open_texts(doc, answers)
        scores = [text_sentiment(value) for value in texts.values()]
        compound = round(sum(s.compound for s in scores) / len(scores), 4) if scores else None
        shard = response_id % TALLY_SHARDS
        for question_id, value in answers.items():
            keys = tallies.answer_keys(index[question_id], value)
            if question_id in texts:
                keys.append(scoring.SENTIMENT_KEY + text_sentiment(texts[question_id]).label)
            for key in keys:
                counts[(question_id, key[: tallies.KEY_LIMIT], shard)] += 1
        finished = pages == len(walked)
        started = now - dt.timedelta(minutes=rng.randint(0, DAYS * 24 * 60))
        seconds = rng.randint(40, 600)
        values = [
            response_id,
            survey.organization_id,
            survey.id,
            survey.version_id,
            "email" if response_id % 3 == 0 else "public",
            "completed" if finished else "in_progress",
            json.dumps(answers),
            walked[pages] if not finished else len(doc["pages"]),
            json.dumps(seen),
            round(100 * pages / len(walked)),
            started.isoformat(),
            (started + dt.timedelta(seconds=seconds)).isoformat(),
            (started + dt.timedelta(seconds=seconds)).isoformat() if finished else None,
            seconds if finished else None,
            scoring.nps_answer(doc, answers),
            compound,
            scoring.label(compound) if compound is not None else "",
        ]
        rows.write("\t".join(_copy_cell(v) for v in values) + "\n")
    return rows.getvalue(), counts


def _copy_cell(value) -> str:
    if value is None:
        return "\\N"
    return str(value).replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def load(database_url: str, organization_id: int, survey_id: int, rows: str, counts) -> None:
    with psycopg.connect(database_url, autocommit=False) as connection:
        with connection.cursor() as cursor:
            with cursor.copy(
                "COPY survey_responses (id, organization_id, survey_id, version_id, channel, "
                "state, answers, page, pages_seen, completion, started_at, updated_at, "
                "completed_at, duration_seconds, nps, sentiment, sentiment_label) FROM STDIN"
            ) as copy:
                copy.write(rows)
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('survey_responses', 'id'), "
                "(SELECT max(id) FROM survey_responses))"
            )
            with cursor.copy(
                "COPY survey_tallies (organization_id, survey_id, question_id, answer, shard, "
                "count) FROM STDIN"
            ) as copy:
                for (question_id, key, shard), n in counts.items():
                    copy.write_row((organization_id, survey_id, question_id, key, shard, n))
            completed = cursor.execute(
                "SELECT count(*) FROM survey_responses WHERE survey_id = %s AND state = "
                "'completed'",
                (survey_id,),
            ).fetchone()[0]
            cursor.execute(
                "UPDATE surveys SET completed_count = %s WHERE id = %s", (completed, survey_id)
            )


def check(database_url: str, survey_id: int, summary: dict) -> None:
    """The summary's figures against counts taken from the responses' answers directly."""
    with psycopg.connect(database_url) as connection:
        run = connection.execute
        started, completed = run(
            "SELECT count(*), count(*) FILTER (WHERE state = 'completed') FROM survey_responses "
            "WHERE survey_id = %s",
            (survey_id,),
        ).fetchone()
        promoters, detractors, answered = run(
            "SELECT count(*) FILTER (WHERE (answers->>'nps')::int >= 9), "
            "count(*) FILTER (WHERE (answers->>'nps')::int <= 6), count(answers->'nps') "
            "FROM survey_responses WHERE survey_id = %s",
            (survey_id,),
        ).fetchone()
        mean, median, seats = run(
            "SELECT round(avg((answers->>'value')::numeric), 2), "
            "percentile_cont(0.5) WITHIN GROUP (ORDER BY (answers->>'value')::numeric), "
            "count(*) FILTER (WHERE answers ? 'seats') FROM survey_responses "
            "WHERE survey_id = %s",
            (survey_id,),
        ).fetchone()
    value = next(q for q in summary["questions"] if q["id"] == "value")
    seats_step = next(s for s in summary["funnel"] if s["id"] == "seats")
    expected = {
        "started": started,
        "completed": completed,
        "nps": round(100 * (promoters - detractors) / answered, 1),
        "value mean": float(mean),
        "value median": float(median),
        "seats answered": seats,
    }
    found = {
        "started": summary["responses"]["started"],
        "completed": summary["responses"]["completed"],
        "nps": summary["nps"]["score"],
        "value mean": value["mean"],
        "value median": float(value["median"]),
        "seats answered": seats_step["answered"],
    }
    status = "agree" if expected == found else f"DIFFER: expected {expected}"
    print(f"summary vs the answers themselves: {status} ({found})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--responses", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--database", default="bench_survey_analytics")
    parser.add_argument("--keep", action="store_true", help="leave the database for a look")
    args = parser.parse_args()

    database_url = fresh_database(server_url(), args.database)
    os.environ["DATABASE_URL"] = database_url
    from bench_commerce import make_app

    app = make_app(database_url, 4)
    from crm_web.db import set_tenant
    from crm_web.surveys import analytics, services

    with app.app_context():
        organization, admin = new_organization("Survey bench")
        set_tenant(organization.id, admin.id)
        survey = services.create_survey(
            {"name": "Customer feedback 2026", "language": "en"}, document()
        )
        services.launch(survey.id)
        started = time.perf_counter()
        rows, counts = make_responses(
            survey, services.get_version(survey).definition, args.responses
        )
        made = time.perf_counter() - started
        load(database_url, organization.id, survey.id, rows, counts)
        loaded = time.perf_counter() - started - made
        services.create_survey({"name": "Onboarding survey 2025"}, document())
        survey_id, admin_email = survey.id, admin.email
    vacuum_analyze(database_url, "survey_responses", "survey_tallies")
    print(
        f"{args.responses:,} responses, {len(counts):,} tally rows: made in {made:.1f} s "
        f"(scored and tallied in Python), loaded with COPY in {loaded:.1f} s, ANALYZEd"
    )

    with app.app_context():
        set_tenant(organization.id, admin.id)
        survey = services.get_survey(survey_id)
        summary = analytics.summary(survey)
        check(database_url, survey_id, summary)
        p50, p95 = p50_p95(timed(lambda: analytics.summary(survey), args.runs))
        print(f"analytics.summary: p50 {p50:.1f} ms, p95 {p95:.1f} ms")

    client = app.test_client()
    sign_in(client, admin_email)
    base = f"/surveys/{survey_id}"
    pages = {
        "analytics page (whole)": (f"{base}/analytics", {}),
        "live fragment (polled)": (f"{base}/analytics", HTMX),
        "benchmark card": (f"{base}/analytics?fragment=benchmark", HTMX),
        "cross-tab card": (f"{base}/analytics?fragment=crosstab&question=nps&by=channel", HTMX),
        "responses table (50 rows, the baseline)": (f"{base}/responses", {}),
    }
    # Round robin: every page is timed under the same load as the others (the machine is
    # shared), so their ratios hold even when the absolute figures drift.
    samples: dict[str, list[float]] = {name: [] for name in pages}
    sizes: dict[str, int] = {}
    for _run in range(args.runs):
        for name, (url, headers) in pages.items():
            started = time.perf_counter()
            response = client.get(url, headers=headers)
            samples[name].append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
            sizes[name] = len(response.data)
    baseline = p50_p95(samples["responses table (50 rows, the baseline)"])[0]
    for name, taken in samples.items():
        p50, p95 = p50_p95(taken)
        target = "  (target p95 < 300 ms)" if name.startswith("analytics page") else ""
        print(
            f"{name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p50 {p50 / baseline:.1f}x the "
            f"baseline's, {sizes[name]:,} bytes{target}"
        )
    print("load average (1, 5, 15 min):", " ".join(f"{v:.2f}" for v in os.getloadavg()))
    if not args.keep:
        from crm_web.devservices import drop_database

        with app.app_context():
            from crm_web.extensions import db

            db.engine.dispose()
        drop_database(server_url(), args.database)


if __name__ == "__main__":
    main()

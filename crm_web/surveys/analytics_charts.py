"""The analytics page's charts as SVG geometry computed from `analytics.summary` (the templates
only draw the shapes, styled by app.css classes: no inline style or script, for the CSP).
Vertical bars are crm_web/sla/charts.py's; here are the horizontal bars of funnels and
options, NPS's stacked bar, its trend line and the matrix heat map's levels."""

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from flask_babel import gettext as _

from crm_web.sla import charts

LABEL_CHARS = 28
HEAT_LEVELS = 5
# Past this many bars a time axis labels one bar in `AXIS_LABELS`.
AXIS_LABELS = 12


@dataclass(frozen=True)
class HBar:
    label: str
    y: float
    width: float
    value: str
    css: str
    title: str


@dataclass(frozen=True)
class HBarChart:
    width: int
    height: int
    left: float
    right: float
    row: float
    bars: list[HBar]
    empty: bool


def _short(text: str) -> str:
    return text if len(text) <= LABEL_CHARS else text[: LABEL_CHARS - 1] + "…"


def hbar_chart(
    rows: Sequence[tuple[str, float, str]],
    *,
    highest: float | None = None,
    css: str = "series-a",
    width: int = 480,
) -> HBarChart:
    """One bar per row (label, value, the value as shown), as long as its share of `highest`
    (the largest value by default)."""
    left, right, row = 170.0, width - 118.0, 24.0
    top = max(highest if highest is not None else max((v for _l, v, _s in rows), default=0), 0)
    bars = [
        HBar(
            label=_short(name),
            y=index * row,
            width=round((right - left) * value / top, 1) if top else 0,
            value=shown,
            css=css,
            title=f"{name}: {shown}",
        )
        for index, (name, value, shown) in enumerate(rows)
    ]
    return HBarChart(width, int(len(rows) * row) + 4, left, right, row, bars, not top)


@dataclass(frozen=True)
class Part:
    x: float
    width: float
    css: str
    title: str


def nps_bar(nps: dict, width: int = 480) -> list[Part]:
    """Detractors, passives and promoters side by side in one bar, by their shares."""
    parts, x = [], 0.0
    for name, key, css in (
        (_("Detractors"), "detractors", "series-bad"),
        (_("Passives"), "passives", "series-b"),
        (_("Promoters"), "promoters", "series-a"),
    ):
        share = nps[f"{key}_percent"]
        part_width = round(width * share / 100, 1)
        parts.append(Part(x, part_width, css, f"{name}: {nps[key]} ({share}%)"))
        x = round(x + part_width, 1)
    return parts


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    title: str


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: list[Point]
    line: str  # the polyline's points attribute
    y_ticks: list[charts.Tick]
    x_labels: list[charts.Tick]
    zero: float


def nps_trend_chart(trend: list[dict], width: int = 480, height: int = 200) -> LineChart:
    """The weekly NPS as a line on a -100 to 100 axis (a bar chart could not go below zero)."""
    left, right, top, bottom = 44.0, width - 12.0, 10.0, height - 26.0

    def y(score: float) -> float:
        return round(bottom - (bottom - top) * (score + 100) / 200, 1)

    step = (right - left) / max(len(trend) - 1, 1)
    points = [
        Point(
            round(left + index * step if len(trend) > 1 else (left + right) / 2, 1),
            y(week["score"]),
            _("Week of %(week)s: NPS %(score)s from %(n)s", **_week(week)),
        )
        for index, week in enumerate(trend)
    ]
    every = max(1, -(-len(trend) // 6))
    return LineChart(
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        points=points,
        line=" ".join(f"{p.x},{p.y}" for p in points),
        y_ticks=[charts.Tick(y(score), str(score)) for score in (-100, -50, 0, 50, 100)],
        x_labels=[
            charts.Tick(point.x, week["week"][5:])
            for index, (point, week) in enumerate(zip(points, trend, strict=True))
            if index % every == 0
        ],
        zero=y(0),
    )


def _week(week: dict) -> dict:
    return {"week": week["week"], "score": week["score"], "n": week["responses"]}


def over_time_chart(over_time: dict) -> charts.Chart:
    """Responses started and completed per day (or week)."""
    points = over_time["points"]
    chart = charts.bar_chart(
        _("Responses per week") if over_time["bucket"] == "week" else _("Responses per day"),
        [point["start"][5:] for point in points],
        [
            charts.Series(_("Started"), "series-b", [p["started"] for p in points]),
            charts.Series(_("Completed"), "series-a", [p["completed"] for p in points]),
        ],
        label=lambda value: f"{value:,.0f}",
        width=960,
    )
    every = max(1, -(-len(points) // AXIS_LABELS))
    return dataclasses.replace(
        chart, x_labels=chart.x_labels[::every] if every > 2 else chart.x_labels
    )


def distribution_chart(question: dict) -> charts.Chart:
    """How many gave each number (rating, NPS, number)."""
    values = question["values"]
    if question["type"] == "nps":
        found = {entry["value"]: entry["count"] for entry in values}
        values = [{"value": score, "count": found.get(score, 0)} for score in range(11)]
    elif question["type"] == "rating":
        found = {entry["value"]: entry["count"] for entry in values}
        values = [
            {"value": score, "count": found.get(score, 0)}
            for score in range(1, question["scale"] + 1)
        ]
    chart = charts.bar_chart(
        question["title"],
        [str(entry["value"]) for entry in values],
        [charts.Series(_("Responses"), "series-a", [entry["count"] for entry in values])],
        label=lambda value: f"{value:,.0f}",
        width=480,
        height=180,
    )
    every = max(1, -(-len(values) // AXIS_LABELS))
    return dataclasses.replace(
        chart, x_labels=chart.x_labels[::every] if every > 2 else chart.x_labels
    )


def heat_levels(matrix: dict) -> list[list[tuple[int, int]]]:
    """Each cell's count with its level (0 to HEAT_LEVELS) of the busiest cell: the class
    that colours it."""
    highest = matrix["highest"]
    return [
        [(n, -(-HEAT_LEVELS * n // highest) if highest else 0) for n in row]
        for row in matrix["cells"]
    ]


def question_chart(question: dict):
    """The chart a question's card draws, or None (dates, emails, files: a count only)."""
    if "options" in question:
        return hbar_chart(
            [
                (o["label"], o["count"], f"{o['count']:,} · {o['percent']}%")
                for o in question["options"]
            ]
        )
    if "values" in question:
        return distribution_chart(question) if question["count"] else None
    if "ranking" in question:
        places = len(question["ranking"])
        return hbar_chart(
            [
                (r["label"], places + 1 - (r["mean_place"] or places + 1), f"{r['mean_place']}")
                for r in question["ranking"]
            ],
            highest=places,
        )
    if "sentiment" in question:
        return sentiment_chart(question["sentiment"])
    return None


def sentiment_chart(split: dict) -> HBarChart:
    """Positive, neutral and negative answers as bars."""
    rows = [
        (_("Positive"), "positive", "series-a"),
        (_("Neutral"), "neutral", "series-b"),
        (_("Negative"), "negative", "series-bad"),
    ]
    chart = hbar_chart(
        [
            (name, split[key], f"{split[key]:,} · {split[key + '_percent']}%")
            for name, key, _c in rows
        ]
    )
    bars = [
        dataclasses.replace(bar, css=css)
        for bar, (_n, _k, css) in zip(chart.bars, rows, strict=True)
    ]
    return dataclasses.replace(chart, bars=bars)


def funnel_chart(funnel: list[dict], started: int) -> HBarChart:
    """How many answered each question of those who started (questions only some see, in
    the lighter colour)."""
    chart = hbar_chart(
        [
            (step["title"], step["answered"], f"{step['answered']:,} · {step['percent']}%")
            for step in funnel
        ],
        highest=started,
    )
    bars = [
        dataclasses.replace(bar, css="series-b") if step["conditional"] else bar
        for bar, step in zip(chart.bars, funnel, strict=True)
    ]
    return dataclasses.replace(chart, bars=bars)

"""Bar charts as SVG geometry computed here; the template only draws the shapes (no script)."""

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Series:
    name: str
    css: str  # the class that colours its bars (app.css)
    values: Sequence[float | None]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    title: str


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    bars: list[Bar]
    x_labels: list[Tick]
    y_ticks: list[Tick]
    legend: list[Series]
    empty: bool


def nice_step(largest: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) that covers `largest` in about `ticks` steps."""
    raw = max(largest, 1e-9) / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def bar_chart(
    title: str,
    categories: Sequence[str],
    series: Sequence[Series],
    *,
    label: Callable[[float], str],
    width: int = 640,
    height: int = 220,
    ceiling: float | None = None,
) -> Chart:
    """Grouped bars: one group per category, one bar per series; None values draw nothing."""
    left, right, top, bottom = 56.0, width - 8.0, 12.0, height - 28.0
    values = [v for s in series for v in s.values if v is not None]
    step = nice_step(ceiling if ceiling is not None else max(values, default=0))
    top_value = ceiling if ceiling is not None else step * math.ceil(max(values, default=0) / step)
    top_value = top_value or step
    plot_height = bottom - top
    group = (right - left) / max(len(categories), 1)
    bar_width = group * 0.8 / max(len(series), 1)
    bars = []
    for index, category in enumerate(categories):
        for position, line in enumerate(series):
            value = line.values[index]
            if value is None:
                continue
            bar_height = plot_height * min(value, top_value) / top_value
            bars.append(
                Bar(
                    x=round(left + index * group + group * 0.1 + position * bar_width, 1),
                    y=round(bottom - bar_height, 1),
                    width=round(bar_width, 1),
                    height=round(bar_height, 1),
                    css=line.css,
                    title=f"{category} · {line.name}: {label(value)}",
                )
            )
    ticks = [
        Tick(round(bottom - plot_height * n * step / top_value, 1), label(n * step))
        for n in range(int(round(top_value / step)) + 1)
    ]
    # Every label when few, else every other one, so they never overlap.
    every = 1 if len(categories) <= 12 else 2
    x_labels = [
        Tick(round(left + index * group + group / 2, 1), category)
        for index, category in enumerate(categories)
        if index % every == 0
    ]
    return Chart(
        title=title,
        width=width,
        height=height,
        left=left,
        right=right,
        top=top,
        bottom=bottom,
        bars=bars,
        x_labels=x_labels,
        y_ticks=ticks,
        legend=list(series),
        empty=not values,
    )

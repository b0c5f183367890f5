"""Charts for the console, drawn on the server as inline SVG: no JavaScript, no CDN, and the
console's strict Content-Security-Policy still holds (no inline styles: colours come from
classes in ``analytics.css``, sizes from SVG attributes).

Each chart is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>`` that screen readers
announce, a ``<title>`` on every bar for the tooltip, and a readable message when there is
nothing to draw. The markup is well-formed XML (the tests parse it), so the same string also
works as a standalone ``.svg`` file.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from markupsafe import Markup, escape

WIDTH = 640  # the daily chart: wide, it takes a whole card
BARS_WIDTH = 520  # bar charts: about their size in a half-width card, so text keeps its size
_ids = itertools.count(1)


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    note: str = ""  # shown after the value, e.g. "3 failed"
    tone: str = ""  # "bad" colours the bar as a problem


@dataclass(frozen=True)
class DayBar:
    day: date
    total: int
    bad: int  # the part of ``total`` drawn as failed


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def _open(height: int, title: str, desc: str, cls: str,
          width: int = WIDTH) -> tuple[str, str]:
    uid = f"chart{next(_ids)}"
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {cls}" role="img" '
            f'viewBox="0 0 {width} {height}" width="100%" '
            f'preserveAspectRatio="xMinYMin meet" aria-labelledby="{uid}-t {uid}-d">'
            f'<title id="{uid}-t">{escape(title)}</title><desc id="{uid}-d">{escape(desc)}</desc>')
    return uid, head


def _empty(title: str, message: str, cls: str, width: int = WIDTH) -> Markup:
    _, head = _open(90, title, message, f"{cls} chart-empty", width)
    return Markup(head + f'<rect class="chart-frame" x="0.5" y="0.5" width="{width - 1}" '
                  f'height="89" rx="8"/><text class="chart-empty-text" x="{width // 2}" '
                  f'y="50" text-anchor="middle">{escape(message)}</text></svg>')


def _short(label: str, limit: int = 22) -> str:
    return label if len(label) <= limit else label[:limit - 1] + "…"


def bar_chart(bars: Sequence[Bar], *, title: str, unit: str = "",
              empty: str = "Nothing to show yet.") -> Markup:
    """Horizontal bars, one row per item, the label left and the count right of its bar."""
    if not bars or not any(b.value for b in bars):
        return _empty(title, empty, "chart-bars", BARS_WIDTH)
    row, top, label_w, value_w = 30, 4, 140, 150
    height = top * 2 + row * len(bars)
    track = BARS_WIDTH - label_w - value_w
    peak = max(b.value for b in bars) or 1
    total = sum(b.value for b in bars)
    desc = "; ".join(f"{b.label}: {b.value}{' ' + unit if unit else ''}"
                     + (f" ({b.note})" if b.note else "") for b in bars)
    _, head = _open(height, title, desc, "chart-bars", BARS_WIDTH)
    parts = [head]
    for i, b in enumerate(bars):
        y = top + i * row
        width = max(b.value / peak * track, 2 if b.value else 0)
        share = f"{b.value / total:.0%}" if total else ""
        tip = f"{b.label}: {b.value}{' ' + unit if unit else ''}" + (
            f", {share}" if share else "") + (f" ({b.note})" if b.note else "")
        tone = f" bar-{b.tone}" if b.tone else ""
        parts.append(
            f'<g class="chart-row"><title>{escape(tip)}</title>'
            f'<text class="chart-label" x="{label_w - 8}" y="{y + row / 2 + 4:.0f}" '
            f'text-anchor="end">{escape(_short(b.label, 18))}</text>'
            f'<rect class="chart-track" x="{label_w}" y="{y + 6}" width="{track}" '
            f'height="{row - 12}" rx="3"/>'
            f'<rect class="bar{tone}" x="{label_w}" y="{y + 6}" width="{_num(width)}" '
            f'height="{row - 12}" rx="3"/>'
            f'<text class="chart-value" x="{label_w + track + 8}" y="{y + row / 2 + 4:.0f}">'
            f'{b.value:,}{escape(" · " + share) if share else ""}'
            f'{escape(" · " + b.note) if b.note else ""}</text></g>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _nice_ceiling(value: int) -> int:
    """The top of the y axis: four equal steps of a round size (1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5
    or 8 × a power of ten), so every gridline has a whole, round label (25, 50, 75, 100)."""
    quarter = max(value, 1) / 4
    magnitude = 1
    while magnitude * 10 < quarter:
        magnitude *= 10
    steps = ((1, 1.5, 2, 2.5, 3, 4, 5, 6, 7.5, 8, 10) if magnitude >= 10
             else (1, 2, 3, 4, 5, 6, 8, 10))
    step = next(s * magnitude for s in steps if s * magnitude >= quarter)
    return int(step * 4)


def daily_chart(days: Sequence[DayBar], *, title: str, what: str = "commands",
                bad: str = "failed", empty: str = "Nothing happened in this period.") -> Markup:
    """Vertical bars per day, the failed part stacked in red, with a y axis and day labels."""
    if not days or not any(d.total for d in days):
        return _empty(title, empty, "chart-daily")
    height, left, right, top, bottom = 240, 44, 10, 12, 34
    plot_w, plot_h = WIDTH - left - right, height - top - bottom
    ceiling = _nice_ceiling(max(d.total for d in days))
    slot = plot_w / len(days)
    gap = min(slot * 0.25, 6)
    total, failed = sum(d.total for d in days), sum(d.bad for d in days)
    busiest = max(days, key=lambda d: d.total)
    desc = (f"{total:,} {what} over {len(days)} days, {failed:,} {bad}; the busiest day was "
            f"{busiest.day:%d %b} with {busiest.total:,}.")
    _, head = _open(height, title, desc, "chart-daily")
    parts = [head]
    for i in range(5):  # gridlines and y labels at 0, ¼, ½, ¾, 1 of the ceiling
        value = ceiling * i / 4
        y = top + plot_h - plot_h * i / 4
        parts.append(f'<line class="chart-grid" x1="{left}" x2="{WIDTH - right}" '
                     f'y1="{_num(y)}" y2="{_num(y)}"/><text class="chart-axis" x="{left - 6}" '
                     f'y="{_num(y + 4)}" text-anchor="end">{_num(value)}</text>')
    every = max(1, round(len(days) / 6))  # about six day labels: room even on a phone
    for i, d in enumerate(days):
        x = left + i * slot + gap / 2
        w = max(slot - gap, 1)
        h_total = plot_h * d.total / ceiling
        h_bad = plot_h * d.bad / ceiling
        base = top + plot_h
        tip = f"{d.day:%a %d %b %Y}: {d.total:,} {what}" + (f", {d.bad:,} {bad}" if d.bad else "")
        parts.append(f'<g class="chart-day"><title>{escape(tip)}</title>'
                     f'<rect class="chart-hit" x="{_num(left + i * slot)}" y="{top}" '
                     f'width="{_num(slot)}" height="{plot_h}"/>')
        if d.total:
            parts.append(f'<rect class="bar" x="{_num(x)}" y="{_num(base - h_total)}" '
                         f'width="{_num(w)}" height="{_num(h_total)}"/>')
        if d.bad:
            parts.append(f'<rect class="bar bar-bad" x="{_num(x)}" y="{_num(base - h_bad)}" '
                         f'width="{_num(w)}" height="{_num(h_bad)}"/>')
        parts.append("</g>")
        if i % every == 0:
            parts.append(f'<text class="chart-axis" x="{_num(x + w / 2)}" y="{height - 12}" '
                         f'text-anchor="middle">{d.day:%d %b}</text>')
    parts.append(f'<line class="chart-baseline" x1="{left}" x2="{WIDTH - right}" '
                 f'y1="{top + plot_h}" y2="{top + plot_h}"/></svg>')
    return Markup("".join(parts))

"""Charts as SVG, drawn here from the numbers (no JavaScript, no network, no library): the
dashboard's pages and the case reports (PDF) embed them. Every text in a chart is escaped.
Colours are chosen to stay readable on light and dark backgrounds and for the commonest
colour-vision deficiencies (a blue/orange-led palette)."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from datetime import date, timedelta

PALETTE = ("#1f6fb2", "#e07b00", "#2e9e5b", "#8e44ad", "#c0392b", "#566573", "#b7950b")
# dispositions, always in the same colour
DISPOSITION_COLOURS = {
    "answered": "#2e9e5b",
    "no_answer": "#7f8c8d",
    "busy": "#b7950b",
    "cancelled": "#5d6d7e",
    "failed": "#c0392b",
    "blocked": "#8e44ad",
    "unknown": "#aab7b8",
}


def _fmt(v: float) -> str:
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.2f}".rstrip("0").rstrip(".") if v % 1 else f"{v:.0f}"


def _frame(width: int, height: int, label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{html.escape(label)}" '
        'class="chart">',
        f"<title>{html.escape(label)}</title>",
    ]


def line_chart(
    series: Mapping[str, Sequence[tuple[date, float]]],
    *,
    label: str,
    mark: date | None = None,
    width: int = 640,
    height: int = 220,
) -> str:
    """One line per series over days; ``mark`` draws a dashed vertical line (a mitigation)."""
    points = [(d, v) for pts in series.values() for d, v in pts]
    if not points:
        return ""
    first, last = min(d for d, _ in points), max(d for d, _ in points)
    labels = {first, last}
    if mark is not None and timedelta(0) < mark - last <= timedelta(days=31):
        last = mark  # the days after the data up to the mark: "nothing since" is visible
        labels.add(mark)
    if first == last:  # one day: centred, not drawn on the axis
        first, last = first - timedelta(days=1), last + timedelta(days=1)
    span = max((last - first).days, 1)
    # days between the first and the last labelled too, about five at most (a date is some
    # 50 px wide): a 3-day chart shows its middle day, a month every 6th
    step = max(1, -(-span // 5))
    day = first + timedelta(days=step)
    while (last - day).days * 2 >= step:
        if not any(abs((day - d).days) * 2 < step for d in labels):
            labels.add(day)
        day += timedelta(days=step)
    top = max(v for _, v in points) or 1.0
    left, right, up, down = 52, 150, 10, 28
    w, h = width - left - right, height - up - down

    def x(d: date) -> float:
        return left + w * (d - first).days / span

    def y(v: float) -> float:
        return up + h * (1 - v / top)

    out = _frame(width, height, label)
    out.append(
        f'<line x1="{left}" y1="{up + h}" x2="{left + w}" y2="{up + h}" stroke="currentColor"/>'
    )
    out.append(f'<line x1="{left}" y1="{up}" x2="{left}" y2="{up + h}" stroke="currentColor"/>')
    for v in (0.0, top / 2, top):
        out.append(f'<text x="{left - 4}" y="{y(v) + 3:.1f}" font-size="9" text-anchor="end" '
                   f'fill="currentColor">{_fmt(v)}</text>')  # fmt: skip
    for d in sorted(labels):
        out.append(f'<text x="{x(d):.1f}" y="{up + h + 13}" font-size="9" text-anchor="middle" '
                   f'fill="currentColor">{d}</text>')  # fmt: skip
    for i, (name, pts) in enumerate(sorted(series.items())):
        colour = PALETTE[i % len(PALETTE)]
        path = " ".join(f"{x(d):.1f},{y(v):.1f}" for d, v in sorted(pts))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" points="{path}"/>')
        for d, v in sorted(pts) if len(pts) < 40 else []:
            out.append(f'<circle cx="{x(d):.1f}" cy="{y(v):.1f}" r="2" fill="{colour}">'
                       f"<title>{html.escape(name)} {d}: {_fmt(v)}</title></circle>")  # fmt: skip
        out.append(f'<text x="{left + w + 8}" y="{up + 12 + 13 * i}" font-size="9" '
                   f'fill="{colour}">{html.escape(name)}</text>')  # fmt: skip
    if mark is not None and first <= mark <= last:
        out.append(f'<line x1="{x(mark):.1f}" y1="{up}" x2="{x(mark):.1f}" y2="{up + h}" '
                   'stroke="currentColor" stroke-dasharray="4,3"/>')  # fmt: skip
    out.append("</svg>")
    return "".join(out)


def stacked_bars(
    rows: Sequence[tuple[date, str, float]],
    *,
    label: str,
    colours: Mapping[str, str] = DISPOSITION_COLOURS,
    width: int = 640,
    height: int = 220,
) -> str:
    """A bar a day, stacked by category (e.g. calls a day by disposition)."""
    if not rows:
        return ""
    days = sorted({d for d, _, _ in rows})
    cats = sorted(
        {c for _, c, _ in rows}, key=lambda c: (list(colours).index(c) if c in colours else 99, c)
    )
    value = {(d, c): v for d, c, v in rows}
    top = max(sum(value.get((d, c), 0) for c in cats) for d in days) or 1.0
    left, right, up, down = 52, 110, 10, 28
    w, h = width - left - right, height - up - down
    bar = w / len(days)
    # a date is about 55 px wide: every bar named when they are wide enough, else every
    # step-th, and the last (the first named before it left out when it would crowd it)
    step = max(1, -(-55 // int(bar)) if bar >= 1 else len(days))
    named = {i for i in range(0, len(days), step) if (len(days) - 1 - i) * 2 >= step}
    named |= {0, len(days) - 1}
    out = _frame(width, height, label)
    out.append(
        f'<line x1="{left}" y1="{up + h}" x2="{left + w}" y2="{up + h}" stroke="currentColor"/>'
    )
    for v in (0.0, top / 2, top):
        yv = up + h * (1 - v / top)
        out.append(f'<text x="{left - 4}" y="{yv + 3:.1f}" font-size="9" text-anchor="end" '
                   f'fill="currentColor">{_fmt(v)}</text>')  # fmt: skip
    for i, d in enumerate(days):
        base = up + h
        for c in cats:
            v = value.get((d, c), 0)
            if not v:
                continue
            hh = h * v / top
            base -= hh
            out.append(f'<rect x="{left + i * bar + 1:.1f}" y="{base:.1f}" width="{max(bar - 2, 1):.1f}" '
                       f'height="{hh:.1f}" fill="{colours.get(c, "#999")}"><title>{d} {html.escape(c)}: '
                       f"{_fmt(v)}</title></rect>")  # fmt: skip
        if i in named:
            out.append(f'<text x="{left + (i + 0.5) * bar:.1f}" y="{up + h + 13}" font-size="9" '
                       f'text-anchor="middle" fill="currentColor">{d}</text>')  # fmt: skip
    for j, c in enumerate(cats):
        out.append(f'<rect x="{left + w + 8}" y="{up + 4 + 13 * j}" width="9" height="9" '
                   f'fill="{colours.get(c, "#999")}"/><text x="{left + w + 21}" y="{up + 12 + 13 * j}" '
                   f'font-size="9" fill="currentColor">{html.escape(c)}</text>')  # fmt: skip
    out.append("</svg>")
    return "".join(out)

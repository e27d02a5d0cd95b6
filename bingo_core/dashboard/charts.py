"""Charts as SVG, rendered on the server: grouped bars (per day) and lines (over time).

Every text in the picture is escaped; the SVG has no script and is served as an image.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, tzinfo

from markupsafe import escape

#: Colours of the series (also used by the CSS legend).
COLORS = {
    "processed": "#2f6fde",
    "failed": "#d64545",
    "pending": "#2f6fde",
    "active": "#1f9d55",
    "scheduled": "#8a63d2",
    "retry": "#e0912f",
    "archived": "#d64545",
    "completed": "#7a869a",
}
_W, _H = 720, 220
#: The wide chart (queue sizes) spans the page.
WIDE = 1240
_LEFT, _RIGHT, _TOP, _BOTTOM = 48, 12, 14, 44


def _nice(top: float) -> float:
    """A round axis maximum at or above ``top``: four grid steps of 1, 2 or 5 x 10^k."""
    if top <= 0:
        return 4.0
    quarter = top / 4
    scale = 10 ** math.floor(math.log10(quarter))
    for mult in (1, 2, 5, 10):
        if mult * scale >= quarter:
            return float(max(1, mult * scale) * 4)
    return float(top)


def _frame(title: str, top: float, legend: Sequence[str], width: int = _W) -> list[str]:
    plot_h = _H - _TOP - _BOTTOM
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {_H}" '
        f'width="{width}" height="{_H}" role="img" font-family="system-ui,sans-serif" '
        f'font-size="11"><title>{escape(title)}</title>',
        f'<rect x="0" y="0" width="{width}" height="{_H}" fill="#fff"/>',
    ]
    for i in range(5):
        y = _TOP + plot_h * i / 4
        value = top * (4 - i) / 4
        label = f"{value:,.0f}" if top >= 4 else f"{value:,.2f}"
        out.append(
            f'<line x1="{_LEFT}" x2="{width - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#e6e9ef"/><text x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="#6b7385">{escape(label)}</text>'
        )
    x = _LEFT
    for name in legend:
        color = COLORS.get(name, "#555")
        out.append(
            f'<rect x="{x}" y="{_H - 14}" width="10" height="10" fill="{color}"/>'
            f'<text x="{x + 14}" y="{_H - 5}" fill="#3b4252">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    return out


def bars(
    title: str, labels: Sequence[str], series: Mapping[str, Sequence[float]], every: int = 1
) -> str:
    """Grouped bars: one group per label, one bar per series; every ``every``-th label shown."""
    names = list(series)
    top = _nice(max((max(v, default=0) for v in series.values()), default=0))
    out = _frame(title, top, names)
    plot_w = _W - _LEFT - _RIGHT
    plot_h = _H - _TOP - _BOTTOM
    group = plot_w / max(1, len(labels))
    bar = max(1.0, group * 0.8 / max(1, len(names)))
    for i, label in enumerate(labels):
        x0 = _LEFT + group * i + group * 0.1
        for j, name in enumerate(names):
            value = float(series[name][i])
            h = plot_h * value / top
            out.append(
                f'<rect x="{x0 + bar * j:.1f}" y="{_TOP + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{COLORS.get(name, "#555")}">'
                f"<title>{escape(label)} {escape(name)}: {value:,.0f}</title></rect>"
            )
        if i % every == 0:
            out.append(
                f'<text x="{x0 + group * 0.4:.1f}" y="{_TOP + plot_h + 14}" '
                f'text-anchor="middle" fill="#6b7385">{escape(label[5:])}</text>'
            )
    out.append("</svg>")
    return "".join(out)


def lines(
    title: str,
    times: Sequence[float],
    series: Mapping[str, Sequence[float]],
    zone: tzinfo,
    span: float = 3600.0,
    end: float | None = None,
) -> str:
    """One line per series over the last ``span`` seconds up to ``end``."""
    names = list(series)
    top = _nice(max((max(v, default=0) for v in series.values()), default=0))
    out = _frame(title, top, names, WIDE)
    plot_w = WIDE - _LEFT - _RIGHT
    plot_h = _H - _TOP - _BOTTOM
    end = end if end is not None else (times[-1] if times else 0.0)
    start = end - span

    def x_of(t: float) -> float:
        return _LEFT + plot_w * (t - start) / span

    for k in range(7):
        t = start + span * k / 6
        label = datetime.fromtimestamp(t, zone).strftime("%H:%M") if t > 0 else ""
        anchor = "start" if k == 0 else ("end" if k == 6 else "middle")
        out.append(
            f'<text x="{x_of(t):.1f}" y="{_TOP + plot_h + 14}" text-anchor="{anchor}" '
            f'fill="#6b7385">{escape(label)}</text>'
        )
    if not times:
        out.append(
            f'<text x="{WIDE / 2}" y="{_TOP + plot_h / 2}" text-anchor="middle" fill="#6b7385">'
            "no samples yet: a running daemon takes one every 10 s</text>"
        )
    for name in names:
        points = [
            f"{x_of(t):.1f},{_TOP + plot_h - plot_h * float(v) / top:.1f}"
            for t, v in zip(times, series[name], strict=True)
            if t >= start
        ]
        color = COLORS.get(name, "#555")
        if len(points) > 1:
            out.append(
                f'<polyline fill="none" stroke="{color}" stroke-width="2" '
                f'points="{" ".join(points)}"/>'
            )
        if points:  # the latest sample, as a dot (a lone sample is only a dot)
            x, y = points[-1].split(",")
            out.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{color}"/>')
    out.append("</svg>")
    return "".join(out)

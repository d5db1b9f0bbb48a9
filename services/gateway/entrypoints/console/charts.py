"""Charts drawn on the server as inline SVG: no script, nothing fetched, the same in any browser, offline.

Each chart is an `<svg role="img">` with a title and a description that say what it
shows; the page puts the same figures in a table beside it, for screen readers and
for copying. Colours meet WCAG AA contrast against white; a bar below its target is
also drawn hatched and labelled, so colour is never the only sign.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH = 720
LABEL_W = 190
VALUE_W = 110
ROW_H = 30
BAR_H = 18
TOP = 24
BOTTOM = 26
MET = "#1d4f91"  # 8.6:1 on white
SHORT = "#a3262a"  # 6.9:1 on white
NEUTRAL = "#3d4f5f"
TARGET = "#111111"
AXIS = "#6b6b6b"


@dataclass(frozen=True)
class Bar:
    label: str
    value: float | None  # in the chart's unit; None: nothing to draw (no rate)
    text: str  # the value as written beside the bar
    target: float | None = None  # a marker line, in the same unit
    target_text: str = ""
    meets: bool | None = None  # below its target: hatched and red


def _number(value) -> float | None:
    if value is None:
        return None
    return float(Decimal(str(value)))


def bar_chart(
    chart_id: str,
    title: str,
    description: str,
    bars: list[Bar],
    scale_max: float | None = None,
    axis_unit: str = "",
) -> Markup:
    """Horizontal bars, one per row, with an optional target marker on each."""
    plot_w = WIDTH - LABEL_W - VALUE_W
    highest = max([b.value or 0 for b in bars] + [b.target or 0 for b in bars] + [0])
    top_of_scale = scale_max if scale_max is not None and scale_max >= highest else _round_up(highest or 1)
    height = TOP + ROW_H * max(len(bars), 1) + BOTTOM

    def x(value: float) -> float:
        return LABEL_W + plot_w * max(0.0, min(value, top_of_scale)) / top_of_scale

    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-desc">{escape(description)}</desc>',
        f'<defs><pattern id="{escape(chart_id)}-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="{SHORT}"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#ffffff" stroke-width="2"/></pattern></defs>',
    ]
    for tick in range(0, 5):
        value = top_of_scale * tick / 4
        tx = x(value)
        parts.append(
            f'<line x1="{tx:.1f}" y1="{TOP - 6}" x2="{tx:.1f}" y2="{height - BOTTOM}" stroke="#d0d0d0" '
            'stroke-width="1"/>'
        )
        parts.append(
            f'<text x="{tx:.1f}" y="{height - 8}" font-size="12" text-anchor="middle" fill="{AXIS}">'
            f"{escape(_tick(value, axis_unit))}</text>"
        )
    if not bars:
        parts.append(
            f'<text x="{LABEL_W}" y="{TOP + 18}" font-size="14" fill="{NEUTRAL}">No figures yet</text>'
        )
    for index, bar in enumerate(bars):
        y = TOP + ROW_H * index
        parts.append(
            f'<text x="{LABEL_W - 8}" y="{y + BAR_H - 4}" font-size="13" text-anchor="end" '
            f'fill="#1a1a1a">{escape(bar.label)}</text>'
        )
        if bar.value is not None:
            fill = (
                f"url(#{escape(chart_id)}-hatch)" if bar.meets is False else (MET if bar.meets else NEUTRAL)
            )
            width = max(x(bar.value) - LABEL_W, 1.0)
            parts.append(f'<rect x="{LABEL_W}" y="{y}" width="{width:.1f}" height="{BAR_H}" fill="{fill}"/>')
        parts.append(
            f'<text x="{WIDTH - VALUE_W + 8}" y="{y + BAR_H - 4}" font-size="13" fill="#1a1a1a">'
            f"{escape(bar.text)}</text>"
        )
        if bar.target is not None:
            tx = x(bar.target)
            parts.append(
                f'<line x1="{tx:.1f}" y1="{y - 3}" x2="{tx:.1f}" y2="{y + BAR_H + 3}" stroke="{TARGET}" '
                f'stroke-width="3"><title>{escape(bar.target_text)}</title></line>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))


def _round_up(value: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above `value`: quarters that read well."""
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if step * power >= value)


def _tick(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:g} %"
    if value >= 1_000_000:
        return f"{value / 1_000_000:,.1f} M{unit}"
    if value >= 10_000:
        return f"{value / 1000:,.0f} k{unit}"
    return f"{value:,.0f}{unit}"


def collection_bars(rows: list[dict]) -> list[Bar]:
    from services.gateway.entrypoints.console.formatting import percent, target

    return [
        Bar(
            label=f"{row['category']} {row['year']}",
            value=_number(row.get("collection_rate_percent")),
            text=_with_target(percent(row.get("collection_rate_percent")), row),
            target=_number((row.get("target") or {}).get("percent")),
            target_text=target(row.get("target")),
            meets=row.get("meets_target"),
        )
        for row in rows
    ]


def recovery_bars(rows: list[dict]) -> list[Bar]:
    from services.gateway.entrypoints.console.formatting import percent, target

    return [
        Bar(
            label=row["material"],
            value=_number(row.get("recovery_rate_percent")),
            text=_with_target(percent(row.get("recovery_rate_percent")), row),
            target=_number((row.get("target") or {}).get("percent")),
            target_text=target(row.get("target")),
            meets=row.get("meets_target"),
        )
        for row in rows
    ]


def _with_target(text: str, row: dict) -> str:
    """The rate, and where it stands against the target in force: `0.00 % < 45 %`, `70.00 % ≥ 65 %`."""
    target = row.get("target")
    if not target:
        return text
    return f"{text} {'≥' if row.get('meets_target') else '<'} {target['percent']} %"

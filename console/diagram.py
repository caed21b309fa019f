"""`etcd-console diagram`: a recording's message sequence chart as SVG (or HTML, with hover).

Lanes run down the page, one per member; every message the chart shows (heartbeats folded
unless their types are asked for) is an arrow from its sender's lane at its send to its
receiver's lane at its receive, a lost one ends in a cross. Rows are spaced by the order of
sends, receives and marks, not by their times, so a burst stays readable; the times are
written at the left. Each arrow carries a <title> with every field of the message, which a
browser shows on hover.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from console.timeline import Arrow, Mark, RowFilter, Timeline, TraceEvent

LANE_GAP = 180
ROW_GAP = 22
TOP = 60
LEFT = 90
_COLOURS = {
    "MsgApp": "#2e7d32",
    "MsgAppResp": "#66bb6a",
    "MsgVote": "#8e24aa",
    "MsgVoteResp": "#ba68c8",
    "MsgPreVote": "#ab47bc",
    "MsgPreVoteResp": "#ce93d8",
    "MsgHeartbeat": "#9e9e9e",
    "MsgHeartbeatResp": "#bdbdbd",
    "MsgSnap": "#f9a825",
    "MsgReadIndex": "#00838f",
    "MsgReadIndexResp": "#4dd0e1",
    "MsgTimeoutNow": "#c62828",
}
_MARK_COLOURS = {
    "role": "#ef6c00",
    "vote": "#8e24aa",
    "fault": "#c62828",
    "gap": "#f9a825",
    "violation": "#b71c1c",
}


@dataclass(slots=True)
class DiagramChoice:
    """Which part of a recording to draw: seconds from its start, and message types."""

    start: float | None = None
    end: float | None = None
    types: frozenset[str] = frozenset()


def chart_of(events: list[TraceEvent], choice: DiagramChoice) -> tuple[Timeline, float]:
    """The timeline of `events` with the choice's filter, and the time of the first event."""
    timeline = Timeline(rows_kept=max(len(events), 1))
    origin = events[0].t if events else 0.0
    timeline.extend(events)
    show_heartbeats = bool(choice.types & {"MsgHeartbeat", "MsgHeartbeatResp"})
    timeline.set_filter(RowFilter(choice.types, frozenset(), show_heartbeats))
    return timeline, origin


def drawn_rows(timeline: Timeline, origin: float, choice: DiagramChoice) -> list[Arrow | Mark]:
    """The rows the diagram draws: the shown rows within [start, end] seconds of the origin."""
    low = origin + (choice.start or 0.0)
    high = origin + choice.end if choice.end is not None else float("inf")
    return [row for row in timeline.shown if low <= row.t <= high]


def svg_diagram(events: list[TraceEvent], choice: DiagramChoice) -> ET.Element:
    """The chart as an <svg> element."""
    timeline, origin = chart_of(events, choice)
    rows = drawn_rows(timeline, origin, choice)
    lanes = timeline.lanes
    moments = sorted(
        {row.t for row in rows}
        | {row.received for row in rows if isinstance(row, Arrow) and row.received is not None}
    )
    y_of = {moment: TOP + ROW_GAP * (i + 1) for i, moment in enumerate(moments)}
    x_of = {name: LEFT + LANE_GAP * i + LANE_GAP // 2 for i, name in enumerate(lanes)}
    width = LEFT + LANE_GAP * max(len(lanes), 1) + 40
    height = TOP + ROW_GAP * (len(moments) + 2)
    svg = ET.Element(
        "svg",
        xmlns="http://www.w3.org/2000/svg",
        width=str(width),
        height=str(height),
        viewBox=f"0 0 {width} {height}",
        attrib={"font-family": "monospace", "font-size": "11"},
    )
    defs = ET.SubElement(svg, "defs")
    marker = ET.SubElement(
        defs,
        "marker",
        id="head",
        viewBox="0 0 10 10",
        refX="10",
        refY="5",
        markerWidth="7",
        markerHeight="7",
        orient="auto-start-reverse",
    )
    ET.SubElement(marker, "path", d="M 0 0 L 10 5 L 0 10 z", fill="context-stroke")
    for name, x in x_of.items():
        ET.SubElement(
            svg,
            "text",
            x=str(x),
            y=str(TOP - 20),
            attrib={"text-anchor": "middle", "font-weight": "bold"},
        ).text = name
        ET.SubElement(
            svg,
            "line",
            x1=str(x),
            y1=str(TOP - 10),
            x2=str(x),
            y2=str(height - 10),
            stroke="#cfd8dc",
            attrib={"stroke-width": "2"},
        )
    for moment, y in y_of.items():
        ET.SubElement(
            svg, "text", x="4", y=str(y + 4), fill="#78909c"
        ).text = f"{(moment - origin) * 1000:.1f} ms"
    for row in rows:
        if isinstance(row, Mark):
            _mark(svg, row, x_of, y_of[row.t])
        elif row.source in x_of and row.target in x_of:
            _arrow(svg, row, x_of, y_of, timeline.names)
    return svg


def _arrow(
    svg: ET.Element,
    arrow: Arrow,
    x_of: dict[str, int],
    y_of: dict[float, int],
    names: dict[str, str],
) -> None:
    colour = _COLOURS.get(arrow.type, "#455a64")
    group = ET.SubElement(svg, "g", attrib={"class": "arrow", "data-type": arrow.type})
    ET.SubElement(group, "title").text = "\n".join(arrow.describe(names))
    x1, y1 = x_of[arrow.source], y_of[arrow.sent]
    x2 = x_of[arrow.target]
    lost = arrow.received is None
    y2 = y1 + ROW_GAP if lost else y_of[arrow.received or arrow.sent]
    if lost:
        x2 = (x1 + x2) // 2
    attrib = {"stroke-width": "1.5"}
    if not lost:
        attrib["marker-end"] = "url(#head)"
    else:
        attrib["stroke-dasharray"] = "4 3"
    ET.SubElement(
        group, "line", x1=str(x1), y1=str(y1), x2=str(x2), y2=str(y2), stroke=colour, attrib=attrib
    )
    if lost:
        ET.SubElement(group, "text", x=str(x2 - 4), y=str(y2 + 4), fill="#c62828").text = "✕"
    ET.SubElement(
        group,
        "text",
        x=str((x1 + x2) // 2),
        y=str((y1 + y2) // 2 - 3),
        fill=colour,
        attrib={"text-anchor": "middle"},
    ).text = arrow.label()


def _mark(svg: ET.Element, mark: Mark, x_of: dict[str, int], y: int) -> None:
    if mark.member not in x_of:
        return
    colour = _MARK_COLOURS.get(mark.kind, "#455a64")
    group = ET.SubElement(svg, "g", attrib={"class": "mark", "data-kind": mark.kind})
    ET.SubElement(group, "title").text = "\n".join(mark.describe())
    x = x_of[mark.member]
    ET.SubElement(
        group,
        "rect",
        x=str(x - 5),
        y=str(y - 5),
        width="10",
        height="10",
        fill=colour,
        transform=f"rotate(45 {x} {y})",
    )
    ET.SubElement(group, "text", x=str(x + 9), y=str(y + 4), fill=colour).text = mark.text


_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
g.arrow:hover line {{ stroke-width: 4; }}
g.arrow:hover text, g.mark:hover text {{ font-weight: bold; }}
#fields {{ position: fixed; right: 1em; top: 1em; white-space: pre; font-family: monospace;
  background: #fafafa; border: 1px solid #ccc; padding: .5em; min-width: 20em; }}
</style></head>
<body><h3>{title}</h3><div id="fields">hover a message</div>
{svg}
<script>
for (const g of document.querySelectorAll("g.arrow, g.mark")) {{
  g.addEventListener("mouseenter", () => {{
    document.getElementById("fields").textContent = g.querySelector("title").textContent;
  }});
}}
</script></body></html>
"""


def render(events: list[TraceEvent], choice: DiagramChoice, html: bool, title: str) -> str:
    """The diagram as an SVG document, or an HTML page showing a message's fields on hover."""
    svg = svg_diagram(events, choice)
    ET.indent(svg)
    text = ET.tostring(svg, encoding="unicode")
    if html:
        return _HTML.format(title=_escape(title), svg=text)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

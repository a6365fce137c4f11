"""HTML page scaffolding shared by the report, comparison and sizing pages.

A page is one self-contained file: plotly.js and the styles are inlined and nothing is fetched,
so it opens offline and can be attached to a ticket. Tables sort by clicking their headers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from html import escape
from typing import Any

from plotly.offline import get_plotlyjs

from profiler import __version__

FONT = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif"
# no "Share chart" button: it uploads the chart to Plotly Cloud, and the page must stay offline
_CONFIG = {
    "displaylogo": False,
    "responsive": True,
    "showSendToCloud": False,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "sendChartToCloud"],
}

_CSS = """
:root { --ink: #1f2933; --muted: #616e7c; --line: #e4e7eb; --bg: #f7f8fa; --accent: #1f6fb2; }
* { box-sizing: border-box; }
body { margin: 0; font-family: FONT; color: var(--ink); background: var(--bg); line-height: 1.45; font-size: 15px; }
header { background: #16202c; color: #fff; padding: 22px 0 18px; }
.wrap { max-width: 1180px; margin: 0 auto; padding: 0 24px; }
header h1 { margin: 0 0 6px; font-size: 22px; font-weight: 600; letter-spacing: .2px; }
header .meta { color: #c3ccd6; font-size: 14px; }
header .meta b { color: #fff; font-weight: 600; }
.badge { display: inline-block; padding: 2px 8px; border-radius: 4px; font-size: 12px; font-weight: 700;
  letter-spacing: .5px; vertical-align: 2px; margin-left: 8px; }
.badge.sim { background: #f0b429; color: #16202c; }
.badge.est { background: #e4e7eb; color: #3e4c59; font-weight: 600; letter-spacing: 0; margin-left: 4px; }
main { padding: 8px 0 40px; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 18px 22px; margin: 18px 0; }
section h2 { margin: 0 0 4px; font-size: 18px; font-weight: 600; }
section p.intro { margin: 0 0 12px; color: var(--muted); font-size: 14px; }
section h3 { margin: 16px 0 4px; font-size: 15px; font-weight: 600; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(220px, 1fr)); gap: 14px; margin-top: 10px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 12px 14px; background: #fcfcfd; }
.card .label { color: var(--muted); font-size: 13px; }
.card .value { font-size: 28px; font-weight: 600; font-variant-numeric: tabular-nums; margin: 2px 0; }
.card .value small { font-size: 15px; font-weight: 500; color: var(--muted); }
.card .note { color: var(--muted); font-size: 12px; }
.grid2 { display: grid; grid-template-columns: minmax(0, 1fr) minmax(0, 1fr); gap: 18px; }
@media (max-width: 900px) { .grid2 { grid-template-columns: minmax(0, 1fr); } }
table { border-collapse: collapse; width: 100%; font-size: 14px; margin: 8px 0; }
th, td { padding: 6px 9px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; white-space: normal; }
td.name { white-space: nowrap; }
.scroll { overflow-x: auto; }
th { font-weight: 600; color: #3e4c59; background: #f5f7fa; }
td { font-variant-numeric: tabular-nums; }
tbody tr:hover { background: #f5f9fd; }
tr.total td { font-weight: 600; border-top: 2px solid #cbd2d9; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th::after { content: " \\2195"; color: #9aa5b1; font-size: 11px; }
table.sortable th[data-order=asc]::after { content: " \\2191"; color: var(--accent); }
table.sortable th[data-order=desc]::after { content: " \\2193"; color: var(--accent); }
.caption { color: var(--muted); font-size: 13px; margin: 2px 0 8px; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: 0; }
.notice { background: #fffbea; border: 1px solid #f0d98c; border-radius: 6px; padding: 10px 14px; font-size: 14px; }
ul.notes { margin: 6px 0; padding-left: 20px; font-size: 14px; }
ul.notes li { margin: 3px 0; }
.tag { font-weight: 600; color: #8d5a00; }
code { background: #f0f2f5; padding: 1px 5px; border-radius: 3px; font-size: 13px; }
footer { color: var(--muted); font-size: 12px; padding: 0 0 30px; }
footer code { word-break: break-all; }
""".replace("FONT", FONT)

_SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th").forEach(function (th, column) {
    th.addEventListener("click", function () {
      var ascending = th.dataset.order !== "asc";
      table.querySelectorAll("th").forEach(function (h) { delete h.dataset.order; });
      th.dataset.order = ascending ? "asc" : "desc";
      var key = function (row) {
        var cell = row.cells[column];
        return cell.dataset.v !== undefined ? parseFloat(cell.dataset.v) : cell.textContent.trim().toLowerCase();
      };
      var body = table.tBodies[0];
      Array.from(body.rows).sort(function (a, b) {
        var x = key(a), y = key(b);
        return (x < y ? -1 : x > y ? 1 : 0) * (ascending ? 1 : -1);
      }).forEach(function (row) { body.appendChild(row); });
    });
  });
});
"""


@dataclass(frozen=True)
class Cell:
    """A table cell: the text shown, and the number it sorts by (None: sort by text)."""

    text: str
    sort: float | None = None
    css: str = ""


def num(value: float | None, fmt: str = "{:.3f}", css: str = "") -> Cell:
    if value is None:
        return Cell("–", float("-inf"))
    return Cell(fmt.format(value), float(value), css)


def table(
    columns: list[str],
    rows: list[list[Cell]],
    *,
    sortable: bool = True,
    caption: str = "",
    total: list[Cell] | None = None,
) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_td(c) for c in r) + "</tr>" for r in rows)
    foot = "<tfoot><tr class='total'>" + "".join(_td(c) for c in total) + "</tr></tfoot>" if total else ""
    css = " class='sortable'" if sortable else ""
    return (
        f"<div class='scroll'><table{css}><thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table></div>"
        + (f"<div class='caption'>{escape(caption)}</div>" if caption else "")
    )


def _td(cell: Cell) -> str:
    if cell.sort is None:
        value = ""
    else:  # JavaScript's parseFloat reads "-Infinity", not Python's "-inf"
        value = " data-v='-Infinity'" if cell.sort == float("-inf") else f" data-v='{cell.sort!r}'"
    css = f" class='{cell.css}'" if cell.css else ""
    return f"<td{value}{css}>{cell.text}</td>"


def card(label: str, value: str, note: str = "", *, estimate: bool = False) -> str:
    badge = "<span class='badge est'>estimate</span>" if estimate else ""
    return (
        f"<div class='card'><div class='label'>{escape(label)}{badge}</div>"
        f"<div class='value'>{value}</div><div class='note'>{escape(note)}</div></div>"
    )


def section(anchor: str, title: str, intro: str, *parts: str) -> str:
    lead = f"<p class='intro'>{intro}</p>" if intro else ""
    return f"<section id='{anchor}'><h2>{escape(title)}</h2>{lead}{''.join(parts)}</section>"


def notice(text: str) -> str:
    return f"<div class='notice'>{text}</div>"


def notes(items: list[tuple[str, str]]) -> str:
    """A list of (tag, text) notes; the text is escaped here."""
    if not items:
        return ""
    lines = "".join(f"<li><span class='tag'>{escape(tag)}</span>: {escape(text)}</li>" for tag, text in items)
    return f"<ul class='notes'>{lines}</ul>"


class Figures:
    """Embeds plotly figures with stable element ids (the same run renders the same page)."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)

    def __call__(self, figure: Any) -> str:
        html: str = figure.to_html(
            full_html=False, include_plotlyjs=False, config=_CONFIG, div_id=f"chart-{next(self._ids)}"
        )
        return html


def header(title: str, meta: list[str], *, simulated: bool) -> str:
    badge = "<span class='badge sim'>SIMULATED timing</span>" if simulated else ""
    lines = "<br>".join(meta)
    return f"<header><div class='wrap'><h1>{escape(title)}{badge}</h1><div class='meta'>{lines}</div></div></header>"


def page(title: str, top: str, body: list[str], regenerate: str) -> str:
    """The whole document: inline styles, inline plotly.js, the sections, and a sorting script."""
    footer = (
        f"<footer><div class='wrap'>orchestrace {escape(__version__)} · regenerate with "
        f"<code>{escape(regenerate)}</code> · self-contained page (no network needed)</div></footer>"
    )
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{escape(title)}</title><style>{_CSS}</style>"
        f"<script>{get_plotlyjs()}</script></head><body>{top}"
        f"<main><div class='wrap'>{''.join(body)}</div></main>{footer}"
        f"<script>{_SORT_JS}</script></body></html>\n"
    )

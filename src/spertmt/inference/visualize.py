"""A self-contained HTML page of predictions (`spertmt visualize`), readable in any browser.

Each document is drawn as SVG: words in a row, entities as coloured boxes with their type under
them, relations as labelled arcs above (arrow at the tail). With gold documents, a "gold" row
sits under the "predicted" row and errors are marked: a predicted entity or relation that is not
in the gold is red and dashed (false positive), a gold one that was not predicted is dashed in
the gold row (missed). No script, no external file: the page works offline and prints.
"""

from __future__ import annotations

import html
from pathlib import Path

from ..data.documents import Document, Types, symmetric_types
from ..evaluate import relation_key

PALETTE = ["#8dd3c7", "#ffd92f", "#bebada", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#fccde5", "#bc80bd",
           "#ccebc5"]
ERROR = "#d7191c"
CHAR_WIDTH = 8.5  # px per character of the 14 px monospace font
WORD_GAP = 10
ROW_HEIGHT = 22

STYLE = """
body { font-family: sans-serif; margin: 24px; color: #222; }
h1 { font-size: 20px; } h2 { font-size: 15px; margin: 18px 0 4px; }
.legend span { display: inline-block; padding: 2px 8px; margin: 2px; border-radius: 3px; font-size: 13px; }
.doc { border-top: 1px solid #ddd; padding: 6px 0 10px; }
.row { overflow-x: auto; }
.label { font-size: 12px; color: #666; margin: 2px 0; }
svg text.word { font-family: monospace; font-size: 14px; }
svg text.tag { font-family: sans-serif; font-size: 10px; }
svg text.rel { font-family: sans-serif; font-size: 11px; }
.summary td, .summary th { padding: 2px 10px; text-align: right; }
"""


def _entity_key(doc: Document, k: int) -> tuple:
    e = doc.entities[k]
    return e.start, e.end, e.type


def _layout(tokens: list[str]) -> list[tuple[float, float]]:
    """x start and width of each word."""
    x, boxes = 10.0, []
    for token in tokens:
        width = max(1, len(token)) * CHAR_WIDTH
        boxes.append((x, width))
        x += width + WORD_GAP
    return boxes


def _svg(doc: Document, colors: dict[str, str], wrong_entities: set[int], wrong_relations: set[int],
         symmetric: set[str]) -> str:
    boxes = _layout(doc.tokens)
    width = (boxes[-1][0] + boxes[-1][1] + 20) if boxes else 100
    # Each arc takes the lowest level where no other arc covers the same words: short arcs sit
    # low, arcs over them higher, and labels of arcs side by side do not collide.
    ranges = [sorted((doc.entities[r.head].start, doc.entities[r.tail].start)) for r in doc.relations]
    order = sorted(range(len(ranges)), key=lambda k: ranges[k][1] - ranges[k][0])
    levels: dict[int, int] = {}
    used: list[list[tuple[int, int]]] = []
    for k in order:
        a, b = ranges[k]
        level = next((i for i, taken in enumerate(used) if all(b < c or a > d for c, d in taken)), None)
        if level is None:
            used.append([])
            level = len(used) - 1
        used[level].append((a, b))
        levels[k] = level + 1
    arc_top = 20 * (len(used) + 1) + 6 if doc.relations else 6
    word_y = arc_top + 16
    parts = []
    for token, (x, _width) in zip(doc.tokens, boxes):
        parts.append(f'<text class="word" x="{x:.1f}" y="{word_y}">{html.escape(token)}</text>')
    tag_rows: list[list[tuple[float, float]]] = []
    for k, e in enumerate(doc.entities):
        x0 = boxes[e.start][0] - 3
        x1 = boxes[e.end - 1][0] + boxes[e.end - 1][1] + 3
        row = next((i for i, used in enumerate(tag_rows) if all(x1 < a or x0 > b for a, b in used)), None)
        if row is None:
            tag_rows.append([])
            row = len(tag_rows) - 1
        tag_rows[row].append((x0, x1))
        y = word_y - 14  # overlapping (nested) boxes share the line; their tags stack below
        wrong = k in wrong_entities
        stroke = f' stroke="{ERROR}" stroke-width="2" stroke-dasharray="4 2"' if wrong else ""
        parts.insert(0, f'<rect x="{x0:.1f}" y="{y}" width="{x1 - x0:.1f}" height="19" rx="3" '
                        f'fill="{colors.get(e.type, "#ddd")}" fill-opacity="0.75"{stroke}/>')
        tag_y = word_y + 16 + row * 13
        label = e.type + (" ✗" if wrong else "")
        parts.append(f'<text class="tag" x="{x0 + 2:.1f}" y="{tag_y}" fill="{ERROR if wrong else "#333"}">'
                     f'{html.escape(label)}</text>')
    for k, r in enumerate(doc.relations):
        head, tail = doc.entities[r.head], doc.entities[r.tail]
        hx = boxes[head.start][0] + (boxes[head.end - 1][0] + boxes[head.end - 1][1] - boxes[head.start][0]) / 2
        tx = boxes[tail.start][0] + (boxes[tail.end - 1][0] + boxes[tail.end - 1][1] - boxes[tail.start][0]) / 2
        top = arc_top - 20 * levels[k] - 10
        wrong = k in wrong_relations
        color = ERROR if wrong else "#444"
        dash = ' stroke-dasharray="5 3"' if wrong else ""
        bottom = word_y - 16
        parts.append(f'<path d="M {hx:.1f} {bottom} C {hx:.1f} {top}, {tx:.1f} {top}, {tx:.1f} {bottom}" '
                     f'fill="none" stroke="{color}" stroke-width="1.5"{dash}/>')
        parts.append(f'<path d="M {tx - 4:.1f} {bottom - 7} L {tx:.1f} {bottom} L {tx + 4:.1f} {bottom - 7}" '
                     f'fill="none" stroke="{color}" stroke-width="1.5"/>')
        label = r.type + (" ✗" if wrong else "")
        peak = bottom + 0.75 * (top - bottom)  # the highest point of the curve
        parts.append(f'<text class="rel" x="{(hx + tx) / 2:.1f}" y="{peak - 3:.1f}" text-anchor="middle" '
                     f'fill="{color}">{html.escape(label)}</text>')
    height = word_y + 20 + 13 * max(1, len(tag_rows))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height}">'
            + "".join(parts) + "</svg>")


def render_html(predicted: list[Document], gold: list[Document] | None = None, types: Types | None = None,
                title: str = "spertmt predictions", limit: int | None = None) -> str:
    """The whole page as a string."""
    if gold is not None and len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold documents but {len(predicted)} predicted documents")
    names = [t.name for t in types.entities] if types else sorted({e.type for d in predicted + (gold or [])
                                                                 for e in d.entities})
    colors = {name: PALETTE[i % len(PALETTE)] for i, name in enumerate(names)}
    symmetric = symmetric_types(types)
    counts = {"entities": [0, 0, 0], "relations": [0, 0, 0]}  # correct, false positive, missed
    sections = []
    for i, doc in enumerate(predicted[:limit] if limit else predicted):
        rows = []
        if gold is not None:
            g = gold[i]
            if g.tokens != doc.tokens:
                raise ValueError(f"document {i}: the predicted document's tokens differ from the gold document's")
            gold_e = {_entity_key(g, k) for k in range(len(g.entities))}
            pred_e = {_entity_key(doc, k) for k in range(len(doc.entities))}
            gold_r = {relation_key(g, r, symmetric) for r in g.relations}
            pred_r = {relation_key(doc, r, symmetric) for r in doc.relations}
            fp_e = {k for k in range(len(doc.entities)) if _entity_key(doc, k) not in gold_e}
            fn_e = {k for k in range(len(g.entities)) if _entity_key(g, k) not in pred_e}
            fp_r = {k for k, r in enumerate(doc.relations) if relation_key(doc, r, symmetric) not in gold_r}
            fn_r = {k for k, r in enumerate(g.relations) if relation_key(g, r, symmetric) not in pred_r}
            for key, (correct, fp, fn) in (("entities", (len(pred_e & gold_e), len(pred_e - gold_e),
                                                         len(gold_e - pred_e))),
                                           ("relations", (len(pred_r & gold_r), len(pred_r - gold_r),
                                                          len(gold_r - pred_r)))):
                counts[key] = [a + b for a, b in zip(counts[key], (correct, fp, fn))]
            rows.append(
                f'<div class="label">predicted</div><div class="row">{_svg(doc, colors, fp_e, fp_r, symmetric)}</div>'
            )
            rows.append(f'<div class="label">gold (dashed: missed)</div><div class="row">'
                        f'{_svg(g, colors, fn_e, fn_r, symmetric)}</div>')
        else:
            rows.append(f'<div class="row">{_svg(doc, colors, set(), set(), symmetric)}</div>')
        ident = "" if doc.orig_id is None else f" ({html.escape(str(doc.orig_id))})"
        sections.append(f'<div class="doc"><h2>Document {i}{ident}</h2>{"".join(rows)}</div>')
    legend = "".join(f'<span style="background:{c}">{html.escape(n)}</span>' for n, c in colors.items())
    summary = ""
    if gold is not None:
        summary = ('<table class="summary"><tr><th></th><th>correct</th><th>false positives</th><th>missed</th></tr>'
                   + "".join(f"<tr><th>{key}</th>" + "".join(f"<td>{v}</td>" for v in vals) + "</tr>"
                             for key, vals in counts.items()) + "</table>")
    return (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"
            f'<div class="legend">{legend}</div>{summary}{"".join(sections)}</body></html>')


def write_html(path: str | Path, predicted: list[Document], gold: list[Document] | None = None,
               types: Types | None = None, limit: int | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(predicted, gold, types, limit=limit), encoding="utf-8")
    return path

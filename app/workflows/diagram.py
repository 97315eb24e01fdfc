"""A definition drawn as SVG on the server (no browser JS): states in layers by distance from the start."""

from __future__ import annotations

from html import escape

from app.workflows.definition import Definition

BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 150, 44, 90, 36, 20


def layers(definition: Definition) -> dict[str, tuple[int, int]]:
    """State code -> (layer, row): breadth-first from the initial state, unreachable ones last."""
    depth = {definition.initial.code: 0}
    queue = [definition.initial.code]
    while queue:
        code = queue.pop(0)
        for t in definition.transitions:
            if code in t.from_states and t.to not in depth:
                depth[t.to] = depth[code] + 1
                queue.append(t.to)
    last = max(depth.values(), default=0) + 1
    rows: dict[int, int] = {}
    out = {}
    for s in definition.states:
        layer = depth.get(s.code, last)
        out[s.code] = (layer, rows.get(layer, 0))
        rows[layer] = rows.get(layer, 0) + 1
    return out


def to_svg(definition: Definition) -> str:
    pos = layers(definition)
    width = PAD * 2 + (max(x for x, _ in pos.values()) + 1) * (BOX_W + GAP_X)
    height = PAD * 2 + (max(y for _, y in pos.values()) + 1) * (BOX_H + GAP_Y) + 30

    def box(code: str) -> tuple[float, float]:
        x, y = pos[code]
        return PAD + x * (BOX_W + GAP_X), PAD + 20 + y * (BOX_H + GAP_Y)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="cd-wf-diagram" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" font-size="12" font-family="sans-serif">',
             '<defs><marker id="cd-arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" orient="auto">'
             '<path d="M0,0 L8,4 L0,8 z" fill="#555"/></marker></defs>']
    for t in definition.transitions:
        for f in t.from_states:
            (x1, y1), (x2, y2) = box(f), box(t.to)
            back = pos[t.to][0] <= pos[f][0]
            sx, ex = (x1 + BOX_W, x2) if not back else (x1, x2 + BOX_W)
            sy, ey = y1 + BOX_H / 2, y2 + BOX_H / 2
            bend = -(BOX_H / 2 + 14) if back else 0
            mx, my = (sx + ex) / 2, (sy + ey) / 2 + bend
            dash = ' stroke-dasharray="4 3"' if t.returns else ""
            parts.append(f'<path d="M{sx:.0f},{sy:.0f} Q{mx:.0f},{my + bend:.0f} {ex:.0f},{ey:.0f}" fill="none" '
                         f'stroke="#555"{dash} marker-end="url(#cd-arrow)"><title>{escape(t.label)}</title></path>')
            extra = "（会签）" if t.approval else ""
            parts.append(f'<text x="{mx:.0f}" y="{my - 4:.0f}" text-anchor="middle" fill="#333">'
                         f'{escape(t.label + extra)}</text>')
    for s in definition.states:
        x, y = box(s.code)
        fill = "#dff0d8" if s.final else ("#fcf8e3" if s.timer else "#d9edf7")
        stroke = 'stroke-width="3"' if s.code == definition.initial.code else 'stroke-width="1"'
        parts.append(f'<g class="cd-wf-state" data-state="{escape(s.code)}"><rect x="{x}" y="{y}" width="{BOX_W}" '
                     f'height="{BOX_H}" rx="6" fill="{fill}" stroke="#31708f" {stroke}/>')
        parts.append(f'<text x="{x + BOX_W / 2}" y="{y + 18}" text-anchor="middle" font-weight="bold">'
                     f'{escape(s.label)}</text>')
        if s.timer:
            note = (f"{s.timer.duration_days}天" if s.timer.duration_days else
                    f"{s.timer.duration_months}个月" if s.timer.duration_months else f"{s.timer.deadline}前")
            parts.append(f'<text x="{x + BOX_W / 2}" y="{y + 34}" text-anchor="middle" fill="#8a6d3b">⏱ {note}</text>')
        parts.append("</g>")
    parts.append("</svg>")
    return "".join(parts)

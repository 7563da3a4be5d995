"""HTML and text renderings of results and monitor reports.

Every string that comes from a policy, a frame or a path is escaped: a
control id or a group name is user data.
"""

from __future__ import annotations

from html import escape

_COLOURS = {"pass": "#2e7d32", "fail": "#c62828", "error": "#616161", "inconclusive": "#ef6c00"}


def _num(v, digits: int = 4) -> str:
    return "—" if v is None else f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def _ci(ci) -> str:
    return f"[{_num(ci['lower'])}, {_num(ci['upper'])}]" if ci else "—"


def _errors(summary: dict) -> str:
    return f", {summary['errors']} error(s)" if summary["errors"] else ""


def compliance_html(data: dict, svg: str | None) -> str:
    passed = data["passed"]
    s = data["summary"]
    title = data["policy"].get("title") or data["policy"].get("path") or "policy"
    verdict = "PASSED" if passed else "FAILED"
    colour = _COLOURS["pass" if passed else "fail"]
    rows = []
    for c in data["controls"]:
        status = c["status"]
        note = c.get("reason") if status != "pass" else None
        mode = "" if c.get("enforcement_mode", "block") == "block" else f" ({escape(c['enforcement_mode'])})"
        rows.append(
            "<tr>"
            f'<td><span style="background:{_COLOURS.get(status, "#616161")};color:#fff;'
            f'border-radius:3px;padding:0 6px;font-weight:600">{escape(status.upper())}</span>{mode}</td>'
            f"<td><code>{escape(c['id'])}</code></td>"
            f"<td>{escape(c['metric_key'])}</td>"
            f"<td style='text-align:right'>{escape(_num(c.get('actual_value')))}</td>"
            f"<td>{escape(c['operator'])} {escape(_num(c['threshold']))}</td>"
            f"<td>{escape(_ci(c.get('ci')))}</td>"
            f"<td>{escape(note or '')}</td>"
            "</tr>"
        )
    chart = f'<div class="vl-chart">{svg}</div>' if svg else ""
    return (
        '<div class="venturalitica-compliance" style="font-family:sans-serif;font-size:13px">'
        f'<div><span style="background:{colour};color:#fff;border-radius:4px;padding:2px 8px;'
        f'font-weight:700">{verdict}</span> '
        f"<b>{escape(str(title))}</b> · {s['passed']}/{s['total']} passed"
        f"{_errors(s)} · data {escape(str(data['data'].get('source', '')))}</div>"
        '<table style="border-collapse:collapse;margin-top:4px">'
        "<thead><tr><th>status</th><th>control</th><th>metric</th><th>value</th>"
        "<th>threshold</th><th>95% CI</th><th>note</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>{chart}</div>"
    )


def compliance_text(data: dict) -> str:
    s = data["summary"]
    title = data["policy"].get("title") or data["policy"].get("path") or "policy"
    lines = [f"{'PASSED' if data['passed'] else 'FAILED'}: {title} ({s['passed']}/{s['total']} passed{_errors(s)})"]
    for c in data["controls"]:
        line = (
            f"  {c['status'].upper():5} {c['id']}: {c['metric_key']} = {_num(c.get('actual_value'))} "
            f"(needs {c['operator']} {_num(c['threshold'])}; CI {_ci(c.get('ci'))})"
        )
        if c["status"] != "pass" and c.get("reason"):
            line += f" — {c['reason']}"
        lines.append(line)
    return "\n".join(lines)


def _joules(value: float, low: float | None, high: float | None) -> str:
    """``36.2 J (18.1–54.2 J)``: a figure with its error band when it has one."""
    if low is None or high is None:
        return f"{value:.4g} J"
    return f"{value:.4g} J ({low:.3g}–{high:.3g} J)"


def _energy_cells(report: dict) -> list[tuple[str, str]]:
    total = _joules(report["total_j"], report.get("total_low_j"), report.get("total_high_j"))
    cells = [("time", f"{report['wall_s']:.3g} s"), ("energy", total)]
    for name in ("cpu", "ram", "gpu"):
        if part := report.get(name):
            idle = ", memory held on an idle GPU" if part.get("activity") == "idle" else ""
            joules = _joules(part["joules"], part.get("low_j"), part.get("high_j"))
            cells.append((name, f"{joules} ({part['method']}{idle})"))
    cells.append(("CO2e", f"{report['co2e_g']:.4g} g"))
    cells.append(("peak RAM", f"{report['peak_rss_bytes'] / 2**20:.1f} MiB"))
    return cells


def energy_html(name: str, report: dict) -> str:
    cells = "".join(
        f'<span style="margin-right:12px"><b>{escape(k)}</b> {escape(v)}</span>' for k, v in _energy_cells(report)
    )
    return (
        '<div class="venturalitica-energy" style="font-family:sans-serif;font-size:13px">'
        f"<code>{escape(name)}</code> · {cells}</div>"
    )


def energy_text(name: str, report: dict) -> str:
    return f"{name}: " + ", ".join(f"{k} {v}" for k, v in _energy_cells(report))

"""The fidelity section of the HTML reports (load and drill): one rendering of ``fidelity_report``."""

from __future__ import annotations

from html import escape
from typing import Any


def fidelity_section_html(report: dict[str, Any] | None) -> str:
    if not report:
        return ""
    rows = "".join(
        f"<tr><td><code>{escape(d['id'])}</code></td><td>{escape(d['differs'])}</td>"
        f"<td>{escape(d['not_fixed'])}</td></tr>"
        for d in report.get("divergences", [])
    )
    table = (
        f"<table><tr><th>divergence</th><th>what differs</th><th>why it stays</th></tr>{rows}</table>" if rows else ""
    )
    python = report.get("functions_python")
    ran_on = f"<p class='note'>{escape(python['line'])}.</p>" if python else ""
    return f"<h2>Fidelity ({escape(report['target'])})</h2><p class='note'>{escape(report['note'])}.</p>{ran_on}{table}"

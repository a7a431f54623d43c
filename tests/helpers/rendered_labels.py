"""A report page laid out by headless Chromium, and the boxes its SVG charts' text labels take.

No browser driver is needed: a script added to the page measures every ``<text>`` of every
``<svg>`` after layout (``getBoundingClientRect``, so rotations and transforms count) and writes
the boxes into a ``<pre>``; Chromium's ``--dump-dom`` prints the page as it then is.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
VIEWPORT_WIDTH = 1280
# Boxes that share less than this many pixels each way only touch (anti-aliased edges).
TOUCH_PX = 1.0
RENDER_TIMEOUT_S = 90

_MEASURE = """
<pre id="label-boxes"></pre>
<script>
(function () {
  const charts = [];
  document.querySelectorAll("svg").forEach(function (svg, index) {
    const figure = svg.closest("figure");
    const caption = figure && figure.querySelector("figcaption");
    const name = caption ? caption.textContent : (svg.getAttribute("aria-label") || "svg " + index);
    const labels = [];
    svg.querySelectorAll("text").forEach(function (text) {
      const box = text.getBoundingClientRect();
      labels.push({text: text.textContent, left: box.left, top: box.top, right: box.right, bottom: box.bottom});
    });
    charts.push({chart: name, labels: labels});
  });
  document.getElementById("label-boxes").textContent = JSON.stringify(charts);
})();
</script>
"""
_BOXES = re.compile(r'<pre id="label-boxes">(.*?)</pre>', re.DOTALL)


@dataclass(frozen=True)
class LabelBox:
    text: str
    left: float
    top: float
    right: float
    bottom: float

    def overlaps(self, other: LabelBox) -> bool:
        across = min(self.right, other.right) - max(self.left, other.left)
        down = min(self.bottom, other.bottom) - max(self.top, other.top)
        return across > TOUCH_PX and down > TOUCH_PX


@dataclass(frozen=True)
class Chart:
    name: str
    labels: list[LabelBox]

    def overlapping_labels(self) -> list[tuple[str, str]]:
        drawn = [label for label in self.labels if label.text.strip() and label.right > label.left]
        return [(a.text, b.text) for a, b in combinations(drawn, 2) if a.overlaps(b)]


class ChromiumFailed(Exception):
    """Chromium did not lay out the page (it failed, or printed no measurements)."""


def rendered_charts(page: str, work_dir: Path) -> list[Chart]:
    """Every SVG chart of ``page`` (a whole HTML document) with its labels' boxes, as Chromium
    lays the page out in a window ``VIEWPORT_WIDTH`` px wide."""
    page_file = work_dir / "page.html"
    page_file.write_text(page.replace("</body>", _MEASURE + "</body>", 1))
    with tempfile.TemporaryDirectory(dir=work_dir) as profile:  # a fresh profile: nothing carried over
        result = subprocess.run(
            [
                str(CHROMIUM),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--disable-sync",
                f"--user-data-dir={profile}",
                f"--window-size={VIEWPORT_WIDTH},2000",
                "--dump-dom",
                page_file.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=RENDER_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    found = _BOXES.search(result.stdout)
    if result.returncode != 0 or found is None or not found.group(1):
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ChromiumFailed(f"chromium exited {result.returncode} without measurements: {last}")
    return [
        Chart(chart["chart"], [LabelBox(**label) for label in chart["labels"]])
        for chart in json.loads(html.unescape(found.group(1)))
    ]

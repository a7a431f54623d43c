"""The HTML reports can be read: fault labels never overlap, no series hides another, and the
load report says one thing about the load generator."""

from __future__ import annotations

import re

from chaos.report import LABEL_CHAR_PX, LEFT, RIGHT, SERIES, WIDTH, timeline_svg
from loadtests.report.html import _figures, generator_limits

LABEL = re.compile(r'<text class="fault-label" x="([\d.]+)" y="([\d.]+)"[^>]*text-anchor="(\w+)"[^>]*>([^<]+)</text>')


def outage_timeline() -> dict:
    """The downstream-outage drill: five faults switched on together, off together."""
    ids = [
        "outage-throttle0-r1b2c3",
        "outage-error1-r1b2c3",
        "outage-partner5xx2-r1b2c3",
        "outage-throttling3-r1b2c3",
        "outage-partnertimeout3-r1b2c3",
    ]
    marks = [{"t": 1.0 + index * 0.01, "kind": "fault_on", "detail": fault_id} for index, fault_id in enumerate(ids)]
    marks += [{"t": 30.0, "kind": "faults_off", "detail": "every fault removed"}]
    marks += [{"t": 58.0, "kind": "fault_on", "detail": "late-fault-near-the-right-edge"}]
    samples = [
        {"t": float(t), "queue_visible": 0, "queue_in_flight": 0, "dlq": 3, "processed": 20, "dead_lettered": 3}
        for t in range(60)
    ]
    return {"samples": samples, "marks": marks}


def label_boxes(svg: str) -> list[tuple[float, float, float, str]]:
    boxes = []
    for x, y, anchor, text in LABEL.findall(svg):
        width = len(text) * LABEL_CHAR_PX
        left = float(x) if anchor == "start" else float(x) - width
        boxes.append((left, left + width, float(y), text))
    return boxes


def test_fault_labels_do_not_overlap_and_stay_in_the_plot():
    boxes = label_boxes(timeline_svg(outage_timeline()))
    assert len(boxes) == 6
    for index, (left, right, y, text) in enumerate(boxes):
        assert LEFT <= left and right <= WIDTH - RIGHT, text
        for other_left, other_right, other_y, other in boxes[index + 1 :]:
            same_line = abs(y - other_y) < 11  # 10 px text: lines closer than this touch
            assert not (same_line and left < other_right and other_left < right), (text, other)


def test_the_dlq_depth_is_drawn_over_the_dead_lettered_line_and_dashed():
    svg = timeline_svg(outage_timeline())
    dead_lettered = svg.index('class="series-dead_lettered"')
    dlq = svg.index('class="series-dlq"')
    assert dead_lettered < dlq  # drawn later: on top where the two coincide
    assert "stroke-dasharray" in svg[dlq : svg.index("/>", dlq)]
    assert [key for key, _, _ in SERIES][-1] == "dlq"


def test_the_banner_and_the_figures_agree_about_the_load_generator():
    pool_exhausted = {"generator_saturated": False, "pool_exhausted": True, "e2e": {}}
    figures = dict((row[0], row[1]) for row in _figures(pool_exhausted))
    assert generator_limits(pool_exhausted) == "yes: user pool exhausted"
    assert figures["load generator limited this run"] == "yes: user pool exhausted"
    assert "generator saturated" not in figures  # the row that said "no" under a "limited" banner
    quiet = {"generator_saturated": False, "pool_exhausted": False, "e2e": {}}
    assert generator_limits(quiet) is None
    assert dict((row[0], row[1]) for row in _figures(quiet))["load generator limited this run"] == "no"

"""A load run set against an earlier one: read a run's summary, and the change of each headline figure.

A run is its ``summary.json`` or the report directory holding it (what ``hookstack load`` writes).
The compared figures are the ones a regression shows in first: acknowledgement latency, end-to-end
p99, error rate, achieved rate and drain time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from loadtests.model.gates import METRICS, Metric, format_value
from stack.errors import UsageError

SUMMARY_FILE = "summary.json"
# Keys every summary of `hookstack load` has: a JSON file without them is some other file.
_SUMMARY_KEYS = ("scenario", "p99_ms", "achieved_rps")
# (gate metric name, higher is better)
COMPARED: tuple[tuple[str, bool], ...] = (
    ("p50", False),
    ("p95", False),
    ("p99", False),
    ("max", False),
    ("e2e_p99", False),
    ("errors", False),
    ("achieved_rps", True),
    ("drain", False),
)
# Compared only when both runs measured them (partner-jobs runs).
COMPARED_WHEN_BOTH: tuple[tuple[str, bool], ...] = (("final_p99", False), ("jobs_per_s", True), ("lost", False))


class RunReadError(UsageError):
    """A path given as a run that is not a load run's summary (or its report directory)."""


def summary_path(path: Path) -> Path:
    """The summary file of a run given as the file itself or its report directory."""
    return path / SUMMARY_FILE if path.is_dir() else path


def read_summary(path: Path) -> dict[str, Any]:
    """The summary of the run at ``path``; a one-line usage error when it is not one."""
    file = summary_path(path)
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunReadError(f"{file}: no such file (give a run's summary.json or its report directory)") from None
    except OSError as exc:
        raise RunReadError(f"{file}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunReadError(f"{file} is not JSON: {exc}") from None
    if not isinstance(data, dict) or any(key not in data for key in _SUMMARY_KEYS):
        raise RunReadError(f"{file} is not the summary of a `hookstack load` run")
    return data


@dataclass(frozen=True)
class Delta:
    """One figure of two runs: the baseline's, the current one's, and how it moved."""

    name: str
    metric: Metric
    higher_is_better: bool
    baseline: float | None
    current: float | None

    @property
    def change(self) -> float | None:
        if self.baseline is None or self.current is None:
            return None
        return self.current - self.baseline

    @property
    def relative(self) -> float | None:
        """The change as a share of the baseline; None when the baseline is zero or missing."""
        change = self.change
        if change is None or not self.baseline:
            return None
        return change / abs(self.baseline)

    @property
    def verdict(self) -> str:
        """``worse``, ``better``, ``same`` or ``not comparable``."""
        change = self.change
        if change is None:
            return "not comparable"
        if change == 0:
            return "same"
        return "better" if (change > 0) == self.higher_is_better else "worse"

    def value_text(self, value: float | None) -> str:
        return "—" if value is None else format_value(self.metric, value)

    @property
    def change_text(self) -> str:
        change = self.change
        if change is None:
            return "—"
        amount = format_value(self.metric, abs(change))
        text = f"{'+' if change >= 0 else '-'}{amount}"
        relative = self.relative
        return text if relative is None else f"{text} ({relative * 100:+.1f} %)"

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.name,
            "key": self.metric.key,
            "baseline": self.baseline,
            "current": self.current,
            "change": self.change,
            "relative_change": self.relative,
            "verdict": self.verdict,
        }


def _number(summary: Mapping[str, Any], key: str) -> float | None:
    value = summary.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def deltas(current: Mapping[str, Any], baseline: Mapping[str, Any]) -> list[Delta]:
    """Each compared figure of ``current`` against ``baseline``."""
    rows = [
        Delta(name, METRICS[name], better_up, _number(baseline, METRICS[name].key), _number(current, METRICS[name].key))
        for name, better_up in COMPARED
    ]
    for name, better_up in COMPARED_WHEN_BOTH:
        then, now = _number(baseline, METRICS[name].key), _number(current, METRICS[name].key)
        if then is not None and now is not None:
            rows.append(Delta(name, METRICS[name], better_up, then, now))
    return rows

"""The divergence catalogue: what reports can ask of it, and docs/emulator-fidelity.md listing the same."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stack.fidelity.behaviour import AREAS
from stack.fidelity.divergences import (
    CATALOGUE,
    DECLARED_INTERPRETER,
    DIVERGENCE_AREAS,
    HOST_INTERPRETER,
    Divergence,
    divergences_bearing_on,
)
from stack.fidelity.suite import ALL_BEHAVIOURS

DOC = Path(__file__).parents[3] / "docs" / "emulator-fidelity.md"
DOC_SECTION = "## Known divergences (catalogue)"


def documented_ids(text: str) -> list[str]:
    section = text.split(DOC_SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^- `([a-z0-9-]+)`", section, flags=re.MULTILINE)


def test_the_doc_lists_exactly_the_catalogue_in_order():
    assert documented_ids(DOC.read_text()) == [d.id for d in CATALOGUE]


def test_the_doc_check_fails_on_a_missing_entry():
    text = DOC.read_text()
    first = CATALOGUE[0].id
    assert documented_ids(text.replace(f"- `{first}`", "- removed")) != [d.id for d in CATALOGUE]


def test_entries_are_unique_and_complete():
    ids = [d.id for d in CATALOGUE]
    assert len(ids) == len(set(ids))
    behaviour_ids = {b.id for b in ALL_BEHAVIOURS}
    for divergence in CATALOGUE:
        assert divergence.differs and divergence.not_fixed and divergence.areas
        assert divergence.behaviour_id is None or divergence.behaviour_id in behaviour_ids


def test_bearing_on_areas():
    sqs = divergences_bearing_on({"sqs-fifo"})
    assert sqs and all("sqs-fifo" in d.areas for d in sqs)
    both = divergences_bearing_on({"sqs-fifo", "lambda-runtime"})
    assert set(sqs) < set(both)
    assert divergences_bearing_on(set()) == []
    assert [d.id for d in divergences_bearing_on(set(DIVERGENCE_AREAS))] == [d.id for d in CATALOGUE]
    # Per interpreter: the entries for either, and those for that one; none is for both.
    on_host = divergences_bearing_on({"lambda-runtime"}, HOST_INTERPRETER)
    on_declared = divergences_bearing_on({"lambda-runtime"}, DECLARED_INTERPRETER)
    assert {d.interpreter for d in on_host} == {None, HOST_INTERPRETER}
    assert {d.interpreter for d in on_declared} == {None, DECLARED_INTERPRETER}
    with pytest.raises(ValueError, match="unknown areas"):
        divergences_bearing_on({"nope"})


def test_areas_are_checked():
    assert set(AREAS) <= set(DIVERGENCE_AREAS)
    with pytest.raises(ValueError, match="unknown areas"):
        Divergence("x", frozenset({"nope"}), "d", "n")

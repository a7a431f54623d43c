"""``python -m tests.fuzz``: the fuzz properties, far longer than the suite runs them.

    python -m tests.fuzz [--examples 20000] [--minutes 10] [--only json,http,...]

Each property runs in rounds of fresh random examples until it has tried ``--examples`` cases or
its share of ``--minutes`` is spent; prints, per property, the cases tried, the outcomes seen and
the failures (each failure's smallest example is printed as it is found). Exit 1 on any failure.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# The handlers' one log line per case would drown the tally (a failure is an assertion, not a log).
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "CRITICAL")

from hypothesis import HealthCheck, given, settings  # noqa: E402 - after the log level is set
from hypothesis import strategies as st  # noqa: E402

from stack.clients.providers import PROVIDERS  # noqa: E402
from tests.fuzz import handler_properties, http_properties  # noqa: E402
from tests.fuzz.strategies import (  # noqa: E402
    authorizer_contexts,
    event_ids,
    header_maps,
    http_streams,
    provider_names,
    request_bodies,
    stored_items,
)

ROUND_EXAMPLES = 500


@dataclass(frozen=True)
class Property:
    name: str
    strategy: st.SearchStrategy[tuple[Any, ...]]
    check: Callable[..., str]


PROPERTIES = (
    Property("json", st.tuples(request_bodies), handler_properties.check_json_rules),
    Property(
        "ingest",
        st.tuples(provider_names, header_maps, request_bodies, authorizer_contexts),
        handler_properties.check_unsigned_ingest,
    ),
    Property(
        "signed-ingest",
        st.tuples(st.sampled_from(PROVIDERS), request_bodies, header_maps),
        handler_properties.check_signed_ingest,
    ),
    Property(
        "status",
        st.tuples(event_ids, authorizer_contexts, stored_items),
        handler_properties.check_status_lookup,
    ),
    Property(
        "authorizer",
        st.tuples(
            header_maps | st.just({"X-Hookstack-Token": "tok_acme"}),
            st.none() | st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3),
            st.none() | st.text(max_size=20),
            st.text(max_size=60),
        ),
        handler_properties.check_authorizer,
    ),
    Property("http", http_streams().map(lambda stream: (stream[0], stream[1])), http_properties.check_http_stream),
)


@dataclass
class Tally:
    cases: int = 0
    failures: int = 0
    seconds: float = 0.0
    outcomes: collections.Counter[str] | None = None


def run(prop: Property, examples: int, budget_s: float) -> Tally:
    tally = Tally(outcomes=collections.Counter())
    started = time.monotonic()

    def case(arguments: tuple[Any, ...]) -> None:
        tally.cases += 1
        assert tally.outcomes is not None
        tally.outcomes[prop.check(*arguments)] += 1

    while tally.cases < examples and time.monotonic() - started < budget_s:
        this_round = min(ROUND_EXAMPLES, examples - tally.cases)
        test = settings(
            max_examples=this_round,
            deadline=None,
            database=None,
            print_blob=True,
            suppress_health_check=list(HealthCheck),
        )(given(prop.strategy)(case))
        try:
            test()
        except Exception as error:  # noqa: BLE001 - a property's failure is counted and reported, the run goes on
            found = list(error.exceptions) if isinstance(error, ExceptionGroup) else [error]
            tally.failures += len(found)
            for failure in found:
                # Hypothesis attaches the smallest failing example (and how to reproduce it) as notes.
                notes = "\n".join(getattr(failure, "__notes__", ()))
                print(f"[{prop.name}] FAILURE: {type(failure).__name__}: {str(failure)[:2000]}\n{notes}", flush=True)
    tally.seconds = time.monotonic() - started
    return tally


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=20_000, help="cases per property (default 20000)")
    parser.add_argument("--minutes", type=float, default=10.0, help="time for the whole run (default 10)")
    parser.add_argument(
        "--only", default="", help="comma-separated property names: " + ", ".join(p.name for p in PROPERTIES)
    )
    args = parser.parse_args(argv)
    if args.examples < 1 or args.minutes <= 0:
        parser.error("--examples must be at least 1 and --minutes positive")
    chosen = [p for p in PROPERTIES if not args.only or p.name in args.only.split(",")]
    if not chosen:
        parser.error(f"--only names none of: {', '.join(p.name for p in PROPERTIES)}")
    budget_s = args.minutes * 60 / len(chosen)
    total_cases = total_failures = 0
    print(f"{'property':<14} {'cases':>8} {'failures':>8} {'seconds':>8}  outcomes")
    for prop in chosen:
        tally = run(prop, args.examples, budget_s)
        total_cases += tally.cases
        total_failures += tally.failures
        outcomes = ", ".join(f"{name}: {count}" for name, count in sorted((tally.outcomes or {}).items()))
        print(f"{prop.name:<14} {tally.cases:>8} {tally.failures:>8} {tally.seconds:>8.0f}  {outcomes}", flush=True)
    print(f"{'total':<14} {total_cases:>8} {total_failures:>8}")
    return 1 if total_failures else 0


if __name__ == "__main__":
    sys.exit(main())

"""Hypothesis profiles for the fuzz tests: ``ci`` (default) keeps the suite's time bounded."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Examples per property in the suite: about a second or two each on one core of the 2-core machine.
CI_EXAMPLES = 150

settings.register_profile(
    "ci",
    max_examples=CI_EXAMPLES,
    deadline=None,  # a shared, loaded machine: no per-example deadline (no timed assertions)
    database=None,  # nothing written into the work tree
    print_blob=True,  # a failure prints the blob that reproduces it (@reproduce_failure)
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
